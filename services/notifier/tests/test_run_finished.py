"""``run.finished`` → an in-app notification and one email (text + HTML) to the run's owner:
scores and a link when it succeeded, the failing dataset, the cause and the log tail when it
failed, a short note when it was stopped. A real SMTP server (aiosmtpd) receives the mail."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select

from flageval_contracts import Envelope, new_envelope
from flageval_notifier.models import Email, Notification
from flageval_notifier.testing import SmtpServer
from flageval_platform.testing import RunningService, eventually

Start = Callable[..., AbstractAsyncContextManager[RunningService]]
PUBLIC_URL = "https://flageval.example.org"  # conftest's FLAGEVAL_PUBLIC_URL


def _registered(user_id: uuid.UUID, email: str) -> Envelope:
    return new_envelope(
        "user.registered",
        {"user_id": str(user_id), "email": email, "username": "owner"},
        producer="gateway",
    )


def run_finished(owner: uuid.UUID, status: str = "succeeded", **overrides: Any) -> Envelope:
    payload: dict[str, Any] = {
        "run_id": str(uuid.uuid4()),
        "evaluation_id": str(uuid.uuid4()),
        "owner_id": str(owner),
        "domain": "nlp",
        "kind": "formal",
        "status": status,
        "evaluation_name": "my-llm",
        "version": 3,
        "datasets": [
            {
                "task": "knowledge",
                "dataset": "mmlu",
                "status": "succeeded",
                # Per-subject scores stay on the run page, out of the email.
                "metrics": {"accuracy": 0.73125, "f1": 0.7, "accuracy/anatomy": 0.25},
            },
            {
                "task": "knowledge",
                "dataset": "ceval",
                "status": "succeeded",
                "metrics": {"accuracy": 0.5},
            },
            {
                "task": "reasoning",
                "dataset": "gsm8k",
                "status": "succeeded",
                "metrics": {"accuracy": 12.5},
            },
        ],
        "task_averages": {"knowledge": {"accuracy": 0.615625}, "reasoning": {"accuracy": 12.5}},
    }
    payload.update(overrides)
    return new_envelope("run.finished", payload, producer="eval-api")


def parts(message: EmailMessage) -> tuple[str, str]:
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


async def _emails(running: RunningService) -> list[Email]:
    async with running.ctx.db.transaction() as session:
        return list((await session.scalars(select(Email))).all())


async def _notifications(running: RunningService, user: uuid.UUID) -> list[Notification]:
    async with running.ctx.db.transaction() as session:
        query = select(Notification).where(Notification.user_id == user)
        return list((await session.scalars(query)).all())


async def _one_email(start: Start, server: SmtpServer, event: Envelope) -> tuple[Any, ...]:
    """Publish ``event`` for a known owner; return (subject, text, html, in-app notes)."""
    owner = uuid.UUID(event.payload["owner_id"])
    async with start(server.url()) as running:
        await running.bus.publish(_registered(owner, "owner@example.org"))
        await running.bus.join()
        await running.bus.publish(event)
        await running.bus.join()
        await eventually(lambda: len(server.messages) == 1)
        notes = await _notifications(running, owner)
    (message,) = server.messages
    assert message["To"] == "owner@example.org"
    text, html = parts(message)
    return message["Subject"], text, html, notes


async def test_succeeded_run_emails_scores_averages_and_a_link(
    start: Start, smtp_server: SmtpServer
) -> None:
    event = run_finished(uuid.uuid4())
    subject, text, html, notes = await _one_email(start, smtp_server, event)
    link = f"{PUBLIC_URL}/console/runs/{event.payload['run_id']}"

    assert subject == "Your formal run of my-llm (version 3) succeeded"
    # Text: aligned columns (numbers right-aligned), missing metrics as "-".
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("Task"))
    assert header.split() == ["Task", "Dataset", "Status", "accuracy", "f1"]
    mmlu = next(line for line in lines if " mmlu " in line)
    ceval = next(line for line in lines if " ceval " in line)
    assert mmlu.split() == ["knowledge", "mmlu", "succeeded", "0.7312", "0.7"]
    assert "anatomy" not in text and "anatomy" not in html
    assert ceval.split() == ["knowledge", "ceval", "succeeded", "0.5", "-"]
    assert mmlu.index("0.7312") + 6 == ceval.index("0.5") + 3  # right-aligned numbers
    assert "Task averages:" in text and "0.6156" in text
    assert f"Details: {link}" in text
    assert "validation run" not in text
    # HTML: a table per block, the link as an anchor.
    assert html.count("<table") == 2 and "<td" in html and ">mmlu</td>" in html
    assert f'<a href="{link}">' in html
    (note,) = notes
    assert note.kind == "run.finished" and note.title == subject and "mmlu" in note.body


async def test_validation_run_gets_a_note(start: Start, smtp_server: SmtpServer) -> None:
    event = run_finished(uuid.uuid4(), kind="validation")
    subject, text, html, _ = await _one_email(start, smtp_server, event)
    assert subject == "Your validation run of my-llm (version 3) succeeded"
    assert "This was a validation run" in text and "This was a validation run" in html


async def test_failed_run_tells_the_dataset_the_cause_and_the_log_tail(
    start: Start, smtp_server: SmtpServer
) -> None:
    tail = (
        "\n".join(f"line {n}" for n in range(500)) + "\nValueError: <script>alert(1)</script> & co"
    )
    event = run_finished(
        uuid.uuid4(),
        "failed",
        failure_cause="user",
        message="the model server exited with code 1",
        datasets=[
            {"task": "knowledge", "dataset": "mmlu", "status": "succeeded", "metrics": {"a": 1}},
            {
                "task": "reasoning",
                "dataset": "gsm8k",
                "status": "failed",
                "error": "model returned HTTP 500 <boom>",
            },
            {"task": "reasoning", "dataset": "math", "status": "skipped"},
        ],
        task_averages={},
        log_tail=tail,
    )
    subject, text, html, notes = await _one_email(start, smtp_server, event)
    assert subject == "Your formal run of my-llm (version 3) failed"
    assert "- reasoning / gsm8k: model returned HTTP 500 <boom>" in text
    assert "mmlu" not in text.split("Failing dataset")[1]  # only the failing one is listed
    assert "Cause (user)" in text and "submitted model" in text and "refunded" not in text
    assert "Message: the model server exited with code 1" in text
    assert "ValueError: <script>alert(1)</script> & co" in text  # text part: as logged
    assert "line 499" in text and "line 200\n" not in text  # the last 200 lines only
    # HTML: everything from the event is escaped; the log tail is in a <pre> block.
    assert "<script>" not in html and "<boom>" not in html
    assert "model returned HTTP 500 &lt;boom&gt;" in html
    pre = html[html.index("<pre") : html.index("</pre>")]
    assert "ValueError: &lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in pre
    assert f"{PUBLIC_URL}/console/runs/" in html
    (note,) = notes
    assert "gsm8k" in note.body and "line 499" not in note.body  # in-app: no log tail


async def test_platform_and_preempted_failures_say_refunded(
    start: Start, smtp_server: SmtpServer
) -> None:
    owner = uuid.uuid4()
    async with start(smtp_server.url()) as running:
        await running.bus.publish(_registered(owner, "owner@example.org"))
        await running.bus.join()
        for cause in ("platform", "preempted"):
            await running.bus.publish(
                run_finished(owner, "failed", failure_cause=cause, datasets=[], task_averages={})
            )
        await running.bus.publish(  # a validation run is never charged: no refund to mention
            run_finished(
                owner, "failed", kind="validation", failure_cause="platform", task_averages={}
            )
        )
        await running.bus.join()
        await eventually(lambda: len(smtp_server.messages) == 3)
    texts: dict[tuple[str, str], tuple[str, str]] = {}
    for message in smtp_server.messages:
        text, html = parts(message)
        cause = text.split("Cause (")[1].split(")")[0]
        kind = str(message["Subject"]).split()[1]  # "Your formal run …"
        texts[cause, kind] = (text, html)
    platform = texts["platform", "formal"]
    preempted = texts["preempted", "formal"]
    validation = texts["platform", "validation"]
    assert "comes from the platform" in platform[0] and "refunded" in platform[0]
    assert "preempted" in preempted[0] and "refunded" in preempted[0]
    assert "refunded" in platform[1] and "refunded" in preempted[1]
    assert "refunded" not in validation[0]


async def test_stopped_run_gets_a_short_note(start: Start, smtp_server: SmtpServer) -> None:
    subject, text, html, _ = await _one_email(
        start, smtp_server, run_finished(uuid.uuid4(), "stopped")
    )
    assert subject == "Your formal run of my-llm (version 3) was stopped"
    assert "stopped before it finished" in text and "3 of 3 datasets had finished" in text
    assert "stopped before it finished" in html


async def test_run_finished_redelivered_concurrently_sends_one_email(
    start: Start, smtp_server: SmtpServer
) -> None:
    owner = uuid.uuid4()
    event = run_finished(owner)
    async with start(smtp_server.url()) as running:
        await running.bus.publish(_registered(owner, "owner@example.org"))
        await running.bus.join()
        await asyncio.gather(*(running.bus.publish(event) for _ in range(8)))
        await running.bus.join()
        await eventually(lambda: len(smtp_server.messages) == 1)
        await running.bus.publish(event)  # and once more, later
        await running.bus.join()
        await asyncio.sleep(0.3)
        assert len(smtp_server.messages) == 1
        assert len(await _emails(running)) == 1
        assert len(await _notifications(running, owner)) == 1


async def test_unknown_owner_gets_the_in_app_notification_only(
    start: Start, smtp_server: SmtpServer
) -> None:
    owner = uuid.uuid4()
    async with start(smtp_server.url()) as running:
        await running.bus.publish(run_finished(owner))
        await running.bus.join()
        await asyncio.sleep(0.2)
        assert [n.kind for n in await _notifications(running, owner)] == ["run.finished"]
        assert await _emails(running) == []
    assert smtp_server.messages == []

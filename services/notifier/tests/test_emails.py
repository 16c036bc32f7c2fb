"""Email notifications (SPEC §8, §10): one email per event, even when the event is redelivered
(also concurrently) or the sender dies mid-send; retried while the SMTP server is down; never a
password in the logs. A real SMTP server (aiosmtpd) on a free port receives the mail."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select, update

from flageval_contracts import Envelope, new_envelope
from flageval_notifier.emails.smtp import parse_smtp_url
from flageval_notifier.models import Email, Notification
from flageval_notifier.testing import SmtpServer
from flageval_platform.testing import RunningService, eventually

PASSWORD = "s3cr3t-p@ss/word"  # the password of the test server (conftest's smtp_server)
Start = Callable[..., AbstractAsyncContextManager[RunningService]]


def parts(message: EmailMessage) -> tuple[str, str]:
    """The text and HTML parts of a ``multipart/alternative`` email (both must be there)."""
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


def _user_reviewed(user_id: uuid.UUID, email: str, decision: str, reason: str | None = None):
    return new_envelope(
        "user.reviewed",
        {
            "user_id": str(user_id),
            "email": email,
            "username": "alice",
            "decision": decision,
            "status": "approved" if decision == "approve" else "rejected",
            "reason": reason,
            "reviewer_id": str(uuid.uuid4()),
        },
        producer="gateway",
    )


def _registered(user_id: uuid.UUID, email: str) -> Envelope:
    return new_envelope(
        "user.registered",
        {"user_id": str(user_id), "email": email, "username": "owner"},
        producer="gateway",
    )


def _image_reviewed(owner: uuid.UUID, decision: str, reason: str | None = None) -> Envelope:
    return new_envelope(
        "image.reviewed",
        {
            "image_id": str(uuid.uuid4()),
            "owner_id": str(owner),
            "name": "my-model",
            "tag": "v2",
            "decision": decision,
            "reason": reason,
        },
        producer="image-registry",
    )


def _image_imported(owner: uuid.UUID) -> Envelope:
    return new_envelope(
        "image.imported",
        {"image_id": str(uuid.uuid4()), "owner_id": str(owner), "name": "my-model", "tag": "v2"},
        producer="image-registry",
    )


async def _emails(running: RunningService) -> list[Email]:
    async with running.ctx.db.transaction() as session:
        return list((await session.scalars(select(Email).order_by(Email.created_at))).all())


async def _notifications(running: RunningService, user_id: uuid.UUID) -> list[Notification]:
    async with running.ctx.db.transaction() as session:
        query = select(Notification).where(Notification.user_id == user_id)
        return list((await session.scalars(query)).all())


async def _all_sent(running: RunningService, count: int) -> bool:
    rows = await _emails(running)
    return len(rows) == count and all(r.status == "sent" for r in rows)


async def test_user_reviewed_sends_exactly_one_email(start: Start, smtp_server) -> None:
    alice = uuid.uuid4()
    async with start(smtp_server.url()) as running:
        approved = _user_reviewed(alice, "alice@example.org", "approve")
        await running.bus.publish(approved)
        await running.bus.join()
        await eventually(lambda: _all_sent(running, 1))
        await running.bus.publish(approved)  # redelivery
        await running.bus.join()
        await asyncio.sleep(0.2)

        assert len(smtp_server.messages) == 1
        (message,) = smtp_server.messages
        assert message["To"] == "alice@example.org"
        assert message["From"] == "FlagEval Test <noreply@flageval.test>"
        assert message["Subject"] == "Your account was approved"
        text, html = parts(message)
        assert "create evaluations" in text and "create evaluations" in html
        assert "<html>" in html and "do not reply" in html and "do not reply" in text
        assert smtp_server.collector.envelopes == [("noreply@flageval.test", ["alice@example.org"])]
        (row,) = await _emails(running)
        assert row.event_id == approved.id and row.attempts == 1 and row.sent_at is not None


async def test_user_rejected_email_gives_the_reason(start: Start, smtp_server) -> None:
    async with start(smtp_server.url()) as running:
        await running.bus.publish(
            _user_reviewed(uuid.uuid4(), "bob@example.org", "reject", reason="no organization")
        )
        await running.bus.join()
        await eventually(lambda: len(smtp_server.messages) == 1)
        (message,) = smtp_server.messages
        assert message["Subject"] == "Your account was not approved"
        text, html = parts(message)
        assert "no organization" in text and "no organization" in html


async def test_image_events_email_the_owner_known_from_user_events(
    start: Start, smtp_server
) -> None:
    owner = uuid.uuid4()
    async with start(smtp_server.url()) as running:
        await running.bus.publish(_registered(owner, "owner@example.org"))
        await running.bus.join()
        await running.bus.publish(_image_reviewed(owner, "reject", reason="base image not allowed"))
        await running.bus.join()
        await eventually(lambda: len(smtp_server.messages) == 1)
        await running.bus.publish(_image_reviewed(owner, "approve"))
        await running.bus.publish(_image_imported(owner))
        await running.bus.join()
        await eventually(lambda: len(smtp_server.messages) == 3)

        rejected, *others = smtp_server.messages
        assert rejected["To"] == "owner@example.org"
        assert rejected["Subject"] == "Your image my-model:v2 was rejected (base image not allowed)"
        text, html = parts(rejected)
        assert "Reason: base image not allowed" in text and "base image not allowed" in html
        for message in smtp_server.messages:  # every kind: text and HTML
            assert all(part.strip() for part in parts(message))
        assert sorted(m["Subject"] for m in others) == [
            "Your image my-model:v2 was approved",
            "Your image my-model:v2 was imported",
        ]
        titles = sorted(n.title for n in await _notifications(running, owner))
        assert titles == sorted(m["Subject"] for m in smtp_server.messages)


async def test_a_changed_address_is_used_for_later_emails(start: Start, smtp_server) -> None:
    owner = uuid.uuid4()
    async with start(smtp_server.url()) as running:
        await running.bus.publish(_registered(owner, "old@example.org"))
        await running.bus.join()
        await running.bus.publish(_user_reviewed(owner, "new@example.org", "approve"))
        await running.bus.join()
        await running.bus.publish(_image_imported(owner))
        await running.bus.join()
        await eventually(lambda: len(smtp_server.messages) == 2)
        assert [m["To"] for m in smtp_server.messages] == ["new@example.org"] * 2


async def test_concurrent_redeliveries_send_one_email(start: Start, smtp_server) -> None:
    owner = uuid.uuid4()
    async with start(smtp_server.url()) as running:
        await running.bus.publish(_registered(owner, "owner@example.org"))
        await running.bus.join()
        imported = _image_imported(owner)
        # Many deliveries of one message id at once: the consumers run them concurrently.
        await asyncio.gather(*(running.bus.publish(imported) for _ in range(8)))
        await running.bus.join()
        await eventually(lambda: _all_sent(running, 1))
        await asyncio.sleep(0.3)
        assert len(smtp_server.messages) == 1
        assert len(await _notifications(running, owner)) == 1


async def test_a_send_interrupted_by_a_crash_is_not_repeated(start: Start, smtp_server) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    # No SMTP yet: the rows are written and wait.
    async with start(None) as running:
        await running.bus.publish(_user_reviewed(alice, "alice@example.org", "approve"))
        await running.bus.publish(_user_reviewed(bob, "bob@example.org", "approve"))
        await running.bus.join()
        rows = await _emails(running)
        assert [r.status for r in rows] == ["pending", "pending"]
        # What a sender killed after its claim (and maybe after the server took the mail)
        # leaves behind: one row committed as ``sending``.
        async with running.ctx.db.transaction() as session:
            await session.execute(
                update(Email)
                .where(Email.to_address == "alice@example.org")
                .values(
                    status="sending",
                    attempts=1,
                    claimed_at=datetime.now(UTC) - timedelta(minutes=10),
                )
            )

    async with start(smtp_server.url()) as running:

        async def settled() -> bool:
            expected = {"alice@example.org": "failed", "bob@example.org": "sent"}
            return await _status(running) == expected

        await eventually(settled)
        await asyncio.sleep(0.2)
        assert [m["To"] for m in smtp_server.messages] == ["bob@example.org"]
        (interrupted,) = [r for r in await _emails(running) if r.status == "failed"]
        assert "delivery unknown" in (interrupted.last_error or "")
        assert interrupted.attempts == 1


async def _status(running: RunningService) -> dict[str, str]:
    return {r.to_address: r.status for r in await _emails(running)}


async def test_a_fresh_sending_row_is_not_touched(start: Start, smtp_server) -> None:
    """Another replica may be sending it right now: only stale ``sending`` rows are failed."""
    async with start(None) as running:
        await running.bus.publish(_user_reviewed(uuid.uuid4(), "a@example.org", "approve"))
        await running.bus.join()
        async with running.ctx.db.transaction() as session:
            await session.execute(
                update(Email).values(status="sending", attempts=1, claimed_at=datetime.now(UTC))
            )
    async with start(smtp_server.url()) as running:
        await asyncio.sleep(0.3)
        assert [r.status for r in await _emails(running)] == ["sending"]
        assert smtp_server.messages == []


async def test_smtp_outage_mail_waits_and_is_sent_when_the_server_is_back(
    start: Start, stopped_smtp_server: SmtpServer
) -> None:
    """The server is down (connection refused) for longer than ``email_max_attempts`` tries
    would last: nothing is failed, and everything goes out, once, when it is back on its port."""
    server = stopped_smtp_server
    async with start(server.url(), email_max_attempts=2) as running:
        for n in range(3):
            await running.bus.publish(_user_reviewed(uuid.uuid4(), f"u{n}@example.org", "approve"))
        await running.bus.join()

        async def probed() -> bool:
            rows = await _emails(running)
            return any("cannot connect" in (r.last_error or "") for r in rows)

        await eventually(probed)
        await asyncio.sleep(1.0)  # many backoff periods (0.05 s doubling to 0.2 s)
        rows = await _emails(running)
        # Each waits (a probe may be in flight at this very moment: ``sending``); none failed.
        assert {r.status for r in rows} <= {"pending", "sending"}
        assert all(r.attempts <= 1 for r in rows if r.status == "sending")
        assert all(r.attempts == 0 for r in rows if r.status == "pending")  # not counted as tries

        await asyncio.to_thread(server.start)  # the same port again
        await eventually(lambda: _all_sent(running, 3), within=15)
        await asyncio.sleep(0.3)
        assert sorted(m["To"] for m in server.messages) == [f"u{n}@example.org" for n in range(3)]
        assert all(r.attempts == 1 for r in await _emails(running))


async def test_smtp_outage_spanning_a_restart_loses_nothing(
    start: Start, stopped_smtp_server: SmtpServer
) -> None:
    """Mail written while the server was down survives a notifier restart, goes out once the
    server is back, and a redelivery of its event after the restart sends nothing more."""
    server = stopped_smtp_server
    event = _user_reviewed(uuid.uuid4(), "a@example.org", "approve")
    async with start(server.url()) as running:
        await running.bus.publish(event)
        await running.bus.join()

        async def probed() -> bool:
            rows = await _emails(running)
            return bool(rows) and "cannot connect" in (rows[0].last_error or "")

        await eventually(probed)
    await asyncio.to_thread(server.start)
    async with start(server.url()) as running:
        await eventually(lambda: _all_sent(running, 1))
        await running.bus.publish(event)  # redelivered after the restart
        await running.bus.join()
        await asyncio.sleep(0.3)
        assert len(server.messages) == 1
        assert len(await _emails(running)) == 1
    async with start(server.url()) as running:  # and once more, after a second restart
        await running.bus.publish(event)
        await running.bus.join()
        await asyncio.sleep(0.3)
        assert len(server.messages) == 1


async def test_smtp_server_refusing_for_now_fails_after_max_attempts(
    start: Start, smtp_server: SmtpServer
) -> None:
    """A server that answers 4xx (not an outage) gets ``email_max_attempts`` tries."""
    smtp_server.collector.rcpt_reply = "451 4.3.0 try again later"
    async with start(smtp_server.url(), email_max_attempts=3) as running:
        await running.bus.publish(_user_reviewed(uuid.uuid4(), "a@example.org", "approve"))
        await running.bus.join()

        async def failed() -> bool:
            (row,) = await _emails(running)
            return row.status == "failed"

        await eventually(failed)
        (row,) = await _emails(running)
        assert row.attempts == 3 and row.sent_at is None
        assert "451" in (row.last_error or "")
        assert smtp_server.messages == []


async def test_smtp_down_for_good_keeps_the_mail_pending(start: Start) -> None:
    from flageval_platform.testing import free_port

    async with start(f"smtp://127.0.0.1:{free_port()}", email_max_attempts=1) as running:
        await running.bus.publish(_user_reviewed(uuid.uuid4(), "a@example.org", "approve"))
        await running.bus.join()
        await asyncio.sleep(0.8)  # well past one try's worth of retries

        async def waiting() -> Any:
            # Read between probes (a probe in flight shows the row ``sending``).
            (row,) = await _emails(running)
            return row if row.status != "sending" else None

        row = await eventually(waiting)
        assert row.status == "pending" and row.sent_at is None
        assert row.next_attempt_at is not None and "cannot connect" in (row.last_error or "")


async def test_unknown_recipient_gets_the_in_app_notification_only(
    start: Start, smtp_server, caplog: pytest.LogCaptureFixture
) -> None:
    stranger = uuid.uuid4()
    caplog.set_level(logging.INFO)
    async with start(smtp_server.url()) as running:
        await running.bus.publish(_image_reviewed(stranger, "approve"))
        await running.bus.join()
        await asyncio.sleep(0.2)
        assert [n.title for n in await _notifications(running, stranger)] == [
            "Your image my-model:v2 was approved"
        ]
        assert await _emails(running) == []
        assert smtp_server.messages == []
    assert "no email address known" in caplog.text


async def test_without_smtp_rows_are_kept_and_the_gap_logged_once(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with start(None) as running:
        await running.bus.publish(_user_reviewed(uuid.uuid4(), "a@example.org", "approve"))
        await running.bus.join()
        await asyncio.sleep(0.2)
        (row,) = await _emails(running)
        assert row.status == "pending" and row.attempts == 0
    assert caplog.text.count("SMTP is not configured") == 1


async def test_the_smtp_password_is_never_logged(
    start: Start, smtp_server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # A wrong password first (authentication refused, retried), then the right one.
    wrong = "wr0ng-" + PASSWORD
    async with start(smtp_server.url(wrong), email_max_attempts=2) as running:
        await running.bus.publish(_user_reviewed(uuid.uuid4(), "a@example.org", "approve"))
        await running.bus.join()
        await eventually(lambda: _status(running))

        async def failed() -> bool:
            return list((await _status(running)).values()) == ["failed"]

        await eventually(failed)
        (row,) = await _emails(running)
        assert "authentication failed" in (row.last_error or "")
        assert wrong not in (row.last_error or "")
    async with start(smtp_server.url()) as running:
        await running.bus.publish(_user_reviewed(uuid.uuid4(), "b@example.org", "approve"))
        await running.bus.join()
        await eventually(lambda: len(smtp_server.messages) == 1)

    dumped = "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in caplog.records)
    assert "127.0.0.1" in dumped  # the sender did log where it sends mail …
    for secret in (PASSWORD, wrong, "p%40ss", smtp_server.url()):
        assert secret not in dumped  # … but never the password or the URL


def test_smtp_url_forms() -> None:
    plain = parse_smtp_url("smtp://mail.example.org")
    assert (plain.host, plain.port, plain.tls, plain.starttls, plain.username) == (
        "mail.example.org",
        25,
        False,
        False,
        None,
    )
    tls = parse_smtp_url("smtps://u%40x:p%2Fw@mail.example.org")
    assert (tls.port, tls.tls, tls.username, tls.password) == (465, True, "u@x", "p/w")
    assert "p/w" not in repr(tls) and "p/w" not in tls.safe_description
    starttls = parse_smtp_url("smtp://u:p@mail.example.org:587?starttls=1")
    assert (starttls.port, starttls.starttls) == (587, True)
    for bad in ("http://u:topsecret@x", "smtp://u:topsecret@", "smtp://u:topsecret@h:99999"):
        with pytest.raises(ValueError) as caught:
            parse_smtp_url(bad)
        assert "topsecret" not in str(caught.value)

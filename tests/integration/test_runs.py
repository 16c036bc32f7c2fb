"""Runs end to end through eval-api and the scheduler (and, for publishing, the leaderboard) (in-process, as in standalone), with the
in-memory executor standing in for processes/Jobs and the test playing the runner over the
progress channel: state machines, quota charges and refunds, stop, logs, resume, watchdog,
authorization, and bad input on every endpoint."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from flageval_contracts import new_envelope
from flageval_contracts.enums import Role, UserStatus
from flageval_contracts.events import BundleFile, BundleReady, ImageAvailable
from flageval_eval_api.main import definition as eval_api
from flageval_platform.identity import Identity
from flageval_platform.testing import RunningPlatform, eventually, running_platform
from flageval_scheduler.config import ServiceSettings
from flageval_scheduler.executors import ExecState
from flageval_scheduler.executors.memory import MemoryExecutor
from flageval_scheduler.jobs.service import bundle_token, progress_token
from flageval_scheduler.main import definition as scheduler

SECRET = "r" * 48
PRESET = uuid.uuid5(uuid.NAMESPACE_URL, "preset/nlp-serving:1.0")
ALICE = Identity(uuid.uuid4(), "alice", Role.USER, UserStatus.APPROVED)
BOB = Identity(uuid.uuid4(), "bob", Role.USER, UserStatus.APPROVED)
ADMIN = Identity(uuid.uuid4(), "root", Role.ADMIN, UserStatus.APPROVED)


class Harness:
    """The two services, the executor, and helpers that act as user, uploader and runner."""

    def __init__(self, platform: RunningPlatform, executor: MemoryExecutor) -> None:
        self.platform = platform
        self.executor = executor
        self.api = platform["eval-api"]
        self.sched = platform["scheduler"]
        self._names = 0
        self._spec_fetched: set[tuple[str, int]] = set()

    def h(self, who: Identity = ALICE) -> dict[str, str]:
        return self.api.headers_for(who)

    async def evaluation(
        self, who: Identity = ALICE, *, bundle: bool | None = True, **overrides: Any
    ) -> str:
        self._names += 1
        body: dict[str, Any] = {
            "domain": "nlp",
            "name": f"model-{uuid.uuid4().hex[:8]}",
            "datasets": ["demo-en-choice", "demo-en-math"],
            "deploy_mode": "private",
            "private": {
                "image_id": str(PRESET),
                "priority": "medium",
                "card_type": "a100-80g",
                "gpus": 1,
            },
        }
        body.update(overrides)
        if body.get("deploy_mode") == "api" or body["domain"] == "safety":
            body.pop("private", None)
        body = {k: v for k, v in body.items() if v is not None}
        reply = await self.api.client.post("/api/evaluations", json=body, headers=self.h(who))
        assert reply.status_code == 201, reply.text
        evaluation = reply.json()
        if bundle is not None and "private" in body:
            await self.bundle(evaluation["id"], who, valid=bundle)
        return str(evaluation["id"])

    async def bundle(
        self, evaluation_id: str, who: Identity = ALICE, *, valid: bool = True, version: int = 1
    ) -> None:
        event = BundleReady(
            evaluation_id=uuid.UUID(evaluation_id),
            owner_id=who.user_id,
            bundle_id=uuid.uuid4(),
            version=version,
            valid=valid,
            problems=[] if valid else ["service.py is missing"],
            files=[BundleFile(path="service.py", size_bytes=10, sha256="a" * 64)],
        )
        await self.platform.bus.publish(new_envelope("bundle.ready", event, producer="upload"))

        async def recorded() -> bool:
            reply = await self.start(evaluation_id, "validation", who=who, dry=True)
            return reply is not None

        await eventually(recorded)

    async def start(
        self, evaluation_id: str, kind: str = "formal", *, who: Identity = ALICE, dry: bool = False
    ) -> Any:
        if dry:  # probe whether the bundle is known, without starting anything
            from sqlalchemy import select

            from flageval_eval_api.runs.models import BundleVersion

            async with self.api.ctx.db.transaction() as session:
                return await session.scalar(
                    select(BundleVersion.bundle_id).where(
                        BundleVersion.evaluation_id == uuid.UUID(evaluation_id)
                    )
                )
        return await self.api.client.post(
            f"/api/evaluations/{evaluation_id}/runs", json={"kind": kind}, headers=self.h(who)
        )

    async def run(self, run_id: str, who: Identity = ALICE) -> dict[str, Any]:
        reply = await self.api.client.get(f"/api/runs/{run_id}", headers=self.h(who))
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    async def until(self, run_id: str, status: str, within: float = 10.0) -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            run = await self.run(run_id)
            return run if run["status"] == status else None

        return dict(await eventually(check, within=within))

    async def submitted(self, run_id: str, attempt: int = 1) -> str:
        handle = f"memory/{run_id}/{attempt}"
        await eventually(lambda: handle in self.executor.requests)
        return handle

    def token(self, run_id: str, attempt: int = 1) -> str:
        return progress_token(SECRET, uuid.UUID(run_id), attempt)

    async def report(
        self,
        run_id: str,
        *events: dict[str, Any],
        attempt: int = 1,
        token: str | None = None,
        fetch_spec: bool = True,
    ) -> Any:
        """Post events as the runner does: after fetching the attempt's spec (once), unless
        ``fetch_spec`` is false."""
        if fetch_spec and token is None and (run_id, attempt) not in self._spec_fetched:
            await self.spec(run_id, attempt)
        return await self.sched.client.post(
            f"/api/runner/runs/{run_id}/events",
            json={"events": list(events)},
            headers={"X-Run-Token": token or self.token(run_id, attempt)},
        )

    def bundle_token(self, run_id: str, attempt: int = 1) -> str:
        return bundle_token(SECRET, uuid.UUID(run_id), attempt)

    async def fetch_bundle(self, run_id: str, headers: dict[str, Any] | None = None) -> Any:
        """``GET …/bundle`` as the Kubernetes init step asks it (the bundle token by default)."""
        if headers is None:
            headers = {"X-Bundle-Token": self.bundle_token(run_id)}
        return await self.sched.client.get(f"/api/runner/runs/{run_id}/bundle", headers=headers)

    async def spec(self, run_id: str, attempt: int = 1) -> Any:
        reply = await self.sched.client.get(
            f"/api/runner/runs/{run_id}/spec", headers={"X-Run-Token": self.token(run_id, attempt)}
        )
        if reply.status_code == 200:
            self._spec_fetched.add((run_id, attempt))
        return reply

    async def quota(self, who: Identity = ALICE) -> dict[str, Any]:
        reply = await self.sched.client.get("/api/me/quota", headers=self.sched.headers_for(who))
        assert reply.status_code == 200
        return dict(reply.json())

    async def set_limit(self, who: Identity, formal: int, human: int = 2) -> None:
        reply = await self.sched.client.put(
            f"/api/admin/quotas/{who.user_id}",
            json={"formal_runs_per_month": formal, "human_evaluations_total": human},
            headers=self.sched.headers_for(ADMIN),
        )
        assert reply.status_code == 200, reply.text


def settings_for(tmp_path: Path, **overrides: Any) -> ServiceSettings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "secret_key": SECRET,
        "dispatch_interval_seconds": 0.05,
        "watchdog_interval_seconds": 0.1,
        "outbox_poll_seconds": 0.05,
        "max_active_jobs": 10,
    }
    values.update(overrides)
    return ServiceSettings(**values)


async def _harness(
    tmp_path: Path,
    backend: str = "sqlite",
    executor: MemoryExecutor | None = None,
    also: dict[str, Any] | None = None,
    **settings: Any,
) -> AsyncIterator[Harness]:
    """eval-api and the scheduler (and the services in ``also``) with an announced image."""
    executor = executor or MemoryExecutor()
    async with running_platform(
        {"eval-api": eval_api, "scheduler": scheduler, **(also or {})},
        settings_for(tmp_path, **settings),
        backend=backend,
        state={"scheduler": {"executor": executor}},
    ) as platform:
        await platform.bus.publish(
            new_envelope(
                "image.available",
                ImageAvailable(image_id=PRESET, name="nlp-serving", tag="1.0", preset=True),
                producer="image-registry",
            )
        )
        harness = Harness(platform, executor)

        async def image_known() -> bool:
            from flageval_eval_api.images.models import AvailableImage

            async with harness.api.ctx.db.transaction() as session:
                return await session.get(AvailableImage, PRESET) is not None

        await eventually(image_known)
        yield harness


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async for harness in _harness(tmp_path, request.param):
        yield harness


@pytest.fixture
async def lite(tmp_path: Path) -> AsyncIterator[Harness]:
    async for harness in _harness(tmp_path):
        yield harness


# -- the whole life of a formal run --------------------------------------------------------------


async def test_formal_run_from_start_to_metrics(env: Harness) -> None:
    evaluation_id = await env.evaluation()
    reply = await env.start(evaluation_id)
    assert reply.status_code == 201, reply.text
    run = reply.json()
    run_id = run["id"]
    assert run["version"] == 1 and run["kind"] == "formal" and run["status"] == "queued"
    assert run["submitter"] == "alice"
    assert [d["dataset"] for d in run["datasets"]] == ["demo-en-choice", "demo-en-math"]
    assert all(d["status"] == "pending" for d in run["datasets"])
    assert run["bundle"]["version"] == 1 and len(run["bundle"]["sha256"]) == 64
    quota = await env.quota()
    assert quota["formal_runs"]["used"] == 1
    assert quota["formal_runs"]["ledger"][0]["run_id"] == run_id

    handle = await env.submitted(run_id)
    request = env.executor.requests[handle]
    assert request.gpus == 1 and request.card_type == "a100-80g" and request.priority == "medium"
    assert request.image == "nlp-serving:1.0"
    assert request.progress_token == env.token(run_id)
    await env.until(run_id, "starting")

    spec = (await env.spec(run_id)).json()
    assert [d["dataset"] for d in spec["datasets"]] == ["demo-en-choice", "demo-en-math"]
    assert spec["datasets"][0]["source"] == {"type": "demo", "name": "demo-en-choice"}
    assert spec["bundle"]["files"][0]["path"] == "service.py"
    assert spec["bundle"]["files"][0]["url"].startswith("http")

    assert (await env.report(run_id, {"type": "started"})).json() == {"accepted": 1, "stop": False}
    await env.until(run_id, "running")
    await env.report(
        run_id,
        {"type": "dataset_started", "task": "knowledge", "dataset": "demo-en-choice"},
        {"type": "log", "seq": 0, "lines": ["loading demo-en-choice", "20 items"]},
    )

    async def choice_running() -> bool:
        return (await env.run(run_id))["datasets"][0]["status"] == "running"

    await eventually(choice_running)
    await env.report(
        run_id,
        {
            "type": "dataset_finished",
            "task": "knowledge",
            "dataset": "demo-en-choice",
            "status": "succeeded",
            "metrics": {"accuracy": 0.75},
            "dataset_version": "1",
            "dataset_sha256": "c" * 64,
        },
    )

    async def choice_done() -> dict[str, Any] | None:
        detail = await env.run(run_id)
        return detail if detail["datasets"][0]["status"] == "succeeded" else None

    detail = await eventually(choice_done)
    # Visible as soon as the dataset finished, while the run goes on.
    assert detail["status"] == "running"
    assert detail["datasets"][0]["metrics"] == {"accuracy": 0.75}
    assert detail["datasets"][0]["dataset_version"] == "1"
    assert detail["datasets"][0]["dataset_sha256"] == "c" * 64
    assert detail["generation"] == {"max_new_tokens": 64, "seed": 0, "temperature": 0.0}
    assert detail["task_averages"] == {"knowledge": {"accuracy": 0.75}}
    assert detail["datasets"][1]["status"] == "pending"

    await env.report(
        run_id,
        {"type": "dataset_started", "task": "math-reasoning", "dataset": "demo-en-math"},
        {
            "type": "dataset_finished",
            "task": "math-reasoning",
            "dataset": "demo-en-math",
            "status": "succeeded",
            "metrics": {"exact_match": 0.5},
        },
        {"type": "finished", "status": "succeeded"},
    )
    final = await env.until(run_id, "succeeded")
    assert final["failure"] is None and final["finished_at"] and final["started_at"]
    assert final["task_averages"] == {
        "knowledge": {"accuracy": 0.75},
        "math-reasoning": {"exact_match": 0.5},
    }
    assert final["queue"] is None
    # A succeeded run keeps its charge; the runner is told the run is over.
    assert (await env.quota())["formal_runs"]["used"] == 1
    late = await env.report(run_id, {"type": "heartbeat"})
    assert late.status_code == 409 and late.json()["detail"]["code"] == "run_finished"

    logs = await env.sched.client.get(
        f"/api/runs/{run_id}/logs", headers=env.sched.headers_for(ALICE)
    )
    assert logs.status_code == 200 and "loading demo-en-choice\n20 items" in logs.text

    history = (
        await env.api.client.get(f"/api/evaluations/{evaluation_id}/runs", headers=env.h())
    ).json()
    assert [(r["version"], r["status"], r["submitter"]) for r in history] == [
        (1, "succeeded", "alice")
    ]
    # The next run gets version 2.
    second = await env.start(evaluation_id, "validation")
    assert second.status_code == 201 and second.json()["version"] == 2


async def test_validation_run_shows_samples_and_is_not_charged(lite: Harness) -> None:
    evaluation_id = await lite.evaluation()
    run_id = (await lite.start(evaluation_id, "validation")).json()["id"]
    await lite.submitted(run_id)
    rows = [
        {"id": f"q{i}", "sample": f"Question {i}?", "label": "A", "predict": "B"} for i in range(3)
    ]
    await lite.report(
        run_id,
        {"type": "started"},
        {"type": "dataset_started", "task": "knowledge", "dataset": "demo-en-choice"},
        {"type": "samples", "task": "knowledge", "dataset": "demo-en-choice", "rows": rows},
        # Redelivered samples are not shown twice.
        {"type": "samples", "task": "knowledge", "dataset": "demo-en-choice", "rows": rows},
        {
            "type": "dataset_finished",
            "task": "knowledge",
            "dataset": "demo-en-choice",
            "status": "succeeded",
            "metrics": {},
        },
        {"type": "finished", "status": "succeeded"},
    )
    run = await lite.until(run_id, "succeeded")
    assert [s["id"] for s in run["samples"]] == ["q0", "q1", "q2"]
    assert run["samples"][0] == {
        "id": "q0", "dataset": "demo-en-choice", "sample": "Question 0?", "label": "A",
        "predict": "B",
    }  # fmt: skip
    # The second dataset never ran.
    assert run["datasets"][1]["status"] == "skipped"
    assert (await lite.quota())["formal_runs"]["used"] == 0


# -- refusals at start ---------------------------------------------------------------------------


@pytest.mark.parametrize("domain", ["audio", "safety"])
async def test_audio_and_safety_have_no_validation(lite: Harness, domain: str) -> None:
    from flageval_eval_api.datasets.models import RegisteredDataset

    # Only datasets with data can be chosen (issue 14): attach a version to the ones used.
    async with lite.api.ctx.db.transaction() as session:
        for name, of, task in (
            ("librispeech", "audio", "asr"),
            ("flames", "safety", "a1-core-values"),
        ):
            session.add(
                RegisteredDataset(
                    name=name, version="1", seq=1, domain=of, task=task, card={}, size=1,
                    dev_size=0, data_bytes=1, sha256="a" * 64, content_sha256="b" * 64,
                    registered_by=ADMIN.user_id,
                )
            )  # fmt: skip
    if domain == "audio":
        body = {
            "domain": "audio",
            "datasets": None,
            "deploy_mode": None,
            "tasks": [{"task": "asr"}],
            "private": {"image_id": str(PRESET), "card_type": "a100-80g"},
        }
    else:
        body = {
            "domain": "safety",
            "datasets": ["flames"],
            "deploy_mode": "api",
            "api": {"endpoint": "https://llm.example.org/chat", "model_name": "m", "api_key": "k"},
        }
    evaluation_id = await lite.evaluation(**body)
    reply = await lite.start(evaluation_id, "validation")
    assert reply.status_code == 422
    assert "no inference validation" in reply.json()["detail"]["message"]
    assert (await lite.api.client.get(
        f"/api/evaluations/{evaluation_id}/runs", headers=lite.h()
    )).json() == []  # fmt: skip
    # A formal run is fine.
    assert (await lite.start(evaluation_id, "formal")).status_code == 201


async def test_private_run_needs_a_valid_bundle(lite: Harness) -> None:
    evaluation_id = await lite.evaluation(bundle=None)
    reply = await lite.start(evaluation_id)
    assert reply.status_code == 409
    assert reply.json()["detail"]["code"] == "no_valid_bundle"
    await lite.bundle(evaluation_id, valid=False)
    reply = await lite.start(evaluation_id)
    assert reply.status_code == 409
    assert reply.json()["detail"]["code"] == "bundle_invalid"
    assert reply.json()["detail"]["problems"] == ["service.py is missing"]
    assert (await lite.quota())["formal_runs"]["used"] == 0
    await lite.bundle(evaluation_id, valid=True, version=2)
    reply = await lite.start(evaluation_id)
    assert reply.status_code == 201 and reply.json()["bundle"]["version"] == 2


@pytest.mark.parametrize(
    "body",
    [{}, {"kind": "final"}, {"kind": None}, {"kind": "formal", "x": 1}, [], "formal", {"kind": 1}],
)
async def test_bad_run_requests(lite: Harness, body: Any) -> None:
    evaluation_id = await lite.evaluation()
    reply = await lite.api.client.post(
        f"/api/evaluations/{evaluation_id}/runs", json=body, headers=lite.h()
    )
    assert reply.status_code == 422
    assert (await lite.quota())["formal_runs"]["used"] == 0


async def test_a_second_active_run_is_refused(lite: Harness) -> None:
    evaluation_id = await lite.evaluation()
    assert (await lite.start(evaluation_id)).status_code == 201
    reply = await lite.start(evaluation_id)
    assert reply.status_code == 409 and reply.json()["detail"]["code"] == "run_in_progress"
    assert (await lite.quota())["formal_runs"]["used"] == 1


async def test_quota_exhausted_is_immediate(lite: Harness) -> None:
    await lite.set_limit(ALICE, 1)
    first = await lite.evaluation()
    second = await lite.evaluation()
    assert (await lite.start(first)).status_code == 201
    reply = await lite.start(second)
    assert reply.status_code == 409
    detail = reply.json()["detail"]
    assert detail["code"] == "quota_exhausted" and detail["resets_at"]
    # The scheduler's code survives the eval-api → scheduler call (SPEC §3 and the error shape).
    assert reply.json()["code"] == "quota_exhausted"
    # Validation runs are free.
    assert (await lite.start(second, "validation")).status_code == 201


@pytest.mark.postgres
async def test_concurrent_formal_starts_accept_exactly_the_slots_left(tmp_path: Path) -> None:
    async for env in _harness(tmp_path, "postgres"):
        ids = [await env.evaluation() for _ in range(20)]
        replies = await asyncio.gather(*(env.start(i) for i in ids))
        codes = sorted(r.status_code for r in replies)
        assert codes == [201] * 5 + [409] * 15
        assert all(
            r.json()["detail"]["code"] == "quota_exhausted" for r in replies if r.status_code == 409
        )
        assert (await env.quota())["formal_runs"]["used"] == 5


async def test_concurrent_starts_of_one_evaluation_make_one_run(env: Harness) -> None:
    evaluation_id = await env.evaluation()
    replies = await asyncio.gather(*(env.start(evaluation_id) for _ in range(6)))
    assert sorted(r.status_code for r in replies) == [201] + [409] * 5
    # The losers' charges were given back.
    assert (await env.quota())["formal_runs"]["used"] == 1


async def test_human_evaluation_quota_is_charged_for_subjective_datasets(lite: Harness) -> None:
    await lite.set_limit(ALICE, 5, human=1)
    first = await lite.evaluation(datasets=["demo-zh-openqa"])
    second = await lite.evaluation(datasets=["demo-en-choice", "demo-zh-openqa"])
    assert (await lite.start(first)).status_code == 201
    reply = await lite.start(second)
    assert reply.status_code == 409 and reply.json()["detail"]["code"] == "quota_exhausted"
    quota = await lite.quota()
    assert quota["human_evaluations"]["used"] == 1
    # The formal-run charge of the refused run was given back.
    assert quota["formal_runs"]["used"] == 1


# -- stop ----------------------------------------------------------------------------------------


async def test_stop_a_queued_run_refunds(tmp_path: Path) -> None:
    async for env in _harness(tmp_path, max_active_jobs=1):
        busy = (await env.start(await env.evaluation())).json()["id"]
        await env.submitted(busy)
        run_id = (await env.start(await env.evaluation())).json()["id"]
        run = await env.run(run_id)
        assert run["status"] == "queued" and run["queue"]["position"] == 1
        reply = await env.api.client.post(f"/api/runs/{run_id}/stop", headers=env.h())
        assert reply.status_code == 202
        again = await env.api.client.post(f"/api/runs/{run_id}/stop", headers=env.h())
        assert again.status_code == 202
        run = await env.until(run_id, "stopped")
        assert all(d["status"] == "skipped" for d in run["datasets"])
        quota = await env.quota()
        assert quota["formal_runs"]["used"] == 1
        assert {e["reason"] for e in quota["formal_runs"]["ledger"] if e["run_id"] == run_id} == {
            "run accepted",
            "stopped_before_start",
        }
        done = await env.api.client.post(f"/api/runs/{run_id}/stop", headers=env.h())
        assert done.status_code == 409 and done.json()["detail"]["code"] == "run_finished"


async def test_stop_a_running_run_kills_it_and_keeps_the_charge(lite: Harness) -> None:
    run_id = (await lite.start(await lite.evaluation())).json()["id"]
    handle = await lite.submitted(run_id)
    await lite.report(run_id, {"type": "started"})
    await lite.until(run_id, "running")
    assert (
        await lite.api.client.post(f"/api/runs/{run_id}/stop", headers=lite.h())
    ).status_code == 202
    await lite.until(run_id, "stopped")
    await eventually(lambda: handle in lite.executor.stopped)
    assert (await lite.quota())["formal_runs"]["used"] == 1
    # The runner learns it is over.
    assert (await lite.report(run_id, {"type": "heartbeat"})).status_code == 409


# -- failures, resume, watchdog ------------------------------------------------------------------


async def test_user_fault_is_not_refunded(lite: Harness) -> None:
    run_id = (await lite.start(await lite.evaluation())).json()["id"]
    await lite.submitted(run_id)
    await lite.report(
        run_id,
        {"type": "started"},
        {"type": "dataset_started", "task": "knowledge", "dataset": "demo-en-choice"},
        {
            "type": "dataset_finished", "task": "knowledge", "dataset": "demo-en-choice",
            "status": "failed", "error": "the model server exited with code 1",
        },
        {"type": "finished", "status": "failed", "failure_cause": "user",
         "message": "the model server exited with code 1"},
    )  # fmt: skip
    run = await lite.until(run_id, "failed")
    assert run["failure"] == {"cause": "user", "message": "the model server exited with code 1"}
    assert run["datasets"][0]["error"] == "the model server exited with code 1"
    assert (await lite.quota())["formal_runs"]["used"] == 1


async def test_runner_dying_without_a_report_is_a_refunded_platform_fault(lite: Harness) -> None:
    run_id = (await lite.start(await lite.evaluation())).json()["id"]
    handle = await lite.submitted(run_id)
    await lite.report(run_id, {"type": "started"})
    lite.executor.set_state(handle, ExecState.FAILED, "OOMKilled", exit_code=137)
    run = await lite.until(run_id, "failed")
    assert run["failure"]["cause"] == "platform"
    assert "exit code 137" in run["failure"]["message"]
    assert (await lite.quota())["formal_runs"]["used"] == 0


async def test_preempted_formal_run_resumes_with_the_datasets_left(lite: Harness) -> None:
    run_id = (await lite.start(await lite.evaluation())).json()["id"]
    handle = await lite.submitted(run_id)
    await lite.report(
        run_id,
        {"type": "started"},
        {"type": "dataset_started", "task": "knowledge", "dataset": "demo-en-choice"},
        {"type": "dataset_finished", "task": "knowledge", "dataset": "demo-en-choice",
         "status": "succeeded", "metrics": {"accuracy": 0.9}},
        {"type": "dataset_started", "task": "math-reasoning", "dataset": "demo-en-math"},
        {"type": "log", "seq": 0, "lines": ["first attempt"]},
    )  # fmt: skip
    lite.executor.set_state(handle, ExecState.PREEMPTED, "evicted: node drained")
    await lite.submitted(run_id, attempt=2)
    # The old attempt may no longer report; the new one gets only what is left.
    stale = await lite.report(run_id, {"type": "heartbeat"}, attempt=1)
    assert stale.status_code == 409
    spec = (await lite.spec(run_id, attempt=2)).json()
    assert spec["attempt"] == 2
    assert [d["dataset"] for d in spec["datasets"]] == ["demo-en-math"]
    assert spec["done"] == ["demo-en-choice"]
    await lite.report(
        run_id,
        {"type": "started"},
        {"type": "dataset_started", "task": "math-reasoning", "dataset": "demo-en-math"},
        {"type": "dataset_finished", "task": "math-reasoning", "dataset": "demo-en-math",
         "status": "succeeded", "metrics": {"exact_match": 1.0}},
        {"type": "log", "seq": 0, "lines": ["second attempt"]},
        {"type": "finished", "status": "succeeded"},
        attempt=2,
    )  # fmt: skip
    run = await lite.until(run_id, "succeeded")
    assert run["attempt"] == 2
    assert run["datasets"][0]["metrics"] == {"accuracy": 0.9}
    assert run["datasets"][1]["metrics"] == {"exact_match": 1.0}
    # The logs of both attempts, each under its header.
    logs = await lite.sched.client.get(
        f"/api/runs/{run_id}/logs", headers=lite.sched.headers_for(ALICE)
    )
    assert logs.text.splitlines() == [
        "---- attempt 1 ----", "first attempt", "---- attempt 2 ----", "second attempt",
    ]  # fmt: skip


async def test_preempted_too_often_fails_and_is_refunded(tmp_path: Path) -> None:
    async for env in _harness(tmp_path, max_resumes=1):
        run_id = (await env.start(await env.evaluation())).json()["id"]
        for attempt in (1, 2):
            handle = await env.submitted(run_id, attempt)
            await env.report(run_id, {"type": "started"}, attempt=attempt)
            env.executor.set_state(handle, ExecState.PREEMPTED, "preempted by a higher priority")
        run = await env.until(run_id, "failed")
        assert run["failure"]["cause"] == "preempted"
        assert (await env.quota())["formal_runs"]["used"] == 0


async def test_validation_run_is_not_resumed(lite: Harness) -> None:
    run_id = (await lite.start(await lite.evaluation(), "validation")).json()["id"]
    handle = await lite.submitted(run_id)
    lite.executor.set_state(handle, ExecState.PREEMPTED, "evicted")
    run = await lite.until(run_id, "failed")
    assert run["failure"]["cause"] == "preempted"


async def test_watchdog_ends_silent_runs(tmp_path: Path) -> None:
    async for env in _harness(tmp_path, heartbeat_timeout_seconds=0.3):
        run_id = (await env.start(await env.evaluation())).json()["id"]
        handle = await env.submitted(run_id)
        await env.report(run_id, {"type": "started"})
        env.executor.set_state(handle, ExecState.RUNNING)
        run = await env.until(run_id, "failed")
        assert run["failure"]["cause"] == "platform"
        assert "no heartbeat" in run["failure"]["message"]
        assert handle in env.executor.stopped
        assert (await env.quota())["formal_runs"]["used"] == 0


async def test_watchdog_notices_a_vanished_job(lite: Harness) -> None:
    run_id = (await lite.start(await lite.evaluation())).json()["id"]
    handle = await lite.submitted(run_id)
    await lite.report(run_id, {"type": "started"})
    lite.executor.forget(handle)
    run = await lite.until(run_id, "failed")
    assert run["failure"]["cause"] == "platform" and "vanished" in run["failure"]["message"]


async def test_executor_refusing_to_start_fails_the_run_as_platform_fault(tmp_path: Path) -> None:
    from flageval_scheduler.executors import ExecutorError

    executor = MemoryExecutor()
    executor.fail_submit = ExecutorError("admission webhook denied the Job")
    async for env in _harness(tmp_path, executor=executor):
        run_id = (await env.start(await env.evaluation())).json()["id"]
        run = await env.until(run_id, "failed")
        assert run["failure"]["cause"] == "platform"
        assert "admission webhook denied" in run["failure"]["message"]
        assert (await env.quota())["formal_runs"]["used"] == 0


async def test_restart_resumes_a_run_whose_runner_was_lost(tmp_path: Path) -> None:
    executor = MemoryExecutor()
    async for env in _harness(tmp_path, executor=executor):
        run_id = (await env.start(await env.evaluation())).json()["id"]
        await env.submitted(run_id)
        await env.report(
            run_id,
            {"type": "started"},
            {"type": "dataset_finished", "task": "knowledge", "dataset": "demo-en-choice",
             "status": "succeeded", "metrics": {"accuracy": 0.5}},
        )  # fmt: skip
    # The platform restarts; the executor no longer knows the job (a local runner died).
    fresh = MemoryExecutor()
    async for env in _harness(tmp_path, executor=fresh):
        await env.submitted(run_id, attempt=2)
        spec = (await env.spec(run_id, attempt=2)).json()
        assert [d["dataset"] for d in spec["datasets"]] == ["demo-en-math"]
        run = await env.run(run_id)
        assert run["datasets"][0]["metrics"] == {"accuracy": 0.5}


# -- queue order ---------------------------------------------------------------------------------


async def test_queue_order_is_priority_then_first_come(tmp_path: Path) -> None:
    async for env in _harness(tmp_path, max_active_jobs=1):
        blocker = (await env.start(await env.evaluation())).json()["id"]
        handle = await env.submitted(blocker)
        ids = {}
        for priority in ("low", "medium", "high", "medium"):
            evaluation = await env.evaluation(
                private={
                    "image_id": str(PRESET), "priority": priority, "card_type": "a100-80g",
                    "gpus": 1,
                }
            )  # fmt: skip
            ids.setdefault(priority, []).append((await env.start(evaluation)).json()["id"])
        positions = {
            run_id: (await env.run(run_id))["queue"]["position"]
            for runs in ids.values()
            for run_id in runs
        }
        assert positions[ids["high"][0]] == 1
        assert positions[ids["medium"][0]] == 2
        assert positions[ids["medium"][1]] == 3
        assert positions[ids["low"][0]] == 4
        assert (await env.run(ids["low"][0]))["queue"]["eta_seconds"] > 0
        # Finishing the blocker starts the high-priority run next.
        await env.report(blocker, {"type": "finished", "status": "succeeded"})
        await env.submitted(ids["high"][0])
        assert len(env.executor.requests) == 2
        del handle


# -- authorization and bad input -----------------------------------------------------------------


async def test_other_users_runs_are_not_found(lite: Harness) -> None:
    evaluation_id = await lite.evaluation()
    run_id = (await lite.start(evaluation_id)).json()["id"]
    bob = lite.h(BOB)
    c = lite.api.client
    assert (await c.get(f"/api/runs/{run_id}", headers=bob)).status_code == 404
    assert (await c.post(f"/api/runs/{run_id}/stop", headers=bob)).status_code == 404
    assert (await c.get(f"/api/evaluations/{evaluation_id}/runs", headers=bob)).status_code == 404
    reply = await c.post(
        f"/api/evaluations/{evaluation_id}/runs", json={"kind": "formal"}, headers=bob
    )
    assert reply.status_code == 404
    assert (
        await c.get(f"/api/runs/{run_id}/predictions/demo-en-choice", headers=bob)
    ).status_code == 404
    logs = await lite.sched.client.get(
        f"/api/runs/{run_id}/logs", headers=lite.sched.headers_for(BOB)
    )
    assert logs.status_code == 404
    for bad in ("nope", str(uuid.uuid4())):
        assert (await c.get(f"/api/runs/{bad}", headers=lite.h())).status_code == 404
    assert (await c.get(f"/api/runs/{run_id}")).status_code == 401
    pending = Identity(uuid.uuid4(), "p", Role.USER, UserStatus.PENDING_REVIEW)
    assert (await c.get(f"/api/runs/{run_id}", headers=lite.h(pending))).status_code == 403


BAD_EVENTS: list[tuple[str, Any]] = [
    ("no events", {"events": []}),
    ("not a list", {"events": {"type": "started"}}),
    ("unknown type", {"events": [{"type": "exploded"}]}),
    ("extra field", {"events": [{"type": "heartbeat", "secret": 1}]}),
    ("dataset event without dataset", {"events": [{"type": "dataset_started", "task": "t"}]}),
    ("finished without status", {"events": [{"type": "finished"}]}),
    ("finished skipped", {"events": [{"type": "finished", "status": "skipped"}]}),
    ("bad status", {"events": [{"type": "dataset_finished", "task": "knowledge",
                                "dataset": "demo-en-choice", "status": "great"}]}),
    ("metric not a number", {"events": [{"type": "dataset_finished", "task": "knowledge",
                                         "dataset": "demo-en-choice", "status": "succeeded",
                                         "metrics": {"accuracy": "high"}}]}),
    ("too many metrics", {"events": [{"type": "dataset_finished", "task": "knowledge",
                                      "dataset": "demo-en-choice", "status": "succeeded",
                                      "metrics": {f"accuracy/s{i}": 0.5 for i in range(129)}}]}),
    ("metric name too long", {"events": [{"type": "dataset_finished", "task": "knowledge",
                                          "dataset": "demo-en-choice", "status": "succeeded",
                                          "metrics": {"a" * 65: 0.5}}]}),
    ("negative seq", {"events": [{"type": "log", "seq": -1, "lines": ["x"]}]}),
    ("too many rows", {"events": [{"type": "samples", "task": "knowledge",
                                   "dataset": "demo-en-choice",
                                   "rows": [{"id": "1", "sample": "", "label": "", "predict": ""}] * 51}]}),
    ("unknown dataset", {"events": [{"type": "dataset_started", "task": "x", "dataset": "mmlu"}]}),
    ("too many events", {"events": [{"type": "heartbeat"}] * 501}),
    ("dataset sha256 not hex", {"events": [{"type": "dataset_finished", "task": "knowledge",
                                            "dataset": "demo-en-choice", "status": "succeeded",
                                            "dataset_sha256": "zz"}]}),
    ("cause not allowed", {"events": [{"type": "finished", "status": "failed",
                                       "failure_cause": "preempted"}]}),
]  # fmt: skip


async def test_only_the_runner_that_fetched_the_spec_reports(lite: Harness) -> None:
    """The token alone is not enough: reports and predictions of an attempt are refused until
    its spec was fetched with that token, and nothing is rewritten once the run finished."""
    run_id = (await lite.start(await lite.evaluation())).json()["id"]
    await lite.submitted(run_id)
    forged = {"type": "finished", "status": "succeeded"}
    early = await lite.report(run_id, {"type": "started"}, forged, fetch_spec=False)
    assert early.status_code == 409
    assert early.json()["detail"]["code"] == "spec_not_fetched"
    put = await lite.sched.client.put(
        f"/api/runner/runs/{run_id}/predictions/demo-en-choice",
        content=b'{"score": 1}\n',
        headers={"X-Run-Token": lite.token(run_id)},
    )
    assert put.status_code == 409
    assert (await lite.run(run_id))["status"] in ("queued", "starting")
    assert (await lite.spec(run_id)).status_code == 200
    assert (await lite.report(run_id, {"type": "started"})).status_code == 200
    finished = await lite.report(run_id, {"type": "finished", "status": "failed",
                                          "failure_cause": "user", "message": "honest"})  # fmt: skip
    assert finished.status_code == 200
    await lite.until(run_id, "failed")
    rewrite = await lite.report(run_id, forged)
    assert rewrite.status_code == 409
    assert rewrite.json()["detail"]["code"] == "run_finished"
    assert (await lite.spec(run_id)).status_code == 409  # no spec once it ended either
    run = await lite.run(run_id)
    assert run["status"] == "failed" and run["failure"]["message"] == "honest"


async def test_progress_channel_refuses_bad_input_and_bad_tokens(lite: Harness) -> None:
    run_id = (await lite.start(await lite.evaluation())).json()["id"]
    await lite.submitted(run_id)
    assert (await lite.spec(run_id)).status_code == 200
    for case, body in BAD_EVENTS:
        reply = await lite.sched.client.post(
            f"/api/runner/runs/{run_id}/events", json=body,
            headers={"X-Run-Token": lite.token(run_id)},
        )  # fmt: skip
        assert reply.status_code == 422, case
        assert '"input"' not in reply.text, case
    for token in (None, "", "rt_forged", lite.token(str(uuid.uuid4()))):
        headers = {"X-Run-Token": token} if token is not None else {}
        reply = await lite.sched.client.post(
            f"/api/runner/runs/{run_id}/events", json={"events": [{"type": "started"}]},
            headers=headers,
        )  # fmt: skip
        assert reply.status_code == 401
        assert (
            await lite.sched.client.get(f"/api/runner/runs/{run_id}/spec", headers=headers)
        ).status_code == 401
    for bad_id in ("x", str(uuid.uuid4())):
        reply = await lite.report(bad_id, {"type": "started"}, token=lite.token(run_id))
        assert reply.status_code == 401
    # Nothing of that moved the run.
    assert (await lite.run(run_id))["status"] == "starting"
    reply = await lite.sched.client.put(
        f"/api/runner/runs/{run_id}/predictions/mmlu", content=b"{}\n",
        headers={"X-Run-Token": lite.token(run_id)},
    )  # fmt: skip
    assert reply.status_code == 422


async def test_the_bundle_fetch_has_a_narrower_token_of_its_own(lite: Harness) -> None:
    """The Kubernetes init step holds only the bundle token: it reads the bundle's files and
    nothing else. The bundle endpoint refuses the progress token, the progress endpoints refuse
    the bundle token, and a superseded attempt's bundle token is a 409 like its progress token."""
    run_id = (await lite.start(await lite.evaluation())).json()["id"]
    handle = await lite.submitted(run_id)
    request = lite.executor.requests[handle]
    assert request.bundle_token == lite.bundle_token(run_id) != request.progress_token

    reply = await lite.fetch_bundle(run_id)
    assert reply.status_code == 200, reply.text
    bundle = reply.json()
    assert set(bundle) == {"version", "sha256", "files"} and bundle["version"] == 1
    (entry,) = bundle["files"]
    assert {k: entry[k] for k in ("path", "size_bytes", "sha256")} == {
        "path": "service.py", "size_bytes": 10, "sha256": "a" * 64,
    }  # fmt: skip
    assert entry["url"].startswith("http")
    spec_bundle = (await lite.spec(run_id)).json()["bundle"]
    assert [f["path"] for f in spec_bundle["files"]] == ["service.py"]
    assert spec_bundle["sha256"] == bundle["sha256"]

    progress = lite.token(run_id)
    for headers in (
        {},
        {"X-Bundle-Token": ""},
        {"X-Bundle-Token": progress},  # the progress token is not a bundle token
        {"X-Run-Token": progress},  # … nor is it read from the other header
        {"X-Run-Token": lite.bundle_token(run_id)},
        {"X-Bundle-Token": "bt_forged"},
        {"X-Bundle-Token": "bt_\u00e9t\u00e9".encode("latin-1")},  # not ASCII: still a 401
        {"X-Bundle-Token": lite.bundle_token(str(uuid.uuid4()))},
    ):
        reply = await lite.fetch_bundle(run_id, headers)
        assert reply.status_code == 401, headers
        assert "url" not in reply.text
    for bad_id in ("x", str(uuid.uuid4())):
        reply = await lite.fetch_bundle(bad_id, {"X-Bundle-Token": lite.bundle_token(run_id)})
        assert reply.status_code == 401

    as_progress = {"X-Run-Token": lite.bundle_token(run_id)}
    c = lite.sched.client
    assert (await c.get(f"/api/runner/runs/{run_id}/spec", headers=as_progress)).status_code == 401
    reply = await c.post(
        f"/api/runner/runs/{run_id}/events", json={"events": [{"type": "started"}]},
        headers=as_progress,
    )  # fmt: skip
    assert reply.status_code == 401
    reply = await c.put(
        f"/api/runner/runs/{run_id}/predictions/demo-en-choice", content=b"{}\n",
        headers=as_progress,
    )  # fmt: skip
    assert reply.status_code == 401
    assert (await lite.run(run_id))["status"] == "starting"

    # A resumed attempt gets new tokens; the old attempt's bundle token is a 409.
    await lite.report(run_id, {"type": "started"})
    lite.executor.set_state(handle, ExecState.PREEMPTED, "evicted: node drained")
    second = lite.executor.requests[await lite.submitted(run_id, attempt=2)]
    assert second.bundle_token == lite.bundle_token(run_id, 2) != request.bundle_token
    stale = await lite.fetch_bundle(run_id)
    assert stale.status_code == 409
    assert stale.json()["detail"]["code"] == "run_finished"
    fresh = await lite.fetch_bundle(run_id, {"X-Bundle-Token": second.bundle_token})
    assert fresh.status_code == 200
    # Once the run has ended, the current attempt's bundle token is a 409 too.
    await lite.report(run_id, {"type": "finished", "status": "succeeded"}, attempt=2)
    await lite.until(run_id, "succeeded")
    ended = await lite.fetch_bundle(run_id, {"X-Bundle-Token": second.bundle_token})
    assert ended.status_code == 409


async def test_an_api_run_has_no_bundle_to_fetch(lite: Harness) -> None:
    evaluation_id = await lite.evaluation(
        deploy_mode="api",
        api={"endpoint": "https://llm.example.org/v1", "model_name": "m1", "api_key": "sk-123"},
    )
    run_id = (await lite.start(evaluation_id, "validation")).json()["id"]
    await lite.submitted(run_id)
    reply = await lite.fetch_bundle(run_id)
    assert reply.status_code == 404
    assert reply.json()["detail"]["code"] == "no_bundle"


async def test_predictions_round_trip(lite: Harness) -> None:
    run_id = (await lite.start(await lite.evaluation())).json()["id"]
    await lite.submitted(run_id)
    assert (await lite.spec(run_id)).status_code == 200
    body = b'{"id": "1", "prompt": "p", "prediction": "A", "gold": "A", "score": 1.0}\n'
    reply = await lite.sched.client.put(
        f"/api/runner/runs/{run_id}/predictions/demo-en-choice", content=body,
        headers={"X-Run-Token": lite.token(run_id)},
    )  # fmt: skip
    assert reply.status_code == 204
    got = await lite.api.client.get(
        f"/api/runs/{run_id}/predictions/demo-en-choice", headers=lite.h()
    )
    assert got.status_code == 200 and got.content == body
    missing = await lite.api.client.get(
        f"/api/runs/{run_id}/predictions/demo-en-math", headers=lite.h()
    )
    assert missing.status_code == 404
    other = await lite.api.client.get(f"/api/runs/{run_id}/predictions/mmlu", headers=lite.h())
    assert other.status_code == 404


async def test_api_deployment_spec_carries_the_decrypted_key_only_there(lite: Harness) -> None:
    evaluation_id = await lite.evaluation(
        deploy_mode="api",
        api={"endpoint": "https://llm.example.org/v1", "model_name": "m1", "api_key": "sk-123"},
    )
    reply = await lite.start(evaluation_id, "validation")
    assert reply.status_code == 201 and "sk-123" not in reply.text
    run_id = reply.json()["id"]
    handle = await lite.submitted(run_id)
    assert "sk-123" not in repr(lite.executor.requests[handle])
    spec = (await lite.spec(run_id)).json()
    assert spec["api"] == {
        "endpoint": "https://llm.example.org/v1", "model_name": "m1", "api_key": "sk-123",
    }  # fmt: skip
    assert spec["bundle"] is None


async def test_logs_combine_runner_lines_and_executor_output(lite: Harness) -> None:
    run_id = (await lite.start(await lite.evaluation())).json()["id"]
    handle = await lite.submitted(run_id)
    lite.executor.output[handle] = "gunicorn listening\nmodel loaded"
    await lite.report(
        run_id,
        {"type": "log", "seq": 1, "lines": ["second batch"]},
        {"type": "log", "seq": 0, "lines": ["first batch"]},
        {"type": "log", "seq": 0, "lines": ["first batch"]},  # resent: stored once
    )
    headers = lite.sched.headers_for(ALICE)
    text = (await lite.sched.client.get(f"/api/runs/{run_id}/logs", headers=headers)).text
    assert text.splitlines() == [
        "first batch",
        "second batch",
        "---- process output (attempt 1) ----",
        "gunicorn listening",
        "model loaded",
    ]
    tail = await lite.sched.client.get(f"/api/runs/{run_id}/logs?tail=1", headers=headers)
    assert tail.text == "model loaded\n"
    for bad in ("0", "-1", "abc", "100001"):
        reply = await lite.sched.client.get(f"/api/runs/{run_id}/logs?tail={bad}", headers=headers)
        assert reply.status_code == 422, bad
    assert (await lite.sched.client.get("/api/runs/nope/logs", headers=headers)).status_code == 404


async def test_run_finished_carries_the_record_and_a_failed_runs_log_tail(lite: Harness) -> None:
    from flageval_platform.bus import Subscription

    finished: list[Any] = []

    async def collect(envelope: Any) -> None:
        finished.append(envelope)

    await lite.platform.bus.subscribe(
        Subscription(queue="test.finished", bindings=["run.finished"], handler=collect)
    )
    run_id = (await lite.start(await lite.evaluation())).json()["id"]
    await lite.submitted(run_id)
    await lite.report(
        run_id,
        {"type": "started"},
        {"type": "log", "seq": 0, "lines": [f"line {i}" for i in range(40)]},
        {"type": "dataset_finished", "task": "knowledge", "dataset": "demo-en-choice",
         "status": "succeeded", "metrics": {"accuracy": 0.5}, "dataset_version": "1",
         "dataset_sha256": "d" * 64},
        {"type": "finished", "status": "failed", "failure_cause": "user", "message": "crash"},
    )  # fmt: skip
    (envelope,) = await eventually(lambda: finished)
    payload = envelope.payload
    assert payload["status"] == "failed" and payload["failure_cause"] == "user"
    assert payload["log_tail"].splitlines() == [f"line {i}" for i in range(10, 40)]
    assert payload["evaluation_name"] and payload["submitter"] == "alice"
    assert payload["bundle_sha256"] and payload["image"] == "nlp-serving:1.0"
    assert payload["generation"]["max_new_tokens"] == 64 and payload["platform_version"]
    assert payload["datasets"][0]["dataset_sha256"] == "d" * 64
    assert payload["datasets"][1]["status"] == "skipped"


async def test_a_claim_never_recorded_is_submitted_again_after_a_restart(tmp_path: Path) -> None:
    """The scheduler died between claiming a run (committed as starting, no handle yet) and
    recording the executor's handle: the restarted scheduler queues it again."""
    from flageval_scheduler.jobs.models import Job

    async for env in _harness(tmp_path, max_active_jobs=1):
        blocker = (await env.start(await env.evaluation())).json()["id"]
        await env.submitted(blocker)
        run_id = (await env.start(await env.evaluation())).json()["id"]
        await env.report(blocker, {"type": "finished", "status": "succeeded"})
        await env.submitted(run_id)
        async with env.sched.ctx.db.transaction() as session:
            job = await session.get(Job, uuid.UUID(run_id))
            assert job is not None
            job.handle = None  # as if the handle had never been recorded
    fresh = MemoryExecutor()
    async for env in _harness(tmp_path, executor=fresh):
        await env.submitted(run_id)
        await eventually(lambda: fresh.requests[f"memory/{run_id}/1"].attempt == 1)


# -- to the leaderboard --------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def with_board(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    from flageval_leaderboard.main import definition as leaderboard

    async for harness in _harness(tmp_path, request.param, also={"leaderboard": leaderboard}):
        yield harness


async def test_a_finished_formal_run_is_published_to_its_board(with_board: Harness) -> None:
    """The board hears run.finished from eval-api, the profile from the gateway's
    user.reviewed, and asks eval-api's catalog which metric each dataset shows."""
    from flageval_contracts.enums import ReviewDecision
    from flageval_contracts.events import UserReviewed

    env = with_board
    board = env.platform["leaderboard"]
    await env.platform.bus.publish(
        new_envelope(
            "user.reviewed",
            UserReviewed(
                user_id=ALICE.user_id,
                email="alice@example.org",
                username="alice",
                decision=ReviewDecision.APPROVE,
                status=UserStatus.APPROVED,
                reviewer_id=ADMIN.user_id,
                real_name="Alice Liddell",
                organization="BAAI",
            ),
            producer="gateway",
        )
    )
    run_id = (await env.start(await env.evaluation())).json()["id"]
    await env.submitted(run_id)
    await env.report(
        run_id,
        {"type": "started"},
        {"type": "dataset_started", "task": "knowledge", "dataset": "demo-en-choice"},
        {"type": "dataset_finished", "task": "knowledge", "dataset": "demo-en-choice",
         "status": "succeeded", "metrics": {"accuracy": 0.75}, "dataset_version": "1",
         "dataset_sha256": "c" * 64},
        {"type": "dataset_started", "task": "math-reasoning", "dataset": "demo-en-math"},
        # The runner reports every metric it computed; the catalog says exact-match.
        {"type": "dataset_finished", "task": "math-reasoning", "dataset": "demo-en-math",
         "status": "succeeded", "metrics": {"accuracy": 0.9, "exact_match": 0.5},
         "dataset_version": "1", "dataset_sha256": "d" * 64},
        {"type": "finished", "status": "succeeded"},
    )  # fmt: skip
    await env.until(run_id, "succeeded")
    path = f"/api/runs/{run_id}/submissions"

    async def published() -> Any:
        reply = await board.client.post(
            path, json={"mode": "named"}, headers=board.headers_for(ALICE)
        )
        if reply.status_code == 409 and reply.json()["detail"]["code"] == "run_not_finished":
            return None  # run.finished still on its way
        return reply

    reply = await eventually(published)
    assert reply.status_code == 201, reply.text
    again = await board.client.post(path, json={"mode": "named"}, headers=board.headers_for(ALICE))
    assert again.status_code == 409

    doc = (await board.client.get("/api/leaderboards/nlp")).json()
    (row,) = doc["rows"]
    assert (row["rank"], row["submitter"], row["organization"]) == (1, "Alice Liddell", "BAAI")
    assert row["scores"] == {"demo-en-choice": 0.75, "demo-en-math": 0.5}
    metrics = {c["id"]: c["metric"] for c in doc["columns"] if c["kind"] == "dataset"}
    assert metrics == {"demo-en-choice": "accuracy", "demo-en-math": "exact_match"}
    assert row["task_averages"] == {"knowledge": 0.75, "math-reasoning": 0.5}
    assert row["overall"] == 0.625
    card = row["reproducibility"]
    assert len(card["bundle_sha256"]) == 64
    assert card["image"] == "nlp-serving:1.0"
    assert [(d["dataset"], d["version"], d["sha256"]) for d in card["datasets"]] == [
        ("demo-en-choice", "1", "c" * 64),
        ("demo-en-math", "1", "d" * 64),
    ]
    assert card["generation"] == {"max_new_tokens": 64, "seed": 0, "temperature": 0.0}
    assert card["platform_version"]

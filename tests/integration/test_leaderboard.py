"""A formal run from start to the leaderboard: eval-api, the scheduler and the leaderboard
in-process (as in standalone), the in-memory executor standing in for the job, and the test
playing the runner over the progress channel. The board hears ``run.finished`` from eval-api,
the profile from the gateway's ``user.reviewed``, and asks eval-api's catalog which metric
each dataset shows."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from flageval_contracts import new_envelope
from flageval_contracts.enums import ReviewDecision, Role, UserStatus
from flageval_contracts.events import BundleFile, BundleReady, ImageAvailable, UserReviewed
from flageval_eval_api.main import definition as eval_api
from flageval_leaderboard.main import definition as leaderboard
from flageval_platform.identity import Identity
from flageval_platform.testing import RunningPlatform, eventually, running_platform
from flageval_scheduler.config import ServiceSettings
from flageval_scheduler.executors.memory import MemoryExecutor
from flageval_scheduler.jobs.service import progress_token
from flageval_scheduler.main import definition as scheduler

SECRET = "q" * 48
PRESET = uuid.uuid5(uuid.NAMESPACE_URL, "preset/nlp-serving:1.0")
ALICE = Identity(uuid.uuid4(), "alice", Role.USER, UserStatus.APPROVED)
ADMIN = Identity(uuid.uuid4(), "root", Role.ADMIN, UserStatus.APPROVED)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def platform(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[RunningPlatform, MemoryExecutor]]:
    executor = MemoryExecutor()
    settings = ServiceSettings(
        data_dir=tmp_path,
        secret_key=SECRET,
        dispatch_interval_seconds=0.05,
        watchdog_interval_seconds=0.1,
        outbox_poll_seconds=0.05,
        max_active_jobs=10,
    )
    async with running_platform(
        {"eval-api": eval_api, "scheduler": scheduler, "leaderboard": leaderboard},
        settings,
        backend=request.param,
        state={"scheduler": {"executor": executor}},
    ) as running:
        await running.bus.publish(
            new_envelope(
                "image.available",
                ImageAvailable(image_id=PRESET, name="nlp-serving", tag="1.0", preset=True),
                producer="image-registry",
            )
        )
        yield running, executor


async def _formal_run(platform: RunningPlatform, executor: MemoryExecutor) -> str:
    """Create an evaluation, upload a bundle, start a formal run and finish it as the runner."""
    api = platform["eval-api"]
    headers = api.headers_for(ALICE)

    async def evaluation_created() -> Any:
        reply = await api.client.post(
            "/api/evaluations",
            json={
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
            },
            headers=headers,
        )
        return reply.json() if reply.status_code == 201 else None  # image not heard of yet

    evaluation_id = (await eventually(evaluation_created))["id"]
    bundle = BundleReady(
        evaluation_id=uuid.UUID(evaluation_id),
        owner_id=ALICE.user_id,
        bundle_id=uuid.uuid4(),
        version=1,
        valid=True,
        files=[BundleFile(path="service.py", size_bytes=10, sha256="a" * 64)],
    )
    await platform.bus.publish(new_envelope("bundle.ready", bundle, producer="upload"))

    async def started() -> Any:
        reply = await api.client.post(
            f"/api/evaluations/{evaluation_id}/runs", json={"kind": "formal"}, headers=headers
        )
        return reply.json() if reply.status_code == 201 else None  # bundle not heard of yet

    run_id = str((await eventually(started))["id"])
    await eventually(lambda: f"memory/{run_id}/1" in executor.requests)
    token = {"X-Run-Token": progress_token(SECRET, uuid.UUID(run_id), 1)}
    events: list[dict[str, Any]] = [
        {"type": "started"},
        {"type": "dataset_started", "task": "knowledge", "dataset": "demo-en-choice"},
        {
            "type": "dataset_finished",
            "task": "knowledge",
            "dataset": "demo-en-choice",
            "status": "succeeded",
            "metrics": {"accuracy": 0.75},
            "dataset_version": "1",
            "dataset_sha256": "c" * 64,
        },
        {"type": "dataset_started", "task": "math-reasoning", "dataset": "demo-en-math"},
        {
            "type": "dataset_finished",
            "task": "math-reasoning",
            "dataset": "demo-en-math",
            "status": "succeeded",
            # The runner reports every metric it computed; the catalog says exact-match.
            "metrics": {"accuracy": 0.9, "exact_match": 0.5},
            "dataset_version": "1",
            "dataset_sha256": "d" * 64,
        },
        {"type": "finished", "status": "succeeded"},
    ]
    for event in events:
        reply = await platform["scheduler"].client.post(
            f"/api/runner/runs/{run_id}/events", json={"events": [event]}, headers=token
        )
        assert reply.status_code == 200, reply.text

    async def succeeded() -> bool:
        reply = await api.client.get(f"/api/runs/{run_id}", headers=headers)
        return bool(reply.json()["status"] == "succeeded")

    await eventually(succeeded)
    return run_id


async def test_a_finished_formal_run_is_published_to_its_board(platform) -> None:
    running, executor = platform
    board = running["leaderboard"]
    await running.bus.publish(
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
    run_id = await _formal_run(running, executor)
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

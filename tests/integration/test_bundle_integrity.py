"""A run evaluates exactly the bytes its bundle version was checked with (SPEC §11).

The upload service seals a version with every file's sha256 (``bundle.ready``); eval-api pins
the version and its sha256s on the run; the scheduler hands the runner each file's presigned
URL with its sha256; the runner verifies every file before anything starts. Here the real
upload, eval-api and scheduler run in-process (as in standalone, one local object store), the
real runner (:class:`~flageval_runner.platform_run.PlatformRun`) talks to the scheduler and the
store's presigned URLs over an in-process transport, and one object of a pinned file is changed
in the store behind the platform's back: the run fails with cause ``platform`` and a message
that names the file.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from flageval_contracts import new_envelope
from flageval_contracts.enums import Role, UserStatus
from flageval_contracts.events import ImageAvailable
from flageval_eval_api.main import definition as eval_api
from flageval_platform.identity import Identity
from flageval_platform.storage.local import PRESIGN_PATH, presigned_router
from flageval_platform.testing import RunningPlatform, eventually, running_platform
from flageval_runner.platform_run import LogShipper, PlatformEnv, PlatformRun
from flageval_runner.progress import ProgressClient
from flageval_scheduler.config import ServiceSettings
from flageval_scheduler.executors.memory import MemoryExecutor
from flageval_scheduler.main import definition as scheduler
from flageval_upload.main import definition as upload

SECRET = "i" * 48
PRESET = uuid.uuid5(uuid.NAMESPACE_URL, "preset/nlp-serving:1.0")
ALICE = Identity(uuid.uuid4(), "alice", Role.USER, UserStatus.APPROVED)

SERVICE_PY = b"""\
from flageval.serving.service import NLPCompletion, NLPEvalRequest, NLPEvalResponse, NLPModelService


class Service(NLPModelService):
    def global_init(self, model_path: str):
        self.model_path = model_path

    def infer(self, req: NLPEvalRequest) -> NLPEvalResponse:
        return NLPEvalResponse(completions=[NLPCompletion(text="A", tokens="A")])
"""
BUNDLE = {
    "meta.json": b'{"parameter_scale_billion": 0.1, "model_name": "tiny"}',
    "model/config.json": b'{"hidden_size": 8}',
    "service.py": SERVICE_PY,
}


class ToThePlatform(httpx.AsyncBaseTransport):
    """What the runner's HTTP reaches: the scheduler's progress channel, and the local store's
    presigned URLs (served as the platform serves them)."""

    def __init__(self, platform: RunningPlatform) -> None:
        self.scheduler = platform["scheduler"].client
        store_app = FastAPI()
        store_app.include_router(presigned_router(platform.store))
        self.store = httpx.ASGITransport(app=store_app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith(PRESIGN_PATH):
            return await self.store.handle_async_request(request)
        reply = await self.scheduler.send(request)  # over its ASGI transport
        return httpx.Response(reply.status_code, headers=reply.headers, content=reply.content)


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[tuple[RunningPlatform, MemoryExecutor]]:
    settings = ServiceSettings(
        data_dir=tmp_path,
        secret_key=SECRET,
        dispatch_interval_seconds=0.05,
        watchdog_interval_seconds=0.1,
        outbox_poll_seconds=0.05,
    )
    executor = MemoryExecutor()
    async with running_platform(
        {"eval-api": eval_api, "scheduler": scheduler, "upload": upload},
        settings,
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


async def upload_bundle(p: RunningPlatform, evaluation_id: str) -> dict[str, Any]:
    """Upload ``BUNDLE`` as the CLI does (one chunk per file); the valid version's listing."""
    up = p["upload"]

    async def token() -> str | None:  # once the upload service has heard of the evaluation
        reply = await up.client.post(
            f"/api/evaluations/{evaluation_id}/upload-tokens", headers=up.headers_for(ALICE)
        )
        return str(reply.json()["token"]) if reply.status_code == 201 else None

    t = await eventually(token)
    plan = [
        {"filename": name, "sizeKb": max(len(data) // 1024, 1)} for name, data in BUNDLE.items()
    ]
    reply = await up.client.post("/api/evaluations/models/files", json={"token": t, "files": plan})
    assert reply.status_code == 200, reply.text
    for entry in reply.json()["results"]:
        (chunk,) = entry["chunks"]
        sent = await up.client.post(
            f"/api/evaluations/models/files/{entry['id']}/chunks",
            params={"chunk_num": chunk["num"], "token": t, "is_update": 0},
            files={"file": BUNDLE[entry["filename"]]},
        )
        assert sent.status_code == 200, sent.text
    (version,) = (
        await up.client.get(
            f"/api/evaluations/{evaluation_id}/bundles", headers=up.headers_for(ALICE)
        )
    ).json()
    assert version["status"] == "valid", version["problems"]
    return dict(version)


async def test_a_pinned_file_changed_in_the_store_fails_the_run_with_cause_platform(
    platform: tuple[RunningPlatform, MemoryExecutor], tmp_path: Path
) -> None:
    p, executor = platform
    api = p["eval-api"]
    reply = await api.client.post(
        "/api/evaluations",
        json={
            "domain": "nlp",
            "name": "tamper-check",
            "datasets": ["demo-en-choice", "demo-en-math"],
            "deploy_mode": "private",
            "private": {
                "image_id": str(PRESET),
                "priority": "medium",
                "card_type": "a100-80g",
                "gpus": 1,
            },
        },
        headers=api.headers_for(ALICE),
    )
    assert reply.status_code == 201, reply.text
    evaluation_id = str(reply.json()["id"])
    version = await upload_bundle(p, evaluation_id)
    assert {f["path"]: f["sha256"] for f in version["files"]} == {
        name: hashlib.sha256(data).hexdigest() for name, data in BUNDLE.items()
    }

    async def started() -> dict[str, Any] | None:  # once eval-api has the valid version
        reply = await api.client.post(
            f"/api/evaluations/{evaluation_id}/runs",
            json={"kind": "formal"},
            headers=api.headers_for(ALICE),
        )
        return dict(reply.json()) if reply.status_code == 201 else None

    run = await eventually(started)
    run_id = run["id"]
    assert run["bundle"]["version"] == 1
    handle = f"memory/{run_id}/1"
    await eventually(lambda: handle in executor.requests)
    request = executor.requests[handle]

    # Behind the platform's back: same size, other bytes, in the object the run will read.
    key = f"bundles/{version['id']}/files/service.py"
    original = await p.store.read(key)
    tampered = original.replace(b'text="A"', b'text="B"')
    assert len(tampered) == len(original) and tampered != original
    await p.store.put(key, tampered)

    env = PlatformEnv(
        progress_url="http://platform.internal",
        run_id=run_id,
        attempt=1,
        token=request.progress_token,
        work_dir=tmp_path / "work",
        retry_seconds=5,
    )
    client = ProgressClient(
        env.progress_url, run_id, env.token, retry_seconds=5, transport=ToThePlatform(p)
    )
    try:
        spec = await client.spec()
        pinned = {f["path"]: f["sha256"] for f in spec["bundle"]["files"]}
        assert pinned == {f["path"]: f["sha256"] for f in version["files"]}
        assert await PlatformRun(client, spec, env, LogShipper()).execute() == 0
    finally:
        await client.aclose()

    async def failed() -> dict[str, Any] | None:
        reply = await api.client.get(f"/api/runs/{run_id}", headers=api.headers_for(ALICE))
        body = dict(reply.json())
        return body if body["status"] == "failed" else None

    run = await eventually(failed)
    assert run["failure"]["cause"] == "platform"
    message = run["failure"]["message"]
    assert "bundle file service.py: sha256 mismatch" in message, message
    assert hashlib.sha256(tampered).hexdigest() in message
    assert [d["status"] for d in run["datasets"]] == ["failed", "skipped"]
    # The runner went past meta.json and model/config.json (intact) and stopped at service.py:
    # nothing of the tampered file reached the work folder.
    bundle_dir = tmp_path / "work" / "bundle"
    assert (bundle_dir / "meta.json").read_bytes() == BUNDLE["meta.json"]
    assert not (bundle_dir / "service.py").exists()

"""The runner's progress channel (docs/runs.md): its spec, its reports, its predictions.

Reached through the gateway at ``/api/runner/runs/{run_id}/…`` with no login: the per-run,
per-attempt token in ``X-Run-Token`` is the only credential a runner has.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from flageval_platform.apikeys import ApiKeyCipher, UnreadableApiKey
from flageval_platform.errors import Conflict, PlatformError, Unauthorized, Unprocessable
from flageval_platform.service import ServiceContext
from flageval_scheduler.jobs import service
from flageval_scheduler.jobs.models import Job

TOKEN_HEADER = "X-Run-Token"
URL_LIFETIME = timedelta(hours=6)
MAX_PREDICTIONS_BYTES = 512 * 1024 * 1024
HEARTBEAT_SECONDS = 10
VALIDATION_SAMPLES = 3
#: What runs requested before eval-api recorded generation parameters get.
DEFAULT_GENERATION = {"max_new_tokens": 64, "seed": 0, "temperature": 0.0}

Name = Annotated[str, Field(min_length=1, max_length=64)]
Text = Annotated[str, Field(max_length=20_000)]


class SampleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(min_length=1, max_length=128)]
    sample: Text
    label: Text
    predict: Text


_REQUIRED: dict[str, tuple[str, ...]] = {
    "started": (),
    "heartbeat": (),
    "dataset_started": ("task", "dataset"),
    "dataset_finished": ("task", "dataset", "status"),
    "samples": ("task", "dataset", "rows"),
    "log": ("seq", "lines"),
    "finished": ("status",),
}


class RunnerEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(max_length=64)] | None = None
    type: Literal[
        "started", "heartbeat", "dataset_started", "dataset_finished", "samples", "log", "finished"
    ]
    task: Name | None = None
    dataset: Name | None = None
    status: Literal["succeeded", "failed", "skipped"] | None = None
    metrics: Annotated[dict[Name, float | None], Field(max_length=64)] | None = None
    error: Annotated[str, Field(max_length=4000)] | None = None
    rows: Annotated[list[SampleIn], Field(max_length=50)] | None = None
    seq: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    lines: Annotated[list[Text], Field(max_length=2000)] | None = None
    failure_cause: Literal["user", "platform"] | None = None
    message: Annotated[str, Field(max_length=4000)] | None = None
    dataset_version: Annotated[str, Field(max_length=64)] | None = None
    dataset_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None

    @model_validator(mode="after")
    def _fields_of_type(self) -> RunnerEvent:
        missing = [f for f in _REQUIRED[self.type] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.type} event needs {', '.join(missing)}")
        if self.type == "finished" and self.status == "skipped":
            raise ValueError("a run finishes succeeded or failed")
        return self


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: Annotated[list[RunnerEvent], Field(min_length=1, max_length=500)]


class PayloadTooLarge(PlatformError):
    status_code = 413


async def _job(session: Any, run_id: str, token: str | None, secret_key: str) -> Job:
    """The run the token belongs to (401 for a wrong token or an unknown run; 409 once the run
    has ended or the token's attempt was superseded)."""
    try:
        key = uuid.UUID(run_id)
    except ValueError:
        raise Unauthorized("Unknown run or wrong run token.") from None
    job: Job | None = await session.get(Job, key)
    if job is None:
        raise Unauthorized("Unknown run or wrong run token.")
    if not service.token_matches(secret_key, job, token):
        older = any(
            token == service.progress_token(secret_key, job.run_id, attempt)
            for attempt in range(1, job.attempt)
        )
        if older:
            raise Conflict(
                "A newer attempt of this run has replaced this one.", code="run_finished"
            )
        raise Unauthorized("Unknown run or wrong run token.")
    if job.status in service.TERMINAL:
        raise Conflict(f"This run has {job.status}.", code="run_finished")
    return job


def router(ctx: ServiceContext, wake: Any) -> APIRouter:
    api = APIRouter(prefix="/api/runner/runs", tags=["runner"])
    cipher = ApiKeyCipher(ctx.secret_key)

    async def source_of(source: str | None) -> dict[str, Any] | None:
        if not source:
            return None
        if source.startswith("demo:"):
            return {"type": "demo", "name": source[len("demo:") :]}
        prefix = source.rstrip("/")
        return {
            "type": "url",
            "card_url": await ctx.store.presigned_get_url(f"{prefix}/card.json", URL_LIFETIME),
            "data_url": await ctx.store.presigned_get_url(f"{prefix}/data.jsonl", URL_LIFETIME),
        }

    @api.get("/{run_id}/spec", include_in_schema=False)
    async def spec(
        run_id: str, token: Annotated[str | None, Header(alias=TOKEN_HEADER)] = None
    ) -> dict[str, Any]:
        async with ctx.db.transaction() as session:
            job = await _job(session, run_id, token, ctx.secret_key)
            todo, done = service.remaining_steps(job)
            payload = dict(job.spec)
            attempt = job.attempt
        bundle = None
        if payload.get("bundle"):
            b = payload["bundle"]
            bundle = {
                "version": b["version"],
                "sha256": b["sha256"],
                "files": [
                    {
                        **f,
                        "url": await ctx.store.presigned_get_url(
                            f"bundles/{b['bundle_id']}/files/{f['path']}", URL_LIFETIME
                        ),
                    }
                    for f in b.get("files", [])
                ],
            }
        api_section = None
        if payload.get("api"):
            a = payload["api"]
            key = None
            if a.get("api_key_encrypted"):
                try:
                    key = cipher.decrypt(
                        a["api_key_encrypted"], evaluation_id=uuid.UUID(payload["evaluation_id"])
                    )
                except UnreadableApiKey:
                    key = None
            api_section = {
                "endpoint": a["endpoint"],
                "model_name": a.get("model_name"),
                "api_key": key,
            }
        return {
            "run_id": run_id,
            "attempt": attempt,
            "kind": payload["kind"],
            "domain": payload["domain"],
            "deploy_mode": payload.get("deploy_mode", "private"),
            "robustness": bool(payload.get("robustness")),
            "validation_samples": VALIDATION_SAMPLES,
            "heartbeat_seconds": HEARTBEAT_SECONDS,
            "datasets": [
                {
                    "task": s["task"],
                    "dataset": s["dataset"],
                    "source": await source_of(s.get("source")),
                }
                for s in todo
            ],
            "done": done,
            "bundle": bundle,
            "api": api_section,
            "generation": payload.get("generation") or dict(DEFAULT_GENERATION),
        }

    @api.post("/{run_id}/events", include_in_schema=False)
    async def events(
        run_id: str,
        batch: EventBatch,
        token: Annotated[str | None, Header(alias=TOKEN_HEADER)] = None,
    ) -> dict[str, Any]:
        async with ctx.db.transaction() as session:
            job = await _job(session, run_id, token, ctx.secret_key)
            steps = {s["dataset"] for s in job.spec.get("datasets", [])}
            unknown = sorted({e.dataset for e in batch.events if e.dataset is not None} - steps)
            if unknown:
                raise Unprocessable(f"This run has no dataset {', '.join(unknown)}.")
            await service.apply_runner_events(
                session, ctx.messaging, job, [e.model_dump() for e in batch.events]
            )
            stop = job.stop_requested
            ended = job.status in service.TERMINAL
        if ended:
            wake()
        return {"accepted": len(batch.events), "stop": stop}

    @api.put("/{run_id}/predictions/{dataset}", status_code=204, include_in_schema=False)
    async def predictions(
        run_id: str,
        dataset: str,
        request: Request,
        token: Annotated[str | None, Header(alias=TOKEN_HEADER)] = None,
    ) -> Response:
        async with ctx.db.transaction() as session:
            job = await _job(session, run_id, token, ctx.secret_key)
            if dataset not in {s["dataset"] for s in job.spec.get("datasets", [])}:
                raise Unprocessable(f"This run has no dataset {dataset[:64]!r}.")

        async def capped() -> AsyncIterator[bytes]:
            total = 0
            async for chunk in request.stream():
                total += len(chunk)
                if total > MAX_PREDICTIONS_BYTES:
                    raise PayloadTooLarge("Predictions are limited to 512 MiB per dataset.")
                yield chunk

        await ctx.store.put(f"runs/{job.run_id}/predictions/{dataset}.jsonl", capped())
        return Response(status_code=204)

    return api

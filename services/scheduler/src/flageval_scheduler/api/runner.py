"""The runner's progress channel (docs/runs.md): its spec, its reports, its predictions.

Reached through the gateway at ``/api/runner/runs/{run_id}/…`` with no login: the per-run,
per-attempt token in ``X-Run-Token`` is the only credential a runner has. ``GET …/bundle`` takes
the narrower bundle token in ``X-Bundle-Token`` instead (the Kubernetes init step that downloads
the bundle holds only that one); neither token is accepted where the other is expected.
"""

from __future__ import annotations

import hmac
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from flageval_contracts.enums import MAX_DATASET_METRICS, MAX_METRIC_NAME
from flageval_platform.apikeys import ApiKeyCipher, UnreadableApiKey
from flageval_platform.errors import (
    Conflict,
    NotFound,
    PlatformError,
    Unauthorized,
    Unprocessable,
)
from flageval_platform.service import ServiceContext
from flageval_platform.storage import ObjectNotFound
from flageval_scheduler.jobs import service
from flageval_scheduler.jobs.models import Job

TOKEN_HEADER = "X-Run-Token"
BUNDLE_TOKEN_HEADER = "X-Bundle-Token"
URL_LIFETIME = timedelta(hours=6)
MAX_PREDICTIONS_BYTES = 512 * 1024 * 1024
HEARTBEAT_SECONDS = 10
VALIDATION_SAMPLES = 3
#: The file table a media dataset version's registration writes under its prefix.
MEDIA_TABLE = "media.json"
#: What runs requested before eval-api recorded generation parameters get.
DEFAULT_GENERATION = {"max_new_tokens": 64, "seed": 0, "temperature": 0.0}

Name = Annotated[str, Field(min_length=1, max_length=64)]
MetricName = Annotated[str, Field(min_length=1, max_length=MAX_METRIC_NAME)]
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
    metrics: (
        Annotated[dict[MetricName, float | None], Field(max_length=MAX_DATASET_METRICS)] | None
    ) = None
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


class BundleFileOut(BaseModel):
    path: str
    size_bytes: int
    sha256: str
    url: str  # presigned, expires after URL_LIFETIME


class BundleOut(BaseModel):
    """The pinned bundle version of a run, each file with a presigned download URL (the shape
    of the spec's ``bundle``)."""

    version: int
    sha256: str
    files: list[BundleFileOut]


class PayloadTooLarge(PlatformError):
    status_code = 413


async def _job(
    session: Any,
    run_id: str,
    token: str | None,
    secret_key: str,
    make_token: Callable[[str, uuid.UUID, int], str] = service.progress_token,
) -> Job:
    """The run the token belongs to (401 for a wrong token or an unknown run; 409 once the run
    has ended or the token's attempt was superseded). ``make_token`` says which kind of token
    this endpoint takes (the progress token unless told otherwise)."""
    try:
        key = uuid.UUID(run_id)
    except ValueError:
        raise Unauthorized("Unknown run or wrong run token.") from None
    job: Job | None = await session.get(Job, key)
    if job is None:
        raise Unauthorized("Unknown run or wrong run token.")
    given = (token or "").encode()  # bytes: compare_digest refuses non-ASCII text
    if not given or not hmac.compare_digest(
        make_token(secret_key, job.run_id, job.attempt).encode(), given
    ):
        older = bool(given) and any(
            hmac.compare_digest(make_token(secret_key, job.run_id, attempt).encode(), given)
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


def _require_spec_fetched(job: Job) -> None:
    """Reports come only from the runner that fetched this attempt's spec with the token first
    (the runner does so before it starts any model); anything else is refused with 409."""
    if job.spec_fetched_attempt != job.attempt:
        raise Conflict(
            "This attempt has not fetched its spec; only its runner may report.",
            code="spec_not_fetched",
        )


def router(ctx: ServiceContext, wake: Any) -> APIRouter:
    api = APIRouter(prefix="/api/runner/runs", tags=["runner"])
    cipher = ApiKeyCipher(ctx.secret_key)

    async def source_of(source: str | None) -> dict[str, Any] | None:
        if not source:
            return None
        if source.startswith("demo:"):
            return {"type": "demo", "name": source[len("demo:") :]}
        prefix = source.rstrip("/")
        media = await media_source(prefix)
        if media is not None:
            return media
        return {
            "type": "url",
            "card_url": await ctx.store.presigned_get_url(f"{prefix}/card.json", URL_LIFETIME),
            "data_url": await ctx.store.presigned_get_url(f"{prefix}/data.jsonl", URL_LIFETIME),
        }

    async def media_source(prefix: str) -> dict[str, Any] | None:
        """A media dataset version (its registration wrote ``media.json``, the file table
        with object keys): every file with its size, sha256 and a presigned URL."""
        try:
            table = json.loads(await ctx.store.read(f"{prefix}/{MEDIA_TABLE}"))
        except ObjectNotFound:
            return None
        files = [
            {
                "path": f["path"],
                "size_bytes": f["size_bytes"],
                "sha256": f["sha256"],
                "url": await ctx.store.presigned_get_url(f["key"], URL_LIFETIME),
            }
            for f in table["files"]
        ]
        url_of = {f["path"]: f["url"] for f in files}
        return {
            "type": "media",
            "version": prefix.rsplit("/", 1)[-1],
            "content_sha256": table["content_sha256"],
            "card_url": url_of.get("card.json"),
            "manifest_url": url_of.get("manifest.jsonl"),
            "files": files,
        }

    async def bundle_of(payload: dict[str, Any]) -> dict[str, Any] | None:
        b = payload.get("bundle")
        if not b:
            return None
        return {
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

    @api.get("/{run_id}/spec", include_in_schema=False)
    async def spec(
        run_id: str, token: Annotated[str | None, Header(alias=TOKEN_HEADER)] = None
    ) -> dict[str, Any]:
        async with ctx.db.transaction() as session:
            job = await _job(session, run_id, token, ctx.secret_key)
            job.spec_fetched_attempt = job.attempt
            todo, done = service.remaining_steps(job)
            payload = dict(job.spec)
            attempt = job.attempt
        bundle = await bundle_of(payload)
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

    @api.get("/{run_id}/bundle", include_in_schema=False)
    async def bundle(
        run_id: str, token: Annotated[str | None, Header(alias=BUNDLE_TOKEN_HEADER)] = None
    ) -> BundleOut:
        """The bundle's files and nothing else, for the bundle token (read-only)."""
        async with ctx.db.transaction() as session:
            job = await _job(session, run_id, token, ctx.secret_key, service.bundle_token)
            payload = dict(job.spec)
        found = await bundle_of(payload)
        if found is None:
            raise NotFound("This run has no bundle (an API deployment).", code="no_bundle")
        return BundleOut.model_validate(found)

    @api.post("/{run_id}/events", include_in_schema=False)
    async def events(
        run_id: str,
        batch: EventBatch,
        token: Annotated[str | None, Header(alias=TOKEN_HEADER)] = None,
    ) -> dict[str, Any]:
        async with ctx.db.transaction() as session:
            job = await _job(session, run_id, token, ctx.secret_key)
            _require_spec_fetched(job)
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
            _require_spec_fetched(job)
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

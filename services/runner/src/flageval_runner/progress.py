"""The runner's side of the progress channel (docs/runs.md): spec, events, predictions.

Every request carries the run's ``X-Run-Token`` (the bundle fetch's client carries the narrower
``X-Bundle-Token`` instead and only reads ``…/bundle``). Connection errors, timeouts, 5xx and 429 are
retried with capped, jittered exponential backoff until ``retry_seconds`` have passed since the
request's first failure, so a platform restart does not kill a run. 401 and 409 raise
:class:`RunRefused` (the runner exits with code 3); any other 4xx raises :class:`ProgressError`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
RUN_TOKEN_HEADER = "X-Run-Token"
BUNDLE_TOKEN_HEADER = "X-Bundle-Token"


class ProgressError(Exception):
    """The platform answered something the runner cannot act on (a bug), or kept failing."""


class RunRefused(ProgressError):
    """401 (wrong token) or 409 (the run ended, or a newer attempt superseded this one)."""

    def __init__(self, status_code: int, detail: str):
        self.status_code = status_code
        super().__init__(f"the platform refused the runner: HTTP {status_code}: {detail}")


class DownloadError(Exception):
    """A presigned file could not be fetched, or it is not what the spec says."""


def _backoff(attempt: int, initial: float, cap: float) -> float:
    """``initial * 2**attempt`` capped at ``cap``, times a jitter in [0.75, 1.25)."""
    return min(cap, initial * (2**attempt)) * (0.75 + random.random() * 0.5)


def new_event(type_: str, **fields: Any) -> dict[str, Any]:
    """An event as posted: ``type``, a uuid4 hex ``id`` (for debugging), and its fields."""
    return {"type": type_, "id": uuid.uuid4().hex, **fields}


class ProgressClient:
    """HTTP client of ``{base_url}/api/runner/runs/{run_id}/…``.

    ``stop_requested`` is set as soon as any events reply says ``"stop": true``. The token goes
    in ``token_header``: the run token, or the bundle token for :meth:`bundle`.
    """

    def __init__(
        self,
        base_url: str,
        run_id: str,
        token: str,
        *,
        retry_seconds: float = 600.0,
        timeout: float = 30.0,
        initial_backoff: float = 0.2,
        max_backoff: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        token_header: str = RUN_TOKEN_HEADER,
    ) -> None:
        self.base = f"{base_url.rstrip('/')}/api/runner/runs/{run_id}"
        self.retry_seconds = retry_seconds
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.stop_requested = asyncio.Event()
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), headers={token_header: token}, transport=transport
        )
        # Presigned object-store URLs must not receive the token.
        self._plain = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), follow_redirects=True, transport=transport
        )

    @classmethod
    def for_bundle(
        cls, base_url: str, run_id: str, bundle_token: str, **options: Any
    ) -> ProgressClient:
        """A client holding the bundle token: it may call :meth:`bundle` and download, nothing
        else (the platform refuses it everywhere else)."""
        return cls(base_url, run_id, bundle_token, token_header=BUNDLE_TOKEN_HEADER, **options)

    def __repr__(self) -> str:  # never shows the token
        return f"ProgressClient({self.base!r})"

    async def aclose(self) -> None:
        await self._client.aclose()
        await self._plain.aclose()

    async def _request(
        self,
        send: Callable[[], Any],
        what: str,
        *,
        refusable: bool = True,
    ) -> httpx.Response:
        """Send with retries; return a 2xx/3xx reply or raise (see the module docstring)."""
        first_failure: float | None = None
        attempt = 0
        while True:
            problem: str
            try:
                resp: httpx.Response = await send()
            except httpx.TimeoutException as exc:
                problem = f"timed out ({type(exc).__name__})"
            except httpx.TransportError as exc:
                problem = f"connection error ({type(exc).__name__})"
            else:
                code = resp.status_code
                if code < 400:
                    return resp
                if refusable and code in (401, 409):
                    raise RunRefused(code, resp.text[:300])
                if code not in RETRYABLE_STATUS:
                    raise ProgressError(f"{what}: HTTP {code}: {resp.text[:300]}")
                problem = f"HTTP {code}"
            now = time.monotonic()
            if first_failure is None:
                first_failure = now
            delay = _backoff(attempt, self.initial_backoff, self.max_backoff)
            if now - first_failure + delay > self.retry_seconds:
                raise ProgressError(
                    f"{what}: still failing after {now - first_failure:.0f}s: {problem}"
                )
            logger.warning("%s: %s; retrying in %.1fs", what, problem, delay)
            attempt += 1
            await asyncio.sleep(delay)

    async def spec(self) -> dict[str, Any]:
        """The run's spec (datasets still to do, bundle URLs or API endpoint, generation)."""
        resp = await self._request(lambda: self._client.get(f"{self.base}/spec"), "GET spec")
        data = resp.json()
        if not isinstance(data, dict):
            raise ProgressError("GET spec: the reply is not a JSON object")
        return data

    async def bundle(self) -> dict[str, Any]:
        """The run's bundle (``version``, ``sha256``, ``files`` with presigned URLs): what the
        bundle token may read."""
        resp = await self._request(lambda: self._client.get(f"{self.base}/bundle"), "GET bundle")
        data = resp.json()
        if not isinstance(data, dict):
            raise ProgressError("GET bundle: the reply is not a JSON object")
        return data

    async def post_events(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """Post a batch; returns the reply (``accepted``, ``stop``)."""
        resp = await self._request(
            lambda: self._client.post(f"{self.base}/events", json={"events": events}),
            "POST events (" + ",".join(str(e.get("type")) for e in events) + ")",
        )
        try:
            reply = resp.json()
        except ValueError:
            reply = {}
        if not isinstance(reply, dict):
            reply = {}
        if reply.get("stop"):
            self.stop_requested.set()
        return reply

    async def post(self, type_: str, **fields: Any) -> dict[str, Any]:
        """Post one event of ``type_`` with ``fields``."""
        return await self.post_events([new_event(type_, **fields)])

    async def put_predictions(self, dataset: str, body: bytes) -> None:
        """Store a formal run's per-item predictions (JSONL)."""
        await self._request(
            lambda: self._client.put(
                f"{self.base}/predictions/{dataset}",
                content=body,
                headers={"Content-Type": "application/x-ndjson"},
            ),
            f"PUT predictions {dataset}",
        )

    async def download(self, url: str, what: str) -> bytes:
        """GET a presigned URL (without the run token), retrying like every other request."""
        try:
            resp = await self._request(lambda: self._plain.get(url), what, refusable=False)
        except RunRefused as exc:  # pragma: no cover - refusable=False never raises it
            raise DownloadError(str(exc)) from exc
        except ProgressError as exc:
            raise DownloadError(f"could not download {what}: {exc}") from exc
        return resp.content

    async def download_to(
        self, url: str, target: Path, what: str, *, size: int, sha256: str
    ) -> None:
        """Stream a presigned URL into ``target`` (never whole in memory), hashing as it goes;
        :class:`DownloadError` naming ``what`` when its size or sha256 is not the pinned one.
        A failed connection is retried like every other request (from the first byte)."""
        first_failure: float | None = None
        attempt = 0
        target.parent.mkdir(parents=True, exist_ok=True)
        while True:
            digest = hashlib.sha256()
            written = 0
            try:
                async with self._plain.stream("GET", url) as resp:
                    if resp.status_code >= 400 and resp.status_code not in RETRYABLE_STATUS:
                        raise DownloadError(f"could not download {what}: HTTP {resp.status_code}")
                    if resp.status_code < 400:
                        with target.open("wb") as fh:
                            async for block in resp.aiter_bytes(1024 * 1024):
                                written += len(block)
                                if written > size:
                                    raise DownloadError(
                                        f"{what}: more than the {size} bytes the spec pins"
                                    )
                                digest.update(block)
                                fh.write(block)
                        break
                    problem = f"HTTP {resp.status_code}"
            except httpx.TimeoutException as exc:
                problem = f"timed out ({type(exc).__name__})"
            except httpx.TransportError as exc:
                problem = f"connection error ({type(exc).__name__})"
            now = time.monotonic()
            first_failure = first_failure if first_failure is not None else now
            delay = _backoff(attempt, self.initial_backoff, self.max_backoff)
            if now - first_failure + delay > self.retry_seconds:
                raise DownloadError(f"could not download {what}: still failing: {problem}")
            logger.warning("%s: %s; retrying in %.1fs", what, problem, delay)
            attempt += 1
            await asyncio.sleep(delay)
        if written != size:
            raise DownloadError(f"{what}: {written} bytes downloaded, the spec pins {size}")
        got = digest.hexdigest()
        if got != sha256.lower():
            raise DownloadError(f"{what}: sha256 mismatch (got {got}, pinned {sha256.lower()})")


def _safe_target(dest: Path, rel: str) -> Path:
    if not rel or rel.startswith("/") or "\\" in rel:
        raise DownloadError(f"bundle file path {rel!r} is not a relative path")
    target = (dest / rel).resolve()
    root = dest.resolve()
    if target == root or root not in target.parents:
        raise DownloadError(f"bundle file path {rel!r} leaves the bundle folder")
    return target


def _store(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(target)


async def download_bundle(client: ProgressClient, bundle: dict[str, Any], dest: Path) -> Path:
    """Download every ``bundle["files"]`` entry into ``dest`` (created), verifying each file's
    size and sha256; raise :class:`DownloadError` on any mismatch."""
    files = bundle.get("files") or []
    if not files:
        raise DownloadError("the bundle has no files")
    for entry in files:
        rel = str(entry.get("path", ""))
        target = _safe_target(dest, rel)
        data = await client.download(str(entry["url"]), f"bundle file {rel}")
        size = entry.get("size_bytes")
        if size is not None and len(data) != int(size):
            raise DownloadError(
                f"bundle file {rel}: {len(data)} bytes downloaded, the spec says {size}"
            )
        digest = hashlib.sha256(data).hexdigest()
        if digest != str(entry.get("sha256", "")).lower():
            raise DownloadError(f"bundle file {rel}: sha256 mismatch (got {digest})")
        _store(target, data)
    logger.info("bundle downloaded: %d files, every size and sha256 as pinned", len(files))
    return dest

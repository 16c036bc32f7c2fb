"""Shared types of the model protocols the runner speaks (SPEC §5)."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import aiohttp


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt sent to the model under evaluation."""

    prompt: str
    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop_sequences: tuple[str, ...] = ()
    num_return_sequences: int = 1
    echo_prompt: bool = False
    top_k_per_token: int = 1
    item_id: str = ""  # for error messages
    dataset: str = ""  # for error messages


#: The longest answer kept per item (far beyond any chain of thought); the rest is dropped so a
#: model answering megabytes to every item cannot exhaust the runner's memory.
MAX_ANSWER_CHARS = 256 * 1024


@dataclass(frozen=True)
class Generation:
    """The model's answer; ``refused`` marks a content-filter refusal counted as an answer."""

    text: str
    raw: dict[str, Any] = field(default_factory=dict)
    refused: bool = False

    def __post_init__(self) -> None:
        if len(self.text) > MAX_ANSWER_CHARS:
            object.__setattr__(self, "text", self.text[:MAX_ANSWER_CHARS])


class ModelError(Exception):
    """The model misbehaved; the message names dataset and item and what the model did."""


@runtime_checkable
class ModelClient(Protocol):
    async def generate(self, request: GenerationRequest) -> Generation: ...

    async def aclose(self) -> None: ...


def describe(request: GenerationRequest) -> str:
    """``dataset 'x' item 'y'`` for error messages."""
    return f"dataset {request.dataset or '?'!r} item {request.item_id or '?'!r}"


class ReplyTooLarge(ModelError):
    """Internal: a reply over :data:`MAX_REPLY_BYTES` (named with its item by ``with_retries``)."""


class RetryableError(Exception):
    """Internal: a failure worth retrying (5xx, 429, timeouts, connection errors)."""


def backoff_delay(backoff: float, attempt: int) -> float:
    """Exponential backoff with a little jitter: backoff * 2**attempt * [1, 1.25)."""
    return backoff * (2**attempt) * (1.0 + random.random() * 0.25)


async def sleep_backoff(backoff: float, attempt: int) -> None:
    if backoff > 0:
        await asyncio.sleep(backoff_delay(backoff, attempt))


def truncate(text: str, limit: int = 300) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "…"


async def with_retries(
    request: GenerationRequest,
    once: Callable[[], Awaitable[Generation]],
    *,
    semaphore: asyncio.Semaphore,
    retries: int,
    backoff: float,
    what: str,
    log: logging.Logger,
) -> Generation:
    """Run ``once`` under ``semaphore``; retry ``RetryableError`` with exponential backoff.

    The semaphore is held for one attempt only, so a request waiting out its backoff does not
    take a slot from the others. After the last attempt a ``ModelError`` names the dataset, the
    item and the last failure; any ``ModelError`` from ``once`` propagates at once.
    """
    last = ""
    attempts = max(0, retries) + 1
    for attempt in range(attempts):
        if attempt:
            await sleep_backoff(backoff, attempt - 1)
        try:
            async with semaphore:
                return await once()
        except ReplyTooLarge as exc:
            raise ModelError(f"{what} failed on {describe(request)}: {exc}") from exc
        except RetryableError as exc:
            last = str(exc)
            log.warning(
                "%s failed for %s (attempt %d/%d): %s",
                what,
                describe(request),
                attempt + 1,
                attempts,
                last,
            )
    raise ModelError(f"{what} failed on {describe(request)} after {attempts} attempts: {last}")


@dataclass(frozen=True)
class Reply:
    """A model server's answer: status and body text."""

    status_code: int
    text: str


#: The largest reply body a model server may send to one request.
MAX_REPLY_BYTES = 16 << 20


class JsonPoster:
    """POSTs JSON to one model server over a pooled aiohttp session (created on first use, in
    the running loop). httpx was dropped here: its connection pool re-checks every pooled
    connection on each request, which capped the harness at a fraction of a fast server's
    capacity (bench/runner.py)."""

    def __init__(
        self,
        *,
        concurrency: int,
        timeout: float,
        headers: dict[str, str] | None = None,
        unix_socket: str | None = None,
    ) -> None:
        self.concurrency = concurrency
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.unix_socket = unix_socket  # HTTP over this Unix socket (a sandboxed model server)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector: aiohttp.BaseConnector
            if self.unix_socket is not None:
                connector = aiohttp.UnixConnector(self.unix_socket, limit=self.concurrency)
            else:
                connector = aiohttp.TCPConnector(limit=self.concurrency, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers=self.headers,
            )
        return self._session

    async def post(self, url: str, body: dict[str, Any]) -> Reply:
        async with self._open().post(url, json=body) as resp:
            # A model's reply is read up to a bound: a server that streams gigabytes would
            # otherwise take the runner's memory down with it (a platform fault, refunded).
            raw = bytearray()
            async for chunk in resp.content.iter_chunked(1 << 16):
                raw += chunk
                if len(raw) > MAX_REPLY_BYTES:
                    raise ReplyTooLarge(
                        f"the model's reply is larger than {MAX_REPLY_BYTES >> 20} MiB"
                    )
            return Reply(resp.status, raw.decode("utf-8", errors="replace"))

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def post_json(
    client: JsonPoster,
    url: str,
    body: dict[str, Any],
    *,
    timeout_seconds: float,
    scrub: Callable[[str], str] = lambda text: text,
) -> tuple[Reply, Any]:
    """POST ``body``; transport failures become :class:`RetryableError`. Returns the reply and
    its JSON (``None`` when the body is not JSON): each protocol judges the content itself."""
    try:
        resp = await client.post(url, body)
    except TimeoutError as exc:
        raise RetryableError(
            f"timed out after {timeout_seconds:g}s ({type(exc).__name__})"
        ) from exc
    except aiohttp.ClientError as exc:
        raise RetryableError(scrub(f"connection error: {type(exc).__name__}: {exc}")) from exc
    try:
        return resp, _valid_unicode(json.loads(resp.text))
    except (json.JSONDecodeError, ValueError):
        return resp, None


def _valid_unicode(value: Any) -> Any:
    """``value`` with every lone surrogate (a JSON ``\\ud800`` escape in a model's reply)
    replaced by U+FFFD: what a model answers must never make the runner's own reports
    unencodable (the platform refuses them, which would fail the run as the platform's fault)."""
    if isinstance(value, str):
        if any("\ud800" <= ch <= "\udfff" for ch in value):
            return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return value
    if isinstance(value, dict):
        return {_valid_unicode(k): _valid_unicode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_valid_unicode(v) for v in value]
    return value

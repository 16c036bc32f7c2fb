"""What every service checks while it reads a request body, before any endpoint sees it.

* **A deadline between body chunks.** A client that announces ``Content-Length: 100000`` and
  then stalls would hold its connection (and the endpoint waiting on it) forever. Each wait
  for the next chunk is bounded (``FLAGEVAL_REQUEST_BODY_TIMEOUT_SECONDS``); the whole body is
  not, so a large upload that keeps sending is never cut off. When the wait runs out, reading
  the body raises a 408 ``HTTPException``: the error mapping answers it and the connection is
  closed (``Connection: close``); when the reply has already started, the connection is
  simply dropped.
* **No lone surrogates in JSON.** ``json.loads`` turns ``"\\ud800"`` (or the raw bytes of a
  surrogate) into a Python string that cannot be encoded again, and whatever later writes it
  (a database driver, a log line) fails with a 500. Every body a JSON parser may read
  (``application/json``, ``application/*+json``, and ``text/*`` for endpoints that parse by
  hand) is scanned as it streams, and one with a lone surrogate, or not in strict UTF-8
  (UTF-16/32, Latin-1 bytes, truncated sequences: RFC 8259 allows UTF-8 only) is a ``422``
  validation error. Bodies without a ``Content-Type`` are
  not: FastAPI does not parse them as JSON, they are often binary (an object store ``PUT``),
  and an endpoint that parses one by hand calls :func:`check_json_text` on it.
  Form and binary bodies (``multipart/*``, ``application/octet-stream`` …) are not scanned.
  Escaped pairs (``"\\ud83d\\ude00"``) are one character and fine. Query strings and paths
  need no check: they are percent-decoded with replacement characters, never surrogates.

The guard is pure ASGI and wraps ``receive`` only; bodies stream through untouched. Its errors
are ``HTTPException`` errors because FastAPI passes those through its own body parsing (any other
exception there becomes "400 There was an error parsing the body").
"""

from __future__ import annotations

import asyncio
import codecs
import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Tokens of a JSON text that matter here. An escaped backslash is consumed as a pair, so a
# ``\u`` only matches where it really starts an escape. Raw surrogates are the UTF-8 bytes
# ED A0..BF xx, which strict UTF-8 forbids but ``json.loads`` accepts ("surrogatepass").
_TOKENS = re.compile(rb"\\\\|\\u[dD]([89a-fA-F])[0-9a-fA-F]{2}|\xed[\xa0-\xbf]")
_LONGEST_TOKEN = 6  # \uXXXX

LONE_SURROGATE = (
    "The request body is not valid text: a string in it holds an unpaired UTF-16 surrogate "
    "(\\ud800-\\udfff), which cannot be encoded as UTF-8."
)
NOT_UTF8 = "The request body is not UTF-8, which JSON must be (RFC 8259)."
BODY_TIMEOUT = "The request body did not arrive in time."


class LoneSurrogateScanner:
    """Feed a JSON body chunk by chunk; :meth:`feed` returns a problem, or ``None``.

    Only the last few bytes of a chunk are kept (a token cut by a chunk boundary, or a high
    surrogate escape waiting for its low half), so memory stays flat in the body's size.
    """

    def __init__(self) -> None:
        self._carry = b""
        self._started = False
        # Strict UTF-8 as the bytes stream (FastAPI would answer invalid bytes with an
        # undocumented "400 There was an error parsing the body").
        self._utf8 = codecs.getincrementaldecoder("utf-8")("strict")

    def feed(self, data: bytes, *, final: bool) -> str | None:
        problem = self._scan(data, final=final)
        if problem is not None:
            return problem
        try:
            self._utf8.decode(data, final=final)
        except UnicodeDecodeError:
            return NOT_UTF8
        return None

    def _scan(self, data: bytes, *, final: bool) -> str | None:
        buf = self._carry + data
        if not self._started:
            if len(buf) < 4 and not final:
                self._carry = buf
                return None
            self._started = True
            # As json.detect_encoding: a NUL among the first bytes (or a BOM) means UTF-16/32.
            if buf[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in buf[:4]:
                return NOT_UTF8
        # A token starting before ``complete`` has all its bytes here; one starting later may
        # be cut short by the chunk boundary, so that tail is scanned again with what follows.
        complete = len(buf) if final else len(buf) - (_LONGEST_TOKEN - 1)
        resume = 0  # the end of the last token decided
        high_at = -1  # start of a high surrogate escape whose low half must come next
        for match in _TOKENS.finditer(buf):
            start = match.start()
            if high_at >= 0 and start != high_at + _LONGEST_TOKEN:
                return LONE_SURROGATE
            if high_at < 0 and start >= complete:
                break
            half = match.group(1)
            if half is None:
                if match.group()[0] == 0xED or high_at >= 0:
                    return LONE_SURROGATE  # a raw surrogate, or a high escape left alone
                resume = match.end()  # an escaped backslash
            elif half in b"89abAB":
                if high_at >= 0:
                    return LONE_SURROGATE  # two high halves in a row
                high_at = start
            else:  # a low half (\udc00-\udfff)
                if high_at < 0:
                    return LONE_SURROGATE
                high_at = -1
                resume = match.end()
        if high_at >= 0:
            if final or len(buf) >= high_at + 2 * _LONGEST_TOKEN:
                return LONE_SURROGATE  # the bytes after it are here, and they are no low half
            resume = high_at  # decide it with the next chunk
        else:
            resume = max(resume, complete)
        self._carry = b"" if final else buf[resume:]
        return None


class RequestBodyGuard:
    """ASGI middleware: the body deadline and the JSON surrogate check (see the module doc)."""

    def __init__(self, app: ASGIApp, *, body_timeout_seconds: float) -> None:
        self.app = app
        self.body_timeout_seconds = body_timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scanner = LoneSurrogateScanner() if _is_json(scope) else None
        timeout = self.body_timeout_seconds
        body_done = False
        timed_out = False

        async def guarded_receive() -> Message:
            nonlocal body_done, timed_out
            if body_done:
                # After the body, the app only waits for a disconnect (a streamed reply
                # listens for it): no deadline for that.
                return await receive()
            if timed_out:
                raise HTTPException(408, BODY_TIMEOUT)
            try:
                async with asyncio.timeout(timeout):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                raise HTTPException(408, BODY_TIMEOUT) from None
            if message["type"] != "http.request":
                body_done = True
                return message
            more = message.get("more_body", False)
            body_done = not more
            if scanner is not None:
                problem = scanner.feed(message.get("body", b""), final=not more)
                if problem is not None:
                    raise _invalid_text(problem)
            return message

        async def closing_send(message: Message) -> None:
            if timed_out and message["type"] == "http.response.start":
                # The rest of the body may still be on its way: this connection is done.
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, guarded_receive, closing_send)


def _is_json(scope: Scope) -> bool:
    """Whether some endpoint may parse this body as JSON text."""
    for key, value in scope.get("headers", []):
        if key == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media.startswith(b"text/") or (
                media.startswith(b"application/")
                and (media == b"application/json" or media.endswith(b"+json"))
            )
    return False


def check_json_text(data: bytes) -> None:
    """Raise the guard's 422 when ``data`` (a whole JSON text) holds a lone surrogate: for an
    endpoint that parses a body the guard did not scan (one sent without a Content-Type)."""
    problem = LoneSurrogateScanner().feed(data, final=True)
    if problem is not None:
        raise _invalid_text(problem)


def _invalid_text(problem: str) -> HTTPException:
    # A sentence, not a list of fields: the flageval-serving CLI prints ``detail`` as it is.
    return HTTPException(422, problem)

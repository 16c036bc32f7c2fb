"""API evaluation (SPEC §5): an OpenAI-style chat-completions endpoint.

``POST endpoint {"model", "messages": [{"role": "user", "content": prompt}], "temperature",
"max_tokens"}`` with ``Authorization: Bearer <api_key>``; the answer is
``choices[0].message.content`` (``reasoning_content`` kept in ``raw`` when present).
Content-filter refusals (error code ``data_inspection_failed`` / ``1301``, or
``finish_reason == "content_filter"``) are answers: ``Generation(text="", refused=True)``.
The API key is never logged and is scrubbed from any message the endpoint echoes back.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .base import (
    Generation,
    GenerationRequest,
    JsonPoster,
    ModelError,
    RetryableError,
    describe,
    post_json,
    truncate,
    with_retries,
)

logger = logging.getLogger(__name__)

__all__ = ["REFUSAL_CODES", "OpenAIChatClient"]

# Error codes providers use for a content-filter refusal, normalized (lower case, no "_"/"-").
REFUSAL_CODES = frozenset(
    {
        "datainspectionfailed",  # Alibaba DashScope / Qwen
        "1301",  # Zhipu GLM: unsafe or sensitive content
        "contentfilter",  # Azure OpenAI
        "contentpolicyviolation",  # OpenAI
        "responsibleaipolicyviolation",  # Azure inner error
    }
)


def _norm_code(code: Any) -> str:
    return str(code).lower().replace("_", "").replace("-", "")


def _error_codes(data: Any) -> list[str]:
    """Every error code found in an error reply (OpenAI style, DashScope native, Azure inner)."""
    codes: list[str] = []
    if not isinstance(data, dict):
        return codes
    for key in ("code", "type"):
        if key in data and data[key] is not None:
            codes.append(_norm_code(data[key]))
    err = data.get("error")
    if isinstance(err, dict):
        for key in ("code", "type"):
            if err.get(key) is not None:
                codes.append(_norm_code(err[key]))
        inner = err.get("innererror") or err.get("inner_error")
        if isinstance(inner, dict) and inner.get("code") is not None:
            codes.append(_norm_code(inner["code"]))
    return codes


def _error_message(data: Any, fallback: str) -> str:
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
        if data.get("message"):
            return str(data["message"])
    return fallback


class OpenAIChatClient:
    """Client of an OpenAI-style chat-completions URL with bounded concurrency and retries."""

    def __init__(
        self,
        endpoint: str,
        *,
        model_name: str,
        api_key: str | None = None,
        concurrency: int = 8,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.endpoint = endpoint
        self.model_name = model_name
        self._api_key = api_key or None
        self.concurrency = concurrency
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self._sem = asyncio.Semaphore(concurrency)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        self._client = JsonPoster(concurrency=concurrency, timeout=timeout, headers=headers)

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIChatClient(endpoint={self.endpoint!r}, model_name={self.model_name!r})"

    def _scrub(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return text

    def payload(self, request: GenerationRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_name,
            "messages": [{"role": "user", "content": request.prompt}],
            "temperature": request.temperature,
            "max_tokens": request.max_new_tokens,
        }
        if request.top_p != 1.0:
            body["top_p"] = request.top_p
        if request.stop_sequences:
            body["stop"] = list(request.stop_sequences)
        if request.num_return_sequences != 1:
            body["n"] = request.num_return_sequences
        return body

    async def generate(self, request: GenerationRequest) -> Generation:
        body = self.payload(request)
        return await with_retries(
            request,
            lambda: self._once(request, body),
            semaphore=self._sem,
            retries=self.retries,
            backoff=self.backoff,
            what=f"model API {self.model_name!r}",
            log=logger,
        )

    async def _once(self, request: GenerationRequest, body: dict[str, Any]) -> Generation:
        resp, data = await post_json(
            self._client, self.endpoint, body, timeout_seconds=self.timeout, scrub=self._scrub
        )
        snippet = self._scrub(truncate(resp.text))
        if resp.status_code >= 400 or (
            isinstance(data, dict) and "error" in data and data["error"]
        ):
            if REFUSAL_CODES.intersection(_error_codes(data)):
                logger.info("content-filter refusal counted as an answer for %s", describe(request))
                return Generation(text="", raw=data if isinstance(data, dict) else {}, refused=True)
            message = self._scrub(_error_message(data, snippet))
            if resp.status_code == 429 or resp.status_code >= 500:
                raise RetryableError(f"HTTP {resp.status_code}: {message}")
            raise ModelError(
                f"model API {self.model_name!r} rejected the request for {describe(request)}: "
                f"HTTP {resp.status_code}: {message}"
            )
        if not isinstance(data, dict):
            raise ModelError(
                f"malformed reply from model API for {describe(request)}: not a JSON object: "
                f"{snippet!r}"
            )
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ModelError(
                f"malformed reply from model API for {describe(request)}: no choices in {snippet!r}"
            )
        choice = choices[0]
        msg = choice.get("message")
        if not isinstance(msg, dict):
            raise ModelError(
                f"malformed reply from model API for {describe(request)}: choices[0].message "
                f"missing in {snippet!r}"
            )
        content = msg.get("content")
        if content is not None and not isinstance(content, str):
            raise ModelError(
                f"malformed reply from model API for {describe(request)}: "
                f"choices[0].message.content is not a string in {snippet!r}"
            )
        raw = dict(data)
        reasoning = msg.get("reasoning_content")
        if reasoning is not None:
            raw["reasoning_content"] = reasoning
        if choice.get("finish_reason") == "content_filter":
            logger.info("content-filter refusal counted as an answer for %s", describe(request))
            return Generation(text="", raw=raw, refused=True)
        return Generation(text=content or "", raw=raw)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> OpenAIChatClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

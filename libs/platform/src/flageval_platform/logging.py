"""Structured JSON logs carrying a correlation id across HTTP calls and messages."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

CORRELATION_HEADER = "X-Correlation-ID"

_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "flageval_correlation_id", default=None
)
_service: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "flageval_service", default=None
)


def get_correlation_id() -> str | None:
    return _correlation_id.get()


def new_correlation_id() -> str:
    return uuid.uuid4().hex


@contextmanager
def correlation_scope(correlation_id: str | None, service: str | None = None) -> Iterator[str]:
    """Run a block with the given correlation id (a fresh one when ``None``)."""
    cid = correlation_id or new_correlation_id()
    token = _correlation_id.set(cid)
    stoken = _service.set(service) if service else None
    try:
        yield cid
    finally:
        _correlation_id.reset(token)
        if stoken is not None:
            _service.reset(stoken)


def set_service(service: str) -> None:
    _service.set(service)


_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}

_base_factory = logging.getLogRecordFactory()


def _record_factory(*args: object, **kwargs: object) -> logging.LogRecord:
    # Stamp the context on the record when it is made: a handler may format it later,
    # outside the request or message that produced it.
    record = _base_factory(*args, **kwargs)
    record.correlation_id = _correlation_id.get()
    record.service = _service.get()
    return record


if not getattr(_base_factory, "_flageval", False):
    _record_factory._flageval = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(_record_factory)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, service, correlation_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("service", "correlation_id"):
            value = getattr(record, key, None)
            if value:
                doc[key] = value
        for key, value in record.__dict__.items():
            if (
                key not in _RESERVED
                and key not in doc
                and value is not None
                and not key.startswith("_")
            ):
                doc[key] = (
                    value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
                )
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def configure_logging(level: str = "INFO", *, json_logs: bool = True) -> None:
    """Install one stderr handler on the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_flageval", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._flageval = True  # type: ignore[attr-defined]
    handler.setFormatter(
        JsonFormatter() if json_logs else logging.Formatter("%(levelname)s %(name)s %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn's access log repeats what our middleware logs, in a non-JSON shape.
    logging.getLogger("uvicorn.access").handlers.clear()
    logging.getLogger("uvicorn.access").propagate = False

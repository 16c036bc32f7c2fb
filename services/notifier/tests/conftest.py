"""Fixtures of the notifier's email tests: a real SMTP server (aiosmtpd) on a free port, and the
notifier started (and restarted) on the test database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from flageval_notifier.config import ServiceSettings
from flageval_notifier.main import definition
from flageval_notifier.testing import SmtpServer
from flageval_platform.db import Database
from flageval_platform.testing import RunningService, free_port, running_service

SECRET = "m" * 48
#: The test server's credentials (test_emails checks the password never reaches a log line).
SMTP_USER = "mailer"
SMTP_PASSWORD = "s3cr3t-p@ss/word"
PUBLIC_URL = "https://flageval.example.org"


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port(), user=SMTP_USER, password=SMTP_PASSWORD)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def stopped_smtp_server() -> Iterator[SmtpServer]:
    """A server on a port of its own, not started yet: connections are refused until then."""
    server = SmtpServer(free_port(), user=SMTP_USER, password=SMTP_PASSWORD)
    try:
        yield server
    finally:
        server.stop()


def notifier_settings(tmp_path: Path, smtp: str | None, **overrides: Any) -> ServiceSettings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "secret_key": SECRET,
        "smtp_url": smtp,
        "smtp_from": "FlagEval Test <noreply@flageval.test>",
        "public_url": PUBLIC_URL,
        "email_retry_seconds": 0.05,
        "email_retry_max_seconds": 0.2,
        "email_poll_seconds": 0.05,
        "smtp_timeout_seconds": 5,
    }
    values.update(overrides)
    return ServiceSettings(**values)


Start = Callable[..., AbstractAsyncContextManager[RunningService]]


@pytest.fixture
def settings_for(tmp_path: Path) -> Callable[..., ServiceSettings]:
    """``settings_for(smtp_url, **overrides)``: the notifier's settings in these tests."""

    def _settings(smtp: str | None, **overrides: Any) -> ServiceSettings:
        return notifier_settings(tmp_path, smtp, **overrides)

    return _settings


@pytest.fixture
def start(database: Database, settings_for: Callable[..., ServiceSettings]) -> Start:
    """``start(smtp_url, **settings)``: the notifier on the test database (restartable)."""

    def _start(smtp: str | None, **overrides: Any) -> AbstractAsyncContextManager[Any]:
        return running_service(definition, settings_for(smtp, **overrides), database=database)

    return _start

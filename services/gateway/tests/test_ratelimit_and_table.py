"""Units without HTTP: the login throttle's counters (on SQLite and PostgreSQL) and the route
table's order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

import flageval_gateway
from flageval_gateway.errors import LoginThrottled
from flageval_gateway.models import LoginFailureCounter
from flageval_gateway.ratelimit import LoginThrottle, client_address
from flageval_gateway.routing import ROUTES, Access, resolve
from flageval_platform import migrations

SCRIPTS = Path(flageval_gateway.__file__).parent / "migrations"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def at(self, seconds: float) -> None:
        self.now = T0 + timedelta(seconds=seconds)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def db(database):
    await migrations.upgrade(database, SCRIPTS)
    return database


def throttle(db, clock: Clock, *, per_address: int = 20, per_account_address: int = 3, **kw):
    return LoginThrottle(
        db=db,
        per_address=per_address,
        per_account_address=per_account_address,
        window_seconds=60,
        clock=clock,
        **kw,
    )


async def counters(db) -> int:
    async with db.transaction() as session:
        return await session.scalar(select(func.count()).select_from(LoginFailureCounter))


async def test_account_at_address_window_and_retry_after(db) -> None:
    clock = Clock()
    limiter = throttle(db, clock)
    for i in range(3):
        clock.at(i * 10)  # failures at 0, 10, 20: the window runs from 0 to 60
        await limiter.begin(email="a@x.org", address="192.0.2.1")
    clock.at(30)
    with pytest.raises(LoginThrottled) as caught:
        await limiter.begin(email="a@x.org", address="192.0.2.1")
    assert caught.value.retry_after == 30
    assert caught.value.headers == {"Retry-After": "30"}
    # The same account from another address, and another account from this one, still work.
    await limiter.begin(email="a@x.org", address="192.0.2.2")
    await limiter.begin(email="b@x.org", address="192.0.2.1")
    # Refused attempts do not extend the block: it ends with the window.
    clock.at(59.5)
    with pytest.raises(LoginThrottled) as caught:
        await limiter.begin(email="a@x.org", address="192.0.2.1")
    assert caught.value.retry_after == 1
    clock.at(60)
    await limiter.begin(email="a@x.org", address="192.0.2.1")


async def test_address_limit_spans_accounts(db) -> None:
    clock = Clock()
    limiter = throttle(db, clock, per_address=4)
    for i in range(4):
        await limiter.begin(email=f"guess{i}@x.org", address=client_address("2001:db8::1"))
    with pytest.raises(LoginThrottled):
        await limiter.begin(email="fresh@x.org", address=client_address("2001:db8::1"))
    # Counted per /64: the neighbour address is the same subscriber.
    with pytest.raises(LoginThrottled):
        await limiter.begin(email="fresh@x.org", address=client_address("2001:db8::ffff"))
    await limiter.begin(email="fresh@x.org", address="198.51.100.7")


async def test_refused_attempts_are_taken_back(db) -> None:
    clock = Clock()
    limiter = throttle(db, clock, per_address=3, per_account_address=1)
    await limiter.begin(email="a@x.org", address="192.0.2.1")
    for _ in range(5):  # over the account's limit at this address: refused, not counted
        with pytest.raises(LoginThrottled):
            await limiter.begin(email="a@x.org", address="192.0.2.1")
    # The address has one counted failure, so two more accounts may be tried from it.
    await limiter.begin(email="b@x.org", address="192.0.2.1")
    await limiter.begin(email="c@x.org", address="192.0.2.1")
    with pytest.raises(LoginThrottled):
        await limiter.begin(email="d@x.org", address="192.0.2.1")


async def test_success_clears_the_account_and_takes_its_count_back(db) -> None:
    clock = Clock()
    limiter = throttle(db, clock, per_address=3, per_account_address=2)
    await limiter.begin(email="a@x.org", address="192.0.2.1")
    ok = await limiter.begin(email="a@x.org", address="192.0.2.1")
    await limiter.succeeded(ok)
    # The account's failures at this address are forgotten: two more are allowed.
    await limiter.begin(email="a@x.org", address="192.0.2.1")
    # The address keeps the first failure: with the one just made, one more fits.
    await limiter.begin(email="b@x.org", address="192.0.2.1")
    with pytest.raises(LoginThrottled):
        await limiter.begin(email="c@x.org", address="192.0.2.1")


async def test_concurrent_guesses_cannot_slip_past_the_limit(db) -> None:
    limiter = throttle(db, Clock(), per_address=100, per_account_address=3)
    results = await asyncio.gather(
        *(limiter.begin(email="a@x.org", address="192.0.2.1") for _ in range(12)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, LoginThrottled)]
    assert len(refused) == 9, results
    assert len(results) - len(refused) == 3


async def test_expired_counters_are_pruned(db) -> None:
    clock = Clock()
    limiter = throttle(db, clock, prune_interval_seconds=30)
    for i in range(20):
        await limiter.begin(email=f"u{i}@x.org", address=f"10.0.0.{i}")
    assert await counters(db) == 40  # per address and per account at address
    clock.at(61)  # every window has ended, and the prune interval has passed
    await limiter.begin(email="late@x.org", address="10.0.1.1")
    assert await counters(db) == 2
    assert await limiter.prune() == 0


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("testclient", "testclient"),
        (None, "unknown"),
    ],
)
def test_client_address(host: str | None, address: str) -> None:
    assert client_address(host) == address


@pytest.mark.parametrize(
    ("path", "service", "access"),
    [
        ("/api/evaluations/models/abc/files", "upload", Access.PUBLIC),
        ("/api/evaluations/models", "upload", Access.PUBLIC),
        ("/api/evaluations/manage/op_file", "upload", Access.PUBLIC),
        ("/api/evaluations/e1/upload-tokens", "upload", Access.APPROVED),
        ("/api/evaluations/e1/bundles", "upload", Access.APPROVED),
        ("/api/evaluations/e1/bundles/3", "upload", Access.APPROVED),
        ("/api/evaluations", "eval-api", Access.APPROVED),
        ("/api/evaluations/e1", "eval-api", Access.APPROVED),
        ("/api/evaluations/e1/runs", "eval-api", Access.APPROVED),
        ("/api/evaluations/manage/other", "eval-api", Access.APPROVED),
        ("/api/evaluations/modelsx", "eval-api", Access.APPROVED),
        ("/api/runs/r1", "eval-api", Access.APPROVED),
        ("/api/runs/r1/logs", "scheduler", Access.APPROVED),
        ("/api/runs/r1/stop", "eval-api", Access.APPROVED),
        ("/api/runner/runs/r1/events", "scheduler", Access.PUBLIC),
        ("/api/runs/r1/submissions", "leaderboard", Access.APPROVED),
        ("/api/catalog", "eval-api", Access.PUBLIC),
        ("/api/admin/datasets", "eval-api", Access.ADMIN),
        ("/api/admin/card-types/a100", "eval-api", Access.ADMIN),
        ("/api/me/quota", "scheduler", Access.AUTHENTICATED),
        ("/api/admin/quotas/u1", "scheduler", Access.ADMIN),
        ("/api/me/notifications", "notifier", Access.AUTHENTICATED),
        ("/api/me/notifications/n1/read", "notifier", Access.AUTHENTICATED),
        ("/api/images", "image-registry", Access.APPROVED),
        ("/api/admin/images/i1/review", "image-registry", Access.ADMIN),
        ("/api/leaderboards/nlp", "leaderboard", Access.PUBLIC),
        ("/api/admin/leaderboards/entries/e1/hide", "leaderboard", Access.ADMIN),
    ],
)
def test_route_table(path: str, service: str, access: Access) -> None:
    rule = resolve(path)
    assert rule is not None
    assert (rule.service, rule.access) == (service, access)


@pytest.mark.parametrize(
    "path",
    [
        "/api/me",
        "/api/me/profile",
        "/api/admin/users",
        "/api/auth/login",
        "/api/catalogs",
        "/api/evaluationsx",
        "/api/runsx",
        "/api/me/quota/extra",
        "/api/leaderboard",
        "/api/admin/leaderboardsx",
        "/evaluations",
        # `$` matched before a trailing newline; whole-path matching does not.
        "/api/catalog\n",
        "/api/me/quota\n",
        "/api/runs/x/logs\n",
        "/api/runs/x/submissions\n",
        "/api/evaluations/manage/op_file\n",
        "/api/evaluations\n",
        "/api/evaluations/e1\n",
        "/api/evaluations/models/x\ny",
        "/api/runner/runs/r1\n",
        "/api/leaderboards/nlp\n",
        "/x/api/catalog",
    ],
)
def test_paths_the_table_does_not_route(path: str) -> None:
    assert resolve(path) is None


def test_every_rule_names_paths_under_api() -> None:
    assert all(rule.pattern.startswith("/api/") for rule in ROUTES)
    assert not any("$" in rule.pattern for rule in ROUTES)  # matched whole, never by `$`

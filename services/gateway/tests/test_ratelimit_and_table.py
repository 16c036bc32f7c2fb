"""Units without HTTP: the login limiter's window arithmetic and the route table's order."""

from __future__ import annotations

import pytest

from flageval_gateway.errors import LoginThrottled
from flageval_gateway.ratelimit import LoginRateLimiter
from flageval_gateway.routing import ROUTES, Access, resolve


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limiter_window_and_retry_after() -> None:
    clock = Clock()
    limiter = LoginRateLimiter(limit=3, window_seconds=60, clock=clock)
    for i in range(3):
        clock.now = 1000.0 + i * 10  # failures at 1000, 1010, 1020
        limiter.begin(email="a@x.org", ip="1.1.1.1")
    clock.now = 1030.0
    with pytest.raises(LoginThrottled) as caught:
        limiter.begin(email="a@x.org", ip="2.2.2.2")
    assert caught.value.retry_after == 30  # the 1000 failure leaves the window at 1060
    # Refused attempts do not extend the block.
    clock.now = 1060.5
    limiter.begin(email="a@x.org", ip="2.2.2.2")


def test_success_clears_the_email_and_its_own_ip_count() -> None:
    clock = Clock()
    limiter = LoginRateLimiter(limit=2, window_seconds=60, clock=clock)
    limiter.begin(email="a@x.org", ip="1.1.1.1")
    ok = limiter.begin(email="a@x.org", ip="1.1.1.1")
    limiter.succeeded(ok)
    # The email is clear; the IP keeps one failure, so one more attempt is allowed there.
    limiter.begin(email="a@x.org", ip="3.3.3.3")
    limiter.begin(email="b@x.org", ip="1.1.1.1")
    with pytest.raises(LoginThrottled):
        limiter.begin(email="c@x.org", ip="1.1.1.1")


def test_limiter_memory_is_bounded() -> None:
    limiter = LoginRateLimiter(limit=5, window_seconds=60, clock=Clock(), max_keys=100)
    for i in range(1000):
        limiter.begin(email=f"u{i}@x.org", ip=f"10.0.{i // 256}.{i % 256}")
    assert len(limiter._failures) <= 100


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
    ],
)
def test_paths_the_table_does_not_route(path: str) -> None:
    assert resolve(path) is None


def test_every_rule_is_anchored() -> None:
    assert all(rule.pattern.startswith("^/api/") for rule in ROUTES)

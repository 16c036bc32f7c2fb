"""The route table: which internal service serves a public path, and who may call it.

Order matters: the first matching rule wins. The ``flageval-serving`` upload protocol paths
come before the generic ``/api/evaluations`` rule (the CLI authenticates with an upload token,
not a login), and the leaderboard's submission and the scheduler's logs endpoints before the
generic ``/api/runs`` rule.

A pattern must match the *whole* path (``re.fullmatch``): ``$`` would also match before a
trailing newline, so ``/api/catalog%0a`` would reach a service. ``.`` matches no newline either,
so ``(/.*)?`` ("this path or one below it") never lets a newline through.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Access(StrEnum):
    PUBLIC = "public"  # anyone; a logged-in caller's identity is still forwarded
    AUTHENTICATED = "authenticated"  # any logged-in user, whatever their status
    APPROVED = "approved"  # an approved user (or an admin)
    ADMIN = "admin"


@dataclass(frozen=True)
class RouteRule:
    pattern: str
    service: str
    access: Access
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern))

    def matches(self, path: str) -> bool:
        return self.regex.fullmatch(path) is not None


ROUTES: tuple[RouteRule, ...] = (
    # flageval-serving upload protocol (SPEC §4).
    RouteRule(r"/api/evaluations/models(/.*)?", "upload", Access.PUBLIC),
    RouteRule(r"/api/evaluations/manage/op_file", "upload", Access.PUBLIC),
    RouteRule(r"/api/evaluations/[^/]+/(upload-tokens|bundles)(/.*)?", "upload", Access.APPROVED),
    RouteRule(r"/api/runs/[^/]+/submissions", "leaderboard", Access.APPROVED),
    RouteRule(r"/api/runs/[^/]+/logs", "scheduler", Access.APPROVED),
    # The runner's progress channel: authenticated by the per-run token, not a login.
    RouteRule(r"/api/runner/runs/.*", "scheduler", Access.PUBLIC),
    RouteRule(r"/api/evaluations(/.*)?", "eval-api", Access.APPROVED),
    RouteRule(r"/api/runs(/.*)?", "eval-api", Access.APPROVED),
    RouteRule(r"/api/catalog", "eval-api", Access.PUBLIC),
    # Media dataset upload tokens and progress are the upload service's; registering is eval-api's.
    RouteRule(r"/api/admin/datasets/uploads(/[^/]+)?", "upload", Access.ADMIN),
    RouteRule(r"/api/admin/(datasets|card-types)(/.*)?", "eval-api", Access.ADMIN),
    RouteRule(r"/api/me/quota", "scheduler", Access.AUTHENTICATED),
    RouteRule(r"/api/admin/quotas(/.*)?", "scheduler", Access.ADMIN),
    RouteRule(r"/api/me/notifications(/.*)?", "notifier", Access.AUTHENTICATED),
    RouteRule(r"/api/images(/.*)?", "image-registry", Access.APPROVED),
    RouteRule(r"/api/admin/images(/.*)?", "image-registry", Access.ADMIN),
    RouteRule(r"/api/leaderboards(/.*)?", "leaderboard", Access.PUBLIC),
    RouteRule(r"/api/admin/leaderboards(/.*)?", "leaderboard", Access.ADMIN),
)


def resolve(path: str, routes: Sequence[RouteRule] = ROUTES) -> RouteRule | None:
    """The first rule matching ``path``, or ``None``."""
    for rule in routes:
        if rule.matches(path):
            return rule
    return None

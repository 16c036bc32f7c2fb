"""Login throttling: failed attempts counted per email and per client IP in a sliding window.

The counters live in the memory of one gateway process. That is enough for the standalone
deployment and bounds a brute force per replica; with N gateway replicas an attacker gets at
most N times the limit. (A shared store would be needed for an exact cluster-wide limit.)

The client address is the connection's peer. Behind an ingress or load balancer, run uvicorn
with ``--proxy-headers --forwarded-allow-ips=<proxy>`` so the peer is the real client; otherwise
everyone behind the proxy shares one per-IP budget.

An attempt is counted *before* the password is checked, so concurrent guesses cannot all slip
past the check while the (slow) hash runs; a successful login takes its own count back out of
the IP's window and clears the email's.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from flageval_gateway.errors import LoginThrottled

THROTTLED = "Too many failed login attempts, try again later"


@dataclass
class Attempt:
    email_key: str
    ip_key: str
    at: float


class LoginRateLimiter:
    def __init__(
        self,
        *,
        limit: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self.clock = clock
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float]:
        stamps = self._failures.get(key)
        if stamps is None:
            return deque()
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        if not stamps:
            del self._failures[key]
        return stamps

    def begin(self, *, email: str, ip: str) -> Attempt:
        """Count an attempt, or raise :class:`LoginThrottled` (429) if either key is over."""
        now = self.clock()
        email_key, ip_key = f"email:{email}", f"ip:{ip}"
        retry_after = 0.0
        for key in (email_key, ip_key):
            stamps = self._recent(key, now)
            if len(stamps) >= self.limit:
                retry_after = max(retry_after, stamps[len(stamps) - self.limit] + self.window - now)
        if retry_after > 0:
            raise LoginThrottled(THROTTLED, retry_after=retry_after)
        for key in (email_key, ip_key):
            stamps = self._failures.setdefault(key, deque())
            stamps.append(now)
            self._failures.move_to_end(key)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)
        return Attempt(email_key, ip_key, now)

    def succeeded(self, attempt: Attempt) -> None:
        """A correct password: forget the email's failures and this attempt's IP count."""
        self._failures.pop(attempt.email_key, None)
        stamps = self._failures.get(attempt.ip_key)
        if stamps is not None:
            try:
                stamps.remove(attempt.at)
            except ValueError:
                pass
            if not stamps:
                del self._failures[attempt.ip_key]

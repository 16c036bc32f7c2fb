"""Login throttling without lockout. Failed logins are counted per client address and per
account at one address. The counters live in the gateway's database, so every replica
shares one budget.

The two limits, each over a window that starts at a counter's first counted failure:

* per client address, over all accounts (``login_failures_per_address``). This bounds password
  spraying from one address;
* per account at one address (``login_failures_per_account_address``). This bounds guessing one
  account's password from one address.

There is deliberately no limit per account over all addresses. With one, anyone could lock the
owner out by guessing wrong on purpose. While an attacker hammers an account from one address,
the right password from another address still works.

**Client address.** It is the connection's peer (``request.client``). Behind an ingress or load
balancer, uvicorn's proxy headers must name the proxies: ``FORWARDED_ALLOW_IPS=<their
addresses>`` in the environment (``--forwarded-allow-ips`` on its command line). uvicorn then
takes the client from ``X-Forwarded-For``, but only on connections from those proxies, so a
client cannot forge it. Its default trusts ``127.0.0.1,::1`` only. Without this, everyone
behind the proxy shares one address budget. IPv6 addresses are counted per /64, the block that
one subscriber usually holds.

**Race-free.** An attempt is counted *before* the password is checked, so concurrent guesses
cannot all slip past the limit while the (slow) hash runs. One
``INSERT … ON CONFLICT DO UPDATE … RETURNING`` increments both counters, and the database
serialises concurrent increments of a row: every attempt sees a distinct count. An attempt
refused with 429 takes its counts back out, so refused attempts never extend a block. A correct
password takes its count back out of the address's counter and clears the account's counter at
that address. Rows are always locked in the same order (address first, then account at
address), and pruning skips locked rows, so attempts never deadlock each other.

**Bounded.** Each replica deletes expired counters at most once per ``prune_interval_seconds``.
The table holds at most the counters touched within one window and one interval.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from flageval_gateway.errors import LoginThrottled
from flageval_gateway.models import LoginFailureCounter
from flageval_platform.db import Database

THROTTLED = "Too many failed login attempts, try again later"

Counter = LoginFailureCounter


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    # SQLite returns naive datetimes. They were written in UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def client_address(host: str | None) -> str:
    """The address a login is counted under: the peer's IP, with IPv6 reduced to its /64."""
    if not host:
        return "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host  # not an IP (a test client, a unix socket): count it as given
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


def _key(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


@dataclass(frozen=True)
class LoginAttempt:
    """The counters an allowed attempt incremented: (key, end of the window it counted in)."""

    address: tuple[str, datetime]
    account: tuple[str, datetime]


class LoginThrottle:
    """Counts login attempts in ``login_failure_counters`` and refuses those over a limit."""

    def __init__(
        self,
        *,
        db: Database,
        per_address: int,
        per_account_address: int,
        window_seconds: float,
        clock: Callable[[], datetime] = _utcnow,
        prune_interval_seconds: float = 60.0,
    ) -> None:
        self.db = db
        self.per_address = per_address
        self.per_account_address = per_account_address
        self.window = timedelta(seconds=window_seconds)
        self.clock = clock
        self.prune_interval = timedelta(seconds=prune_interval_seconds)
        self._next_prune: datetime | None = None

    async def begin(self, *, email: str, address: str) -> LoginAttempt:
        """Count an attempt for ``email`` from ``address``. Raise :class:`LoginThrottled` (429)
        when either counter is over its limit. ``email`` must be in its lookup form."""
        now = self.clock()
        address_key = _key("address", address)
        account_key = _key("account", email, address)
        limits = {address_key: self.per_address, account_key: self.per_account_address}
        insert = sqlite_insert if self.db.is_sqlite else pg_insert
        ends = now + self.window
        # VALUES order is the lock order: address first, then account at address.
        values = insert(Counter).values(
            [
                {"key": address_key, "failures": 1, "window_ends_at": ends},
                {"key": account_key, "failures": 1, "window_ends_at": ends},
            ]
        )
        expired = Counter.window_ends_at <= now
        upsert = values.on_conflict_do_update(
            index_elements=[Counter.key],
            set_={
                "failures": case((expired, 1), else_=Counter.failures + 1),
                "window_ends_at": case(
                    (expired, values.excluded.window_ends_at), else_=Counter.window_ends_at
                ),
            },
        ).returning(Counter.key, Counter.failures, Counter.window_ends_at)
        async with self.db.transaction() as session:
            rows = {
                key: (failures, _aware(end)) for key, failures, end in await session.execute(upsert)
            }
        attempt = LoginAttempt(
            address=(address_key, rows[address_key][1]),
            account=(account_key, rows[account_key][1]),
        )
        over = [end for key, (failures, end) in rows.items() if failures > limits[key]]
        await self._prune_if_due(now)
        if over:
            async with self.db.transaction() as session:
                await self._take_back(session, attempt.address)
                await self._take_back(session, attempt.account)
            raise LoginThrottled(THROTTLED, retry_after=(max(over) - now).total_seconds())
        return attempt

    async def succeeded(self, attempt: LoginAttempt) -> None:
        """The password was right: take this attempt back out of the address's counter and
        forget the account's failures at this address."""
        async with self.db.transaction() as session:
            await self._take_back(session, attempt.address)
            await session.execute(delete(Counter).where(Counter.key == attempt.account[0]))

    async def prune(self) -> int:
        """Delete every expired counter (skipping rows an attempt holds); how many went."""
        now = self.clock()
        expired = select(Counter.key).where(Counter.window_ends_at <= now)
        if not self.db.is_sqlite:  # SQLite has no row locks: its writers take turns anyway
            expired = expired.with_for_update(skip_locked=True)
        async with self.db.transaction() as session:
            result: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
                delete(Counter)
                .where(Counter.key.in_(expired))
                .execution_options(synchronize_session=False)
            )
        return result.rowcount

    async def _prune_if_due(self, now: datetime) -> None:
        if self._next_prune is not None and now < self._next_prune:
            return
        self._next_prune = now + self.prune_interval
        await self.prune()

    @staticmethod
    async def _take_back(session: AsyncSession, counted: tuple[str, datetime]) -> None:
        """Undo one count, unless the window it was counted in has been replaced since."""
        key, window_ends_at = counted
        await session.execute(
            update(Counter)
            .where(
                Counter.key == key,
                Counter.window_ends_at == window_ends_at,
                Counter.failures > 0,
            )
            .values(failures=Counter.failures - 1)
            .execution_options(synchronize_session=False)
        )

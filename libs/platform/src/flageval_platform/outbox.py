"""Transactional outbox and idempotent inbox.

*Outbox*: a service writes the event row in the same transaction as the state change
(:func:`enqueue`); :class:`OutboxRelay` publishes unsent rows with publisher confirms and marks
them sent. A crash between commit and publish only delays the event; a crash between publish
and marking it sent republishes it, which the consumers' inbox absorbs.

*Inbox*: :func:`idempotent` wraps a handler so that the inbox row (consumer, message id) and the
handler's side effects commit in one transaction; a redelivered message finds its row and is
skipped. The bus acks only after that commit.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flageval_contracts import Envelope
from flageval_platform.bus.base import Handler, MessageBus, UnroutableError
from flageval_platform.db import Database, UTCDateTime
from flageval_platform.logging import correlation_scope
from flageval_platform.metrics import MESSAGES_CONSUMED, MESSAGES_PUBLISHED

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def outbox_columns() -> list[Column[Any]]:
    """Columns of the ``outbox`` table (each service has its own, in its own schema).

    Migrations create the table from these columns too: changing them needs a new migration.
    """
    return [
        Column(
            "seq",
            BigInteger().with_variant(Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        Column("message_id", Uuid, nullable=False, unique=True),
        Column("type", String(128), nullable=False),
        Column("body", JSON, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False, default=_utcnow),
        Column("sent_at", UTCDateTime(), nullable=True, index=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text, nullable=True),
    ]


def outbox_table(metadata: MetaData) -> Table:
    return Table("outbox", metadata, *outbox_columns())


def inbox_columns() -> list[Column[Any]]:
    """Columns of the ``inbox`` table: message ids each consumer has processed."""
    return [
        Column("consumer", String(128), primary_key=True),
        Column("message_id", Uuid, primary_key=True),
        Column("type", String(128), nullable=False),
        Column("processed_at", UTCDateTime(), nullable=False, default=_utcnow),
    ]


def inbox_table(metadata: MetaData) -> Table:
    return Table("inbox", metadata, *inbox_columns())


def create_messaging_tables() -> None:
    """Alembic operation for a service's first migration: create its outbox and inbox."""
    from alembic import op

    op.create_table("outbox", *outbox_columns())
    op.create_table("inbox", *inbox_columns())


def drop_messaging_tables() -> None:
    from alembic import op

    op.drop_table("inbox")
    op.drop_table("outbox")


class _AlreadyProcessed(Exception):
    """The inbox row of this message was committed by a concurrent delivery."""


class Messaging:
    """The outbox and inbox tables of one service's metadata."""

    def __init__(self, metadata: MetaData, *, service: str) -> None:
        self.service = service
        self.outbox = outbox_table(metadata)
        self.inbox = inbox_table(metadata)

    async def enqueue(self, session: AsyncSession, envelope: Envelope) -> None:
        """Record ``envelope`` for publication, inside the caller's transaction."""
        await session.execute(
            insert(self.outbox).values(
                message_id=envelope.id,
                type=envelope.type,
                body=envelope.model_dump(mode="json"),
                created_at=_utcnow(),
                attempts=0,
            )
        )
        # Wake the relay once the caller's transaction has committed.
        relay = OutboxRelay.current.get(id(self.outbox))
        if relay is not None:
            relay.wake_after(session)

    def idempotent(
        self,
        db: Database,
        consumer: str,
        handler: Callable[[AsyncSession, Envelope], Awaitable[None]],
    ) -> Handler:
        """A bus handler that runs ``handler`` at most once per message id for ``consumer``."""

        async def handle(envelope: Envelope) -> None:
            with correlation_scope(envelope.correlation_id):
                try:
                    async with db.transaction() as session:
                        seen = await session.scalar(
                            select(self.inbox.c.message_id).where(
                                self.inbox.c.consumer == consumer,
                                self.inbox.c.message_id == envelope.id,
                            )
                        )
                        if seen is not None:
                            MESSAGES_CONSUMED.labels(self.service, consumer, "duplicate").inc()
                            return
                        try:
                            await session.execute(
                                insert(self.inbox).values(
                                    consumer=consumer,
                                    message_id=envelope.id,
                                    type=envelope.type,
                                    processed_at=_utcnow(),
                                )
                            )
                        except IntegrityError as exc:
                            # A concurrent delivery of the same message committed first.
                            raise _AlreadyProcessed from exc
                        # An IntegrityError of the handler's own work propagates: the
                        # delivery fails (retry / dead letter) instead of being acked.
                        await handler(session, envelope)
                except _AlreadyProcessed:
                    MESSAGES_CONSUMED.labels(self.service, consumer, "duplicate").inc()
                    return
                MESSAGES_CONSUMED.labels(self.service, consumer, "ok").inc()

        return handle


class OutboxRelay:
    """Publishes a service's unsent outbox rows, oldest first, and marks them sent."""

    current: dict[int, OutboxRelay] = {}

    def __init__(
        self,
        db: Database,
        messaging: Messaging,
        bus: MessageBus,
        *,
        service: str,
        poll_seconds: float = 0.5,
        batch_size: int = 100,
        retry_seconds: float = 5.0,
    ) -> None:
        self.db = db
        self.table = messaging.outbox
        self.bus = bus
        self.service = service
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.retry_seconds = retry_seconds
        self._next_retry_at = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def wake_after(self, session: AsyncSession) -> None:
        from sqlalchemy import event

        event.listen(
            session.sync_session, "after_commit", lambda _s: self._wake_threadsafe(), once=True
        )

    def _wake_threadsafe(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        loop.call_soon(self._wake.set)

    async def relay_once(self) -> int:
        """Publish up to one batch of unsent rows; return how many were published."""
        sent = 0
        async with self.db.transaction() as session:
            rows = []
            now = asyncio.get_running_loop().time()
            if now >= self._next_retry_at:
                # Rows that failed before go first (they are older), but only every
                # retry_seconds: a type nobody subscribes to yet must not cost a publish per poll.
                self._next_retry_at = now + self.retry_seconds
                rows += await self._unsent(session, retried=True)
            # Fresh rows have their own batch, so failed rows can never starve them.
            rows += await self._unsent(session, retried=False)
            for seq, body, attempts in rows:
                envelope = Envelope.model_validate(body)
                try:
                    await self.bus.publish(envelope)
                except Exception as exc:  # the row stays unsent and is retried next round
                    await session.execute(
                        update(self.table)
                        .where(self.table.c.seq == seq)
                        .values(attempts=self.table.c.attempts + 1, last_error=str(exc)[:2000])
                    )
                    tries = attempts + 1
                    if tries & (tries - 1) == 0:  # 1st, 2nd, 4th, 8th… try: no log flood
                        log.warning(
                            "outbox publish failed",
                            extra={
                                "event_type": envelope.type,
                                "message_id": str(envelope.id),
                                "attempts": tries,
                                "error": str(exc),
                            },
                        )
                    if isinstance(exc, UnroutableError):
                        # Nobody listens to this type yet: keep it for when a queue is bound,
                        # but do not hold back the events behind it.
                        continue
                    break  # the broker is unreachable: keep order, try the batch again later
                await session.execute(
                    update(self.table)
                    .where(self.table.c.seq == seq)
                    .values(sent_at=_utcnow(), attempts=self.table.c.attempts + 1)
                )
                MESSAGES_PUBLISHED.labels(self.service, envelope.type).inc()
                sent += 1
        return sent

    async def _unsent(self, session: AsyncSession, *, retried: bool) -> list[Any]:
        attempted = self.table.c.attempts > 0 if retried else self.table.c.attempts == 0
        query = (
            select(self.table.c.seq, self.table.c.body, self.table.c.attempts)
            .where(self.table.c.sent_at.is_(None), attempted)
            .order_by(self.table.c.seq)
            .limit(self.batch_size)
        )
        if not self.db.is_sqlite:
            # Several relays (replicas) share the work without publishing a row twice.
            query = query.with_for_update(skip_locked=True)
        return list((await session.execute(query)).all())

    async def run(self) -> None:
        while True:
            try:
                while await self.relay_once() >= self.batch_size:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay round failed")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            except TimeoutError:
                pass

    def start(self) -> None:
        if self._task is None:
            OutboxRelay.current[id(self.table)] = self
            self._task = asyncio.create_task(self.run(), name=f"outbox-relay-{self.service}")

    async def stop(self) -> None:
        if OutboxRelay.current.get(id(self.table)) is self:
            OutboxRelay.current.pop(id(self.table), None)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None


def new_message_id() -> uuid.UUID:
    return uuid.uuid4()

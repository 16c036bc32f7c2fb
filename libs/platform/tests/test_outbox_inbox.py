"""The transactional outbox and the idempotent inbox, on SQLite and PostgreSQL.

A tiny service schema (one business table, one table for a consumer's side effects, and the
outbox/inbox of :class:`Messaging`) is created in the per-test database.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aio_pika
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, Uuid, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flageval_contracts import Envelope
from flageval_platform.bus import BusError, MessageBus, Subscription
from flageval_platform.bus.memory import MemoryBus
from flageval_platform.bus.rabbitmq import RabbitMQBus
from flageval_platform.db import Database
from flageval_platform.outbox import Messaging, OutboxRelay
from flageval_platform.testing import eventually, unique

EVENT = "widget.created"


@dataclass
class Schema:
    db: Database
    messaging: Messaging
    widgets: Table
    effects: Table

    async def count(self, table: Table, *where: Any) -> int:
        async with self.db.transaction() as session:
            return int(await session.scalar(select(func.count()).select_from(table).where(*where)))

    async def outbox_rows(self) -> list[Any]:
        async with self.db.transaction() as session:
            result = await session.execute(
                select(self.messaging.outbox).order_by(self.messaging.outbox.c.seq)
            )
            return list(result.all())

    async def create_widget(self, session: AsyncSession, name: str) -> Envelope:
        """The business operation: a state change plus its event, in the caller's transaction."""
        widget_id = uuid.uuid4()
        await session.execute(insert(self.widgets).values(id=widget_id, name=name))
        env = Envelope(
            type=EVENT,
            producer="test",
            correlation_id=unique("corr"),
            payload={"widget_id": str(widget_id), "name": name},
        )
        await self.messaging.enqueue(session, env)
        return env

    def consumer(
        self, name: str = "consumer", *, fail_times: int = 0, delay: float = 0.0
    ) -> ConsumerProbe:
        return ConsumerProbe(self, name, fail_times=fail_times, delay=delay)


class ConsumerProbe:
    """An idempotent consumer whose side effect is a row in ``effects``."""

    def __init__(self, schema: Schema, name: str, *, fail_times: int, delay: float) -> None:
        self.schema = schema
        self.name = name
        self.fail_times = fail_times
        self.delay = delay
        self.deliveries: Counter[uuid.UUID] = Counter()  # every call of the bus handler
        self.runs = 0  # calls of the inner handler (not skipped as duplicates)
        inner = schema.messaging.idempotent(schema.db, name, self._side_effect)

        async def handler(env: Envelope) -> None:
            self.deliveries[env.id] += 1
            await inner(env)

        self.handler = handler

    async def _side_effect(self, session: AsyncSession, env: Envelope) -> None:
        self.runs += 1
        await session.execute(
            insert(self.schema.effects).values(consumer=self.name, message_id=env.id)
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.runs <= self.fail_times:
            raise RuntimeError(f"side effect failed (run {self.runs})")

    async def effects(self, env: Envelope | None = None) -> int:
        effects = self.schema.effects
        where = [effects.c.consumer == self.name]
        if env is not None:
            where.append(effects.c.message_id == env.id)
        return await self.schema.count(effects, *where)

    async def inbox(self) -> int:
        inbox = self.schema.messaging.inbox
        return await self.schema.count(inbox, inbox.c.consumer == self.name)

    def subscription(self, **kw: Any) -> Subscription:
        kw.setdefault("retry_delays", (0.02,))
        return Subscription(queue=unique("q"), bindings=["widget.#"], handler=self.handler, **kw)


@pytest.fixture
async def schema(database: Database) -> Schema:
    metadata = MetaData()
    widgets = Table(
        "widgets",
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("name", String(64), nullable=False, unique=True),
    )
    effects = Table(
        "effects",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("consumer", String(64), nullable=False),
        Column("message_id", Uuid, nullable=False),
    )
    messaging = Messaging(metadata, service="test")
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return Schema(database, messaging, widgets, effects)


@pytest.fixture
async def memory_bus() -> AsyncIterator[MemoryBus]:
    bus = MemoryBus()
    await bus.connect()
    try:
        yield bus
    finally:
        await bus.close()


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
async def any_bus(request: pytest.FixtureRequest, amqp_url: str) -> AsyncIterator[MessageBus]:
    """The in-memory bus, or RabbitMQ on an exchange of its own (deleted afterwards)."""
    if request.param == "memory":
        bus: MessageBus = MemoryBus()
        await bus.connect()
        try:
            yield bus
        finally:
            await bus.close()
        return
    exchange = unique("test.outbox")
    rabbit = RabbitMQBus(amqp_url, exchange=exchange, shutdown_grace=0.5)
    await rabbit.connect()
    try:
        yield rabbit
    finally:
        names = rabbit.declared_queues()
        await rabbit.close()
        connection = await aio_pika.connect(amqp_url)
        try:
            channel = await connection.channel()
            for name in names:
                await channel.queue_delete(name)
            await channel.exchange_delete(exchange)
            await channel.exchange_delete(f"{exchange}.dlx")
        finally:
            await connection.close()


async def settle(bus: MessageBus) -> None:
    if isinstance(bus, MemoryBus):
        await bus.join(timeout=10)
    else:
        await asyncio.sleep(0.3)


class FlakyBus(MemoryBus):
    """A memory bus whose broker is 'down' while ``down`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = True
        self.published: list[uuid.UUID] = []

    async def publish(self, envelope: Envelope) -> None:
        if self.down:
            raise BusError("broker unreachable (simulated)")
        await super().publish(envelope)
        self.published.append(envelope.id)


def relay_for(schema: Schema, bus: MessageBus, **kw: Any) -> OutboxRelay:
    kw.setdefault("poll_seconds", 0.05)
    kw.setdefault("retry_seconds", 0.0)  # retry failed rows at every round unless a test says
    return OutboxRelay(schema.db, schema.messaging, bus, service="test", **kw)


# -- (a) ---------------------------------------------------------------------------------------


async def test_state_change_and_event_commit_or_roll_back_together(
    schema: Schema, memory_bus: MemoryBus
) -> None:
    probe = schema.consumer()
    await memory_bus.subscribe(probe.subscription())

    async with schema.db.transaction() as session:
        committed = await schema.create_widget(session, "kept")

    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with schema.db.transaction() as session:
            await schema.create_widget(session, "rolled-back")
            raise Abort

    assert await schema.count(schema.widgets) == 1
    [row] = await schema.outbox_rows()
    assert row.message_id == committed.id and row.sent_at is None and row.attempts == 0
    assert Envelope.model_validate(row.body) == committed

    assert await relay_for(schema, memory_bus).relay_once() == 1
    await memory_bus.join()
    assert probe.deliveries == {committed.id: 1}


# -- (b) ---------------------------------------------------------------------------------------


async def test_event_committed_while_relay_is_down_is_delivered_once_after_restart(
    schema: Schema, any_bus: MessageBus
) -> None:
    probe = schema.consumer()
    await any_bus.subscribe(probe.subscription())

    # The service commits, then "crashes" before any relay publishes.
    async with schema.db.transaction() as session:
        env = await schema.create_widget(session, "w1")
    await asyncio.sleep(0.2)
    assert probe.deliveries == {}
    [row] = await schema.outbox_rows()
    assert row.sent_at is None

    # After the restart a relay picks the row up.
    relay = relay_for(schema, any_bus)
    relay.start()
    try:
        await eventually(lambda: probe.deliveries)
        await eventually(lambda: _all_sent(schema))
    finally:
        await relay.stop()
    await settle(any_bus)
    assert probe.deliveries == {env.id: 1}
    assert await probe.effects(env) == 1
    assert await probe.inbox() == 1
    [row] = await schema.outbox_rows()
    assert row.sent_at is not None and row.attempts == 1 and row.last_error is None

    # Another round finds nothing to publish.
    assert await relay.relay_once() == 0
    await settle(any_bus)
    assert probe.deliveries == {env.id: 1}


async def _all_sent(schema: Schema) -> bool:
    rows = await schema.outbox_rows()
    return bool(rows) and all(r.sent_at is not None for r in rows)


async def test_running_relay_is_woken_by_a_commit(schema: Schema, memory_bus: MemoryBus) -> None:
    probe = schema.consumer()
    await memory_bus.subscribe(probe.subscription())
    relay = relay_for(schema, memory_bus, poll_seconds=60)  # only the wake-up can deliver
    relay.start()
    try:
        await asyncio.sleep(0.1)  # let the first (empty) round pass
        async with schema.db.transaction() as session:
            env = await schema.create_widget(session, "woken")
        await eventually(lambda: probe.deliveries, within=5)
    finally:
        await relay.stop()
    await memory_bus.join()
    assert probe.deliveries == {env.id: 1}


# -- (c) ---------------------------------------------------------------------------------------


async def test_failed_publish_leaves_row_unsent_until_the_bus_works(schema: Schema) -> None:
    bus = FlakyBus()
    probe = schema.consumer()
    await bus.subscribe(probe.subscription())
    relay = relay_for(schema, bus)
    try:
        async with schema.db.transaction() as session:
            first = await schema.create_widget(session, "a")
            second = await schema.create_widget(session, "b")

        assert await relay.relay_once() == 0
        assert await relay.relay_once() == 0
        rows = await schema.outbox_rows()
        assert [r.sent_at for r in rows] == [None, None]
        # The first row records the failures; the round stops there to keep the order.
        assert rows[0].attempts == 2 and "broker unreachable" in rows[0].last_error
        assert rows[1].attempts == 0 and rows[1].last_error is None
        await bus.join()
        assert probe.deliveries == {}

        bus.down = False
        assert await relay.relay_once() == 2
        await bus.join()
        assert bus.published == [first.id, second.id]
        assert probe.deliveries == {first.id: 1, second.id: 1}
        rows = await schema.outbox_rows()
        assert all(r.sent_at is not None for r in rows)
        assert [r.attempts for r in rows] == [3, 1]
        assert await relay.relay_once() == 0
    finally:
        await bus.close()


async def test_unroutable_event_stays_unsent_until_a_queue_is_bound(
    schema: Schema, memory_bus: MemoryBus
) -> None:
    relay = relay_for(schema, memory_bus)
    async with schema.db.transaction() as session:
        env = await schema.create_widget(session, "lonely")
    assert await relay.relay_once() == 0
    [row] = await schema.outbox_rows()
    assert row.sent_at is None and row.attempts == 1 and EVENT in row.last_error

    probe = schema.consumer()
    await memory_bus.subscribe(probe.subscription())
    assert await relay.relay_once() == 1
    await memory_bus.join()
    assert probe.deliveries == {env.id: 1}


async def test_relay_loop_survives_bus_outage(schema: Schema) -> None:
    bus = FlakyBus()
    probe = schema.consumer()
    await bus.subscribe(probe.subscription())
    relay = relay_for(schema, bus)
    relay.start()
    try:
        async with schema.db.transaction() as session:
            env = await schema.create_widget(session, "outage")
        await eventually(lambda: _attempts_at_least(schema, 2))
        bus.down = False
        await eventually(lambda: _all_sent(schema))
    finally:
        await relay.stop()
        await bus.join()
        await bus.close()
    assert probe.deliveries == {env.id: 1}


async def _attempts_at_least(schema: Schema, n: int) -> bool:
    rows = await schema.outbox_rows()
    return bool(rows) and rows[0].attempts >= n


# -- (d) ---------------------------------------------------------------------------------------


async def test_idempotent_consumer_applies_a_message_once(schema: Schema) -> None:
    probe = schema.consumer(delay=0.05)
    env = Envelope(type=EVENT, producer="test")
    await probe.handler(env)
    await probe.handler(env)
    assert await probe.effects(env) == 1
    assert await probe.inbox() == 1

    # Two deliveries of one message at the same time (two consumers of a redelivery).
    concurrent = Envelope(type=EVENT, producer="test")
    await asyncio.gather(probe.handler(concurrent), probe.handler(concurrent))
    assert probe.deliveries[concurrent.id] == 2
    assert await probe.effects(concurrent) == 1
    assert await probe.inbox() == 2

    # Another consumer keeps its own inbox: it applies the message too, once.
    other = schema.consumer("other-consumer")
    await asyncio.gather(other.handler(env), other.handler(env), other.handler(env))
    assert await other.effects(env) == 1
    assert await other.inbox() == 1


async def test_redelivered_message_through_the_bus_is_applied_once(
    schema: Schema, memory_bus: MemoryBus
) -> None:
    probe = schema.consumer()
    await memory_bus.subscribe(probe.subscription(prefetch=4))
    env = Envelope(type=EVENT, producer="test")
    await asyncio.gather(*(memory_bus.publish(env) for _ in range(3)))
    await memory_bus.join()
    assert probe.deliveries == {env.id: 3}
    assert await probe.effects(env) == 1
    assert await probe.inbox() == 1


# -- (e) ---------------------------------------------------------------------------------------


async def test_failing_handler_rolls_back_side_effect_and_inbox(schema: Schema) -> None:
    probe = schema.consumer(fail_times=1)
    env = Envelope(type=EVENT, producer="test")
    with pytest.raises(RuntimeError):
        await probe.handler(env)
    assert await probe.effects(env) == 0
    assert await probe.inbox() == 0
    await probe.handler(env)  # the retry is not mistaken for a duplicate
    assert await probe.effects(env) == 1
    assert await probe.inbox() == 1


async def test_failing_handler_is_retried_by_the_bus_and_applied_once(
    schema: Schema, memory_bus: MemoryBus
) -> None:
    probe = schema.consumer(fail_times=2)
    queue = probe.subscription(max_attempts=5)
    await memory_bus.subscribe(queue)
    env = Envelope(type=EVENT, producer="test")
    await memory_bus.publish(env)
    await memory_bus.join()
    assert probe.deliveries == {env.id: 3}
    assert probe.runs == 3
    assert await probe.effects(env) == 1
    assert await probe.inbox() == 1
    assert await memory_bus.dead_letters(queue.queue) == []


async def test_integrity_error_of_the_handler_is_not_taken_for_a_duplicate(
    schema: Schema,
) -> None:
    """Only a clash on the inbox key means 'already processed'; a constraint violation in
    the handler's own work must fail the delivery (to be retried or dead-lettered), not be
    acked silently."""
    async with schema.db.transaction() as session:
        await session.execute(insert(schema.widgets).values(id=uuid.uuid4(), name="taken"))

    async def clashing(session: AsyncSession, env: Envelope) -> None:
        await session.execute(insert(schema.widgets).values(id=uuid.uuid4(), name="taken"))

    handler = schema.messaging.idempotent(schema.db, "clashing", clashing)
    env = Envelope(type=EVENT, producer="test")
    with pytest.raises(IntegrityError):
        await handler(env)
    inbox = schema.messaging.inbox
    assert await schema.count(inbox, inbox.c.consumer == "clashing") == 0


# -- (f) ---------------------------------------------------------------------------------------


class CountingBus(MemoryBus):
    """Counts publishes per message id, yielding inside publish so relays interleave."""

    def __init__(self) -> None:
        super().__init__()
        self.published: Counter[uuid.UUID] = Counter()
        self.by_relay: Counter[str] = Counter()

    async def publish(self, envelope: Envelope) -> None:
        await asyncio.sleep(0.001)
        self.published[envelope.id] += 1
        task = asyncio.current_task()
        self.by_relay[task.get_name() if task else "?"] += 1
        await super().publish(envelope)


@pytest.mark.postgres
async def test_concurrent_relays_publish_each_event_once(pg_database: Database) -> None:
    metadata = MetaData()
    messaging = Messaging(metadata, service="test")
    async with pg_database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    ids: list[uuid.UUID] = []
    async with pg_database.transaction() as session:
        for i in range(120):
            env = Envelope(type=EVENT, producer="test", payload={"i": i})
            ids.append(env.id)
            await messaging.enqueue(session, env)

    bus = CountingBus()
    received: Counter[uuid.UUID] = Counter()

    async def handler(env: Envelope) -> None:
        received[env.id] += 1

    await bus.subscribe(Subscription(queue="q", bindings=["#"], handler=handler))
    relays = [
        OutboxRelay(pg_database, messaging, bus, service="test", batch_size=10) for _ in range(2)
    ]

    async def drain(relay: OutboxRelay) -> None:
        while await relay.relay_once():
            pass

    try:
        await asyncio.gather(
            *(
                asyncio.create_task(drain(relay), name=f"relay-{n}")
                for n, relay in enumerate(relays)
            )
        )
        # A relay may stop early when the other holds the last rows; finish them.
        for relay in relays:
            await drain(relay)
        await bus.join()
    finally:
        await bus.close()

    assert sorted(bus.published) == sorted(ids)
    assert set(bus.published.values()) == {1}
    assert received == bus.published
    assert set(bus.by_relay) == {"relay-0", "relay-1"}, bus.by_relay  # both did share the work
    async with pg_database.transaction() as session:
        unsent = await session.scalar(
            select(func.count())
            .select_from(messaging.outbox)
            .where(messaging.outbox.c.sent_at.is_(None))
        )
    assert unsent == 0


async def test_an_unroutable_event_does_not_hold_back_the_events_behind_it(
    schema: Schema, memory_bus: MemoryBus
) -> None:
    probe = schema.consumer()
    await memory_bus.subscribe(probe.subscription())
    relay = relay_for(schema, memory_bus)
    async with schema.db.transaction() as session:
        orphan = Envelope(type="gadget.created", producer="test", payload={})
        await schema.messaging.enqueue(session, orphan)  # nobody binds gadget.*
        env = await schema.create_widget(session, "behind")
    assert await relay.relay_once() == 1
    await memory_bus.join()
    assert probe.deliveries == {env.id: 1}
    rows = {row.message_id: row for row in await schema.outbox_rows()}
    assert rows[orphan.id].sent_at is None and rows[orphan.id].attempts == 1
    assert rows[env.id].sent_at is not None


async def test_consumer_runs_under_the_correlation_id_of_the_event(schema: Schema) -> None:
    from flageval_platform.logging import get_correlation_id

    seen: list[str | None] = []

    async def handler(_session: AsyncSession, _env: Envelope) -> None:
        seen.append(get_correlation_id())

    consume = schema.messaging.idempotent(schema.db, "corr", handler)
    await consume(Envelope(type=EVENT, producer="test", correlation_id="trace-77"))
    assert seen == ["trace-77"]


async def test_failed_rows_cannot_starve_fresh_ones_and_are_retried_at_a_slower_pace(
    schema: Schema, memory_bus: MemoryBus
) -> None:
    probe = schema.consumer()
    await memory_bus.subscribe(probe.subscription())
    relay = relay_for(schema, memory_bus, batch_size=10, retry_seconds=3600)
    async with schema.db.transaction() as session:
        for _ in range(25):  # more unroutable rows than a batch
            await schema.messaging.enqueue(
                session, Envelope(type="gadget.created", producer="test", payload={})
            )
    await relay.relay_once()
    await relay.relay_once()
    await relay.relay_once()
    async with schema.db.transaction() as session:
        env = await schema.create_widget(session, "after-the-orphans")
    assert await relay.relay_once() == 1
    await memory_bus.join()
    assert probe.deliveries == {env.id: 1}
    rows = await schema.outbox_rows()
    # Each orphan was tried once: the retry pace (an hour here) held them back since.
    assert sorted(r.attempts for r in rows if r.sent_at is None) == [1] * 25

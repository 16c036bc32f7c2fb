"""At most one email per event with real RabbitMQ redelivery (SPEC §8, §10): the notifier
consumes from :class:`RabbitMQBus`; its first delivery of a ``run.finished`` writes the email
row (and the inbox row) and then dies before the ack — the consumer killed mid-message, or the
handler failing — so the broker delivers the message again. Still exactly one email.

Each test has its own exchange and queue names (deleted afterwards), on PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import aio_pika
import pytest
from sqlalchemy import select

from flageval_contracts import Envelope, new_envelope
from flageval_notifier.config import ServiceSettings
from flageval_notifier.main import consumers, definition
from flageval_notifier.models import Email
from flageval_notifier.testing import SmtpServer
from flageval_platform.bus import Subscription
from flageval_platform.bus.base import Handler
from flageval_platform.bus.rabbitmq import RabbitMQBus
from flageval_platform.db import Database
from flageval_platform.service import ServiceContext
from flageval_platform.storage.local import LocalObjectStore
from flageval_platform.testing import eventually, unique

pytestmark = pytest.mark.rabbitmq

#: handler → the handler the test runs instead (wrapping it)
Wrap = Callable[[Handler], Handler]


@dataclasses.dataclass
class Broker:
    amqp_url: str
    exchange: str
    buses: list[RabbitMQBus] = dataclasses.field(default_factory=list)


@pytest.fixture
async def broker(amqp_url: str) -> AsyncIterator[Broker]:
    broker = Broker(amqp_url, unique("test.notifier"))
    try:
        yield broker
    finally:
        names: set[str] = set()
        for bus in broker.buses:
            names.update(bus.declared_queues())
            await bus.close()
        connection = await aio_pika.connect(amqp_url)
        try:
            channel = await connection.channel()
            for name in sorted(names):
                await channel.queue_delete(name)
            await channel.exchange_delete(broker.exchange)
            await channel.exchange_delete(f"{broker.exchange}.dlx")
        finally:
            await connection.close()


@asynccontextmanager
async def notifier(
    broker: Broker, settings: ServiceSettings, database: Database, wrap: Wrap | None = None
) -> AsyncIterator[tuple[ServiceContext, RabbitMQBus]]:
    """The notifier on RabbitMQ; its queues are prefixed with the test's exchange name."""
    bus = RabbitMQBus(broker.amqp_url, exchange=broker.exchange, shutdown_grace=0.5)
    broker.buses.append(bus)
    await bus.connect()

    def subscriptions(ctx: ServiceContext) -> Sequence[Subscription]:
        return [
            dataclasses.replace(
                s,
                queue=f"{broker.exchange}.{s.queue}",
                handler=wrap(s.handler) if wrap is not None else s.handler,
                retry_delays=(0.2,),
            )
            for s in consumers(ctx)
        ]

    store = LocalObjectStore(
        Path(settings.data_dir) / "objects",
        public_url=settings.effective_public_url,
        secret_key=settings.ensure_secret_key(),
    )
    ctx = ServiceContext(
        dataclasses.replace(definition, subscriptions=subscriptions),
        settings,
        bus=bus,
        store=store,
        owns_infrastructure=False,
        database=database,
    )
    await ctx.start()
    try:
        yield ctx, bus
    finally:
        await bus.close()  # a kill: in-flight deliveries are not acked, the broker keeps them
        await ctx.stop()


def _registered(user_id: uuid.UUID) -> Envelope:
    return new_envelope(
        "user.registered",
        {"user_id": str(user_id), "email": "owner@example.org", "username": "owner"},
        producer="gateway",
    )


def _run_finished(owner: uuid.UUID) -> Envelope:
    return new_envelope(
        "run.finished",
        {
            "run_id": str(uuid.uuid4()),
            "evaluation_id": str(uuid.uuid4()),
            "owner_id": str(owner),
            "domain": "nlp",
            "kind": "formal",
            "status": "succeeded",
            "evaluation_name": "my-llm",
            "datasets": [
                {"task": "t", "dataset": "d", "status": "succeeded", "metrics": {"acc": 0.5}}
            ],
        },
        producer="eval-api",
    )


async def _emails(database: Database) -> list[Email]:
    async with database.transaction() as session:
        return list((await session.scalars(select(Email))).all())


async def _owner_known(database: Database, owner: uuid.UUID) -> bool:
    from flageval_notifier.models import Recipient

    async with database.transaction() as session:
        return await session.get(Recipient, owner) is not None


async def test_consumer_killed_after_writing_the_email_sends_it_once(
    broker: Broker,
    pg_database: Database,
    smtp_server: SmtpServer,
    settings_for: Callable[..., ServiceSettings],
) -> None:
    settings = settings_for(smtp_server.url())
    owner = uuid.uuid4()
    event = _run_finished(owner)
    committed = asyncio.Event()
    redelivered: list[uuid.UUID] = []

    def hang_after_commit(handler: Handler) -> Handler:
        async def handle(envelope: Envelope) -> None:
            await handler(envelope)  # the email row and the inbox row are committed …
            if envelope.type == "run.finished":
                committed.set()
                await asyncio.sleep(3600)  # … and the process dies before the ack

        return handle

    def record(handler: Handler) -> Handler:
        async def handle(envelope: Envelope) -> None:
            redelivered.append(envelope.id)
            await handler(envelope)

        return handle

    async with notifier(broker, settings, pg_database, wrap=hang_after_commit) as (_, bus):
        await bus.publish(_registered(owner))
        await eventually(lambda: _owner_known(pg_database, owner))
        await bus.publish(event)
        await asyncio.wait_for(committed.wait(), 10)
        await eventually(lambda: len(smtp_server.messages) == 1)
    # Killed with the message unacked: the broker gives it to the next notifier.
    async with notifier(broker, settings, pg_database, wrap=record):
        await eventually(lambda: event.id in redelivered, within=15)
        await asyncio.sleep(0.5)
    assert len(smtp_server.messages) == 1
    (row,) = await _emails(pg_database)
    assert row.status == "sent" and row.event_id == event.id


async def test_handler_failing_after_writing_the_email_is_retried_without_a_second_email(
    broker: Broker,
    pg_database: Database,
    smtp_server: SmtpServer,
    settings_for: Callable[..., ServiceSettings],
) -> None:
    settings = settings_for(smtp_server.url())
    owner = uuid.uuid4()
    event = _run_finished(owner)
    deliveries: list[uuid.UUID] = []

    def fail_first_after_commit(handler: Handler) -> Handler:
        async def handle(envelope: Envelope) -> None:
            await handler(envelope)
            if envelope.type == "run.finished":
                deliveries.append(envelope.id)
                if len(deliveries) == 1:
                    raise RuntimeError("crashed after the commit, before the ack")

        return handle

    async with notifier(broker, settings, pg_database, wrap=fail_first_after_commit) as (_, bus):
        await bus.publish(_registered(owner))
        await eventually(lambda: _owner_known(pg_database, owner))
        # Published twice besides (a producer's own redelivery), at once.
        await asyncio.gather(bus.publish(event), bus.publish(event))
        await eventually(lambda: len(deliveries) >= 3, within=15)
        await eventually(lambda: len(smtp_server.messages) == 1)
        await asyncio.sleep(0.5)
    assert deliveries == [event.id] * 3
    assert len(smtp_server.messages) == 1
    assert len(await _emails(pg_database)) == 1

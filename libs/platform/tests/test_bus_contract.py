"""One contract for both message buses: the in-memory one and RabbitMQ.

Every test runs on each implementation (the ``bus`` fixture). On RabbitMQ each test gets its
own exchange and queue names, and the fixture deletes them afterwards.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import pytest

from flageval_contracts import Envelope
from flageval_platform.bus import (
    BusError,
    MessageBus,
    PermanentError,
    Subscription,
    UnroutableError,
)
from flageval_platform.bus.memory import MemoryBus, topic_matches
from flageval_platform.bus.rabbitmq import RabbitMQBus
from flageval_platform.testing import eventually, unique

FAST = (0.05, 0.1)


def envelope(type: str = "test.thing.happened", **payload: Any) -> Envelope:
    return Envelope(type=type, producer="tests", payload=payload, correlation_id=unique("c"))


@dataclass
class Harness:
    """The bus under test plus what the tests need to treat both kinds alike."""

    kind: str
    bus: MessageBus
    amqp_url: str
    exchange: str
    buses: list[MessageBus] = field(default_factory=list)

    def queue(self) -> str:
        return unique("q")

    async def settle(self) -> None:
        """Give stray deliveries the chance to show up before asserting on absence."""
        if isinstance(self.bus, MemoryBus):
            await self.bus.join(timeout=10)
        else:
            await asyncio.sleep(0.3)

    async def reopen(self) -> MessageBus:
        """The bus as seen after a restart: the same instance reconnected (memory) or a new
        connection to the same exchange (RabbitMQ)."""
        if isinstance(self.bus, MemoryBus):
            await self.bus.connect()
            return self.bus
        bus = RabbitMQBus(self.amqp_url, exchange=self.exchange, shutdown_grace=0.2)
        await bus.connect()
        self.buses.append(bus)
        return bus

    async def dead_letters(self, queue: str, count: int, bus: MessageBus | None = None) -> list:
        bus = bus or self.bus

        async def check() -> list:
            letters = await bus.dead_letters(queue)
            return letters if len(letters) >= count else []

        letters = await eventually(check)
        assert len(letters) == count
        return letters


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
async def bus(request: pytest.FixtureRequest, amqp_url: str) -> AsyncIterator[Harness]:
    exchange = unique("test.events")
    if request.param == "memory":
        harness = Harness("memory", MemoryBus(), amqp_url, exchange)
    else:
        harness = Harness(
            "rabbitmq",
            RabbitMQBus(amqp_url, exchange=exchange, shutdown_grace=0.2),
            amqp_url,
            exchange,
        )
    harness.buses.append(harness.bus)
    await harness.bus.connect()
    try:
        yield harness
    finally:
        names: set[str] = set()
        for b in harness.buses:
            if isinstance(b, RabbitMQBus):
                names.update(b.declared_queues())
            await b.close()
        if request.param == "rabbitmq":
            connection = await aio_pika.connect(amqp_url)
            try:
                channel = await connection.channel()
                for name in sorted(names):
                    await channel.queue_delete(name)
                await channel.exchange_delete(exchange)
                await channel.exchange_delete(f"{exchange}.dlx")
            finally:
                await connection.close()


class Recorder:
    """A handler that records what it receives and can fail on demand."""

    def __init__(self, fail_times: int = 0, error: type[Exception] = RuntimeError) -> None:
        self.fail_times = fail_times
        self.error = error
        self.calls: list[Envelope] = []
        self.done: list[Envelope] = []

    async def __call__(self, env: Envelope) -> None:
        self.calls.append(env)
        if len(self.calls) <= self.fail_times:
            raise self.error(f"boom #{len(self.calls)}")
        self.done.append(env)

    def types(self) -> Counter[str]:
        return Counter(e.type for e in self.done)


def sub(queue: str, bindings: list[str], handler: Any, **kw: Any) -> Subscription:
    kw.setdefault("retry_delays", FAST)
    return Subscription(queue=queue, bindings=bindings, handler=handler, **kw)


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("a.b", "a.b", True),
        ("a.*", "a.b", True),
        ("a.*", "a.b.c", False),
        ("a.*", "a", False),
        ("*.b", "a.b", True),
        ("a.#", "a", True),
        ("a.#", "a.b.c", True),
        ("#", "a.b", True),
        ("#.c", "a.b.c", True),
        ("#.c", "c", True),
        ("a.#.c", "a.c", True),
        ("a.#.c", "a.x.y.c", True),
        ("a.#.c", "a.x.y.d", False),
        ("a.*.#", "a", False),
        ("a.*.#", "a.b", True),
        ("a.#.#", "a", True),
        ("a.b", "a.bb", False),
    ],
)
def test_topic_matching(pattern: str, key: str, matches: bool) -> None:
    assert topic_matches(pattern, key) is matches


async def test_topic_routing(bus: Harness) -> None:
    star, hashed, exact, hash_zero, other = (Recorder() for _ in range(5))
    for handler, bindings in (
        (star, ["t.*.created"]),
        (hashed, ["t.#"]),
        (exact, ["t.x.y"]),
        (hash_zero, ["t.run.#"]),
        (other, ["other.#", "t.*"]),
    ):
        await bus.bus.subscribe(sub(bus.queue(), bindings, handler))
    for type_ in ("t.run", "t.run.created", "t.run.a.b", "t.x.y"):
        await bus.bus.publish(envelope(type_))

    await eventually(lambda: len(hashed.done) == 4 and len(hash_zero.done) == 3)
    await eventually(lambda: star.done and exact.done and other.done)
    await bus.settle()
    assert star.types() == {"t.run.created": 1}
    assert hashed.types() == {"t.run": 1, "t.run.created": 1, "t.run.a.b": 1, "t.x.y": 1}
    assert exact.types() == {"t.x.y": 1}
    assert hash_zero.types() == {"t.run": 1, "t.run.created": 1, "t.run.a.b": 1}
    assert other.types() == {"t.run": 1}  # "t.*" is one word exactly; "other.#" never matches


async def test_unroutable_publish_raises(bus: Harness) -> None:
    with pytest.raises(UnroutableError):
        await bus.bus.publish(envelope("nobody.listens"))
    queue = bus.queue()
    await bus.bus.declare(sub(queue, ["a.b"], Recorder()))
    with pytest.raises(UnroutableError):
        await bus.bus.publish(envelope("a.c"))
    with pytest.raises(UnroutableError):
        await bus.bus.publish_raw("a.b.c", b"{}")
    await bus.bus.publish(envelope("a.b"))  # routable: accepted


async def test_retry_then_success(bus: Harness) -> None:
    handler = Recorder(fail_times=2)
    queue = bus.queue()
    await bus.bus.subscribe(sub(queue, ["job.done"], handler, max_attempts=5))
    env = envelope("job.done", n=1)
    await bus.bus.publish(env)
    await eventually(lambda: handler.done)
    await bus.settle()
    assert len(handler.calls) == 3
    assert handler.done == [env]
    assert all(call == env for call in handler.calls)
    assert await bus.bus.dead_letters(queue) == []


async def test_always_failing_lands_in_dlq(bus: Harness) -> None:
    handler = Recorder(fail_times=1000)
    queue = bus.queue()
    await bus.bus.subscribe(sub(queue, ["job.#"], handler, max_attempts=3))
    env = envelope("job.failed", n=2)
    await bus.bus.publish(env)
    [letter] = await bus.dead_letters(queue, 1)
    await bus.settle()
    assert len(handler.calls) == 3
    assert handler.done == []
    assert letter.queue == queue
    assert letter.envelope == env
    assert Envelope.from_bytes(letter.body) == env
    assert "boom #3" in letter.reason
    # Reading the dead letters does not consume them.
    assert [d.envelope for d in await bus.bus.dead_letters(queue)] == [env]


async def test_permanent_error_dead_letters_at_once(bus: Harness) -> None:
    handler = Recorder(fail_times=1000, error=PermanentError)
    queue = bus.queue()
    await bus.bus.subscribe(sub(queue, ["job.#"], handler, max_attempts=5))
    env = envelope("job.invalid")
    await bus.bus.publish(env)
    [letter] = await bus.dead_letters(queue, 1)
    await bus.settle()
    assert len(handler.calls) == 1
    assert letter.envelope == env
    assert "PermanentError" in letter.reason


async def test_poison_messages_dead_letter_without_calling_handler(bus: Harness) -> None:
    handler = Recorder()
    queue = bus.queue()
    await bus.bus.subscribe(sub(queue, ["job.#"], handler))
    await bus.bus.publish_raw("job.raw", b"\xff not json")
    await bus.bus.publish_raw("job.raw", b'{"hello": "not an envelope"}')
    letters = await bus.dead_letters(queue, 2)
    assert sorted(letter.body for letter in letters) == sorted(
        [b"\xff not json", b'{"hello": "not an envelope"}']
    )
    assert all(letter.envelope is None and "poison" in letter.reason for letter in letters)
    # The consumer is still alive and handles good messages.
    env = envelope("job.good")
    await bus.bus.publish(env)
    await eventually(lambda: handler.done)
    await bus.settle()
    assert handler.calls == [env]


async def test_ping(bus: Harness) -> None:
    await bus.bus.ping()
    await bus.bus.close()
    with pytest.raises(BusError):
        await bus.bus.ping()


async def test_messages_published_before_subscribing_are_kept(bus: Harness) -> None:
    handler = Recorder()
    subscription = sub(bus.queue(), ["early.bird"], handler)
    await bus.bus.declare(subscription)
    sent = [envelope("early.bird", i=i) for i in range(3)]
    for env in sent:
        await bus.bus.publish(env)
    await asyncio.sleep(0.1)
    assert handler.calls == []
    await bus.bus.subscribe(subscription)
    await eventually(lambda: len(handler.done) == 3)
    await bus.settle()
    assert sorted(e.id for e in handler.done) == sorted(e.id for e in sent)


async def test_concurrent_publishes_all_delivered_with_bounded_concurrency(
    bus: Harness,
) -> None:
    received: Counter[Any] = Counter()
    running = 0
    peak = 0

    async def handler(env: Envelope) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            await asyncio.sleep(0.01)
            received[env.id] += 1
        finally:
            running -= 1

    await bus.bus.subscribe(sub(bus.queue(), ["load.#"], handler, prefetch=4))
    sent = [envelope("load.test", i=i) for i in range(60)]
    await asyncio.gather(*(bus.bus.publish(env) for env in sent))
    await eventually(lambda: len(received) == len(sent))
    await bus.settle()
    assert set(received) == {e.id for e in sent}
    assert set(received.values()) == {1}
    assert 1 < peak <= 4


async def test_publish_does_not_wait_for_the_handler(bus: Harness) -> None:
    """A publisher holding a resource the handler needs (the outbox relay holds a DB
    transaction) must not deadlock."""
    lock = asyncio.Lock()
    handled: list[Envelope] = []

    async def handler(env: Envelope) -> None:
        async with lock:
            handled.append(env)

    await bus.bus.subscribe(sub(bus.queue(), ["lock.step"], handler))
    env = envelope("lock.step")
    async with lock:
        await asyncio.wait_for(bus.bus.publish(env), 5)
        await asyncio.sleep(0.05)
        assert handled == []
    await eventually(lambda: handled)
    assert handled == [env]


async def test_close_requeues_in_flight_messages(bus: Harness) -> None:
    started = asyncio.Event()
    handled: list[Envelope] = []

    async def stuck_the_first_time(env: Envelope) -> None:
        if not started.is_set():
            started.set()
            await asyncio.sleep(3600)
        handled.append(env)

    subscription = sub(bus.queue(), ["slow.job"], stuck_the_first_time)
    await bus.bus.subscribe(subscription)
    env = envelope("slow.job")
    await bus.bus.publish(env)
    await asyncio.wait_for(started.wait(), 10)
    await bus.bus.close()  # cancels the stuck handler: the message must not be lost
    assert handled == []

    reopened = await bus.reopen()  # memory: the same bus restarts its consumers
    if bus.kind == "rabbitmq":
        await reopened.subscribe(subscription)
    await eventually(lambda: handled)
    await bus.settle()
    assert handled == [env]

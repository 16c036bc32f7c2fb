"""In-process message bus with the same semantics as the RabbitMQ one.

Used by the standalone deployment and by tests. Every declared queue keeps its messages in
memory for the life of the bus; :meth:`MemoryBus.publish` only routes the message into the
matching queues and returns (it never runs a handler, so a caller that publishes while holding
a database transaction cannot deadlock on a handler that needs the database). Each subscription
gets ``prefetch`` consumer tasks; a failed delivery is put back after its retry delay with a
loop timer, so the consumers keep working meanwhile.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache

from flageval_contracts import Envelope
from flageval_platform.bus.base import (
    BusError,
    DeadLetter,
    MessageBus,
    PermanentError,
    Subscription,
    UnroutableError,
)
from flageval_platform.logging import correlation_scope

log = logging.getLogger(__name__)

__all__ = ["MemoryBus", "topic_matches"]


@lru_cache(maxsize=4096)
def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: ``*`` is exactly one word, ``#`` zero or more words."""
    return _match(tuple(pattern.split(".")), tuple(routing_key.split(".")))


def _match(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        # ``#`` swallows 0..len(words) words; collapse runs of ``#`` first.
        while rest and rest[0] == "#":
            rest = rest[1:]
        if not rest:
            return True
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    if head == "*" or head == words[0]:
        return _match(rest, words[1:])
    return False


@dataclass
class _Message:
    routing_key: str
    body: bytes
    # Deliveries that already failed (the next delivery is attempt ``failures + 1``).
    failures: int = 0
    seq: int = 0


@dataclass
class _Queue:
    name: str
    bindings: list[str] = field(default_factory=list)
    ready: deque[_Message] = field(default_factory=deque)
    dead: list[DeadLetter] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    workers: list[asyncio.Task[None]] = field(default_factory=list)
    inflight: int = 0
    # Messages waiting for their retry delay: timer handle -> message.
    delayed: dict[asyncio.TimerHandle, _Message] = field(default_factory=dict)
    signal: asyncio.Event = field(default_factory=asyncio.Event)

    def matches(self, routing_key: str) -> bool:
        return any(topic_matches(p, routing_key) for p in self.bindings)

    def put(self, message: _Message) -> None:
        self.ready.append(message)
        self.signal.set()

    @property
    def busy(self) -> bool:
        """Work is pending that a consumer of this queue will do."""
        return bool(self.workers) and bool(self.ready or self.inflight or self.delayed)


class MemoryBus(MessageBus):
    """The in-process bus. Open from construction until :meth:`close`."""

    def __init__(self) -> None:
        self._queues: dict[str, _Queue] = {}
        self._closed = False
        self._changed: asyncio.Event | None = None
        self._seq = itertools.count(1)

    # -- lifecycle -------------------------------------------------------------------------

    async def connect(self) -> None:
        """(Re)open the bus; after a :meth:`close` the consumers start again."""
        if not self._closed:
            return
        self._closed = False
        for queue in self._queues.values():
            for subscription in queue.subscriptions:
                self._start_workers(queue, subscription)

    async def close(self) -> None:
        """Stop the consumers. In-flight and delayed messages go back to their queues."""
        self._closed = True
        tasks: list[asyncio.Task[None]] = []
        for queue in self._queues.values():
            tasks.extend(queue.workers)
            queue.workers = []
            for handle, message in list(queue.delayed.items()):
                handle.cancel()
                queue.ready.append(message)
            queue.delayed.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._notify()

    async def ping(self) -> None:
        if self._closed:
            raise BusError("the in-memory bus is closed")

    # -- topology --------------------------------------------------------------------------

    async def declare(self, subscription: Subscription) -> None:
        self._check_open()
        self._declare(subscription)

    def _declare(self, subscription: Subscription) -> _Queue:
        if not subscription.queue:
            raise ValueError("a subscription needs a queue name")
        queue = self._queues.get(subscription.queue)
        if queue is None:
            queue = self._queues[subscription.queue] = _Queue(subscription.queue)
        for pattern in subscription.bindings:
            if pattern not in queue.bindings:
                queue.bindings.append(pattern)
        return queue

    async def subscribe(self, subscription: Subscription) -> None:
        """Declare and start ``prefetch`` consumers (competing with any earlier ones)."""
        self._check_open()
        queue = self._declare(subscription)
        queue.subscriptions.append(subscription)
        self._start_workers(queue, subscription)

    def _start_workers(self, queue: _Queue, subscription: Subscription) -> None:
        for i in range(max(1, subscription.prefetch)):
            task = asyncio.create_task(
                self._consume(queue, subscription), name=f"memorybus-{queue.name}-{i}"
            )
            queue.workers.append(task)
        # Messages already waiting (published before subscribing) are picked up now.
        queue.signal.set()

    # -- publishing ------------------------------------------------------------------------

    async def publish(self, envelope: Envelope) -> None:
        self._route(envelope.type, envelope.to_bytes())

    async def publish_raw(self, routing_key: str, body: bytes) -> None:
        self._route(routing_key, bytes(body))

    def _route(self, routing_key: str, body: bytes) -> None:
        """Put a copy in every matching queue; never awaits, never runs a handler."""
        self._check_open()
        targets = [q for q in self._queues.values() if q.matches(routing_key)]
        if not targets:
            raise UnroutableError(f"no queue is bound for routing key {routing_key!r}")
        for queue in targets:
            queue.put(_Message(routing_key, body, seq=next(self._seq)))
        self._notify()

    # -- dead letters ----------------------------------------------------------------------

    async def dead_letters(self, queue: str) -> list[DeadLetter]:
        q = self._queues.get(queue)
        return list(q.dead) if q is not None else []

    # -- test helpers ----------------------------------------------------------------------

    def pending(self, queue: str) -> int:
        """Messages of ``queue`` not yet acked or dead-lettered (ready, in flight, delayed)."""
        q = self._queues.get(queue)
        if q is None:
            return 0
        return len(q.ready) + q.inflight + len(q.delayed)

    def is_idle(self) -> bool:
        """No consumed queue has a message ready, in flight or waiting for a retry."""
        return not any(q.busy for q in self._queues.values())

    async def join(self, timeout: float | None = 10.0) -> None:  # noqa: ASYNC109
        """Wait until every consumed queue is drained (retries included).

        Queues that are declared but have no consumer are not waited for.
        Raises :class:`TimeoutError` after ``timeout`` seconds (``None``: wait forever).
        """

        async def wait() -> None:
            while not self.is_idle():
                changed = self._changed_event()
                changed.clear()
                await changed.wait()

        await asyncio.wait_for(wait(), timeout)

    idle = join

    # -- internals -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise BusError("the in-memory bus is closed")

    def _changed_event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def _consume(self, queue: _Queue, subscription: Subscription) -> None:
        while True:
            while not queue.ready:
                queue.signal.clear()
                await queue.signal.wait()
            message = queue.ready.popleft()
            if queue.ready:
                queue.signal.set()  # let another worker take the next one
            queue.inflight += 1
            try:
                await self._deliver(queue, subscription, message)
            except asyncio.CancelledError:
                # Closed mid-delivery: the message was not acked, so it is kept.
                queue.ready.appendleft(message)
                raise
            except Exception:  # a bug in the bus itself: keep the consumer alive
                log.exception("in-memory bus delivery failed", extra={"queue": queue.name})
            finally:
                queue.inflight -= 1
                self._notify()

    async def _deliver(self, queue: _Queue, subscription: Subscription, message: _Message) -> None:
        attempt = message.failures + 1
        try:
            envelope = Envelope.from_bytes(message.body)
        except Exception as exc:
            self._dead_letter(queue, message, None, f"poison message: {_describe(exc)}")
            return
        try:
            with correlation_scope(envelope.correlation_id):
                await subscription.handler(envelope)
        except asyncio.CancelledError:
            raise
        except PermanentError as exc:
            self._dead_letter(queue, message, envelope, f"permanent error: {_describe(exc)}")
            return
        except Exception as exc:
            if attempt >= subscription.max_attempts:
                self._dead_letter(
                    queue,
                    message,
                    envelope,
                    f"failed {attempt} attempt(s), last error: {_describe(exc)}",
                )
                return
            delay = subscription.delay_for(attempt)
            log.warning(
                "handler failed, retrying",
                extra={
                    "queue": queue.name,
                    "event_type": envelope.type,
                    "message_id": str(envelope.id),
                    "attempt": attempt,
                    "retry_in": delay,
                    "error": _describe(exc),
                },
            )
            self._schedule_retry(queue, message, delay)

    def _schedule_retry(self, queue: _Queue, message: _Message, delay: float) -> None:
        retry = _Message(message.routing_key, message.body, message.failures + 1, message.seq)
        loop = asyncio.get_running_loop()

        def due() -> None:
            if queue.delayed.pop(handle, None) is not None:
                queue.put(retry)
                self._notify()

        handle = loop.call_later(max(0.0, delay), due)
        queue.delayed[handle] = retry

    def _dead_letter(
        self, queue: _Queue, message: _Message, envelope: Envelope | None, reason: str
    ) -> None:
        log.error(
            "message dead-lettered",
            extra={
                "queue": queue.name,
                "routing_key": message.routing_key,
                "message_id": str(envelope.id) if envelope else None,
                "reason": reason,
            },
        )
        queue.dead.append(
            DeadLetter(queue=queue.name, body=message.body, reason=reason, envelope=envelope)
        )


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}"[:2000] if text else type(exc).__name__

"""The message-bus interface. Two implementations: RabbitMQ (aio-pika) and in-memory.

Semantics both implementations keep (and the shared contract tests check):

* ``publish`` returns only once the broker has accepted the message (publisher confirm) and
  raises :class:`UnroutableError` when no queue is bound for its routing key.
* Routing is topic-style on ``Envelope.type``: ``*`` matches one word, ``#`` zero or more.
* A handler that returns normally acks the message. One that raises is retried after
  ``retry_delays[attempt]`` seconds, up to ``max_attempts`` deliveries in all; then the
  message goes to the queue's dead-letter queue. :class:`PermanentError`, or a body that is
  not a valid envelope (a poison message), goes to the dead-letter queue at once.
* Delivery is at least once: consumers must be idempotent (see ``flageval_platform.inbox``).
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from flageval_contracts import Envelope

Handler = Callable[[Envelope], Awaitable[None]]


class BusError(Exception):
    """The bus could not do what was asked."""


class UnroutableError(BusError):
    """A published message matched no bound queue and would have been lost."""


class PermanentError(Exception):
    """Raised by a handler for a message that can never succeed: dead-letter it now."""


@dataclass(frozen=True)
class DeadLetter:
    """A message that ended in a dead-letter queue, and why."""

    queue: str
    body: bytes
    reason: str
    envelope: Envelope | None = None


@dataclass(frozen=True)
class Subscription:
    """A durable queue, the routing patterns bound to it and the handler that consumes it."""

    queue: str
    bindings: Sequence[str]
    handler: Handler
    max_attempts: int = 5
    retry_delays: Sequence[float] = field(default=(1.0, 5.0, 30.0, 120.0))
    prefetch: int = 16

    def delay_for(self, attempt: int) -> float:
        """Delay before redelivery after the ``attempt``-th failed delivery (1-based)."""
        delays = list(self.retry_delays) or [0.0]
        return delays[min(attempt - 1, len(delays) - 1)]


class MessageBus(abc.ABC):
    """Publish envelopes to a topic exchange and consume them from durable queues."""

    @abc.abstractmethod
    async def connect(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise when the broker cannot be reached."""

    @abc.abstractmethod
    async def declare(self, subscription: Subscription) -> None:
        """Declare the queue, its bindings, retry and dead-letter queues (idempotent)."""

    @abc.abstractmethod
    async def subscribe(self, subscription: Subscription) -> None:
        """Declare (as :meth:`declare`) and start consuming in the background."""

    @abc.abstractmethod
    async def publish(self, envelope: Envelope) -> None:
        """Publish and wait for the broker's confirm; raise :class:`UnroutableError`."""

    @abc.abstractmethod
    async def publish_raw(self, routing_key: str, body: bytes) -> None:
        """Publish arbitrary bytes (tests use it to send poison messages)."""

    @abc.abstractmethod
    async def dead_letters(self, queue: str) -> list[DeadLetter]:
        """What is in ``queue``'s dead-letter queue now (read without consuming)."""

"""Message bus: one interface (:class:`MessageBus`), RabbitMQ and in-memory implementations."""

from __future__ import annotations

from flageval_platform.bus.base import (
    BusError,
    DeadLetter,
    Handler,
    MessageBus,
    PermanentError,
    Subscription,
    UnroutableError,
)

__all__ = [
    "BusError",
    "DeadLetter",
    "Handler",
    "MessageBus",
    "PermanentError",
    "Subscription",
    "UnroutableError",
    "create_bus",
]


def create_bus(url: str, *, exchange: str = "flageval.events") -> MessageBus:
    """``memory://`` gives the in-process bus; ``amqp://`` / ``amqps://`` gives RabbitMQ."""
    if url.startswith("memory://"):
        from flageval_platform.bus.memory import MemoryBus

        return MemoryBus()
    if url.startswith(("amqp://", "amqps://")):
        from flageval_platform.bus.rabbitmq import RabbitMQBus

        return RabbitMQBus(url, exchange=exchange)
    raise ValueError(f"unsupported broker URL scheme in {url.split('://')[0]!r}")

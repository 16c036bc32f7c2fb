"""RabbitMQ message bus (aio-pika).

Topology, for the topic exchange ``E`` (``flageval.events`` by default) and a subscription
queue ``Q``:

* ``E``: durable topic exchange; envelopes are published to it with routing key
  ``envelope.type``, ``mandatory`` and publisher confirms, so an unroutable message raises
  :class:`UnroutableError` instead of vanishing.
* ``Q``: durable **quorum** queue bound to ``E`` with the subscription's patterns. Messages the
  broker itself dead-letters (``nack`` without requeue, a delivery limit) go to ``E.dlx``.
* ``E.dlx``: durable direct exchange; ``Q.dlq`` (durable classic queue) is bound to it with
  routing key ``Q``. The consumer also puts messages there itself (poison messages,
  :class:`PermanentError`, retries exhausted), with the reason in a header.
* ``Q.retry.<ms>``: durable classic queues with ``x-message-ttl: <ms>`` that dead-letter
  expired messages back to ``Q`` through the default exchange: the delayed retry. One queue per
  delay, so every message in it has the same TTL and they expire in order.

The number of failed deliveries travels in the ``x-flageval-attempts`` header (set by this
consumer, not derived from ``x-death``). A failed message is acked only once its retry copy (or
its dead-letter copy) has been confirmed by the broker, so nothing is lost; a crash in between
gives a duplicate, which idempotent consumers absorb. On :meth:`RabbitMQBus.close` the
consumers are cancelled first, in-flight handlers get a grace period, and whatever is still
unacked is requeued by the broker when the channel closes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import aiormq
from aio_pika import DeliveryMode, ExchangeType, Message
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

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

__all__ = ["RabbitMQBus"]

ATTEMPTS_HEADER = "x-flageval-attempts"
REASON_HEADER = "x-flageval-reason"
ROUTING_KEY_HEADER = "x-flageval-routing-key"
QUEUE_HEADER = "x-flageval-queue"
CORRELATION_HEADER = "x-correlation-id"
# Headers the broker adds when it dead-letters a message; not copied when we republish.
_BROKER_HEADERS = ("x-death", "x-first-death-", "x-last-death-", "x-delivery-count")


def _dlq_name(queue: str) -> str:
    return f"{queue}.dlq"


def _retry_ms(delay: float) -> int:
    return max(0, round(delay * 1000))


def _retry_queue_name(queue: str, ms: int) -> str:
    return f"{queue}.retry.{ms}"


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}"[:1000] if text else type(exc).__name__


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


@dataclass
class _Consumer:
    subscription: Subscription
    channel: AbstractChannel
    queue: AbstractQueue
    tag: str | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class RabbitMQBus(MessageBus):
    """The bus on a RabbitMQ broker (robust connection, publisher confirms, quorum queues)."""

    def __init__(
        self,
        url: str,
        *,
        exchange: str = "flageval.events",
        publish_timeout: float = 15.0,
        shutdown_grace: float = 5.0,
        connection_name: str | None = None,
    ) -> None:
        self.url = url
        self.exchange_name = exchange
        self.dlx_name = f"{exchange}.dlx"
        self.publish_timeout = publish_timeout
        self.shutdown_grace = shutdown_grace
        self.connection_name = connection_name
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._consumers: list[_Consumer] = []
        self._closing = False
        self._connect_lock = asyncio.Lock()
        # message id -> future of the publish in progress (see _publish_to).
        self._publishing: dict[str, asyncio.Future[None]] = {}
        # Every queue this bus declared (tests and tooling delete them with delete_topology).
        self._declared_queues: dict[str, set[str]] = {}

    # -- lifecycle -------------------------------------------------------------------------

    async def connect(self) -> None:
        async with self._connect_lock:
            if self._connection is not None and not self._connection.is_closed:
                return
            self._closing = False
            properties: dict[str, Any] = (
                {"connection_name": self.connection_name} if self.connection_name else {}
            )
            try:
                self._connection = await aio_pika.connect_robust(
                    self.url, client_properties=properties
                )
                self._channel = await self._connection.channel(
                    publisher_confirms=True, on_return_raises=True
                )
                self._exchange = await self._channel.declare_exchange(
                    self.exchange_name, ExchangeType.TOPIC, durable=True
                )
                await self._channel.declare_exchange(
                    self.dlx_name, ExchangeType.DIRECT, durable=True
                )
            except BaseException:
                if self._connection is not None:
                    await self._connection.close()
                self._connection = self._channel = self._exchange = None
                raise

    async def close(self) -> None:
        """Stop consuming, let in-flight handlers finish (or requeue them), disconnect."""
        self._closing = True
        consumers, self._consumers = self._consumers, []
        for consumer in consumers:
            if consumer.tag is not None:
                try:
                    await asyncio.wait_for(consumer.queue.cancel(consumer.tag), 5)
                except Exception as exc:  # the channel may already be gone
                    log.debug("consumer cancel failed: %s", _describe(exc))
        tasks = {task for consumer in consumers for task in consumer.tasks}
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=self.shutdown_grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        # Closing a channel makes the broker requeue whatever it still has unacked.
        for consumer in consumers:
            await self._close_channel(consumer.channel)
        if self._channel is not None:
            await self._close_channel(self._channel)
        if self._connection is not None:
            try:
                await self._connection.close()
            except Exception as exc:
                log.debug("connection close failed: %s", _describe(exc))
        self._connection = self._channel = self._exchange = None

    async def ping(self) -> None:
        """Raise :class:`BusError` unless connected, with a round trip to the broker."""
        connection = self._connection
        if connection is None or connection.is_closed:
            raise BusError("not connected to RabbitMQ")
        if not connection.connected.is_set():
            raise BusError("the connection to RabbitMQ is lost (reconnecting)")
        if self._channel is None or self._channel.is_closed:
            raise BusError("the publishing channel is closed")
        try:
            channel = await asyncio.wait_for(connection.channel(publisher_confirms=False), 5)
            await channel.close()
        except Exception as exc:
            raise BusError(f"RabbitMQ does not answer: {_describe(exc)}") from exc

    # -- topology --------------------------------------------------------------------------

    def _main_queue_arguments(self, queue: str) -> dict[str, Any]:
        # Depend on nothing but the names: a redeclaration with other arguments would fail.
        return {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": self.dlx_name,
            "x-dead-letter-routing-key": queue,
        }

    async def _declare_on(
        self, channel: AbstractChannel, subscription: Subscription
    ) -> AbstractQueue:
        name = subscription.queue
        if not name:
            raise ValueError("a subscription needs a queue name")
        exchange = await channel.declare_exchange(
            self.exchange_name, ExchangeType.TOPIC, durable=True
        )
        dlx = await channel.declare_exchange(self.dlx_name, ExchangeType.DIRECT, durable=True)
        dlq = await channel.declare_queue(
            _dlq_name(name), durable=True, arguments={"x-queue-type": "classic"}
        )
        await dlq.bind(dlx, routing_key=name)
        names = self._declared_queues.setdefault(name, set())
        names.update({name, _dlq_name(name)})
        for ms in sorted({_retry_ms(d) for d in subscription.retry_delays}):
            if ms > 0:
                await self._declare_retry_queue(channel, name, ms)
        queue = await channel.declare_queue(
            name, durable=True, arguments=self._main_queue_arguments(name)
        )
        for pattern in subscription.bindings:
            await queue.bind(exchange, routing_key=pattern)
        return queue

    async def _declare_retry_queue(self, channel: AbstractChannel, queue: str, ms: int) -> str:
        retry = _retry_queue_name(queue, ms)
        await channel.declare_queue(
            retry,
            durable=True,
            arguments={
                "x-queue-type": "classic",
                "x-message-ttl": ms,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": queue,
            },
        )
        self._declared_queues.setdefault(queue, set()).add(retry)
        return retry

    async def declare(self, subscription: Subscription) -> None:
        connection = self._require_connection()
        channel = await connection.channel(publisher_confirms=False)
        try:
            await self._declare_on(channel, subscription)
        except aiormq.exceptions.AMQPError as exc:
            raise BusError(f"declaring {subscription.queue!r} failed: {_describe(exc)}") from exc
        finally:
            await self._close_channel(channel)

    async def subscribe(self, subscription: Subscription) -> None:
        connection = self._require_connection()
        channel = await connection.channel(publisher_confirms=False)
        try:
            await channel.set_qos(prefetch_count=max(1, subscription.prefetch))
            queue = await self._declare_on(channel, subscription)
            consumer = _Consumer(subscription, channel, queue)

            async def on_message(message: AbstractIncomingMessage) -> None:
                await self._on_message(consumer, message)

            consumer.tag = await queue.consume(on_message, no_ack=False)
        except BaseException as exc:
            await self._close_channel(channel)
            if isinstance(exc, aiormq.exceptions.AMQPError):
                raise BusError(
                    f"subscribing to {subscription.queue!r} failed: {_describe(exc)}"
                ) from exc
            raise
        self._consumers.append(consumer)

    def declared_queues(self) -> list[str]:
        """Names of every queue this bus instance declared (main, retry and dead-letter)."""
        return sorted({name for names in self._declared_queues.values() for name in names})

    async def delete_topology(self, queues: Iterable[str] = (), *, exchanges: bool = False) -> None:
        """Delete ``queues`` with their retry and dead-letter queues (and the exchanges).

        For tests and tooling; only queues this bus instance declared are known by name.
        """
        connection = self._require_connection()
        channel = await connection.channel(publisher_confirms=False)
        try:
            for queue in queues:
                names = self._declared_queues.pop(queue, {queue, _dlq_name(queue)})
                for name in sorted(names):
                    await channel.queue_delete(name)
            if exchanges:
                for name in (self.exchange_name, self.dlx_name):
                    await channel.exchange_delete(name)
        finally:
            await self._close_channel(channel)

    # -- publishing ------------------------------------------------------------------------

    async def publish(self, envelope: Envelope) -> None:
        headers: dict[str, Any] = {}
        if envelope.correlation_id:
            headers[CORRELATION_HEADER] = envelope.correlation_id
        message = Message(
            envelope.to_bytes(),
            content_type="application/json",
            delivery_mode=DeliveryMode.PERSISTENT,
            message_id=str(envelope.id),
            correlation_id=envelope.correlation_id,
            timestamp=envelope.occurred_at,
            type=envelope.type,
            app_id=envelope.producer,
            headers=headers,
        )
        await self._publish_to(self._require_exchange(), envelope.type, message)

    async def publish_raw(self, routing_key: str, body: bytes) -> None:
        message = Message(
            bytes(body),
            content_type="application/octet-stream",
            delivery_mode=DeliveryMode.PERSISTENT,
        )
        await self._publish_to(self._require_exchange(), routing_key, message)

    async def _publish_to(
        self, exchange: AbstractExchange, routing_key: str, message: Message
    ) -> None:
        """Publish mandatory with confirm; map a return to :class:`UnroutableError`."""
        # aiormq matches a returned message to its publish by message id, so two publishes
        # of one id in flight at once on this channel could be confused: serialise them.
        message_id = message.message_id
        if message_id:
            while (busy := self._publishing.get(message_id)) is not None:
                await asyncio.shield(busy)
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._publishing[message_id] = done
        try:
            await exchange.publish(
                message, routing_key=routing_key, mandatory=True, timeout=self.publish_timeout
            )
        except aiormq.exceptions.PublishError as exc:
            raise UnroutableError(
                f"no queue is bound for routing key {routing_key!r} on {exchange.name or 'the default exchange'!r}"
            ) from exc
        except aiormq.exceptions.DeliveryError as exc:
            raise BusError(f"the broker refused the message: {_describe(exc)}") from exc
        except TimeoutError as exc:
            raise BusError(f"the broker did not confirm within {self.publish_timeout}s") from exc
        except (aiormq.exceptions.AMQPError, aiormq.exceptions.ChannelInvalidStateError) as exc:
            raise BusError(f"publishing failed: {_describe(exc)}") from exc
        finally:
            if message_id:
                self._publishing.pop(message_id, None)
                done.set_result(None)

    # -- consuming -------------------------------------------------------------------------

    async def _on_message(self, consumer: _Consumer, message: AbstractIncomingMessage) -> None:
        if self._closing:
            await self._settle(message, requeue=True)
            return
        task = asyncio.create_task(self._handle(consumer.subscription, message))
        consumer.tasks.add(task)
        task.add_done_callback(consumer.tasks.discard)

    async def _handle(self, subscription: Subscription, message: AbstractIncomingMessage) -> None:
        try:
            await self._process(subscription, message)
        except asyncio.CancelledError:
            # Shutting down mid-delivery: give the message back (closing the channel would too).
            await self._settle(message, requeue=True)
            raise
        except Exception:
            # Typically the retry or dead-letter copy could not be published: keep the
            # message (requeue it), after a pause so a broker refusing it is not hammered.
            log.exception("message processing failed", extra={"queue": subscription.queue})
            await asyncio.sleep(1.0)
            await self._settle(message, requeue=True)

    async def _process(self, subscription: Subscription, message: AbstractIncomingMessage) -> None:
        headers: dict[str, Any] = dict(message.headers or {})
        try:
            failures = int(headers.get(ATTEMPTS_HEADER) or 0)
        except (TypeError, ValueError):
            failures = 0
        attempt = failures + 1
        try:
            envelope = Envelope.from_bytes(message.body)
        except Exception as exc:
            await self._dead_letter(subscription, message, f"poison message: {_describe(exc)}")
            return
        try:
            with correlation_scope(envelope.correlation_id):
                await subscription.handler(envelope)
        except asyncio.CancelledError:
            raise
        except PermanentError as exc:
            await self._dead_letter(subscription, message, f"permanent error: {_describe(exc)}")
            return
        except Exception as exc:
            if attempt >= subscription.max_attempts:
                await self._dead_letter(
                    subscription,
                    message,
                    f"failed {attempt} attempt(s), last error: {_describe(exc)}",
                )
                return
            delay = subscription.delay_for(attempt)
            log.warning(
                "handler failed, retrying",
                extra={
                    "queue": subscription.queue,
                    "event_type": envelope.type,
                    "message_id": str(envelope.id),
                    "attempt": attempt,
                    "retry_in": delay,
                    "error": _describe(exc),
                },
            )
            await self._retry(subscription, message, attempt, delay)
            return
        await message.ack()

    def _copy(self, message: AbstractIncomingMessage, extra: Mapping[str, Any]) -> Message:
        headers = {
            key: value
            for key, value in (message.headers or {}).items()
            if not key.startswith(_BROKER_HEADERS)
        }
        if ROUTING_KEY_HEADER not in headers and message.routing_key:
            headers[ROUTING_KEY_HEADER] = message.routing_key
        headers.update(extra)
        return Message(
            message.body,
            headers=headers,
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            delivery_mode=DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            timestamp=message.timestamp,
            type=message.type,
            app_id=message.app_id,
        )

    async def _retry(
        self,
        subscription: Subscription,
        message: AbstractIncomingMessage,
        attempt: int,
        delay: float,
    ) -> None:
        """Put a copy with the attempt count in the retry queue, then ack the original."""
        ms = _retry_ms(delay)
        target = _retry_queue_name(subscription.queue, ms) if ms > 0 else subscription.queue
        copy = self._copy(message, {ATTEMPTS_HEADER: attempt})
        await self._publish_to_queue(subscription, target, copy)
        await message.ack()

    async def _dead_letter(
        self, subscription: Subscription, message: AbstractIncomingMessage, reason: str
    ) -> None:
        log.error(
            "message dead-lettered",
            extra={
                "queue": subscription.queue,
                "routing_key": message.routing_key,
                "message_id": message.message_id,
                "reason": reason,
            },
        )
        copy = self._copy(message, {REASON_HEADER: reason[:1000], QUEUE_HEADER: subscription.queue})
        await self._publish_to_queue(subscription, _dlq_name(subscription.queue), copy)
        await message.ack()

    async def _publish_to_queue(
        self, subscription: Subscription, queue: str, message: Message
    ) -> None:
        """Publish straight to ``queue`` (default exchange); redeclare it once if missing."""
        channel = self._require_channel()
        try:
            await self._publish_to(channel.default_exchange, queue, message)
        except UnroutableError:
            log.warning("queue %s is missing, declaring it again", queue)
            await self.declare(subscription)
            if queue.startswith(f"{subscription.queue}.retry."):
                connection = self._require_connection()
                temp = await connection.channel(publisher_confirms=False)
                try:
                    await self._declare_retry_queue(
                        temp, subscription.queue, int(queue.rsplit(".", 1)[1])
                    )
                finally:
                    await self._close_channel(temp)
            await self._publish_to(channel.default_exchange, queue, message)

    async def _settle(self, message: AbstractIncomingMessage, *, requeue: bool) -> None:
        """Best-effort ``nack``; if the channel is gone the broker requeues by itself."""
        try:
            await message.nack(requeue=requeue)
        except Exception as exc:
            log.debug("nack failed: %s", _describe(exc))

    # -- dead letters ----------------------------------------------------------------------

    async def dead_letters(self, queue: str, *, limit: int = 10_000) -> list[DeadLetter]:
        """Read ``queue``'s dead-letter queue without consuming it.

        Takes every message with ``basic.get`` (unacked), then gives them all back with one
        ``nack(multiple, requeue)``; a classic queue puts requeued messages back in place.
        """
        connection = self._require_connection()
        channel = await connection.channel(publisher_confirms=False)
        try:
            try:
                dlq = await channel.declare_queue(_dlq_name(queue), passive=True)
            except aiormq.exceptions.ChannelNotFoundEntity:
                return []
            messages: list[AbstractIncomingMessage] = []
            while len(messages) < limit:
                message = await dlq.get(no_ack=False, fail=False, timeout=10)
                if message is None:
                    break
                messages.append(message)
            letters = [self._dead_letter_of(queue, m) for m in messages]
            if messages:
                await messages[-1].nack(multiple=True, requeue=True)
            return letters
        finally:
            await self._close_channel(channel)

    @staticmethod
    def _dead_letter_of(queue: str, message: AbstractIncomingMessage) -> DeadLetter:
        headers = message.headers or {}
        reason = _text(headers.get(REASON_HEADER))
        if reason is None:
            broker_reason = _text(headers.get("x-first-death-reason"))
            deaths = headers.get("x-death")
            if broker_reason is None and isinstance(deaths, list) and deaths:
                first = deaths[0]
                if isinstance(first, Mapping):
                    broker_reason = _text(first.get("reason"))
            reason = f"dead-lettered by the broker: {broker_reason or 'unknown'}"
        try:
            envelope: Envelope | None = Envelope.from_bytes(message.body)
        except Exception:
            envelope = None
        return DeadLetter(queue=queue, body=bytes(message.body), reason=reason, envelope=envelope)

    # -- internals -------------------------------------------------------------------------

    def _require_connection(self) -> AbstractRobustConnection:
        if self._connection is None or self._connection.is_closed:
            raise BusError("not connected to RabbitMQ (call connect() first)")
        return self._connection

    def _require_channel(self) -> AbstractChannel:
        self._require_connection()
        if self._channel is None:
            raise BusError("not connected to RabbitMQ (call connect() first)")
        return self._channel

    def _require_exchange(self) -> AbstractExchange:
        self._require_channel()
        if self._exchange is None:
            raise BusError("not connected to RabbitMQ (call connect() first)")
        return self._exchange

    @staticmethod
    async def _close_channel(channel: AbstractChannel) -> None:
        try:
            if not channel.is_closed:
                await channel.close()
        except Exception as exc:
            log.debug("channel close failed: %s", _describe(exc))

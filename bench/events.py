"""Events benchmark, the email half: run finished → email delivered (SPEC §10: within 2 s p95).

The notifier runs in this process as in standalone (in-memory bus, SQLite in a temp data dir),
with its real email sender talking SMTP over loopback to a real SMTP server (aiosmtpd, in a
thread) that stamps each message with ``time.monotonic()`` when its DATA is accepted.
``--owners`` owners are announced with ``user.registered`` first (the recipients read model).
Then ``--runs`` ``run.finished`` envelopes (default 200, succeeded formal runs with three
datasets, each of another owner so the email tells which run it is) are published at a steady
``--rate`` per second; per run, from just before ``publish`` to the SMTP server accepting its
email. Reported: p50/p95/p99/max and p95 / the 2 s target.

``--rabbitmq`` runs the same over the local RabbitMQ (``FLAGEVAL_TEST_AMQP_URL``, a fresh
exchange and queues, deleted afterwards) with the notifier's tables on the local PostgreSQL
(``FLAGEVAL_TEST_PG_URL``, a schema of its own), as in mesh mode.

    .venv/bin/python bench/events.py [--runs 200] [--rate 20] [--rabbitmq]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform as host
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

TARGET_P95_S = 2.0  # SPEC §10: run finished → leaderboard/email within 2 s p95
SECRET = "e" * 48


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def _run_finished(owner: uuid.UUID, n: int) -> Any:
    from flageval_contracts import new_envelope

    return new_envelope(
        "run.finished",
        {
            "run_id": str(uuid.uuid4()),
            "evaluation_id": str(uuid.uuid4()),
            "owner_id": str(owner),
            "domain": "nlp",
            "kind": "formal",
            "status": "succeeded",
            "evaluation_name": f"bench-model-{n}",
            "version": 1,
            "datasets": [
                {"task": "knowledge", "dataset": d, "status": "succeeded", "metrics": {"acc": a}}
                for d, a in (("mmlu", 0.61), ("ceval", 0.55), ("cmmlu", 0.58))
            ],
            "task_averages": {"knowledge": {"acc": 0.58}},
        },
        producer="eval-api",
    )


@asynccontextmanager
async def notifier(args: argparse.Namespace, data_dir: Path, smtp_url: str) -> AsyncIterator[Any]:
    """``(ctx, bus)`` of a started notifier: standalone-style, or on RabbitMQ + PostgreSQL."""
    from flageval_notifier.config import ServiceSettings
    from flageval_notifier.main import definition
    from flageval_platform.bus import Subscription
    from flageval_platform.bus.base import MessageBus
    from flageval_platform.bus.memory import MemoryBus
    from flageval_platform.db import Database
    from flageval_platform.service import ServiceContext
    from flageval_platform.storage.local import LocalObjectStore
    from flageval_platform.testing import AMQP_URL, PG_URL, unique

    settings = ServiceSettings(data_dir=data_dir, secret_key=SECRET, smtp_url=smtp_url)
    store = LocalObjectStore(
        data_dir / "objects", public_url=settings.effective_public_url, secret_key=SECRET
    )
    bus: MessageBus
    database: Database | None = None
    exchange = unique("bench.events")
    defn = definition
    if args.rabbitmq:
        from flageval_platform.bus.rabbitmq import RabbitMQBus

        bus = RabbitMQBus(AMQP_URL, exchange=exchange, shutdown_grace=1.0)
        database = Database(PG_URL, schema=unique("bench"))
        await database.ensure_schema()
        original = definition.subscriptions

        def prefixed(ctx: ServiceContext) -> Sequence[Subscription]:
            return [dataclasses.replace(s, queue=f"{exchange}.{s.queue}") for s in original(ctx)]

        defn = dataclasses.replace(definition, subscriptions=prefixed)
    else:
        bus = MemoryBus()
    await bus.connect()
    ctx = ServiceContext(
        defn, settings, bus=bus, store=store, owns_infrastructure=False, database=database
    )
    await ctx.start()
    try:
        yield ctx, bus
    finally:
        await ctx.stop()
        if args.rabbitmq:
            await _drop_rabbitmq(bus, exchange, AMQP_URL)
            await _drop_schema(database, PG_URL)
        await bus.close()


async def _drop_rabbitmq(bus: Any, exchange: str, amqp_url: str) -> None:
    import aio_pika

    names = bus.declared_queues()
    await bus.close()
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        for name in names:
            await channel.queue_delete(name)
        await channel.exchange_delete(exchange)
        await channel.exchange_delete(f"{exchange}.dlx")
    finally:
        await connection.close()


async def _drop_schema(database: Any, pg_url: str) -> None:
    from sqlalchemy import text

    from flageval_platform.db import Database

    await database.dispose()
    admin = Database(pg_url)
    async with admin.engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{database.schema}" CASCADE'))
    await admin.dispose()


async def measure(args: argparse.Namespace) -> list[float]:
    from flageval_contracts import new_envelope
    from flageval_notifier.models import Recipient
    from flageval_notifier.testing import SmtpServer
    from flageval_platform.testing import free_port

    server = SmtpServer(free_port())
    server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="flageval-bench-events-") as tmp:
            async with notifier(args, Path(tmp), server.url()) as (ctx, bus):
                owners = [uuid.uuid4() for _ in range(args.runs)]
                for i, owner in enumerate(owners):
                    await bus.publish(
                        new_envelope(
                            "user.registered",
                            {"user_id": str(owner), "email": f"o{i}@bench.local", "username": "o"},
                            producer="gateway",
                        )
                    )
                deadline = time.monotonic() + 60
                while True:  # every owner in the read model before the clock starts
                    async with ctx.db.transaction() as session:
                        from sqlalchemy import func, select

                        known = await session.scalar(select(func.count()).select_from(Recipient))
                    if known == len(owners) or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.05)
                print(f"  publishing {args.runs} run.finished at {args.rate:g}/s …", flush=True)
                published: dict[str, float] = {}
                interval = 1.0 / args.rate
                start = time.monotonic()
                for i, owner in enumerate(owners):
                    delay = start + i * interval - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    envelope = _run_finished(owner, i)
                    published[f"o{i}@bench.local"] = time.monotonic()
                    await bus.publish(envelope)
                await asyncio.to_thread(server.collector.wait_for, args.runs, args.timeout)
                await asyncio.sleep(0.5)  # a duplicate would show up now
    finally:
        server.stop()
    received = {}
    for message, at in zip(server.messages, server.collector.received_at, strict=True):
        to = str(message["To"])
        if to in received:
            raise SystemExit(f"duplicate email to {to}")
        received[to] = at
    missing = sorted(set(published) - set(received))
    if missing:
        raise SystemExit(f"{len(missing)} of {args.runs} emails never arrived (e.g. {missing[0]})")
    return [received[to] - published[to] for to in published]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="run.finished per second")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--rabbitmq", action="store_true", help="RabbitMQ + PostgreSQL (mesh)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    mode = "RabbitMQ + PostgreSQL (mesh-style)" if args.rabbitmq else "in-memory bus + SQLite"
    print(
        f"events benchmark (email): notifier in-process on {mode}, SMTP to aiosmtpd over "
        f"loopback; {os.cpu_count()} CPUs, Python {host.python_version()}",
        flush=True,
    )
    started = time.monotonic()
    latencies = asyncio.run(measure(args))

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.1f}"

    p95 = percentile(latencies, 95)
    print()
    print(f"{'runs':>5}  {'rate/s':>6}  {'p50 ms':>7}  {'p95 ms':>7}  {'p99 ms':>7}  {'max ms':>7}")
    print(
        f"{len(latencies):>5}  {args.rate:>6g}  {ms(statistics.median(latencies)):>7}  "
        f"{ms(p95):>7}  {ms(percentile(latencies, 99)):>7}  {ms(max(latencies)):>7}"
    )
    print()
    met = "met" if p95 < TARGET_P95_S else "NOT met"
    print(
        f"run.finished published → email accepted by the SMTP server p95: {p95:.3f} s "
        f"(target < {TARGET_P95_S:g} s: {met}, ratio {p95 / TARGET_P95_S:.2f}); every email "
        f"arrived exactly once"
    )
    print(f"(wall time {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Scheduler benchmark: run accepted → Kubernetes Job created, and a backlog of queued runs (SPEC §10).

eval-api and the scheduler run in this process as in standalone (``running_platform``: one
in-memory bus, SQLite by default, ``--postgres`` for the local PostgreSQL). The scheduler uses
the real ``KubernetesExecutor`` (its list+watch of Jobs and pods running) against kmock's
stateful fake Kubernetes API server, which runs as a separate process (as an API server would,
so that its CPU is not this event loop's) and is reached over real HTTP on loopback. The fake
stamps each Job with ``time.monotonic()`` (one clock for every process on Linux) the moment it
stores it; the benchmark reads the stamps afterwards, so waiting costs no polling.

1. Latency: ``--latency-runs`` formal runs (default 200, one user whose quota an admin raised
   through ``PUT /api/admin/quotas/{id}``), each of its own evaluation, started one at a time
   with ``POST /api/evaluations/{id}/runs`` (eval-api charges the quota through the scheduler,
   stores the run and publishes ``run.requested``); per run, from the 201 reply to the Job
   being stored in the fake API server. Reported: p50/p95/p99 and p95 / the 1 s target.
2. Backlog: ``--runs`` formal runs (default 1000) are accepted while dispatch is held (the
   engine's capacity is set to 0 until all are queued), then capacity is given back
   (``max_active_jobs`` 2000, so nothing waits for room) and the time until every Job exists
   is measured: Jobs/s, and the per-run time of each hundred (time between the previous
   hundred's last Job and this hundred's last Job, / 100; the first hundred counts from the
   release); the last hundred's / the first hundred's is the slowdown ratio (target ≈ 1).
3. Baseline: the same two measurements with the in-memory executor
   (``flageval_scheduler.executors.memory.MemoryExecutor``, stamped when ``submit`` is called)
   on a fresh platform, so the difference is the Kubernetes API round-trips (and the watch).

    .venv/bin/python bench/scheduler.py [--runs 1000] [--latency-runs 200] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform as host
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

TARGET_P95_S = 1.0  # SPEC §10: run accepted → job created p95 < 1 s
MAX_ACTIVE_JOBS = 2000
QUOTA_LIMIT = 1000  # the most an admin may set (formal runs per month)
SECRET = "b" * 48
NAMESPACE = "flageval-evaluations"


# -- the fake Kubernetes API server (its own process) ------------------------------------------


def serve_kmock() -> None:
    """``--serve-kmock``: kmock's KubernetesEmulator on a free loopback port (printed on
    stdout), with Job-creation stamps at ``GET /bench/created`` and long-polls at
    ``GET /bench/wait?name=JOB`` / ``GET /bench/wait?count=N``."""
    import aiohttp.web
    import kmock
    from kmock._internal.k8s import KubernetesObjectNotFoundError

    jobs = kmock.resource("batch/v1/jobs")
    pods = kmock.resource("v1/pods")
    created: dict[str, float] = {}
    changed = asyncio.Condition()

    class StampingEmulator(kmock.KubernetesEmulator):
        # kmock answers a create or a read by scanning every stored object (O(objects) per
        # request); a Job's key is known, so look it up (what a real API server does).
        async def _serve_create(self, request: Any) -> Any:
            meta = request.data.get("metadata") or {}
            namespace = request.namespace or meta.get("namespace")
            return self.objects[request.resource, namespace, str(meta.get("name"))].raw

        async def _serve_fetch(self, request: Any) -> Any:
            key = (request.resource, request.namespace, request.name)
            if key not in self.objects or self.objects[key].deleted:
                raise KubernetesObjectNotFoundError()
            return self.objects[key].raw

        async def _handle(self, request: Any) -> aiohttp.web.StreamResponse:
            path = request.url.path
            if path == "/bench/created":
                return aiohttp.web.json_response(created)
            if path == "/bench/wait":
                name = request.params.get("name")
                count = int(request.params.get("count") or 0)
                async with changed:
                    await asyncio.wait_for(
                        changed.wait_for(
                            lambda: (name in created) if name else len(created) >= count
                        ),
                        timeout=float(request.params.get("timeout") or 120),
                    )
                return aiohttp.web.json_response(
                    {"at": created.get(name or ""), "count": len(created)}
                )
            try:
                response = await super()._handle(request)
            finally:
                # kmock keeps every request it served and matches each new one against all of
                # them (O(requests) per request); forget this one once it has been answered.
                for i, seen in enumerate(self._requests):
                    if seen is request:
                        del self._requests[i]
                        break
            if (
                request.action == kmock.action.CREATE
                and request.resource == jobs
                and response.status < 300
            ):
                name = (request.data.get("metadata") or {}).get("name")
                if name and name not in created:
                    created[name] = time.monotonic()
                    async with changed:
                        changed.notify_all()
            return response

    async def main() -> None:
        async with StampingEmulator() as emulator, kmock.Server(emulator) as server:
            emulator.resources[jobs] = kmock.ResourceInfo(kind="Job", namespaced=True)
            emulator.resources[pods] = kmock.ResourceInfo(kind="Pod", namespaced=True)
            print(str(server.url).rstrip("/"), flush=True)
            await asyncio.Event().wait()

    asyncio.run(main())


@asynccontextmanager
async def kmock_process() -> AsyncIterator[str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve-kmock", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        url = (await proc.stdout.readline()).decode()
        if not url.startswith("http"):
            raise SystemExit(f"the kmock server did not start: {url!r}")
        yield url.strip()
    finally:
        proc.terminate()
        await proc.wait()


# -- stamping executors ---------------------------------------------------------------------------


class Stamps:
    """When each run's Job came to exist, and a way to wait for one or for a count."""

    async def wait_for(self, run_id: uuid.UUID) -> float:
        raise NotImplementedError

    async def wait_count(self, count: int) -> None:
        raise NotImplementedError

    async def all(self) -> dict[uuid.UUID, float]:
        raise NotImplementedError


class KmockStamps(Stamps):
    def __init__(self, url: str) -> None:
        self.http = httpx.AsyncClient(base_url=url, timeout=180, trust_env=False)

    async def wait_for(self, run_id: uuid.UUID) -> float:
        from flageval_scheduler.executors.manifests import job_name

        reply = await self.http.get("/bench/wait", params={"name": job_name(run_id, 1)})
        reply.raise_for_status()
        return float(reply.json()["at"])

    async def wait_count(self, count: int) -> None:
        (await self.http.get("/bench/wait", params={"count": count})).raise_for_status()

    async def all(self) -> dict[uuid.UUID, float]:
        from flageval_scheduler.executors.manifests import parse_job_name

        stamps: dict[uuid.UUID, float] = {}
        for name, at in (await self.http.get("/bench/created")).json().items():
            parsed = parse_job_name(name)
            if parsed is not None:
                stamps[parsed[0]] = float(at)
        return stamps


def memory_executor() -> tuple[Any, Stamps]:
    from flageval_scheduler.executors.base import JobRequest
    from flageval_scheduler.executors.memory import MemoryExecutor

    submitted: dict[uuid.UUID, float] = {}
    changed = asyncio.Event()

    class StampingMemoryExecutor(MemoryExecutor):
        async def submit(self, job: JobRequest) -> str:
            handle = await super().submit(job)
            submitted.setdefault(job.run_id, time.monotonic())
            changed.set()
            return handle

    class MemoryStamps(Stamps):
        async def _until(self, check: Callable[[], bool]) -> None:
            async with asyncio.timeout(180):
                while not check():
                    changed.clear()
                    await changed.wait()

        async def wait_for(self, run_id: uuid.UUID) -> float:
            await self._until(lambda: run_id in submitted)
            return submitted[run_id]

        async def wait_count(self, count: int) -> None:
            await self._until(lambda: len(submitted) >= count)

        async def all(self) -> dict[uuid.UUID, float]:
            return dict(submitted)

    return StampingMemoryExecutor(), MemoryStamps()


# -- the platform and the user --------------------------------------------------------------------


@dataclass
class Results:
    executor: str
    accept_s: list[float] = field(default_factory=list)  # POST … → 201
    latency_s: list[float] = field(default_factory=list)  # 201 → Job stored
    queued_runs: int = 0
    queue_s: float = 0.0  # accepting the backlog (dispatch held)
    stamps: list[float] = field(default_factory=list)  # backlog Jobs, sorted, from the release
    setup_s: float = 0.0

    @property
    def drain_s(self) -> float:
        return self.stamps[-1]

    def per_run_by_hundred(self) -> list[float]:
        """Seconds per Job within each consecutive hundred of the backlog."""
        out = []
        previous = 0.0
        for end in range(99, len(self.stamps), 100):
            out.append((self.stamps[end] - previous) / 100)
            previous = self.stamps[end]
        return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


async def platform_run(
    name: str,
    executor: Any,
    stamps: Stamps,
    *,
    backend: str,
    latency_runs: int,
    backlog_runs: int,
    workdir: Path,
) -> Results:
    from sqlalchemy import func, select

    from flageval_contracts import new_envelope
    from flageval_contracts.enums import Role, UserStatus
    from flageval_contracts.events import BundleFile, BundleReady, ImageAvailable
    from flageval_eval_api.images.models import AvailableImage
    from flageval_eval_api.main import definition as eval_api
    from flageval_eval_api.runs.models import BundleVersion
    from flageval_platform.bus import Subscription
    from flageval_platform.identity import Identity
    from flageval_platform.testing import running_platform
    from flageval_scheduler.config import ServiceSettings
    from flageval_scheduler.jobs.models import Job
    from flageval_scheduler.main import definition as scheduler

    result = Results(name)
    started = time.monotonic()
    settings = ServiceSettings(
        data_dir=workdir,
        secret_key=SECRET,
        dispatch_interval_seconds=0.05,
        outbox_poll_seconds=0.05,
        max_active_jobs=MAX_ACTIVE_JOBS,
        evaluation_namespace=NAMESPACE,
        log_level="WARNING",
    )
    user = Identity(uuid.uuid4(), "bench", Role.USER, UserStatus.APPROVED)
    admin = Identity(uuid.uuid4(), "root", Role.ADMIN, UserStatus.APPROVED)
    preset = uuid.uuid5(uuid.NAMESPACE_URL, "preset/nlp-serving:1.0")
    async with running_platform(
        {"eval-api": eval_api, "scheduler": scheduler},
        settings,
        backend=backend,
        state={"scheduler": {"executor": executor}},
    ) as platform:
        api, sched = platform["eval-api"], platform["scheduler"]
        engine = sched.ctx.state["engine"]
        headers = api.headers_for(user)

        async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
            deadline = time.monotonic() + 120
            while not await check():
                if time.monotonic() > deadline:
                    raise SystemExit(f"timed out waiting for {what}")
                await asyncio.sleep(0.02)

        # What the services absent here (upload, notifications, …) would consume: without a
        # queue bound, every such event would fail to publish and be retried from the outbox.
        async def ignore(_envelope: Any) -> None:
            return None

        await platform.bus.subscribe(
            Subscription(queue="bench.absent-services", bindings=["evaluation.*"], handler=ignore)
        )

        # The image, the user's quota, and one evaluation with a valid bundle per run.
        await platform.bus.publish(
            new_envelope(
                "image.available",
                ImageAvailable(image_id=preset, name="nlp-serving", tag="1.0", preset=True),
                producer="image-registry",
            )
        )
        reply = await sched.client.put(
            f"/api/admin/quotas/{user.user_id}",
            json={"formal_runs_per_month": QUOTA_LIMIT, "human_evaluations_total": 2},
            headers=sched.headers_for(admin),
        )
        reply.raise_for_status()

        async def image_known() -> bool:
            async with api.ctx.db.transaction() as session:
                return await session.get(AvailableImage, preset) is not None

        await until(image_known, "the preset image")

        total = latency_runs + backlog_runs
        gate = asyncio.Semaphore(8)

        async def evaluation() -> str:
            body = {
                "domain": "nlp",
                "name": f"bench-{uuid.uuid4().hex[:12]}",
                "datasets": ["demo-en-choice", "demo-en-math"],
                "deploy_mode": "private",
                "private": {
                    "image_id": str(preset),
                    "priority": "medium",
                    "card_type": "a100-80g",
                    "gpus": 1,
                },
            }
            async with gate:
                reply = await api.client.post("/api/evaluations", json=body, headers=headers)
            if reply.status_code != 201:
                raise SystemExit(f"creating an evaluation failed: {reply.text}")
            evaluation_id = str(reply.json()["id"])
            await platform.bus.publish(
                new_envelope(
                    "bundle.ready",
                    BundleReady(
                        evaluation_id=uuid.UUID(evaluation_id),
                        owner_id=user.user_id,
                        bundle_id=uuid.uuid4(),
                        version=1,
                        valid=True,
                        problems=[],
                        files=[BundleFile(path="service.py", size_bytes=10, sha256="a" * 64)],
                    ),
                    producer="upload",
                )
            )
            return evaluation_id

        evaluations = list(await asyncio.gather(*(evaluation() for _ in range(total))))

        async def bundles_known() -> bool:
            async with api.ctx.db.transaction() as session:
                n = await session.scalar(select(func.count()).select_from(BundleVersion))
            return (n or 0) >= total

        await until(bundles_known, "the bundles")
        result.setup_s = time.monotonic() - started

        async def start(evaluation_id: str, kind: str) -> tuple[uuid.UUID, float, float]:
            sent = time.monotonic()
            reply = await api.client.post(
                f"/api/evaluations/{evaluation_id}/runs", json={"kind": kind}, headers=headers
            )
            accepted = time.monotonic()
            if reply.status_code != 201:
                raise SystemExit(f"starting a run failed: {reply.status_code} {reply.text}")
            return uuid.UUID(reply.json()["id"]), sent, accepted

        # 1. Latency, one run at a time.
        print(f"  [{name}] latency: {latency_runs} runs one at a time …", flush=True)
        for evaluation_id in evaluations[:latency_runs]:
            run_id, sent, accepted = await start(evaluation_id, "formal")
            created = await stamps.wait_for(run_id)
            result.accept_s.append(accepted - sent)
            result.latency_s.append(created - accepted)

        # 2. Backlog: accept every run while dispatch is held, then release it.
        print(f"  [{name}] backlog: queueing {backlog_runs} runs …", flush=True)
        engine.capacity = 0
        queue_started = time.monotonic()

        async def start_gated(evaluation_id: str) -> uuid.UUID:
            async with gate:
                return (await start(evaluation_id, "validation"))[0]

        backlog = set(await asyncio.gather(*(start_gated(e) for e in evaluations[latency_runs:])))

        async def all_queued() -> bool:
            async with sched.ctx.db.transaction() as session:
                n = await session.scalar(
                    select(func.count()).select_from(Job).where(Job.status == "queued")
                )
            return (n or 0) >= backlog_runs

        await until(all_queued, "the backlog to be queued")
        result.queue_s = time.monotonic() - queue_started
        result.queued_runs = backlog_runs
        print(f"  [{name}] backlog: dispatching …", flush=True)
        released = time.monotonic()
        engine.capacity = MAX_ACTIVE_JOBS
        engine.wake()
        await stamps.wait_count(total)
        every = await stamps.all()
        result.stamps = sorted(every[run] - released for run in backlog)
        if len(result.stamps) != backlog_runs:
            raise SystemExit(f"only {len(result.stamps)} of {backlog_runs} Jobs were created")
        async with sched.ctx.db.transaction() as session:
            failed = await session.scalar(
                select(func.count()).select_from(Job).where(Job.status == "failed")
            )
        if failed:
            raise SystemExit(f"{failed} runs failed to start")
    return result


async def kubernetes_run(args: argparse.Namespace, workdir: Path) -> Results:
    from flageval_scheduler.config import ServiceSettings
    from flageval_scheduler.executors.kubernetes import KubernetesExecutor
    from flageval_scheduler.executors.manifests import KubernetesConfig

    async with kmock_process() as url:
        config = KubernetesConfig.from_settings(
            ServiceSettings(evaluation_namespace=NAMESPACE, secret_key=SECRET)
        )
        executor = KubernetesExecutor(config, host=url, request_timeout=30)
        stamps = KmockStamps(url)
        try:
            return await platform_run(
                "kubernetes (kmock)",
                executor,
                stamps,
                backend=args.backend,
                latency_runs=args.latency_runs,
                backlog_runs=args.runs,
                workdir=workdir / "kubernetes",
            )
        finally:
            await stamps.http.aclose()


async def memory_run(args: argparse.Namespace, workdir: Path) -> Results:
    executor, stamps = memory_executor()
    return await platform_run(
        "memory",
        executor,
        stamps,
        backend=args.backend,
        latency_runs=args.latency_runs,
        backlog_runs=args.runs,
        workdir=workdir / "memory",
    )


# -- report ---------------------------------------------------------------------------------------


def report(k8s: Results, memory: Results, runs: int) -> None:
    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.1f}"

    print()
    print(
        f"{'executor':>18}  {'accept p50 ms':>13}  {'→job p50 ms':>11}  {'p95 ms':>7}  "
        f"{'p99 ms':>7}  {'max ms':>7}  {'queue runs/s':>12}  {'drain s':>7}  {'jobs/s':>7}  "
        f"{'last/first':>10}"
    )
    for r in (k8s, memory):
        hundreds = r.per_run_by_hundred()
        print(
            f"{r.executor:>18}  {ms(statistics.median(r.accept_s)):>13}  "
            f"{ms(statistics.median(r.latency_s)):>11}  {ms(percentile(r.latency_s, 95)):>7}  "
            f"{ms(percentile(r.latency_s, 99)):>7}  {ms(max(r.latency_s)):>7}  "
            f"{r.queued_runs / r.queue_s:>12.0f}  {r.drain_s:>7.2f}  "
            f"{len(r.stamps) / r.drain_s:>7.0f}  {hundreds[-1] / hundreds[0]:>10.2f}"
        )
    print()
    for r in (k8s, memory):
        by_hundred = " ".join(ms(h) for h in r.per_run_by_hundred())
        print(f"{r.executor}: ms per Job, by hundred of the backlog: {by_hundred}")
    print()
    p95 = percentile(k8s.latency_s, 95)
    print(
        f"scheduler accepted→job p95: {p95:.3f} s (target < {TARGET_P95_S:g} s, ratio "
        f"{p95 / TARGET_P95_S:.2f}); p50 {statistics.median(k8s.latency_s):.3f} s, "
        f"p99 {percentile(k8s.latency_s, 99):.3f} s over {len(k8s.latency_s)} runs"
    )
    hundreds = k8s.per_run_by_hundred()
    print(
        f"backlog {runs} runs: {len(k8s.stamps) / k8s.drain_s:.0f} jobs/s, last100/first100 "
        f"per-run time ratio {hundreds[-1] / hundreds[0]:.2f} (target ≈ 1)"
    )
    base = memory.per_run_by_hundred()
    print(
        f"baseline (in-memory executor, no Kubernetes API): accepted→job p95 "
        f"{percentile(memory.latency_s, 95):.3f} s; backlog {runs} runs "
        f"{len(memory.stamps) / memory.drain_s:.0f} jobs/s, last100/first100 ratio "
        f"{base[-1] / base[0]:.2f}"
    )
    share = max(0.0, 1 - memory.drain_s / k8s.drain_s)
    print(
        f"kubernetes / memory backlog drain time: {k8s.drain_s / memory.drain_s:.2f}x "
        f"({k8s.drain_s:.2f} s vs {memory.drain_s:.2f} s): about {share:.0%} of the drain is "
        f"the Kubernetes API round-trips and the watch, the rest the platform's own work"
    )


async def amain(args: argparse.Namespace) -> int:
    print(
        f"scheduler benchmark: eval-api + scheduler in-process on {args.backend}, "
        f"KubernetesExecutor → kmock over loopback HTTP (its own process); "
        f"{os.cpu_count()} CPUs, Python {host.python_version()}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="flageval-bench-scheduler-") as tmp:
        workdir = Path(tmp)
        started = time.monotonic()
        k8s = await kubernetes_run(args, workdir)
        memory = await memory_run(args, workdir)
    report(k8s, memory, args.runs)
    setup = k8s.setup_s + memory.setup_s
    print(f"(wall time {time.monotonic() - started:.0f} s, of which setup {setup:.0f} s)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="backlog size (default 1000)")
    parser.add_argument(
        "--latency-runs", type=int, default=200, help="runs started one at a time (default 200)"
    )
    parser.add_argument(
        "--postgres",
        dest="backend",
        action="store_const",
        const="postgres",
        default="sqlite",
        help="PostgreSQL on 127.0.0.1:5432 (database test) instead of SQLite",
    )
    parser.add_argument("--serve-kmock", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_kmock:
        serve_kmock()
        return 0
    if args.runs < 100 or args.runs % 100:
        parser.error("--runs must be a multiple of 100")
    if not 1 <= args.latency_runs <= QUOTA_LIMIT:
        parser.error(f"--latency-runs must be 1 to {QUOTA_LIMIT} (formal runs, one user's quota)")
    return asyncio.run(amain(args))


if __name__ == "__main__":
    raise SystemExit(main())

"""Mesh mode on one machine: each service its own process, on PostgreSQL, RabbitMQ and S3.

The launcher starts an S3 server (moto) unless ``FLAGEVAL_STORAGE_URL`` names one, creates the
PostgreSQL database if missing, then runs every service as ``flageval service NAME`` on its own
port with the gateway on ``FLAGEVAL_PORT``, and restarts any that dies.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from flageval_launcher.credentials import ensure_admin_credentials
from flageval_launcher.registry import INTERNAL_SERVICES, SERVICE_MODULES
from flageval_platform.settings import Settings

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/flageval"
DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"
FIRST_SERVICE_PORT = 8101
S3_PORT = 8190


def first_service_port() -> int:
    """Internal services listen on consecutive ports from here (``FLAGEVAL_MESH_BASE_PORT``)."""
    return int(os.environ.get("FLAGEVAL_MESH_BASE_PORT", FIRST_SERVICE_PORT))


async def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in ``url`` when it does not exist."""
    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database
    conn = await asyncpg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        database="postgres",
    )
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def start_s3_server(port: int):  # type: ignore[no-untyped-def]
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server


@dataclass
class Child:
    name: str
    port: int
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0


def mesh_environment(settings: Settings, *, s3_endpoint: str | None) -> dict[str, str]:
    """The environment every service process gets (secrets travel here, never on a command line)."""
    env = dict(os.environ)
    database_url = settings.database_url or DEFAULT_DATABASE_URL
    broker_url = (
        DEFAULT_BROKER_URL if settings.broker_url.startswith("memory") else settings.broker_url
    )
    env.update(
        FLAGEVAL_DATABASE_URL=database_url,
        FLAGEVAL_BROKER_URL=broker_url,
        FLAGEVAL_DATA_DIR=str(settings.data_dir.resolve()),
        FLAGEVAL_SECRET_KEY=settings.ensure_secret_key(),
        FLAGEVAL_PUBLIC_URL=settings.effective_public_url,
        FLAGEVAL_SERVICE_URLS=json.dumps(
            {
                name: f"http://127.0.0.1:{first_service_port() + i}"
                for i, name in enumerate(INTERNAL_SERVICES)
            }
        ),
    )
    if settings.admin_email and settings.admin_password:
        env["FLAGEVAL_ADMIN_EMAIL"] = settings.admin_email
        env["FLAGEVAL_ADMIN_PASSWORD"] = settings.admin_password.get_secret_value()
    if s3_endpoint:
        env.update(
            FLAGEVAL_STORAGE_URL="s3://flageval",
            FLAGEVAL_S3_ENDPOINT=s3_endpoint,
            FLAGEVAL_S3_ACCESS_KEY=env.get("FLAGEVAL_S3_ACCESS_KEY", "flageval"),
            FLAGEVAL_S3_SECRET_KEY=env.get("FLAGEVAL_S3_SECRET_KEY", "flageval-local-s3"),
        )
    return env


def run_mesh(settings: Settings) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    admin_line = ensure_admin_credentials(settings)
    asyncio.run(ensure_database(settings.database_url or DEFAULT_DATABASE_URL))
    s3 = None
    s3_endpoint = None
    if settings.storage_url is None:
        s3_port = int(os.environ.get("FLAGEVAL_MESH_S3_PORT", S3_PORT))
        s3 = start_s3_server(s3_port)
        s3_endpoint = f"http://127.0.0.1:{s3_port}"
    env = mesh_environment(settings, s3_endpoint=s3_endpoint)
    children = [
        Child(name, first_service_port() + i) for i, name in enumerate(INTERNAL_SERVICES)
    ] + [Child("gateway", settings.port)]

    stopping = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    def spawn(child: Child) -> None:
        child_env = dict(env, FLAGEVAL_PORT=str(child.port))
        child.process = subprocess.Popen(
            [sys.executable, "-m", "flageval_launcher", "service", child.name],
            env=child_env,
        )
        child.started_at = time.monotonic()

    for child in children:
        spawn(child)
    print(
        f"FlagEval mesh: gateway on {settings.effective_public_url} "
        f"({len(SERVICE_MODULES)} services, PostgreSQL, RabbitMQ, "
        f"{'S3 at ' + s3_endpoint if s3_endpoint else settings.storage_url})\n{admin_line}",
        flush=True,
    )
    try:
        while not stopping:
            for child in children:
                assert child.process is not None
                code = child.process.poll()
                if code is not None and not stopping:
                    # Back off when a service keeps dying right after it starts.
                    quick = time.monotonic() - child.started_at < 5
                    child.restarts += 1
                    print(f"service {child.name} exited with {code}; restarting", flush=True)
                    if quick:
                        time.sleep(min(10, child.restarts))
                    spawn(child)
            time.sleep(0.5)
    finally:
        for child in children:
            if child.process and child.process.poll() is None:
                child.process.terminate()
        deadline = time.monotonic() + 15
        for child in children:
            if child.process:
                try:
                    child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.process.kill()
        if s3 is not None:
            s3.stop()
    return 0

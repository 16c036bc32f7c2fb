"""``flageval up | mesh | service NAME | migrate`` — how the platform is started."""

from __future__ import annotations

import argparse
import asyncio
import importlib

import uvicorn

from flageval_launcher.credentials import ensure_admin_credentials
from flageval_launcher.registry import SERVICE_MODULES, definition
from flageval_platform.logging import configure_logging
from flageval_platform.settings import Settings


def cmd_up(settings: Settings) -> int:
    from flageval_launcher.standalone import Standalone

    admin_line = ensure_admin_credentials(settings)
    platform = Standalone(settings)
    print(
        f"FlagEval standalone: {settings.effective_public_url}  "
        f"(data in {settings.data_dir.resolve()})\n{admin_line}",
        flush=True,
    )
    uvicorn.run(
        platform,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    return 0


def cmd_service(settings: Settings, name: str) -> int:
    module = importlib.import_module(SERVICE_MODULES[name])
    app = module.create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
    return 0


def cmd_migrate(settings: Settings) -> int:
    """Run every service's migrations (for deployments that migrate in a separate step)."""
    from flageval_platform import migrations
    from flageval_platform.db import Database
    from flageval_platform.settings import schema_name

    async def run() -> None:
        for name in SERVICE_MODULES:
            db = Database(settings.database_url_for(name), schema=schema_name(name))
            try:
                await migrations.upgrade(db, definition(name).migrations)
            finally:
                await db.dispose()
            print(f"migrated {name}", flush=True)

    asyncio.run(run())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flageval", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="every service in one process (SQLite, in-memory bus, local store)")
    sub.add_parser("mesh", help="one process per service on PostgreSQL, RabbitMQ and S3")
    service = sub.add_parser("service", help="run one service (mesh and Kubernetes use this)")
    service.add_argument("name", choices=sorted(SERVICE_MODULES))
    sub.add_parser("migrate", help="run every service's database migrations")
    args = parser.parse_args(argv)

    settings = Settings()
    configure_logging(settings.log_level, json_logs=settings.log_json)
    if args.command == "up":
        return cmd_up(settings)
    if args.command == "mesh":
        from flageval_launcher.mesh import run_mesh

        return run_mesh(settings)
    if args.command == "service":
        return cmd_service(settings, args.name)
    return cmd_migrate(settings)


if __name__ == "__main__":
    raise SystemExit(main())

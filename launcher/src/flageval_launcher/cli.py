"""``flageval up | mesh | service NAME | migrate`` — how the platform is started.

Every command first makes what the platform writes private to its user: umask 0o077, and a
data directory of mode 0700. The SQLite files, the object store, run folders
and their logs, the secret key and the admin's password then come out 0600/0700, and the
service processes the mesh starts (and the runners they start) inherit the umask. A data
directory owned by another user (a Kubernetes volume) keeps its mode; what is created in it is
private all the same.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import stat

from flageval_launcher.credentials import ensure_admin_credentials
from flageval_launcher.registry import SERVICE_MODULES, definition
from flageval_launcher.server import serve
from flageval_platform.logging import configure_logging
from flageval_platform.settings import Settings

log = logging.getLogger(__name__)

#: Files the platform creates are readable and writable by its own user only.
PRIVATE_UMASK = 0o077


def make_data_private(settings: Settings) -> None:
    """Set the umask and create the data directory 0700 (tightening one this user owns)."""
    os.umask(PRIVATE_UMASK)
    data_dir = settings.data_dir
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = data_dir.stat()
        if stat.S_IMODE(info.st_mode) & 0o077 and info.st_uid == os.getuid():
            data_dir.chmod(0o700)
    except OSError as exc:
        # A read-only root filesystem (Kubernetes, on PostgreSQL and S3) may need no data
        # directory at all; whatever does need one fails with its own error.
        log.info(
            "the data directory cannot be prepared",
            extra={"data_dir": str(data_dir), "error": type(exc).__name__},
        )


def cmd_up(settings: Settings) -> int:
    from flageval_launcher.standalone import Standalone

    admin_line = ensure_admin_credentials(settings)
    platform = Standalone(settings)
    print(
        f"FlagEval standalone: {settings.effective_public_url}  "
        f"(data in {settings.data_dir.resolve()})\n{admin_line}",
        flush=True,
    )
    return serve(platform, settings, lifespan="on")


def cmd_service(settings: Settings, name: str) -> int:
    module = importlib.import_module(SERVICE_MODULES[name])
    app = module.create_app(settings)
    return serve(app, settings)


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
    make_data_private(settings)  # every command may create files there (migrate: SQLite)
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

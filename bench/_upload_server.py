"""Helper of ``bench/upload.py`` (not a benchmark itself: ``make bench`` skips ``_*.py``).

Serves the standalone platform (every service in this one process, configured by the
``FLAGEVAL_*`` environment like ``flageval up``) so the benchmark can measure this process's
memory. Eval-api does not create evaluations yet, so the benchmark hands this process the
``evaluation.created`` payloads it should publish on the platform's in-memory bus, one JSON
object a line on stdin; each is answered on stdout with ``published`` or ``error: …``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading

import uvicorn

from flageval_contracts import new_envelope
from flageval_launcher.standalone import Standalone
from flageval_platform.settings import Settings


def _publisher(platform: Standalone, loop: asyncio.AbstractEventLoop) -> None:
    for line in sys.stdin:
        try:
            envelope = new_envelope("evaluation.created", json.loads(line), producer="eval-api")
            asyncio.run_coroutine_threadsafe(platform.bus.publish(envelope), loop).result(30)
        except Exception as exc:  # report and go on: the benchmark retries
            print(f"error: {type(exc).__name__}: {exc}", flush=True)
        else:
            print("published", flush=True)


async def main() -> None:
    settings = Settings()
    platform = Standalone(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            platform,
            host=settings.host,
            port=settings.port,
            lifespan="on",
            log_config=None,
            access_log=False,
        )
    )
    threading.Thread(
        target=_publisher, args=(platform, asyncio.get_running_loop()), daemon=True
    ).start()
    await server.serve()


if __name__ == "__main__":
    asyncio.run(main())

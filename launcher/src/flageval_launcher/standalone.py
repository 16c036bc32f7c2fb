"""Standalone mode: every service in one process, sharing one bus and one object store.

The services are the same objects as in the mesh; only the wiring differs. Each keeps its own
database (one SQLite file per service by default), runs its own migrations and outbox relay,
and the gateway hands requests to the other services' apps in-process instead of over HTTP.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from flageval_gateway.main import build_gateway_app
from flageval_gateway.routing import InProcessBackend
from flageval_launcher.registry import INTERNAL_SERVICES, definition
from flageval_platform.bus import MessageBus, create_bus
from flageval_platform.service import ServiceContext, build_app
from flageval_platform.settings import Settings
from flageval_platform.storage import ObjectStore, create_store

log = logging.getLogger(__name__)


@dataclass
class Standalone:
    """The composed platform: ``app`` is the ASGI app to serve."""

    settings: Settings
    bus: MessageBus = field(init=False)
    store: ObjectStore = field(init=False)
    contexts: dict[str, ServiceContext] = field(init=False)
    gateway: FastAPI = field(init=False)

    def __post_init__(self) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.settings.ensure_secret_key()
        self.bus = create_bus(self.settings.broker_url)
        self.store = create_store(self.settings)
        self.contexts = {
            name: ServiceContext(
                definition(name),
                self.settings,
                bus=self.bus,
                store=self.store,
                owns_infrastructure=False,
            )
            for name in ["gateway", *INTERNAL_SERVICES]
        }
        backends = {}
        for name in INTERNAL_SERVICES:
            ctx = self.contexts[name]
            backends[name] = InProcessBackend(build_app(ctx, manage_lifecycle=False), ctx.readiness)
        # Services call each other in-process too (eval-api → scheduler for quota charges).
        for ctx in self.contexts.values():
            for name, backend in backends.items():
                ctx.peers.register_app(name, backend.app)
        self.gateway = build_gateway_app(self.contexts["gateway"], backends, manage_lifecycle=False)

    async def start(self) -> None:
        await self.bus.connect()
        started: list[ServiceContext] = []
        try:
            # Internal services first, so the gateway never routes to one that is not ready.
            for name in [*INTERNAL_SERVICES, "gateway"]:
                await self.contexts[name].start()
                started.append(self.contexts[name])
        except BaseException:
            for ctx in reversed(started):
                await ctx.stop()
            await self.bus.close()
            raise

    async def stop(self) -> None:
        for name in ["gateway", *reversed(INTERNAL_SERVICES)]:
            ctx = self.contexts[name]
            if ctx.started:
                try:
                    await ctx.stop()
                except Exception:
                    log.exception("stopping a service failed", extra={"service_name": name})
        await self.bus.close()
        await self.store.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point: owns the lifespan of all services, forwards HTTP to the gateway."""
        if scope["type"] != "lifespan":
            await self.gateway(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:
                    log.exception("platform failed to start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

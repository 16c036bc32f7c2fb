"""App factory and consumers of the notifier service."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from flageval_notifier.api import notifications
from flageval_notifier.config import ServiceSettings, notifier_settings
from flageval_notifier.emails.sender import EmailSender
from flageval_notifier.models import messaging, metadata
from flageval_notifier.notifications.service import RenderContext, record_event
from flageval_platform.bus import Subscription
from flageval_platform.service import ServiceContext, ServiceDefinition, app_factory


def email_sender(ctx: ServiceContext) -> EmailSender:
    """The context's email sender (one per service context, made on first use)."""
    sender = ctx.state.get("email_sender")
    if sender is None:
        sender = ctx.state["email_sender"] = EmailSender(ctx.db, notifier_settings(ctx.settings))
    assert isinstance(sender, EmailSender)
    return sender


def consumers(ctx: ServiceContext) -> list[Subscription]:
    """The notifier hears the events worth telling a person about (reviews, uploads, images,
    finished runs)."""
    handler = partial(
        record_event,
        on_email=email_sender(ctx).wake_after,
        context=RenderContext(public_url=ctx.settings.effective_public_url),
    )

    def subscription(queue: str, bindings: list[str]) -> Subscription:
        return Subscription(
            queue=queue,
            bindings=bindings,
            handler=ctx.messaging.idempotent(ctx.db, queue, handler),
        )

    return [
        subscription("notifier.user-events", ["user.#"]),
        subscription("notifier.bundle-events", ["bundle.ready"]),
        subscription("notifier.image-events", ["image.reviewed", "image.imported"]),
        subscription("notifier.run-events", ["run.finished"]),
    ]


async def start_email_sender(ctx: ServiceContext) -> None:
    email_sender(ctx).start()


async def stop_email_sender(ctx: ServiceContext) -> None:
    await email_sender(ctx).stop()


definition = ServiceDefinition(
    name="notifier",
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    routers=lambda ctx: [notifications.router(ctx)],
    subscriptions=consumers,
    startup=[start_email_sender],
    shutdown=[stop_email_sender],
)

create_app = app_factory(definition, ServiceSettings)

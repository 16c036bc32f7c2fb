"""Settings of the notifier service (the shared FLAGEVAL_* variables; overrides go here)."""

from __future__ import annotations

from pydantic import Field

from flageval_platform.settings import Settings


class ServiceSettings(Settings):
    #: ``From:`` of every email (``FLAGEVAL_SMTP_FROM``). The server is ``FLAGEVAL_SMTP_URL``.
    smtp_from: str = "FlagEval <noreply@flageval.local>"
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    #: Tries per email before it is marked ``failed`` (transient SMTP replies such as 4xx). Tries
    #: that found the SMTP server unreachable do not count: that mail waits for the server.
    email_max_attempts: int = Field(default=5, ge=1)
    #: First backoff after a transient failure; doubled per try, capped at
    #: ``email_retry_max_seconds``.
    email_retry_seconds: float = Field(default=5.0, gt=0)
    #: Longest backoff; also the longest a mail waits after an SMTP outage ends.
    email_retry_max_seconds: float = Field(default=60.0, gt=0)
    #: How often the sender looks for due emails when nothing woke it.
    email_poll_seconds: float = Field(default=2.0, gt=0)
    email_concurrency: int = Field(
        default=4, ge=1, le=32, description="Emails sent at once (each its own SMTP dialogue)."
    )
    #: A row still ``sending`` this long after its claim belongs to a sender that died mid-send:
    #: it is marked ``failed``, never resent (delivery unknown; at most once beats at least once).
    email_sending_stale_seconds: float = Field(default=120.0, ge=0)


def notifier_settings(settings: Settings) -> ServiceSettings:
    """The notifier's settings from whatever the deployment passed (standalone passes the
    shared :class:`Settings`; notifier-only variables then come from the environment)."""
    if isinstance(settings, ServiceSettings):
        return settings
    return ServiceSettings(**dict(settings))

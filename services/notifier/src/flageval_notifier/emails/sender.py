"""Sends the ``emails`` rows the consumers wrote, at most once each.

Why at most once: SPEC §8 wants one email per event even when messages are redelivered, and
§10 no duplicate email after a kill -9. The consumer writes the row (``event_id`` unique) in the
inbox transaction, so redeliveries never add a second one. The sender then:

1. claims a due ``pending`` row and marks it ``sending`` (``attempts + 1``) in its own committed
   transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so replicas never claim the same row;
   on SQLite the single connection serialises the claim);
2. talks SMTP outside any transaction;
3. marks it ``sent``, or back to ``pending`` with a backoff after a failure that delivered
   nothing, or ``failed`` after ``email_max_attempts`` / a permanent refusal / a connection lost
   during DATA (delivery unknown).

While the SMTP server cannot be reached, nothing is lost: such tries do not count towards
``email_max_attempts``, the row goes back to ``pending``, and the whole sender pauses (backoff
doubling up to ``email_retry_max_seconds``) so that one probe at a time, not every waiting mail,
knocks on the closed door. The first mail that goes through ends the pause and makes every mail
held back by the outage due at once.

A process killed between 1 and 3 leaves the row ``sending``. Nobody knows whether the server took
the message, so once it is older than ``email_sending_stale_seconds`` it is marked ``failed`` with
that explanation instead of being resent: a possibly lost email is preferred to a duplicate one.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from flageval_notifier.config import ServiceSettings
from flageval_notifier.emails import render, smtp
from flageval_notifier.models import (
    EMAIL_FAILED,
    EMAIL_PENDING,
    EMAIL_SENDING,
    EMAIL_SENT,
    Email,
)
from flageval_platform.db import Database

log = logging.getLogger(__name__)

UNAVAILABLE_PREFIX = f"{smtp.ServerUnavailableError.__name__}:"
STALE_SENDING_ERROR = (
    "interrupted while sending (the sender stopped after claiming it); delivery unknown, "
    "not resent so that no one gets this email twice"
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class EmailSender:
    """The background task of one notifier process that delivers owed emails."""

    def __init__(self, db: Database, settings: ServiceSettings) -> None:
        self.db = db
        self.settings = settings
        self.from_address = settings.smtp_from
        self.config: smtp.SmtpConfig | None = None
        if settings.smtp_url is not None and settings.smtp_url.get_secret_value().strip():
            try:
                self.config = smtp.parse_smtp_url(
                    settings.smtp_url.get_secret_value(), timeout=settings.smtp_timeout_seconds
                )
            except ValueError as exc:  # the message never contains the URL
                log.error("email disabled: %s", exc)
        self._wake = asyncio.Event()
        #: Consecutive tries that found the server unreachable, and the pause they ordered.
        self._outage_failures = 0
        self._paused_until = 0.0
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is not None:
            return
        self._stopping = False
        if self.config is None:
            log.info("SMTP is not configured (FLAGEVAL_SMTP_URL unset): emails are kept, not sent")
            return
        log.info("email sender started", extra={"smtp": self.config.safe_description})
        self._task = asyncio.create_task(self.run(), name="notifier-email-sender")

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Let a send in flight finish (so it is not left ``sending``), then stop."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=grace_seconds)
        except TimeoutError:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        except asyncio.CancelledError:
            self._task.cancel()
            raise
        finally:
            self._task = None

    def wake(self) -> None:
        self._wake.set()

    def wake_after(self, session: AsyncSession) -> None:
        """Wake the sender once ``session``'s transaction commits (the row is then visible)."""
        from sqlalchemy import event

        def _after_commit(_session: object) -> None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            loop.call_soon(self._wake.set)

        event.listen(session.sync_session, "after_commit", _after_commit, once=True)

    async def run(self) -> None:
        while not self._stopping:
            # Cleared before the round, not after: a wake-up (a row committed) during the
            # round then starts another round at once instead of waiting for the poll.
            self._wake.clear()
            try:
                await self.fail_stale_sending()
                # A few sends at once: each waits ~50 ms on the SMTP dialogue, so one at a
                # time caps delivery near 20/s. Claims are exclusive (a row is ``sending``
                # once claimed), so no email goes out twice.
                await asyncio.gather(
                    *(self._drain() for _ in range(self.settings.email_concurrency))
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("email sender round failed")
            if self._stopping:
                return
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.email_poll_seconds)
            except TimeoutError:
                pass

    async def _drain(self) -> None:
        while not self._stopping and await self.send_one():
            pass

    # -- one step at a time --------------------------------------------------------------------

    async def fail_stale_sending(self) -> int:
        """Mark rows left ``sending`` by a dead sender ``failed`` (never resend them)."""
        cutoff = _utcnow() - timedelta(seconds=self.settings.email_sending_stale_seconds)
        async with self.db.transaction() as session:
            result = await session.execute(
                update(Email)
                .where(Email.status == EMAIL_SENDING, Email.claimed_at <= cutoff)
                .values(status=EMAIL_FAILED, last_error=STALE_SENDING_ERROR)
                .execution_options(synchronize_session=False)
            )
        count = int(getattr(result, "rowcount", 0) or 0)
        if count:
            log.warning("emails interrupted mid-send marked failed", extra={"count": count})
        return count

    async def _claim(self) -> Email | None:
        now = _utcnow()
        async with self.db.transaction() as session:
            query = (
                select(Email)
                .where(
                    Email.status == EMAIL_PENDING,
                    (Email.next_attempt_at.is_(None)) | (Email.next_attempt_at <= now),
                )
                .order_by(Email.created_at)
                .limit(1)
            )
            if not self.db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            row = await session.scalar(query)
            if row is None:
                return None
            row.status = EMAIL_SENDING
            row.attempts += 1
            row.claimed_at = now
        return row  # committed: a crash from here on leaves it ``sending``

    async def send_one(self) -> bool:
        """Claim and send one due email; return whether there was one (and whether to go on)."""
        assert self.config is not None
        if asyncio.get_running_loop().time() < self._paused_until:
            return False  # the SMTP server is down: only the next probe tries it
        row = await self._claim()
        if row is None:
            return False
        message = self.build_message(row)
        try:
            await asyncio.to_thread(
                smtp.send,
                self.config,
                message,
                from_address=parseaddr(self.from_address)[1] or self.from_address,
                to=row.to_address,
            )
        except smtp.ServerUnavailableError as exc:
            await self._unavailable(row, exc)
            return False
        except smtp.SmtpError as exc:
            await self._failed(row, exc)
        except Exception as exc:  # a bug or an unexpected library error: keep the row safe
            await self._failed(row, smtp.UnknownDeliveryError(f"{type(exc).__name__}"))
        else:
            await self._finish(row.id, status=EMAIL_SENT, sent_at=_utcnow(), last_error=None)
            log.info("email sent", extra={"email_id": str(row.id), "event_id": str(row.event_id)})
            if self._outage_failures:
                await self._outage_over()
        return True

    def _backoff(self, failures: int) -> float:
        return min(
            self.settings.email_retry_seconds * 2 ** (failures - 1),
            self.settings.email_retry_max_seconds,
        )

    async def _unavailable(self, row: Email, exc: smtp.SmtpError) -> None:
        """The server is unreachable: the mail waits (not counted as a try), the sender pauses."""
        self._outage_failures += 1
        delay = self._backoff(self._outage_failures)
        self._paused_until = asyncio.get_running_loop().time() + delay
        error = f"{type(exc).__name__}: {exc}"[:2000]
        await self._finish(
            row.id,
            status=EMAIL_PENDING,
            attempts=max(row.attempts - 1, 0),
            last_error=error,
            next_attempt_at=_utcnow() + timedelta(seconds=delay),
        )
        log.warning(
            "SMTP server unreachable; emails wait for it",
            extra={
                "email_id": str(row.id),
                "error": error,
                "retry_in_s": delay,
                "outage_tries": self._outage_failures,
            },
        )

    async def _outage_over(self) -> None:
        """The server is back: every mail held back by the outage is due now."""
        self._outage_failures = 0
        self._paused_until = 0.0
        async with self.db.transaction() as session:
            await session.execute(
                update(Email)
                .where(
                    and_(
                        Email.status == EMAIL_PENDING,
                        Email.last_error.startswith(UNAVAILABLE_PREFIX, autoescape=True),
                    )
                )
                .values(next_attempt_at=None)
                .execution_options(synchronize_session=False)
            )
        log.info("SMTP server reachable again; sending the emails that waited")

    async def _failed(self, row: Email, exc: smtp.SmtpError) -> None:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        retry = (
            isinstance(exc, smtp.TransientSmtpError)
            and row.attempts < self.settings.email_max_attempts
        )
        extra = {
            "email_id": str(row.id),
            "event_id": str(row.event_id),
            "attempts": row.attempts,
            "error": error,
        }
        if retry:
            delay = self._backoff(row.attempts)
            await self._finish(
                row.id,
                status=EMAIL_PENDING,
                last_error=error,
                next_attempt_at=_utcnow() + timedelta(seconds=delay),
            )
            log.warning("email not sent, will retry", extra={**extra, "retry_in_s": delay})
        else:
            await self._finish(row.id, status=EMAIL_FAILED, last_error=error)
            log.error("email failed", extra=extra)

    async def _finish(self, email_id: uuid.UUID, **values: object) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                update(Email)
                .where(Email.id == email_id, Email.status == EMAIL_SENDING)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    def build_message(self, row: Email) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.from_address
        message["To"] = row.to_address
        message["Subject"] = row.subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        # Stable per row: a mail system that sees it twice can tell it is the same message.
        domain = parseaddr(self.from_address)[1].rpartition("@")[2] or "flageval.local"
        message["Message-ID"] = f"<{row.id}@{domain}>"
        # Both parts, always (multipart/alternative): text first, HTML preferred by mail readers.
        message.set_content(row.body)
        html = row.html_body or render.document(row.subject, render.paragraphs(row.body))
        message.add_alternative(html, subtype="html")
        return message

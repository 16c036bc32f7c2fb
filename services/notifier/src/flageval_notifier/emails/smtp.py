"""SMTP delivery of one message (stdlib ``smtplib``, run in a worker thread).

``FLAGEVAL_SMTP_URL``: ``smtp://[user:pass@]host[:port][?starttls=1]`` or ``smtps://…`` (implicit
TLS). The password never appears in ``repr``, logs or errors raised from here.

Failures are classified so the sender can keep "at most one email per event":

* :class:`TransientSmtpError`: nothing was delivered (4xx reply, …): retry, a few times.
* :class:`ServerUnavailableError` (a transient error): the server could not be reached or the
  connection broke before the message went out: the mail waits for the server, however long.
* :class:`PermanentSmtpError`: nothing was delivered and retrying will not help (5xx reply).
* :class:`UnknownDeliveryError`: the connection broke after the message body was sent; the
  server may have accepted it, so it must not be sent again.
"""

from __future__ import annotations

import functools
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit


class SmtpError(Exception):
    """Sending failed; ``str()`` is safe to log and store (no credentials)."""


class TransientSmtpError(SmtpError):
    pass


class ServerUnavailableError(TransientSmtpError):
    pass


class PermanentSmtpError(SmtpError):
    pass


class UnknownDeliveryError(SmtpError):
    pass


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    tls: bool = False  # smtps: TLS from the first byte
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0

    @property
    def safe_description(self) -> str:
        """Where mail goes, for logs: scheme, host and port, never credentials."""
        scheme = "smtps" if self.tls else "smtp"
        extra = "+starttls" if self.starttls else ""
        auth = " (authenticated)" if self.username else ""
        return f"{scheme}{extra}://{self.host}:{self.port}{auth}"


_TRUE = {"1", "true", "yes", "on"}


def parse_smtp_url(url: str, *, timeout: float = 30.0) -> SmtpConfig:
    """Parse ``FLAGEVAL_SMTP_URL``. Errors say what is wrong without echoing the URL."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise ValueError("FLAGEVAL_SMTP_URL must start with smtp:// or smtps://")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError("FLAGEVAL_SMTP_URL has an invalid port") from exc
    if not parts.hostname:
        raise ValueError("FLAGEVAL_SMTP_URL has no host")
    query = parse_qs(parts.query)
    starttls = any(v.lower() in _TRUE for v in query.get("starttls", []))
    tls = scheme == "smtps"
    if tls and starttls:
        raise ValueError("FLAGEVAL_SMTP_URL: smtps:// is TLS already; drop ?starttls")
    return SmtpConfig(
        host=parts.hostname,
        port=port or (465 if tls else 25),
        tls=tls,
        starttls=starttls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        timeout=timeout,
    )


def _classify(code: int, what: str) -> SmtpError:
    if 400 <= code < 500:
        return TransientSmtpError(f"{what} refused with {code}")
    return PermanentSmtpError(f"{what} refused with {code}")


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every send: making one loads the CA store (~50 ms)."""
    return ssl.create_default_context()


def send(config: SmtpConfig, message: EmailMessage, *, from_address: str, to: str) -> None:
    """Deliver ``message`` to ``to`` (blocking; call it in a thread)."""
    context = _tls_context() if config.tls or config.starttls else None
    client: smtplib.SMTP
    try:
        if config.tls:
            client = smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout, context=context
            )
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
    except (OSError, smtplib.SMTPException) as exc:
        raise ServerUnavailableError(f"cannot connect: {type(exc).__name__}: {exc}") from None
    try:
        _deliver(client, config, context, message, from_address=from_address, to=to)
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()


def _deliver(
    client: smtplib.SMTP,
    config: SmtpConfig,
    context: ssl.SSLContext | None,
    message: EmailMessage,
    *,
    from_address: str,
    to: str,
) -> None:
    # Everything before DATA delivers nothing: any failure there is safe to retry.
    try:
        client.ehlo()
        if config.starttls:
            client.starttls(context=context)
            client.ehlo()
        if config.username:
            try:
                client.login(config.username, config.password or "")
            except smtplib.SMTPAuthenticationError as exc:
                # The server's reply only; smtplib never puts the password in it.
                raise TransientSmtpError(f"SMTP authentication failed ({exc.smtp_code})") from None
        code, _ = client.mail(from_address)
        if code != 250:
            raise _classify(code, "MAIL FROM")
        code, _ = client.rcpt(to)
        if code not in (250, 251):
            raise _classify(code, "RCPT TO")
    except SmtpError:
        raise
    except smtplib.SMTPResponseException as exc:
        raise _classify(exc.smtp_code, "the SMTP server") from None
    except (OSError, smtplib.SMTPServerDisconnected) as exc:
        raise ServerUnavailableError(f"{type(exc).__name__}: {exc}") from None
    except smtplib.SMTPException as exc:
        raise TransientSmtpError(f"{type(exc).__name__}: {exc}") from None
    # DATA: a reply is definite (accepted, or refused: nothing delivered); a broken connection
    # after the body went out leaves delivery unknown.
    try:
        # CRLF line ends, as SMTP requires: smtplib sends bytes as given, and servers refuse
        # (or mangle) bare LFs; aiosmtpd reads such a message as one over-long line.
        code, _ = client.data(message.as_bytes(policy=message.policy.clone(linesep="\r\n")))
    except smtplib.SMTPResponseException as exc:
        raise _classify(exc.smtp_code, "DATA") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise UnknownDeliveryError(
            f"connection lost during DATA ({type(exc).__name__}); delivery unknown"
        ) from None
    if code != 250:
        raise _classify(code, "DATA")

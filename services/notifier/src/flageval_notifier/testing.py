"""A real SMTP server for tests and benchmarks (aiosmtpd, a dev dependency, in a thread).

It keeps every message it accepts with the ``time.monotonic()`` of its arrival, can refuse
recipients on demand (``rcpt_reply``), and can be stopped and started again on the same port
(an SMTP outage).
"""

from __future__ import annotations

import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote


class Collector:
    """aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        #: ``time.monotonic()`` when each message's DATA was accepted.
        self.received_at: list[float] = []
        #: A reply such as ``"451 try later"`` refuses every recipient with it; ``None``: accept.
        self.rcpt_reply: str | None = None
        self.changed = threading.Condition()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.changed:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.received_at.append(time.monotonic())
            self.changed.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float) -> bool:
        """Block until ``count`` messages arrived (``False`` after ``timeout`` seconds)."""
        with self.changed:
            return self.changed.wait_for(lambda: len(self.messages) >= count, timeout)


class SmtpServer:
    """An SMTP server on ``127.0.0.1:port``; with ``user`` it requires AUTH LOGIN/PLAIN."""

    def __init__(self, port: int, *, user: str | None = None, password: str = "") -> None:
        self.port = port
        self.user = user
        self.password = password
        self.collector = Collector()
        self.controller: Any = None

    def url(self, password: str | None = None) -> str:
        """The ``FLAGEVAL_SMTP_URL`` for this server (``password`` overrides the right one)."""
        if self.user is None:
            return f"smtp://127.0.0.1:{self.port}"
        secret = quote(self.password if password is None else password, safe="")
        return f"smtp://{quote(self.user, safe='')}:{secret}@127.0.0.1:{self.port}"

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = (
            isinstance(auth_data, LoginPassword)
            and self.user is not None
            and auth_data.login == self.user.encode()
            and auth_data.password == self.password.encode()
        )
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        kwargs: dict[str, Any] = {}
        if self.user is not None:
            kwargs = {"authenticator": self._authenticate, "auth_require_tls": False}
        self.controller = Controller(self.collector, hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        return self.collector.messages

"""A real SMTP server for tests (aiosmtpd in its own thread), with optional STARTTLS, implicit TLS and AUTH."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Mailbox:
    """What the server received: parsed messages, with the envelope and the login used."""

    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content, policy=policy.default))  # type: ignore[arg-type]
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


@dataclass
class Credentials:
    username: str
    password: str

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        return AuthResult(success=ok, handled=False)


@dataclass
class LocalCA:
    ca: trustme.CA = field(default_factory=trustme.CA)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


@contextmanager
def smtp_server(
    port: int | None = None,
    *,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    credentials: Credentials | None = None,
) -> Iterator[tuple[Mailbox, int]]:
    """Serve on 127.0.0.1:port (a free one by default) until the block ends."""
    mailbox = Mailbox()
    port = port or free_port()
    kwargs: dict[str, Any] = {}
    if starttls is not None:
        kwargs.update(tls_context=starttls, require_starttls=True)
    if credentials is not None:
        # aiosmtpd only counts STARTTLS as TLS for AUTH; an implicit-TLS connection is encrypted already
        # (and aiosmtpd warns when AUTH is required without its TLS, so there it is offered, not required)
        required = starttls is not None
        kwargs.update(authenticator=credentials, auth_required=required, auth_require_tls=required)
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        ssl_context=implicit_tls,
        server_hostname="localhost" if implicit_tls else None,
        **kwargs,
    )
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()

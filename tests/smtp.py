"""A real SMTP server for tests (aiosmtpd in its own thread), with optional STARTTLS, implicit TLS and AUTH."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@contextmanager
def refusing_port() -> Iterator[socket.socket]:
    """A loopback port bound but not listening: connections are refused until ``smtp_server(sock)``
    serves on it, and no other process can take it in between (the socket stays ours)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock


@dataclass
class Mailbox:
    """What the server received: parsed messages, with the envelope and the login used."""

    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content, policy=policy.default))
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


class _Controller(Controller):
    """aiosmtpd's Controller, listening on a socket of ours or on port 0: the kernel picks the port and the
    server reports it, so no free-port guess can be taken by another process before the server binds."""

    def __init__(self, handler: Any, sock: socket.socket | None, **kwargs: Any) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=0, **kwargs)
        self._sock = sock

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        if self._sock is None:
            return super()._create_server()
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)  # bound by now: aiosmtpd probes the port it listens on
        self.port = int(self.server.sockets[0].getsockname()[1])
        super()._trigger_server()  # type: ignore[no-untyped-call]


def bodies(message: EmailMessage) -> tuple[str, str]:
    """The plain-text and the HTML body of a multipart/alternative email."""
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


@contextmanager
def smtp_server(
    sock: socket.socket | None = None,
    *,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    credentials: Credentials | None = None,
) -> Iterator[tuple[Mailbox, int]]:
    """Serve on ``sock`` (see ``refusing_port``) or on a port the kernel picks, until the block ends;
    yields the mailbox and the port."""
    mailbox = Mailbox()
    kwargs: dict[str, Any] = {}
    if starttls is not None:
        kwargs.update(tls_context=starttls, require_starttls=True)
    if credentials is not None:
        # aiosmtpd only counts STARTTLS as TLS for AUTH; an implicit-TLS connection is encrypted already
        # (and aiosmtpd warns when AUTH is required without its TLS, so there it is offered, not required)
        required = starttls is not None
        kwargs.update(authenticator=credentials, auth_required=required, auth_require_tls=required)
    controller = _Controller(
        mailbox,
        sock,
        ssl_context=implicit_tls,
        server_hostname="localhost" if implicit_tls else None,
        **kwargs,
    )
    controller.start()
    try:
        yield mailbox, controller.port
    finally:
        controller.stop()

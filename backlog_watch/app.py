"""From a validated Config to running parts: the store, one connector per helpdesk, the notifiers, the daemon.

The CLI and the tests build the daemon through here, so what `run` runs is what the tests test.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import httpx

from backlog_watch.config import (
    Config,
    ConsoleSettings,
    EmailSettings,
    NotifierSettings,
    SlackSettings,
    WebhookSettings,
)
from backlog_watch.connector import Connector, available_connectors
from backlog_watch.daemon import Daemon, install_signal_handlers, utcnow
from backlog_watch.dispatch import Notifier
from backlog_watch.errors import ConfigError
from backlog_watch.notifiers.console import ConsoleNotifier
from backlog_watch.notifiers.slack import SlackNotifier
from backlog_watch.policy import DeliveryPolicy
from backlog_watch.store import SqliteStore
from backlog_watch.web import WebServer

log = logging.getLogger(__name__)


def refuse_unsupported(config: Config) -> None:
    """`run` and `once` start only on what is implemented; `check` lists the rest as a warning."""
    missing = config.unsupported()
    if missing:
        raise ConfigError([f"{config.path or 'config'}: {line}" for line in missing])


def build_notifier(settings: NotifierSettings) -> Notifier:
    if isinstance(settings, SlackSettings):
        return SlackNotifier(settings.name, token=settings.token, channel=settings.channel,
                             api_url=settings.api_url)
    if isinstance(settings, ConsoleSettings):
        return ConsoleNotifier(settings.name)
    if isinstance(settings, EmailSettings):
        from backlog_watch.notifiers.email import EmailNotifier

        return EmailNotifier(settings.name, host=settings.host, port=settings.port, sender=settings.from_,
                             to=settings.to, starttls=settings.starttls, tls=settings.tls,
                             username=settings.username, password=settings.password)
    if isinstance(settings, WebhookSettings):
        from backlog_watch.notifiers.slack_webhook import SlackWebhookNotifier

        return SlackWebhookNotifier(settings.name, url=settings.url)
    raise ConfigError([f'notifier "{settings.name}": type "{settings.type}" is not yet supported'])


def http_client(base_url: str, timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, timeout=timeout, headers={"User-Agent": "backlog-watch"})


@dataclass
class Parts:
    store: SqliteStore
    connectors: dict[str, Connector]
    notifiers: dict[str, Notifier]
    daemon: Daemon


@asynccontextmanager
async def assemble(
    config: Config, *, dry_run: bool = False, notifiers: Mapping[str, Notifier] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> AsyncIterator[Parts]:
    """Open the store, build every connector and notifier, and close them all on the way out."""
    refuse_unsupported(config)
    factories = available_connectors()
    async with AsyncExitStack() as stack:
        store = SqliteStore.from_url(config.store)
        stack.callback(store.close)
        connectors: dict[str, Connector] = {}
        for settings in config.helpdesks:
            client = await stack.enter_async_context(
                http_client(settings.url, settings.timeout.total_seconds()))
            connectors[settings.name] = factories[settings.type](settings, client)
        built = dict(notifiers) if notifiers is not None else {
            s.name: build_notifier(s) for s in config.notifiers}
        for notifier in built.values():
            close = getattr(notifier, "close", None)
            if close is not None:
                stack.push_async_callback(close)
        daemon = Daemon(store, connectors, config.effective_rules(), built,
                        evaluate_every=config.evaluate_every.total_seconds(), dry_run=dry_run, clock=clock,
                        policy=DeliveryPolicy.from_config(config),
                        calendars=config.calendars(),
                        handle_hours={h.name: h.handle_time.total_seconds() / 3600 for h in config.helpdesks})
        yield Parts(store, connectors, built, daemon)


async def run(config: Config, *, ready: asyncio.Event | None = None) -> int:
    """The daemon: HTTP server, scheduled polls and evaluations, until SIGTERM or SIGINT."""
    async with assemble(config) as parts:
        server = WebServer(config.http.host, config.http.port)
        url = await server.start()
        log.info("backlog-watch listening on %s, watching %s", url, ", ".join(parts.connectors))
        try:
            install_signal_handlers(parts.daemon)
            parts.daemon.start({h.name: h.poll_every.total_seconds() for h in config.helpdesks})
            if ready is not None:
                ready.set()
            await parts.daemon.wait_stopped()
            log.info("stopping")
        finally:
            await parts.daemon.shutdown()
            await server.stop()
    return 0

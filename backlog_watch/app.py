"""From a validated Config to running parts: the store, one connector per helpdesk, the notifiers, the daemon.

The CLI and the tests build the daemon through here, so what `run` runs is what the tests test.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from prometheus_client import CollectorRegistry

from backlog_watch import reports
from backlog_watch.alerting.policy import DeliveryPolicy
from backlog_watch.config import Config, load_config
from backlog_watch.config.models import ReportSettings
from backlog_watch.daemon import Daemon, install_signal_handlers, utcnow
from backlog_watch.delivery.notifiers.base import Notifier, NotifierSettings, notifier_type
from backlog_watch.delivery.render import UTC_ZONE
from backlog_watch.errors import ConfigError
from backlog_watch.logs import register_secrets, secret_values
from backlog_watch.sources.connector import Connector, ReadsTickets, available_connectors
from backlog_watch.store import Store, open_store
from backlog_watch.web.access import Access
from backlog_watch.web.exporter import make_registry
from backlog_watch.web.hooks import Hooks, PollTrigger, Timers
from backlog_watch.web.server import WebServer, WebState

log = logging.getLogger(__name__)


def refuse_unsupported(config: Config) -> None:
    """`run` and `once` start only on what is implemented; `check` lists the rest as a warning."""
    missing = config.unsupported()
    if missing:
        raise ConfigError([f"{config.path or 'config'}: {line}" for line in missing])


def build_notifier(settings: NotifierSettings, tz: ZoneInfo = UTC_ZONE) -> Notifier:
    """One notifier, built by the registered class of its ``type``; its messages show times in ``tz``
    (the config's ``timezone``), as the reports do."""
    registered = notifier_type(settings.type)
    if registered is None:
        raise ConfigError([f'notifier "{settings.name}": type "{settings.type}" is not installed'])
    return registered.from_settings(settings, tz=tz)


def http_client(base_url: str, timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, timeout=timeout, headers={"User-Agent": "backlog-watch"})


@dataclass
class Parts:
    store: Store
    connectors: dict[str, Connector]
    notifiers: dict[str, Notifier]
    daemon: Daemon
    registry: CollectorRegistry | None = None


@asynccontextmanager
async def assemble(
    config: Config,
    *,
    dry_run: bool = False,
    notifiers: Mapping[str, Notifier] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> AsyncIterator[Parts]:
    """Open the store, build every connector and notifier, and close them all on the way out."""
    refuse_unsupported(config)
    register_secrets(secret_values(config))  # before any library can log a URL or header holding one
    factories = available_connectors()
    # A daemon on a simulated clock (tests, scenario runs) paces its connectors' client-side rate limits
    # by that clock too; in production they keep their monotonic clock.
    timing: dict[str, Any] = {} if clock is utcnow else {"clock": lambda: clock().timestamp()}
    async with AsyncExitStack() as stack:
        store = open_store(config.store)
        stack.callback(store.close)
        connectors: dict[str, Connector] = {}
        for settings in config.helpdesks:
            client = await stack.enter_async_context(http_client(settings.url, settings.timeout.total_seconds()))
            connectors[settings.name] = factories[settings.type](settings, client, **timing)
        built = (
            dict(notifiers)
            if notifiers is not None
            else {s.name: build_notifier(s, config.tz) for s in config.notifiers}
        )
        for notifier in built.values():
            close = getattr(notifier, "close", None)
            if close is not None:
                stack.push_async_callback(close)
        daemon = Daemon(
            store,
            connectors,
            config.effective_rules(),
            built,
            evaluate_every=config.evaluate_every.total_seconds(),
            dry_run=dry_run,
            clock=clock,
            policy=DeliveryPolicy.from_config(config),
            calendars=config.calendars(),
            handle_hours={h.name: h.handle_time.total_seconds() / 3600 for h in config.helpdesks},
        )
        registry, daemon.instruments = make_registry(store, list(connectors), clock)
        for report in config.reports:
            daemon.add_cron_job(
                f"report:{report.name}", report.trigger(config.timezone), report_job(daemon, report, config)
            )
        yield Parts(store, connectors, built, daemon, registry)


def report_job(daemon: Daemon, settings: ReportSettings, config: Config) -> Callable[[], Awaitable[list[str]]]:
    """The cron job of one report: build and render it (in a thread: SQL and matplotlib), then send it."""

    async def job() -> list[str]:
        prepared = await asyncio.to_thread(
            reports.prepare,
            daemon.store,
            settings.kind,
            daemon.clock(),
            config.tz,
            settings.name,
            {h.name: h.handle_time.total_seconds() / 3600 for h in config.helpdesks},
        )
        failed = await reports.send(prepared, daemon.notifiers, settings.notify)
        if daemon.instruments is not None:
            for name in settings.notify:
                counter = daemon.instruments.reports_failed if name in failed else daemon.instruments.reports_sent
                counter.labels(settings.name, name).inc()
        return failed

    return job


async def run(
    config: Config, *, ready: asyncio.Event | None = None, on_listening: Callable[[str], None] | None = None
) -> int:
    """The daemon: HTTP server, scheduled polls, evaluations and reports, until SIGTERM or SIGINT.

    SIGHUP reloads the config from its file: a valid one replaces every part (connectors, notifiers,
    rules, schedules); an invalid one is refused with its errors logged, and the running one goes on.
    """
    while True:
        reloaded = await _serve(config, ready, on_listening)
        if reloaded is None:
            return 0
        config = reloaded
        log.info("config reloaded from %s", config.path)


def reload(config: Config) -> Config | None:
    """The config file read again, or None (and the reasons logged) when it cannot replace this one."""
    if config.path is None:
        log.error("SIGHUP: this config was not loaded from a file; nothing to reload")
        return None
    try:
        new = load_config(config.path)
        register_secrets(secret_values(new))
        refuse_unsupported(new)
    except ConfigError as exc:
        log.error("SIGHUP: the new config is refused, the running one goes on:\n%s", "\n".join(exc.problems))
        return None
    return new


def daemon_hooks(daemon: Daemon, timers: Timers | None = None) -> Hooks:
    """The hooks of ``run``: a helpdesk whose connector reads tickets by id has them read and evaluated
    (``Daemon.apply_hook``); the others poll now."""
    lags = {n: c.listing_lag for n, c in daemon.connectors.items() if isinstance(c, ReadsTickets)}
    trigger = PollTrigger(daemon.poll_guarded, daemon.wait_poll_idle)
    return Hooks(trigger, lambda name, ids: daemon.guarded(daemon.apply_hook(name, ids)), lags, timers)


def web_state(config: Config, parts: Parts, hooks: Hooks) -> WebState:
    """What the HTTP server reads: the store, the helpdesks' poll intervals, metrics, hooks."""
    instruments = parts.daemon.instruments
    return WebState(
        store=parts.store,
        helpdesks={h.name: h.poll_every.total_seconds() for h in config.helpdesks},
        clock=parts.daemon.clock,
        registry=parts.registry,
        hook_secret=config.http.hook_secret,
        hooks=hooks.receive,
        on_hook=(lambda name: instruments.hooks.labels(name).inc()) if instruments else None,
        refresh_seconds=max(1, int(config.http.wallboard_refresh.total_seconds())),
        access=Access(config.http.auth, config.http.public_readonly),
    )


async def _serve(
    config: Config, ready: asyncio.Event | None, on_listening: Callable[[str], None] | None = None
) -> Config | None:
    """Run until stopped (None) or until SIGHUP brings a valid new config (returned)."""
    loop = asyncio.get_running_loop()
    async with assemble(config) as parts:
        hooks = daemon_hooks(parts.daemon)
        state = web_state(config, parts, hooks)
        server = WebServer(config.http.host, config.http.port, state)
        url = await server.start()
        log.info("backlog-watch listening on %s, watching %s", url, ", ".join(parts.connectors))
        if on_listening is not None:  # the bound address: with port 0 only the server knows it
            on_listening(url)
        hangup = asyncio.Event()
        loop.add_signal_handler(signal.SIGHUP, hangup.set)
        try:
            install_signal_handlers(parts.daemon)
            parts.daemon.start({h.name: h.poll_every.total_seconds() for h in config.helpdesks})
            if ready is not None:
                ready.set()
            while True:
                stopped = asyncio.ensure_future(parts.daemon.wait_stopped())
                hung_up = asyncio.ensure_future(hangup.wait())
                await asyncio.wait({stopped, hung_up}, return_when=asyncio.FIRST_COMPLETED)
                stopped.cancel()
                hung_up.cancel()
                if not hangup.is_set():
                    log.info("stopping")
                    return None
                hangup.clear()
                log.info("SIGHUP: reloading the config from %s", config.path)
                new = reload(config)
                if new is not None:
                    return new
        finally:
            loop.remove_signal_handler(signal.SIGHUP)
            await hooks.close()
            await parts.daemon.shutdown()
            await server.stop()

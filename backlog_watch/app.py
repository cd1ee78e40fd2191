"""From a validated Config to running parts: the store, one connector per helpdesk, the notifiers, the daemon.

The CLI and the tests build the daemon through here, so what `run` runs is what the tests test. What only
`run` needs (the web server, Slack's app, the reports) is imported where `run` builds it: `once` is timed
from process start to exit, and its imports were a large part of a small helpdesk's cold sync.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx

from backlog_watch.alerting.policy import DeliveryPolicy
from backlog_watch.cluster import leases_for
from backlog_watch.config import Config, load_config
from backlog_watch.config.models import ReportSettings
from backlog_watch.daemon import Daemon, install_signal_handlers, utcnow
from backlog_watch.delivery.notifiers.base import Notifier, NotifierSettings, notifier_type
from backlog_watch.delivery.render import UTC_ZONE
from backlog_watch.errors import ConfigError
from backlog_watch.logs import register_secrets, secret_values
from backlog_watch.sources.connector import Connector, ReadsTickets, available_connectors
from backlog_watch.store import Store, open_store
from backlog_watch.web.exporter import make_registry

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from backlog_watch.chatops.slack import SlackApp
    from backlog_watch.web.hooks import Hooks, Timers
    from backlog_watch.web.server import WebState
    from backlog_watch.web.slack_events import SlackEvents

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
    return httpx.AsyncClient(
        base_url=base_url, timeout=timeout, headers={"User-Agent": "backlog-watch"}, verify=_tls_context()
    )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The TLS context every helpdesk's client verifies with, built once (the one httpx builds by
    default): built per client it took 64 ms of CPU each, a minute for a thousand helpdesks at start."""
    return httpx.create_ssl_context()


def build_daemon(
    config: Config,
    store: Store,
    connectors: Mapping[str, Connector],
    notifiers: Mapping[str, Notifier],
    *,
    dry_run: bool = False,
    clock: Callable[[], datetime] = utcnow,
    replicas: bool = False,
) -> Daemon:
    """The daemon of a config over these parts: its rules, delivery policy, calendars, handle times and
    leases (what ``assemble`` runs, and what a replay runs over a scratch store, holding every lease)."""
    leases = leases_for(
        store,
        [h.name for h in config.helpdesks],
        replica=config.cluster.replica_id,
        ttl=config.cluster.lease_ttl.total_seconds(),
        shared=replicas and not dry_run,
    )
    return Daemon(
        store,
        connectors,
        config.effective_rules(),
        notifiers,
        evaluate_every=config.evaluate_every.total_seconds(),
        dry_run=dry_run,
        clock=clock,
        policy=DeliveryPolicy.from_config(config),
        calendars=config.calendars(),
        handle_hours={h.name: h.handle_time.total_seconds() / 3600 for h in config.helpdesks},
        leases=leases,
        timezone=config.tz,
    )


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
    replicas: bool = False,
) -> AsyncIterator[Parts]:
    """Open the store, build every connector and notifier, and close them all on the way out. With
    ``replicas`` (``run``) a store replicas share gets real leases (cluster.py); else this process
    holds everything."""
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
        daemon = build_daemon(config, store, connectors, built, dry_run=dry_run, clock=clock, replicas=replicas)
        registry, daemon.instruments = make_registry(store, list(connectors), clock)
        for report in config.reports:
            daemon.add_cron_job(
                f"report:{report.name}", report.trigger(config.timezone), report_job(daemon, report, config)
            )
        yield Parts(store, connectors, built, daemon, registry)


@dataclass
class Chat:
    """The Slack app of the config's interactive Slack notifier, and its HTTP endpoint (transport http)."""

    app: SlackApp
    events: SlackEvents | None = None


def socket_mode_failure(notifier: str, exc: Exception) -> str:
    """One line a newcomer can act on: which key to fix when Slack refused the token, else the cause."""
    from slack_sdk.errors import SlackApiError

    refusal = exc.response.get("error") if isinstance(exc, SlackApiError) else None
    if refusal in ("invalid_auth", "not_authed", "not_allowed_token_type", "token_revoked", "missing_scope"):
        cause = (
            f"apps.connections.open answered {refusal}: notifiers {notifier}: interactive.app_token must be the "
            "app's xapp-... token with connections:write (Basic Information > App-Level Tokens), and the app "
            "must have Socket Mode on"
        )
    else:
        cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return (
        f"Slack Socket Mode could not connect ({cause}): the buttons and /backlog will not answer until a "
        "restart or a reload (SIGHUP)"
    )


@asynccontextmanager
async def slack_chat(config: Config, parts: Parts) -> AsyncIterator[Chat | None]:
    """The Slack app of the first Slack notifier with ``interactive`` set (None without one): over Socket
    Mode it is connected here and closed on the way out; over HTTP ``events`` is the endpoint to serve."""
    import aiohttp
    from slack_sdk.errors import SlackApiError, SlackClientError
    from slack_sdk.web.async_client import AsyncWebClient

    from backlog_watch.chatops.actions import AlertActions
    from backlog_watch.chatops.slack import SlackApp
    from backlog_watch.chatops.socket_mode import SocketModeTransport
    from backlog_watch.delivery.notifiers.slack import SlackSettings
    from backlog_watch.web import wallboard
    from backlog_watch.web.slack_events import SlackEvents

    settings = next((n for n in config.notifiers if isinstance(n, SlackSettings) and n.interactive), None)
    if settings is None or settings.interactive is None:
        yield None
        return
    interactive = settings.interactive
    client = AsyncWebClient(token=settings.token.get_secret_value(), base_url=settings.api_url)
    helpdesks = {h.name: h.poll_every.total_seconds() for h in config.helpdesks}
    app = SlackApp(
        client,
        AlertActions(parts.daemon, config.calendars(), config.tz),
        lambda: wallboard.backlog(parts.store, helpdesks, parts.daemon.clock()),
    )
    if interactive.transport == "http":
        assert interactive.signing_secret is not None
        events = SlackEvents(app, interactive.signing_secret.get_secret_value())
        try:
            yield Chat(app, events)
        finally:
            await events.close()
        return
    assert interactive.app_token is not None
    transport = SocketModeTransport(app, interactive.app_token, client)
    try:
        await transport.start()
    except (SlackApiError, SlackClientError, aiohttp.ClientError, OSError) as exc:
        # Alerts still go out; only the buttons wait for a restart (or SIGHUP) with a working token.
        log.error("%s", socket_mode_failure(settings.name, exc))
    try:
        yield Chat(app)
    finally:
        await transport.stop()


def report_job(daemon: Daemon, settings: ReportSettings, config: Config) -> Callable[[], Awaitable[list[str]]]:
    """The cron job of one report: build and render it (in a thread: SQL and matplotlib), then send it."""
    from backlog_watch import reports

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
    (``Daemon.apply_hook``); the others poll now. A replica that does not poll the helpdesk forwards
    the hook to the one that does, which receives it through these same hooks."""
    from backlog_watch.web.hooks import Hooks, PollTrigger

    lags = {n: c.listing_lag for n, c in daemon.connectors.items() if isinstance(c, ReadsTickets)}
    trigger = PollTrigger(daemon.poll_guarded, daemon.wait_poll_idle)
    hooks = Hooks(trigger, lambda name, ids: daemon.guarded(daemon.apply_hook(name, ids)), lags, timers)
    daemon.hook_receiver = hooks.receive  # hooks forwarded by other replicas are received here too
    return hooks


def web_state(config: Config, parts: Parts, hooks: Hooks, chat: Chat | None = None) -> WebState:
    """What the HTTP server reads: the store, the helpdesks' poll intervals, metrics, hooks."""
    from backlog_watch.web.access import Access
    from backlog_watch.web.server import WebState

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
        slack_events=chat.events if chat is not None else None,
        replica=parts.daemon.leases.replica,
        leases=parts.daemon.leases.holders,
    )


async def _serve(
    config: Config, ready: asyncio.Event | None, on_listening: Callable[[str], None] | None = None
) -> Config | None:
    """Run until stopped (None) or until SIGHUP brings a valid new config (returned)."""
    from backlog_watch.web.server import WebServer

    loop = asyncio.get_running_loop()
    async with assemble(config, replicas=True) as parts, slack_chat(config, parts) as chat:
        hooks = daemon_hooks(parts.daemon)
        state = web_state(config, parts, hooks, chat)
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

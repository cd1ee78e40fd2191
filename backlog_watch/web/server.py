"""The daemon's HTTP server: the wallboard (/), /api/backlog, /metrics, /healthz, /readyz, /hooks/{helpdesk}.

/healthz says the process is live (its event loop answers). /readyz says every helpdesk was polled
successfully within its expected interval (twice ``poll_every`` plus a minute's grace) and the store
takes writes (a store that keeps failing is not ready, even while its reads still work), so a load
balancer or an orchestrator knows the data behind the board is current. Store reads run in a thread,
so a scrape or a wall screen never stalls the polls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from backlog_watch import __version__
from backlog_watch.errors import StoreError
from backlog_watch.store import Store
from backlog_watch.web import wallboard
from backlog_watch.web.access import Access, access_middleware, is_public_view, redacted
from backlog_watch.web.exporter import CONTENT_TYPE, exposition
from backlog_watch.web.hooks import hook_handler
from backlog_watch.web.page import page
from backlog_watch.web.slack_events import SlackEvents

READY_GRACE = timedelta(seconds=60)
BOARD_CACHE_SECONDS = 2.0
"""Several wall screens refreshing at once share one computation."""


@dataclass
class BoardCache:
    """The last board computed and when, by ``clock`` (monotonic seconds; injected so tests need no
    real-time wait): several wall screens refreshing at once share one computation."""

    seconds: float = BOARD_CACHE_SECONDS
    clock: Callable[[], float] = time.monotonic
    _held: tuple[float, dict[str, Any]] | None = field(default=None, repr=False)

    def get(self) -> dict[str, Any] | None:
        """The board computed at most ``seconds`` ago, or None when it is time to compute it again."""
        if self._held is None or self.clock() - self._held[0] > self.seconds:
            return None
        return self._held[1]

    def put(self, board: dict[str, Any]) -> dict[str, Any]:
        self._held = (self.clock(), board)
        return board


@dataclass
class WebState:
    """What the pages read: the store, the helpdesks and their poll intervals, and the daemon's hooks."""

    store: Store
    helpdesks: Mapping[str, float]
    clock: Callable[[], datetime]
    registry: CollectorRegistry | None = None
    hook_secret: SecretStr | None = None
    hooks: Callable[[str, Sequence[str]], dict[str, Any]] | None = None
    """What a hook does (hooks.Hooks.receive); None: no /hooks route."""
    on_hook: Callable[[str], None] | None = None
    refresh_seconds: int = 15
    access: Access | None = None
    """Who may read (http.auth, http.public_readonly); None: everyone, as on loopback without auth."""
    board_cache: BoardCache = field(default_factory=BoardCache, repr=False)
    slack_events: SlackEvents | None = None
    """The Slack app's HTTP transport (POST /slack/events), when the config chose it."""
    replica: str | None = None
    """This replica's id (cluster.py), shown by /readyz and the wallboard."""
    leases: Callable[[], dict[str, Any]] | None = None
    """Who holds what: ``{"helpdesks": {name: replica}, "evaluator": replica}`` (a store read)."""


STATE = web.AppKey("state", WebState)


async def healthz(request: web.Request) -> web.Response:
    """The process is live and its event loop answers."""
    return web.json_response({"status": "ok", "version": __version__})


def readiness(state: WebState) -> tuple[bool, dict[str, str]]:
    now = state.clock()
    found = {}
    statuses = state.store.read_model().poll_statuses(state.helpdesks)
    for name, every in state.helpdesks.items():
        status = statuses[name]
        if status.last_success is None:
            found[name] = "not polled successfully yet"
        elif now - status.last_success > timedelta(seconds=2 * every) + READY_GRACE:
            found[name] = f"last successful poll at {status.last_success.isoformat(timespec='seconds')}"
        else:
            found[name] = "ok"
    return all(v == "ok" for v in found.values()) and state.store.failing is None, found


def cluster_view(state: WebState) -> dict[str, Any]:
    """This replica and who holds what (nothing when the state has no replica: a bare test server).
    A replica holding no lease is as ready as any: it serves the board, the metrics and the hooks."""
    if state.replica is None:
        return {}
    view: dict[str, Any] = {"replica": state.replica}
    if state.leases is not None:
        try:
            view["leases"] = state.leases()
        except StoreError as exc:
            view["leases"] = {"error": str(exc)}
    return view


async def readyz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    ready, helpdesks = await asyncio.to_thread(readiness, state)
    body = {"ready": ready, "helpdesks": helpdesks, "store": state.store.failing or "ok"}
    body.update(await asyncio.to_thread(cluster_view, state))
    return web.json_response(body, status=200 if ready else 503)


async def index(request: web.Request) -> web.Response:
    return web.Response(
        text=page(request.app[STATE].refresh_seconds), content_type="text/html", headers={"Cache-Control": "no-store"}
    )


def _board(state: WebState) -> dict[str, Any]:
    board = wallboard.backlog(state.store, state.helpdesks, state.clock())
    if state.replica is not None:
        board["cluster"] = cluster_view(state)
    return board


async def api_backlog(request: web.Request) -> web.Response:
    state = request.app[STATE]
    board = state.board_cache.get()
    if board is None:
        board = state.board_cache.put(await asyncio.to_thread(_board, state))
    shown = {**redacted(board), "redacted": True} if is_public_view(request) else board
    return web.json_response(shown, headers={"Cache-Control": "no-store"})


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[STATE].registry
    if registry is None:
        return web.Response(status=404, text="no metrics registry")
    body = await asyncio.to_thread(exposition, registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def make_app(state: WebState | None = None) -> web.Application:
    access = state.access if state is not None else None
    app = web.Application(middlewares=[access_middleware(access)] if access is not None else [])
    app.router.add_get("/healthz", healthz)
    if state is None:
        return app
    app[STATE] = state
    app.router.add_get("/", index)
    app.router.add_get("/api/backlog", api_backlog)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/readyz", readyz)
    if state.hooks is not None:
        app.router.add_post(
            "/hooks/{helpdesk}",
            hook_handler(state.hook_secret, lambda: set(state.helpdesks), state.hooks, state.on_hook),
        )
    if state.slack_events is not None:
        app.router.add_post("/slack/events", state.slack_events.handle)
    return app


class ListenError(OSError):
    """The HTTP address could not be bound: in use, or not allowed. Says which address, never a traceback."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"cannot listen on {address}: {reason}")
        self.address, self.reason = address, reason


class WebServer:
    """Runs the app inside the daemon's event loop."""

    def __init__(self, host: str, port: int, state: WebState | None = None) -> None:
        self.host, self.port = host, port
        self._runner = web.AppRunner(make_app(state), access_log=None, handle_signals=False)

    async def start(self) -> str:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise ListenError(f"{self.host}:{self.port}", exc.strerror or str(exc)) from None
        if self._runner.addresses:
            self.port = self._runner.addresses[0][1]
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        await self._runner.cleanup()

"""The daemon's HTTP server: /healthz now; the wallboard, /metrics and /api/backlog later, on the same app."""

from __future__ import annotations

from aiohttp import web

from backlog_watch import __version__


async def healthz(request: web.Request) -> web.Response:
    """The process is live and its event loop answers."""
    return web.json_response({"status": "ok", "version": __version__})


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/healthz", healthz)
    return app


class WebServer:
    """Runs the app inside the daemon's event loop."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._runner = web.AppRunner(make_app(), access_log=None)

    async def start(self) -> str:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        if sockets:
            self.port = sockets[0].getsockname()[1]
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        await self._runner.cleanup()

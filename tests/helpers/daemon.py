"""Running the daemon in a test: one poll of every helpdesk, an evaluation, delivery."""

from __future__ import annotations

from backlog_watch.app import assemble
from backlog_watch.config.models import Config
from backlog_watch.sim import SimClock


async def once(config: Config, clock: SimClock) -> int:
    async with assemble(config, clock=clock.now) as parts:
        code, _ = await parts.daemon.once()
        return code

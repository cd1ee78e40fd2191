"""The wallboard in headless Chromium (Debian's chromium, driven by playwright) at a wall screen's size:
green, then red when the backlog grows past a critical level, without a reload. Screenshots go to
artifacts/ (wallboard-green.png, wallboard-red.png)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backlog_watch.app import assemble, web_state
from backlog_watch.sim import SimClock, ZendeskSimulator
from backlog_watch.web.hooks import PollTrigger
from backlog_watch.web.server import WebServer
from tests.helpers.config import web_config

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
WALL = {"width": 1920, "height": 1080}

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)"
)


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


async def test_wallboard_green_then_red_without_reload(
    browser: object,
    zendesk_sim: ZendeskSimulator,
    sim_clock: SimClock,
    tmp_path: Path,
) -> None:
    sim_clock.advance(120)
    backlog = len(zendesk_sim.open_ids())
    config = web_config(zendesk_sim, tmp_path / "bw.db", warn_above=backlog + 5, critical_above=backlog + 10)
    async with assemble(config, clock=sim_clock.now) as parts:
        parts.daemon.notifiers["console"]._stream = io.StringIO()  # type: ignore[attr-defined]
        await parts.daemon.poll("zendesk")
        trigger = PollTrigger(parts.daemon.poll, parts.daemon.wait_poll_idle)
        state = web_state(config, parts, trigger)
        state.refresh_seconds = 1  # the page refreshes itself every second
        server = WebServer("127.0.0.1", 0, state)
        url = await server.start()
        page = await browser.new_page(viewport=WALL)  # type: ignore[attr-defined]
        try:
            await page.goto(url + "/")
            card = page.locator('section.board[data-helpdesk="zendesk"]')
            await card.and_(page.locator('[data-status="green"]')).wait_for(timeout=10_000)
            assert (await card.locator(".open").inner_text()).startswith(str(backlog))
            assert "OK" in (await card.locator(".badge").inner_text()).upper()
            assert await card.locator("svg.spark polyline").count() == 1
            assert "Oldest: #" in await card.locator(".oldest").inner_text()
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "wallboard-green.png"))
            await page.evaluate("window.__notReloaded = true")

            for _ in range(12):
                zendesk_sim.create_ticket(priority="urgent", subject="Checkout is down")
            sim_clock.advance(120)
            await parts.daemon.poll("zendesk")  # polls and evaluates: critical above backlog + 10

            await card.and_(page.locator('[data-status="red"]')).wait_for(timeout=10_000)
            assert (await card.locator(".open").inner_text()).startswith(str(backlog + 12))
            assert "backlog-size" in await card.locator(".alerts").inner_text()
            assert (await card.locator(".badge").inner_text()).upper() == "RED"
            assert await page.evaluate("window.__notReloaded") is True
            font_px = await card.locator(".open").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
            assert font_px >= 100  # readable from across the room on a 1080p screen
            await page.screenshot(path=str(ARTIFACTS / "wallboard-red.png"))
        finally:
            await page.close()
            await trigger.close()
            await server.stop()

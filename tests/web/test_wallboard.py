"""The wallboard in headless Chromium (Debian's chromium, driven by playwright) at a wall screen's sizes.

It must read from across a room and never scroll: at 1920x1080 and 1366x768, with 1, 3 and 6 helpdesks
(the Zendesk, Freshdesk and Jira simulators, more Zendesks under other names), in the normal and the ?tv=1
mode, the page fits the viewport, no text on a card is clipped, the level is a word as well as a colour,
and the alerts that do not fit are counted. It turns from green to red when the backlog grows past a
critical level, without a reload. Screenshots go to artifacts/ (wallboard-*.png)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from backlog_watch.app import assemble, daemon_hooks, web_state
from backlog_watch.config.models import Config
from backlog_watch.sim import FreshdeskSimulator, JiraSimulator, SimClock, ZendeskSimulator
from backlog_watch.web.server import WebServer
from tests.helpers.config import aging, console, document, parse, threshold, web_config

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
WALL = {"width": 1920, "height": 1080}
SCREENS = [WALL, {"width": 1366, "height": 768}]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)"
)

OVERFLOWS = """() => {
  /* Every box on the cards and in the alert list whose content is larger than the box (clipped text). */
  const bad = [];
  for (const root of document.querySelectorAll("section.board, #alerts")) {
    for (const e of [root, ...root.querySelectorAll("*")]) {
      if (e instanceof SVGElement || getComputedStyle(e).display === "inline") continue;
      if (e.scrollHeight > e.clientHeight + 1 || e.scrollWidth > e.clientWidth + 1)
        bad.push(`${e.className || e.tagName} in ${root.dataset.helpdesk || root.id}: ` +
                 `${e.scrollWidth}x${e.scrollHeight} > ${e.clientWidth}x${e.clientHeight}`);
    }
  }
  return bad;
}"""

OUTSIDE = """() => {
  /* The header, every card and the alert list must lie inside the viewport: the page cannot scroll, so a
     box pushed past its right or bottom edge is cut off (wider content in the header widens the grid). */
  const out = [];
  for (const e of document.querySelectorAll("header, section.board, #alerts")) {
    const box = e.getBoundingClientRect();
    if (e.checkVisibility() && (box.right > innerWidth + 1 || box.bottom > innerHeight + 1))
      out.push(`${e.id || e.dataset.helpdesk || e.tagName}: right ${box.right}, bottom ${box.bottom}`);
  }
  return out;
}"""

SPARKS = """() => [...document.querySelectorAll("section.board")].map(
  card => card.querySelector(".spark svg").getBoundingClientRect().height / card.clientHeight)"""
"""Each sparkline's height as a share of its card's."""
BACKGROUND = "() => getComputedStyle(document.body).backgroundColor"
TEXT_SIZES = """() => {
  /* Every visible element that holds text of its own, with its computed font size in px, smallest first. */
  const sizes = [];
  for (const e of document.body.querySelectorAll("*")) {
    const own = [...e.childNodes].filter(n => n.nodeType === Node.TEXT_NODE && n.textContent.trim()).length;
    if (!own || e.tagName === "SCRIPT" || e.tagName === "STYLE") continue;
    const box = e.getBoundingClientRect();
    if (!box.width || !box.height || !e.checkVisibility()) continue;
    sizes.push([parseFloat(getComputedStyle(e).fontSize), `${e.className || e.tagName}: ${e.textContent.trim()}`]);
  }
  return sizes.sort((a, b) => a[0] - b[0]);
}"""
"""Text read from across a room is never below 12 px."""
MIN_TEXT_PX = 12


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def serving(
    config: Config, clock: SimClock, cluster: tuple[str, dict[str, Any]] | None = None
) -> AsyncIterator[tuple[str, Any]]:
    """The daemon's parts with every helpdesk polled (and evaluated) once, and the web server on port 0;
    ``cluster``: the replica id and lease holders the page is told (as replicas on PostgreSQL say)."""
    async with assemble(config, clock=clock.now) as parts:
        parts.daemon.notifiers["console"]._stream = io.StringIO()
        for helpdesk in config.helpdesks:
            await parts.daemon.poll(helpdesk.name)
        hooks = daemon_hooks(parts.daemon)
        state = web_state(config, parts, hooks)
        state.refresh_seconds = 1  # the page refreshes itself every second
        if cluster is not None:
            state.replica, holders = cluster
            state.leases = lambda: holders
        server = WebServer("127.0.0.1", 0, state)
        url = await server.start()
        try:
            yield url, parts
        finally:
            await hooks.close()
            await server.stop()


@asynccontextmanager
async def simulators(count: int, clock: SimClock) -> AsyncIterator[list[dict[str, Any]]]:
    """``count`` helpdesks (1, 3 or 6): Zendesk, Freshdesk, Jira, then Zendesks with other names; their
    ``helpdesks:`` entries, each polled every 2 minutes."""
    kinds: list[tuple[str, type[ZendeskSimulator]]] = [
        ("zendesk", ZendeskSimulator),
        ("freshdesk", FreshdeskSimulator),
        ("jira", JiraSimulator),
        ("zendesk-eu", ZendeskSimulator),
        ("zendesk-us", ZendeskSimulator),
        ("zendesk-apac", ZendeskSimulator),
    ]
    async with AsyncExitStack() as stack:
        entries = []
        for seed, (name, kind) in enumerate(kinds[:count], start=3):
            sim = kind(seed=seed, tickets=120, clock=clock)
            await sim.start()
            stack.push_async_callback(sim.stop)
            entries.append(sim.settings(name, poll_every="2m"))
        yield entries


def busy_config(helpdesks: list[dict[str, Any]], db: Path) -> Config:
    """Many alerts: a warning per helpdesk (backlog-size), a critical one per group (old-tickets, scoped
    by helpdesk and group, on every other helpdesk: the others stay WARN) and a warning the critical
    ones mute (urgent-backlog, inhibited)."""
    every_other = [entry["name"] for entry in helpdesks[::2]]
    doc = document(
        db=db,
        http={"listen": "127.0.0.1:0"},
        helpdesks=helpdesks,
        notifiers=[console()],
        notify=["console"],
        rules=[
            threshold(warn_above=1),
            threshold("urgent-backlog", where={"priority": ["urgent"]}, warn_above=0),
            aging(older_than="1h", level="critical", group_by=["helpdesk", "group"], where={"helpdesk": every_other}),
        ],
        inhibit_rules=[
            {
                "source_matchers": ["rule=old-tickets", "level=critical"],
                "target_matchers": ["rule=urgent-backlog"],
                "equal": ["helpdesk"],
            }
        ],
    )
    return parse(doc, "wall.yaml")


async def fits(page: Any) -> None:
    """No scrollbar either way, no card or alert text clipped, no visible text under 12 px."""
    size = await page.evaluate(
        "() => [document.documentElement.scrollHeight, innerHeight, document.documentElement.scrollWidth, innerWidth]"
    )
    assert size[0] <= size[1] and size[2] <= size[3], f"the page scrolls: {size}"
    outside = await page.evaluate(OUTSIDE)
    assert outside == [], "cut off at the viewport's edge:\n" + "\n".join(outside)
    sparks = await page.evaluate(SPARKS)
    assert min(sparks) >= 0.12, f"a sparkline squeezed flat: {sparks}"
    clipped = await page.evaluate(OVERFLOWS)
    assert clipped == [], "\n".join(clipped)
    sizes = await page.evaluate(TEXT_SIZES)
    assert sizes and all(px > 0 for px, _ in sizes), sizes
    small = [f"{px:.1f}px {what}" for px, what in sizes if px < MIN_TEXT_PX]
    assert small == [], "text too small to read from across the room:\n" + "\n".join(small)
    # Measured in one task of the page, once its cards are drawn: the page redraws them every second (a
    # card replaced between finding it and measuring it has no computed size).
    measured = await page.wait_for_function(
        """() => {
            const f = [...document.querySelectorAll("section.board .open")]
                .map(e => parseFloat(getComputedStyle(e).fontSize));
            return f.length && f.every(Number.isFinite) ? f : null;
        }"""
    )
    figures = await measured.json_value()
    assert min(figures) >= 3 * MIN_TEXT_PX, f"the open counts are not much larger than their captions: {figures}"


@pytest.mark.parametrize("count", [1, 3, 6])
async def test_the_board_fits_the_wall_for_one_to_six_helpdesks(
    browser: Any, sim_clock: SimClock, tmp_path: Path, count: int
) -> None:
    sim_clock.advance(120)
    async with (
        simulators(count, sim_clock) as helpdesks,
        serving(busy_config(helpdesks, tmp_path / "bw.db"), sim_clock) as (url, parts),
    ):
        firing = [a for a in parts.store.load_alerts().values() if a.is_firing]
        assert {a.level for a in firing} == {"critical", "warn"}
        cards = count + 1 if count > 1 else count  # the total first, when there are several
        for screen in SCREENS:
            for tv in (False, True):
                page = await browser.new_page(viewport=screen)
                try:
                    await page.goto(url + ("/?tv=1" if tv else "/"))
                    await page.locator("section.board").nth(cards - 1).wait_for(timeout=10_000)
                    await page.locator(".alert").first.wait_for(timeout=10_000)
                    assert await page.locator("section.board").count() == cards
                    if count > 1:
                        assert await page.locator("section.board").first.get_attribute("data-helpdesk") == "*"
                    ARTIFACTS.mkdir(exist_ok=True)
                    name = f"wallboard-{count}hd-{screen['width']}x{screen['height']}{'-tv' if tv else ''}.png"
                    await page.screenshot(path=str(ARTIFACTS / name))
                    await fits(page)
                    text = await page.locator("body").inner_text()
                    assert "CRITICAL" in text and "WARN" in text
                    words = await page.locator("section.board .badge").all_inner_texts()
                    assert set(words) == ({"CRITICAL", "WARN"} if count > 1 else {"CRITICAL"})
                    assert await page.locator("header").is_visible() is not tv
                    assert await page.evaluate(BACKGROUND) == "rgb(238, 241, 245)"  # playwright's default: light
                    shown = await page.locator(".alert").count()
                    assert shown >= 1
                    more = page.locator("#more")
                    if shown < len(firing):
                        assert await more.inner_text() == f"+{len(firing) - shown} more"
                    else:
                        assert await more.count() == 0
                    first = await page.locator(".alert").first.inner_text()
                    assert first.startswith("CRITICAL") and "old-tickets" in first and " for " in first
                finally:
                    await page.close()
        if count == 6:
            assert len(firing) > shown  # six helpdesks' alerts cannot all fit: counted, not cut


async def test_muted_alerts_say_why_and_groups_name_their_scope(
    browser: Any, sim_clock: SimClock, tmp_path: Path
) -> None:
    sim_clock.advance(120)
    async with (
        simulators(1, sim_clock) as helpdesks,
        serving(busy_config(helpdesks, tmp_path / "bw.db"), sim_clock) as (url, parts),
    ):
        page = await browser.new_page(viewport=WALL)
        try:
            await page.goto(url + "/")
            await page.locator(".alert").first.wait_for(timeout=10_000)
            muted = page.locator(".alert.is-muted")
            assert await muted.count() == 1
            assert (await page.locator("#alerts h2").inner_text()).endswith("alerts firing \u00b7 1 muted")
            assert "muted: inhibited by old-tickets" in await muted.inner_text()
            groups = {a.label_map["group"] for a in parts.store.load_alerts().values() if "group" in a.label_map}
            listed = await page.locator(".alert.critical").all_inner_texts()
            assert len(listed) == len(groups) >= 2
            assert all(any(g.replace("(none)", "no group") in line for line in listed) for g in groups if g)
        finally:
            await page.close()


async def test_wallboard_green_then_red_without_reload(
    browser: Any,
    zendesk_sim: ZendeskSimulator,
    sim_clock: SimClock,
    tmp_path: Path,
) -> None:
    sim_clock.advance(120)
    backlog = len(zendesk_sim.open_ids())
    config = web_config(zendesk_sim, tmp_path / "bw.db", warn_above=backlog + 5, critical_above=backlog + 10)
    async with serving(config, sim_clock) as (url, parts):
        page = await browser.new_page(viewport=WALL, color_scheme="dark")
        try:
            await page.goto(url + "/")
            card = page.locator('section.board[data-helpdesk="zendesk"]')
            await card.and_(page.locator('[data-status="green"]')).wait_for(timeout=10_000)
            assert (await card.locator(".open").inner_text()) == str(backlog)
            assert await card.locator(".badge").inner_text() == "OK"
            assert await page.evaluate(BACKGROUND) == "rgb(14, 17, 22)"  # the dark theme, as the system prefers
            assert await card.locator("svg polyline.this-week").count() == 1
            assert await card.locator("svg polyline.last-week").count() == 1
            assert "oldest" in await card.locator(".facts").inner_text()
            assert "OK" in await page.locator("#alerts").inner_text()
            await fits(page)
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "wallboard-green.png"))
            await page.evaluate("window.__notReloaded = true")

            for _ in range(12):
                zendesk_sim.create_ticket(priority="urgent", subject="Checkout is down")
            sim_clock.advance(120)
            await parts.daemon.poll("zendesk")  # polls and evaluates: critical above backlog + 10

            await card.and_(page.locator('[data-status="red"]')).wait_for(timeout=10_000)
            assert (await card.locator(".open").inner_text()) == str(backlog + 12)
            assert await card.locator(".badge").inner_text() == "CRITICAL"
            alert = await page.locator(".alert").first.inner_text()
            assert alert.startswith("CRITICAL") and "backlog-size" in alert and "zendesk" in alert
            assert await page.evaluate("window.__notReloaded") is True
            font_px = await card.locator(".open").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
            assert font_px >= 100  # readable from across the room on a 1080p screen
            await fits(page)
            await page.screenshot(path=str(ARTIFACTS / "wallboard-red.png"))
        finally:
            await page.close()


async def test_long_replica_ids_never_push_the_board_off_the_screen(
    browser: Any, sim_clock: SimClock, tmp_path: Path
) -> None:
    """Replicas named like Kubernetes pods: the header's status line ends in "..." (the whole of it in its
    title) and the cards and alerts keep the full width, at every wall size."""
    sim_clock.advance(120)
    pods = [f"backlog-watch-7d9f8b6c5-{suffix}-eu-west-1a" for suffix in ("x2k4p", "q8m3z", "t5v7n")]
    async with simulators(3, sim_clock) as helpdesks:
        holders = {"helpdesks": {h["name"]: pod for h, pod in zip(helpdesks, pods, strict=True)}, "evaluator": pods[1]}
        async with serving(busy_config(helpdesks, tmp_path / "bw.db"), sim_clock, (pods[0], holders)) as (url, _):
            for screen in [*SCREENS, {"width": 1280, "height": 720}]:
                page = await browser.new_page(viewport=screen)
                try:
                    await page.goto(url + "/")
                    await page.locator(".alert").first.wait_for(timeout=10_000)
                    await page.locator("#replica", has_text="polling:").wait_for(timeout=10_000)
                    ARTIFACTS.mkdir(exist_ok=True)
                    await page.screenshot(path=str(ARTIFACTS / f"wallboard-long-replicas-{screen['width']}.png"))
                    await fits(page)
                    status = page.locator("header > span")
                    title = await status.get_attribute("title") or ""
                    assert all(pod in title for pod in pods), title
                    assert f"this page: replica {pods[0]}" in title and f"evaluator: {pods[1]}" in title
                    assert f"{pods[0]} (1)" in await page.locator("#replica").inner_text()
                    assert await page.locator("#overall").is_visible()
                finally:
                    await page.close()

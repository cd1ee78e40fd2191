"""Delivery through the outbox, end to end: simulated Zendesk -> SQLite on disk -> real slack-sdk -> stand-in.

Every `once` is a fresh daemon on the same store (a restart). Faults: 429 with Retry-After, 500s for a
while, the process killed between a send and its mark. Every alert is delivered, none is lost, and the
only duplicate is the one in the crash window.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from backlog_watch.app import assemble
from backlog_watch.config.models import Config
from backlog_watch.delivery.outbox import Outbox
from backlog_watch.sim import SimClock, SlackStandIn, ZendeskSimulator
from tests.helpers.config import document, parse, slack, threshold, zendesk
from tests.helpers.config import slack_config as make_config


async def no_wait(seconds: float) -> None:
    """The connectors' retry sleeps, skipped: a helpdesk outage costs no test time."""


async def once(config: Config, clock: SimClock) -> int:
    async with assemble(config, clock=clock.now) as parts:
        for connector in parts.connectors.values():
            connector.sleep = no_wait  # type: ignore[attr-defined]
        code, _ = await parts.daemon.once()
        return code


def parents(slack: SlackStandIn) -> list[str]:
    """The rule of every parent message, in the order posted."""
    return [m.blocks[0]["text"]["text"].split(" · ")[1] for m in slack.messages("#support")]


def outbox_rows(db: Path) -> list[tuple[str, int, str | None]]:
    with sqlite3.connect(db) as raw:
        return raw.execute("SELECT notifier, attempts, last_error FROM outbox ORDER BY id").fetchall()


async def test_a_429_is_retried_by_the_outbox_once_after_its_retry_after(
    zendesk_sim: ZendeskSimulator,
    slack_standin: SlackStandIn,
    sim_clock: SimClock,
    tmp_path: Path,
) -> None:
    sim_clock.advance(120)
    db = tmp_path / "bw.db"
    config = make_config(zendesk_sim, slack_standin, db)
    slack_standin.rate_limit_next(1, retry_after=120)  # longer than the outbox's first backoff (30s)
    assert await once(config, sim_clock) == 1
    assert parents(slack_standin) == ["old-tickets"]  # the second alert went through; the first waits
    ((notifier, attempts, error),) = outbox_rows(db)
    assert (notifier, attempts) == ("slack", 1) and "429" in (error or "")
    posts = len(slack_standin.calls_to("chat.postMessage"))
    assert posts == 2  # slack-sdk did not retry in place: nothing sleeps in a delivery

    sim_clock.advance(60)  # past the backoff, not past Retry-After
    assert await once(config, sim_clock) == 0
    assert len(slack_standin.calls_to("chat.postMessage")) == posts  # not even tried
    sim_clock.advance(61)
    assert await once(config, sim_clock) == 0
    assert len(slack_standin.calls_to("chat.postMessage")) == posts + 1  # retried once, and delivered
    assert sorted(parents(slack_standin)) == ["backlog-size", "old-tickets"]
    assert outbox_rows(db) == []


async def test_an_outage_delays_with_backoff_but_every_alert_arrives_once(
    zendesk_sim: ZendeskSimulator,
    slack_standin: SlackStandIn,
    sim_clock: SimClock,
    tmp_path: Path,
) -> None:
    sim_clock.advance(120)
    db = tmp_path / "bw.db"
    config = make_config(zendesk_sim, slack_standin, db)
    slack_standin.fail_next(30, status=500)  # Slack down for a while
    assert await once(config, sim_clock) == 1
    assert [row[:2] for row in outbox_rows(db)] == [("slack", 1), ("slack", 1)]
    sim_clock.advance(10)
    assert await once(config, sim_clock) == 0  # not due yet (backoff 30s): not even tried
    assert len(slack_standin.calls_to("chat.postMessage")) == 2
    sim_clock.advance(30)
    assert await once(config, sim_clock) == 1
    assert outbox_rows(db)[0][1] == 2  # second attempt failed, rescheduled further out (1m)
    sim_clock.advance(30)
    assert await once(config, sim_clock) == 0  # still backing off
    slack_standin.faults.clear()
    sim_clock.advance(40)
    assert await once(config, sim_clock) == 0
    assert sorted(parents(slack_standin)) == ["backlog-size", "old-tickets"]
    assert outbox_rows(db) == []
    sim_clock.advance(60)
    assert await once(config, sim_clock) == 0
    assert len(slack_standin.messages("#support")) == 2  # and nothing twice


class Killed(BaseException):
    """The process dying: nothing after it runs, no except Exception catches it."""


async def test_killed_between_send_and_mark_duplicates_only_that_notification(
    zendesk_sim: ZendeskSimulator,
    slack_standin: SlackStandIn,
    sim_clock: SimClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim_clock.advance(120)
    db = tmp_path / "bw.db"
    config = make_config(zendesk_sim, slack_standin, db)
    real_mark = Outbox.mark_sent

    def die(self: Outbox, sent: object) -> None:
        raise Killed

    monkeypatch.setattr(Outbox, "mark_sent", die)
    with pytest.raises(Killed):
        await once(config, sim_clock)
    first = parents(slack_standin)
    assert len(first) == 1  # sent, never marked; the other alert not reached
    assert len(outbox_rows(db)) == 2  # both still in the outbox, written before sending

    monkeypatch.setattr(Outbox, "mark_sent", real_mark)
    sim_clock.advance(60)
    assert await once(config, sim_clock) == 0
    after = parents(slack_standin)
    assert len(after) == 3 and after.count(first[0]) == 2  # the crash window's duplicate, and only it
    assert outbox_rows(db) == []
    sim_clock.advance(60)
    assert await once(config, sim_clock) == 0
    assert len(slack_standin.messages("#support")) == 3


async def test_thread_replies_for_more_tickets_and_level_up_and_the_parent_shows_now(
    zendesk_sim: ZendeskSimulator,
    slack_standin: SlackStandIn,
    sim_clock: SimClock,
    tmp_path: Path,
) -> None:
    sim_clock.advance(120)
    backlog = len(zendesk_sim.open_ids())
    config = make_config(zendesk_sim, slack_standin, tmp_path / "bw.db", warn_above=backlog - 3)
    assert await once(config, sim_clock) == 0
    more = max(3, backlog // 4 + 1)  # a quarter more, at least three: worth a reply
    for _ in range(more):
        zendesk_sim.create_ticket(subject="Another one")
    sim_clock.advance(120)
    assert await once(config, sim_clock) == 0
    size = next(m for m in slack_standin.messages("#support") if "backlog-size" in m.blocks[0]["text"]["text"])
    assert len(size.replies) == 1 and "Now" in size.replies[0].text
    assert size.edited and f"{backlog + more} open" in size.text
    sim_clock.advance(120)
    assert await once(config, sim_clock) == 0  # no news: no reply
    assert len(slack_standin.messages("#support")[0].replies) == len(size.replies)


async def test_helpdesk_down_fires_after_down_after_and_hides_its_alerts(
    zendesk_sim: ZendeskSimulator,
    slack_standin: SlackStandIn,
    sim_clock: SimClock,
    tmp_path: Path,
) -> None:
    sim_clock.advance(120)
    config = make_config(zendesk_sim, slack_standin, tmp_path / "bw.db", extra="helpdesk_down:\n  after: 10m")
    assert await once(config, sim_clock) == 0
    assert len(slack_standin.messages("#support")) == 2
    zendesk_sim.fail_next(10_000, status=503)
    sim_clock.advance(60)
    assert await once(config, sim_clock) == 1  # poll failed; helpdesk-down pending, nothing sent
    assert len(slack_standin.messages("#support")) == 2
    sim_clock.advance(timedelta(minutes=11))
    assert await once(config, sim_clock) == 1
    down = slack_standin.messages("#support")[-1]
    assert "CRITICAL · helpdesk-down · zendesk" in down.blocks[0]["text"]["text"]
    # a day later the backlog alerts would repeat, but their data is stale: hidden by helpdesk-down
    sim_clock.advance(timedelta(days=1, minutes=1))
    calls = len(slack_standin.calls)
    assert await once(config, sim_clock) == 1
    texts = [c.params.get("text", "") for c in slack_standin.calls[calls:] if c.method == "chat.postMessage"]
    assert texts and all("helpdesk-down" in t or "Still firing" in t for t in texts)
    assert not any("backlog-size" in str(c.params) for c in slack_standin.calls[calls:])
    zendesk_sim.faults.clear()
    sim_clock.advance(60)
    assert await once(config, sim_clock) == 0
    down = next(m for m in slack_standin.messages("#support") if "helpdesk-down" in m.blocks[0]["text"]["text"])
    assert "resolved" in down.replies[-1].text.lower() and "RESOLVED" in down.text


async def test_a_silenced_alert_is_stored_but_not_sent_until_the_silence_ends(
    zendesk_sim: ZendeskSimulator,
    slack_standin: SlackStandIn,
    sim_clock: SimClock,
    tmp_path: Path,
) -> None:
    from backlog_watch.alerting.silences import Matcher, Silences
    from backlog_watch.store.sqlite import SqliteStore

    sim_clock.advance(120)
    db = tmp_path / "bw.db"
    config = make_config(zendesk_sim, slack_standin, db)
    store = SqliteStore(db)
    Silences(store).add(
        [Matcher.parse("rule=backlog-size")],
        ends_at=sim_clock.now() + timedelta(hours=1),
        created_by="alice",
        comment="known import",
        now=sim_clock.now(),
    )
    store.close()
    async with assemble(config, clock=sim_clock.now) as built:
        _, evaluation = await built.daemon.once()
        stored = built.store.load_alerts()
    assert parents(slack_standin) == ["old-tickets"]
    (muted,) = evaluation.muted
    assert stored[muted].rule == "backlog-size" and stored[muted].state.value == "firing"  # still on the dashboard
    sim_clock.advance(timedelta(hours=1, minutes=1))
    assert await once(config, sim_clock) == 0
    assert parents(slack_standin) == ["old-tickets", "backlog-size"]


async def test_fire_resolve_fire_during_a_slack_outage_reaches_slack_three_times_in_order(
    zendesk_sim: ZendeskSimulator,
    slack_standin: SlackStandIn,
    sim_clock: SimClock,
    tmp_path: Path,
) -> None:
    sim_clock.advance(120)
    backlog = len(zendesk_sim.open_ids())
    config = make_config(zendesk_sim, slack_standin, tmp_path / "bw.db", warn_above=backlog)
    assert await once(config, sim_clock) == 0  # old-tickets told; backlog-size at its threshold, quiet
    slack_standin.fail_next(100_000, status=500)  # Slack down from here on
    extra = [zendesk_sim.create_ticket(subject="Flap")["id"] for _ in range(2)]
    sim_clock.advance(60)
    assert await once(config, sim_clock) == 1  # fired (10:02, say): not delivered
    for ticket in extra:
        zendesk_sim.solve_ticket(ticket)
    sim_clock.advance(timedelta(minutes=7))
    await once(config, sim_clock)  # resolved (10:09): queued behind the firing
    zendesk_sim.create_ticket(subject="Flap again")
    zendesk_sim.create_ticket(subject="Flap again")
    sim_clock.advance(timedelta(minutes=7))
    await once(config, sim_clock)  # a second episode: queued behind both
    assert [row[0] for row in outbox_rows(tmp_path / "bw.db")] == ["slack"] * 3

    slack_standin.faults.clear()
    sim_clock.advance(timedelta(hours=2))
    assert await once(config, sim_clock) == 0
    assert outbox_rows(tmp_path / "bw.db") == []
    first, second = (m for m in slack_standin.messages("#support") if "backlog-size" in m.blocks[0]["text"]["text"])
    assert "RESOLVED" in first.text and first.edited  # the parent of the resolved episode reads resolved
    assert [r.text.lower().count("resolved") > 0 for r in first.replies] == [True]
    assert "RESOLVED" not in second.text and not second.replies  # the episode still firing
    size_posts = [
        c
        for c in slack_standin.calls_to("chat.postMessage")
        if "backlog-size" in str(c.params) or c.params.get("thread_ts") == first.ts
    ]
    assert [c.params.get("thread_ts") for c in size_posts[-3:]] == [None, first.ts, None]  # fired, resolved, fired
    sim_clock.advance(60)
    calls = len(slack_standin.calls)
    assert await once(config, sim_clock) == 0
    assert slack_standin.calls[calls:] == []  # told everything once: nothing more


async def test_only_a_slack_app_that_answers_buttons_gets_them(
    zendesk_sim: ZendeskSimulator,
    slack_standin: SlackStandIn,
    sim_clock: SimClock,
    tmp_path: Path,
) -> None:
    """A plain bot token (what `init` writes) and an incoming webhook post no Acknowledge/Snooze/Take
    oldest: nothing would answer a click (Slack would tell the clicker the app is not configured for it).
    A notifier with ``interactive`` carries them on every firing parent."""
    sim_clock.advance(120)
    app = {"transport": "socket_mode", "app_token": slack_standin.app_token}
    doc = document(
        db=tmp_path / "bw.db",
        helpdesks=[zendesk(zendesk_sim)],
        notifiers=[
            slack(slack_standin, name="plain", channel="#plain"),
            slack(slack_standin, name="app", channel="#app", interactive=app),
            {"name": "hook", "type": "slack_webhook", "url": slack_standin.webhook_url},
        ],
        notify=["plain", "app", "hook"],
        rules=[threshold(warn_above=1)],
    )
    assert await once(parse(doc, "buttons.yaml"), sim_clock) == 0

    def actions(channel: str) -> list[list[str]]:
        messages = slack_standin.messages(channel)
        assert len(messages) == 1 and messages[0].text.startswith("[WARN] backlog-size"), messages
        return [
            [element["action_id"] for element in block["elements"]]
            for block in messages[0].blocks
            if block["type"] == "actions"
        ]

    assert actions("#plain") == []
    assert actions(slack_standin.webhook_channel) == []
    assert actions("#app") == [
        ["backlog_watch.acknowledge", "backlog_watch.snooze", "backlog_watch.unsnooze", "backlog_watch.take_oldest"]
    ]

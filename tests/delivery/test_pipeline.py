"""The delivery pipeline one stage at a time: mute, plan, enqueue, send + record (delivery/pipeline.py).

SQLite on disk under the outbox; notifiers are small fakes that record what they were told, so each
stage is checked alone: the end-to-end runs through real Slack are in test_delivery.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from backlog_watch.alerting.acknowledgements import Acknowledgement
from backlog_watch.alerting.alerts import advance
from backlog_watch.alerting.policy import DeliveryPolicy
from backlog_watch.alerting.silences import Matcher, Silence, Silences
from backlog_watch.delivery.dedup import Delivery, Notification, Reason
from backlog_watch.delivery.outbox import Outbox, OutboxRow
from backlog_watch.delivery.pipeline import DECODE_BATCH, Deliverer, acknowledgement_news, enqueue, mute, plan_due
from backlog_watch.errors import NotifyError
from backlog_watch.models import Alert, Finding, Sla, SlaKind, SlaTarget
from backlog_watch.rules.backlog import RuleBase, ThresholdRule
from backlog_watch.store.codec import AlertBodies, alert_from_json, alert_to_json
from backlog_watch.store.sqlite import SqliteStore
from tests.factories import NOW, ticket

MIN = timedelta(minutes=1)
SCOPE = (("helpdesk", "zendesk"),)


def finding(rule: str = "size") -> Finding:
    return Finding(rule=rule, labels=SCOPE, level="warn", value=60, threshold=50, summary="60 open")


def rule(name: str = "size", notify: tuple[str, ...] = ("slack", "console")) -> ThresholdRule:
    return ThresholdRule(name=name, type="threshold", metric="open_tickets", warn_above=50, notify=notify)


class Recorder:
    """A notifier that fails while ``down``, waits while ``gate`` is closed, and records what it was told."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.down = False
        self.gate: asyncio.Event | None = None
        self.sent: list[tuple[str, Reason]] = []
        self.calls = 0

    async def send(self, notification: Notification) -> Delivery:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise NotifyError("HTTP 500", notifier=self.name)
        self.sent.append((notification.alert.rule, notification.reason))
        return Delivery(channel="C1", ts=f"ts{len(self.sent)}")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "bw.db")
    yield opened
    opened.close()


def deliverer(outbox: Outbox, rules: dict[str, RuleBase], *notifiers: Recorder) -> Deliverer:
    return Deliverer(outbox, {n.name: n for n in notifiers}, lambda: rules)


def queue(outbox: Outbox, alerts: dict[str, Alert], rules: dict[str, RuleBase], now: timedelta = timedelta(0)) -> None:
    """The synchronous stages, as the daemon runs them under its evaluation lock."""
    marked, muted = mute(alerts, rules, DeliveryPolicy(), [], NOW + now)
    enqueue(outbox, plan_due(marked, rules, outbox, NOW + now, {}, muted), NOW + now)


def test_mute_marks_a_silenced_alert_and_plan_leaves_it_out(store: SqliteStore) -> None:
    rules: dict[str, RuleBase] = {"size": rule(), "other": rule("other")}
    alerts = advance({}, [finding(), finding("other")], NOW, list(rules))
    silence = Silences(store).add(
        [Matcher.parse("rule=size")], ends_at=NOW + MIN, created_by="alice", comment="import", now=NOW
    )
    marked, muted = mute(alerts, rules, DeliveryPolicy(), [silence], NOW)
    (silenced,) = muted
    assert marked[silenced].rule == "size" and muted[silenced].reason == "silenced"
    assert all(a.muted is None for fp, a in marked.items() if fp != silenced)
    due = plan_due(marked, rules, Outbox(store), NOW, {}, muted)
    assert sorted((n, x.alert.rule) for n, x in due) == [("console", "other"), ("slack", "other")]


def test_mute_with_no_silence_marks_nothing(store: SqliteStore) -> None:
    rules: dict[str, RuleBase] = {"size": rule()}
    alerts = advance({}, [finding()], NOW, ["size"])
    silences: list[Silence] = []
    marked, muted = mute(alerts, rules, DeliveryPolicy(), silences, NOW)
    assert muted == {} and [a.muted for a in marked.values()] == [None]


def test_plan_does_not_plan_twice_what_is_queued(store: SqliteStore) -> None:
    rules: dict[str, RuleBase] = {"size": rule()}
    outbox = Outbox(store)
    alerts = advance({}, [finding()], NOW, ["size"])
    due = plan_due(alerts, rules, outbox, NOW, {}, {})
    assert sorted((n, x.reason) for n, x in due) == [("console", Reason.FIRING), ("slack", Reason.FIRING)]
    enqueue(outbox, due, NOW)
    assert [r.notifier for r in outbox.rows()] == ["slack", "console"]
    assert plan_due(alerts, rules, outbox, NOW + MIN, {}, {}) == []


def test_a_queued_row_keeps_its_helpdesks_poll_and_reads_back_as_planned(store: SqliteStore) -> None:
    """The freshness line of a helpdesk's alert names that helpdesk's poll: its row keeps only that one (500
    helpdesks were 500 entries in each of thousands of rows), an alert of no helpdesk keeps every poll;
    the row read back is the notification planned, its alert and tickets whole."""
    rules: dict[str, RuleBase] = {"size": rule(), "all": rule("all")}
    due_sla = Sla(resolution_due=NOW + MIN, targets=(SlaTarget(kind=SlaKind.RESOLUTION, due=NOW + MIN),))
    listed = (ticket(id="7", tags=("vip", "billing"), sla=due_sla), ticket(id="8"))
    polls = {"zendesk": NOW - MIN, "jira": NOW - 2 * MIN, "freshdesk": None}
    everywhere = Finding(rule="all", labels=(), level="critical", value=3, threshold=2, summary="3 open")
    alerts = advance({}, [replace(finding(), tickets=listed, ticket_count=2), everywhere], NOW, list(rules))
    outbox = Outbox(store)
    enqueue(outbox, plan_due(alerts, rules, outbox, NOW, polls, {}), NOW)
    read = {(r.notifier, n.alert.rule): n for r in outbox.rows() if (n := outbox.notification(r, rules))}
    assert set(read) == {(notifier, name) for notifier in ("slack", "console") for name in rules}
    assert read[("slack", "size")].data_as_of == {"zendesk": NOW - MIN}
    assert read[("console", "all")].data_as_of == polls
    by_rule = {a.rule: a for a in alerts.values()}
    assert read[("slack", "size")].alert == by_rule["size"] and read[("slack", "size")].alert.tickets == listed
    assert read[("slack", "all")].alert == by_rule["all"]


def test_an_evaluations_bodies_encode_each_alert_once() -> None:
    (alert,) = advance({}, [replace(finding(), tickets=(ticket(id="7"),), ticket_count=1)], NOW, ["size"]).values()
    bodies = AlertBodies()
    body = bodies(alert)
    assert body == alert_to_json(alert) and alert_from_json(body) == alert
    assert bodies(alert) is body  # the same text again, not encoded twice
    assert bodies(replace(alert, level="critical")) != body  # another alert, its own body


async def test_a_failed_send_is_not_recorded_and_goes_out_at_the_next_round(store: SqliteStore) -> None:
    """Moved from dispatch.deliver's test onto the real pipeline: the outbox keeps the failure, not the log."""
    rules: dict[str, RuleBase] = {"size": rule()}
    outbox = Outbox(store)
    slack, console = Recorder("slack"), Recorder("console")
    slack.down = True
    alerts = advance({}, [finding()], NOW, ["size"])
    queue(outbox, alerts, rules)
    result = await deliverer(outbox, rules, slack, console).deliver(NOW)
    assert [n for n, _, _ in result.failed] == ["slack"] and [n for n, _ in result.sent] == ["console"]
    fp = next(iter(alerts))
    assert store.log_entry(fp, "slack") is None  # not recorded: it waits in the outbox

    slack.down = False
    queue(outbox, alerts, rules, MIN)  # the next evaluation plans nothing new: console is not told twice
    assert [r.notifier for r in outbox.rows()] == ["slack"]
    result = await deliverer(outbox, rules, slack, console).deliver(NOW + MIN)
    assert [(n, x.reason) for n, x in result.sent] == [("slack", Reason.FIRING)]
    assert outbox.rows() == [] and plan_due(alerts, rules, outbox, NOW + 2 * MIN, {}, {}) == []
    entry = store.log_entry(fp, "slack")
    assert entry is not None and (entry.channel, entry.ts) == ("C1", "ts1")
    assert console.sent == [("size", Reason.FIRING)]


async def test_one_slow_notifier_does_not_hold_up_the_others(store: SqliteStore) -> None:
    rules: dict[str, RuleBase] = {"size": rule(), "other": rule("other")}
    outbox = Outbox(store)
    slack, console = Recorder("slack"), Recorder("console")
    slack.gate = asyncio.Event()  # Slack pacing, as slow as it likes
    queue(outbox, advance({}, [finding(), finding("other")], NOW, list(rules)), rules)
    round_ = asyncio.create_task(deliverer(outbox, rules, slack, console).deliver(NOW))
    async with asyncio.timeout(5):
        while len(console.sent) < 2:
            await asyncio.sleep(0)
    assert slack.sent == [] and not round_.done()  # console got both while Slack still waits
    slack.gate.set()
    result = await asyncio.wait_for(round_, 5)
    assert sorted(slack.sent) == [("other", Reason.FIRING), ("size", Reason.FIRING)]
    assert len(result.sent) == 4 and outbox.rows() == []


async def test_the_news_of_one_alert_reach_a_notifier_in_order(store: SqliteStore) -> None:
    rules: dict[str, RuleBase] = {"size": rule(notify=("slack",))}
    outbox = Outbox(store)
    slack = Recorder("slack")
    fired = advance({}, [finding()], NOW, ["size"])
    queue(outbox, fired, rules)
    resolved = advance(fired, [], NOW + MIN, ["size"])
    queue(outbox, resolved, rules, MIN)
    again = advance(resolved, [finding()], NOW + 2 * MIN, ["size"])
    queue(outbox, again, rules, 2 * MIN)
    assert len(outbox.rows()) == 3
    await deliverer(outbox, rules, slack).deliver(NOW + 3 * MIN)
    assert [reason for _, reason in slack.sent] == [Reason.FIRING, Reason.RESOLVED, Reason.FIRING]


async def test_a_stopping_deliverer_claims_nothing_more(store: SqliteStore) -> None:
    rules: dict[str, RuleBase] = {"size": rule(notify=("slack",)), "other": rule("other", notify=("slack",))}
    outbox = Outbox(store)
    slack = Recorder("slack")
    slack.gate = asyncio.Event()
    queue(outbox, advance({}, [finding(), finding("other")], NOW, list(rules)), rules)
    sender = deliverer(outbox, rules, slack)
    round_ = asyncio.create_task(sender.deliver(NOW))
    async with asyncio.timeout(5):
        while slack.calls == 0:
            await asyncio.sleep(0)
    sender.stopping = True  # SIGTERM while the first message is in flight
    slack.gate.set()
    await asyncio.wait_for(round_, 5)
    assert len(slack.sent) == 1 and len(outbox.rows()) == 1  # the other waits for the next start
    assert outbox.claim(NOW) != []  # released, not left claimed


async def test_a_stopping_deliverer_decodes_no_more_of_a_storm(store: SqliteStore) -> None:
    """Claimed rows are decoded a batch at a time: SIGTERM during a storm's first send leaves the rest
    undecoded and released (decoding thousands at once ran on for seconds past the signal)."""
    names = [f"rule-{i}" for i in range(3 * DECODE_BATCH)]
    rules: dict[str, RuleBase] = {name: rule(name, notify=("slack",)) for name in names}
    outbox = Counting(store)
    slack = Recorder("slack")
    slack.gate = asyncio.Event()
    queue(outbox, advance({}, [finding(name) for name in names], NOW, names), rules)
    sender = deliverer(outbox, rules, slack)
    round_ = asyncio.create_task(sender.deliver(NOW))
    async with asyncio.timeout(5):
        while slack.calls == 0:
            await asyncio.sleep(0)
    sender.stopping = True
    slack.gate.set()
    await asyncio.wait_for(round_, 5)
    assert len(slack.sent) == 1 and len(outbox.rows()) == len(names) - 1
    assert outbox.decoded == DECODE_BATCH  # the first batch only, not the whole claim
    assert len(outbox.claim(NOW)) == len(names) - 1  # all released


class Counting(Outbox):
    """An outbox that counts the rows decoded."""

    decoded = 0

    def notification(self, row: OutboxRow, rules: Mapping[str, RuleBase]) -> Notification | None:
        self.decoded += 1
        return super().notification(row, rules)


class Pager(Recorder):
    """A notifier that acts on acknowledgements (as a PagerDuty notifier acknowledges its incident)."""

    acknowledges = True


async def test_an_acknowledgement_reaches_only_notifiers_that_act_on_it_and_stops_repeats(store: SqliteStore) -> None:
    rules: dict[str, RuleBase] = {"size": rule(notify=("pager", "console"))}
    outbox = Outbox(store)
    pager, console = Pager("pager"), Recorder("console")
    alerts = advance({}, [finding()], NOW, ["size"])
    queue(outbox, alerts, rules)
    await deliverer(outbox, rules, pager, console).deliver(NOW)
    alert = next(iter(alerts.values()))
    ack = Acknowledgement("alice", NOW + MIN, "warn", alert.ticket_count)
    enqueue(outbox, acknowledgement_news(alert, rules["size"], ack, outbox, NOW + MIN), NOW + MIN)
    result = await deliverer(outbox, rules, pager, console).deliver(NOW + MIN)
    assert pager.sent == [("size", Reason.FIRING), ("size", Reason.ACKNOWLEDGED)]
    assert console.sent == [("size", Reason.FIRING)]  # not told, only logged
    assert [n for n, _ in result.sent] == ["pager"] and outbox.rows() == []
    logged = store.log_entry(alert.fingerprint, "console")
    assert logged is not None and logged.sent_at == NOW + MIN

    later = NOW + timedelta(days=2)  # past repeat_every (4h by default): repeats, unless acknowledged
    acknowledged = {alert.fingerprint: ack}
    assert plan_due(alerts, rules, outbox, later, {}, {}, acknowledged) == []
    assert sorted(n for n, _ in plan_due(alerts, rules, outbox, later, {}, {})) == ["console", "pager"]
    resolved = advance(alerts, [], later, ["size"])
    assert [x.reason for _, x in plan_due(resolved, rules, outbox, later, {}, {}, acknowledged)] == [
        Reason.RESOLVED,
        Reason.RESOLVED,
    ]

"""The alert state machine and the dedup decision: pure functions of (previous, findings, log, now)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from backlog_watch.alerting.alerts import advance
from backlog_watch.delivery.dedup import Delivery, Notification, Reason, deliver, needs_notify, plan
from backlog_watch.errors import NotifyError
from backlog_watch.models import Alert, AlertState, Finding, LogEntry, fingerprint
from backlog_watch.rules.backlog import ThresholdRule
from backlog_watch.store.sqlite import SqliteStore
from tests.factories import NOW

SCOPE = (("helpdesk", "zendesk"),)
MIN = timedelta(minutes=1)


def finding(level: str = "warn", value: float = 60, hold: timedelta = timedelta(0)) -> Finding:
    return Finding(
        rule="size",
        labels=SCOPE,
        level=level,
        value=value,
        threshold=50,  # type: ignore[arg-type]
        summary=f"open_tickets is {value:g}",
        hold_for=hold,
    )


def test_fingerprint_is_stable_and_depends_on_rule_and_scope() -> None:
    assert fingerprint("size", SCOPE) == fingerprint("size", SCOPE)
    assert fingerprint("size", SCOPE) != fingerprint("size", (("helpdesk", "jira"),))
    assert fingerprint("size", SCOPE) != fingerprint("aging", SCOPE)
    assert len(fingerprint("size", SCOPE)) == 16


def test_lifecycle_without_hold_fires_at_once_then_resolves_then_is_forgotten() -> None:
    alerts = advance({}, [finding()], NOW, ["size"])
    (alert,) = alerts.values()
    assert (alert.state, alert.firing_since) == (AlertState.FIRING, NOW)
    alerts = advance(alerts, [finding(value=70)], NOW + MIN, ["size"])
    (alert,) = alerts.values()
    assert (alert.state, alert.firing_since, alert.value) == (AlertState.FIRING, NOW, 70)
    alerts = advance(alerts, [], NOW + 2 * MIN, ["size"])
    (alert,) = alerts.values()
    assert (alert.state, alert.resolved_at) == (AlertState.RESOLVED, NOW + 2 * MIN)
    assert advance(alerts, [], NOW + timedelta(days=8), ["size"]) == {}


def test_for_holds_the_alert_pending_and_a_blip_never_fires() -> None:
    hold = 10 * MIN
    alerts = advance({}, [finding(hold=hold)], NOW, ["size"])
    assert next(iter(alerts.values())).state is AlertState.PENDING
    alerts = advance(alerts, [finding(hold=hold)], NOW + 5 * MIN, ["size"])
    assert next(iter(alerts.values())).state is AlertState.PENDING
    assert advance(alerts, [], NOW + 6 * MIN, ["size"]) == {}  # pending goes away without a notice
    alerts = advance(alerts, [finding(hold=hold)], NOW + 10 * MIN, ["size"])
    assert next(iter(alerts.values())).state is AlertState.FIRING


def test_rules_not_evaluated_keep_their_alerts() -> None:
    alerts = advance({}, [finding()], NOW, ["size"])
    assert advance(alerts, [], NOW + MIN, []) == alerts


def _entry(alert: Alert, *, state: AlertState = AlertState.FIRING, level: str = "warn", at=NOW) -> LogEntry:
    return LogEntry(alert.fingerprint, "slack", episode=alert.firing_since or NOW, state=state, level=level, sent_at=at)


@pytest.mark.parametrize(
    ("entry_kind", "alert_kind", "later", "expected"),
    [
        (None, "firing", MIN, Reason.FIRING),
        ("firing", "firing", MIN, None),  # already told: no duplicate
        ("firing", "firing", timedelta(hours=4), Reason.REPEAT),
        ("firing", "critical", MIN, Reason.ESCALATED),
        ("firing", "resolved", MIN, Reason.RESOLVED),
        ("resolved", "resolved", MIN, None),
        (None, "resolved", MIN, None),  # never told it fired: no resolved notice
        ("old-episode", "firing", MIN, Reason.FIRING),
    ],
)
def test_needs_notify(entry_kind: str | None, alert_kind: str, later: timedelta, expected: Reason | None) -> None:
    fired = next(iter(advance({}, [finding()], NOW, ["size"]).values()))
    escalated = advance({fired.fingerprint: fired}, [finding("critical")], NOW + MIN, ["size"])
    alert = {
        "firing": fired,
        "critical": next(iter(escalated.values())),
        "resolved": next(iter(advance({fired.fingerprint: fired}, [], NOW + MIN, ["size"]).values())),
    }[alert_kind]
    entry = {
        None: None,
        "firing": _entry(fired),
        "resolved": _entry(fired, state=AlertState.RESOLVED),
        "old-episode": LogEntry(
            fired.fingerprint,
            "slack",
            episode=NOW - timedelta(days=1),
            state=AlertState.FIRING,
            level="warn",
            sent_at=NOW - timedelta(days=1),
        ),
    }[entry_kind]
    assert needs_notify(entry, alert, NOW + later, repeat_every=timedelta(hours=4), send_resolved=True) == expected


def test_send_resolved_false_sends_no_resolved_notice() -> None:
    fired = next(iter(advance({}, [finding()], NOW, ["size"]).values()))
    resolved = next(iter(advance({fired.fingerprint: fired}, [], NOW + MIN, ["size"]).values()))
    assert needs_notify(_entry(fired), resolved, NOW + MIN, repeat_every=MIN, send_resolved=False) is None


class Flaky:
    """A notifier that fails while ``down`` and records what it delivered."""

    def __init__(self, name: str) -> None:
        self.name, self.down, self.sent = name, False, []

    async def send(self, notification: Notification) -> Delivery:
        if self.down:
            raise NotifyError("HTTP 500", notifier=self.name)
        self.sent.append(notification.reason)
        return Delivery(channel="C1", ts=f"ts{len(self.sent)}")


async def test_a_failed_send_is_not_recorded_and_goes_out_at_the_next_evaluation(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "bw.db")
    rule = ThresholdRule(
        name="size", type="threshold", metric="open_tickets", warn_above=50, notify=("slack", "console")
    )
    rules = {"size": rule}
    slack, console = Flaky("slack"), Flaky("console")
    slack.down = True
    alerts = advance({}, [finding()], NOW, ["size"])
    result = await deliver(plan(list(alerts.values()), rules, store, NOW), {"slack": slack, "console": console}, store)
    assert [n for n, _, _ in result.failed] == ["slack"] and [n for n, _ in result.sent] == ["console"]
    assert store.log_entry(alerts[finding().fingerprint].fingerprint, "slack") is None

    slack.down = False
    due = plan(list(alerts.values()), rules, store, NOW + MIN)
    assert [(n, x.reason) for n, x in due] == [("slack", Reason.FIRING)]  # console is not told twice
    await deliver(due, {"slack": slack, "console": console}, store)
    assert plan(list(alerts.values()), rules, store, NOW + 2 * MIN) == []
    entry = store.log_entry(next(iter(alerts)), "slack")
    assert entry is not None and (entry.channel, entry.ts) == ("C1", "ts1")
    store.close()

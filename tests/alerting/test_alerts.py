"""The alert state machine and the dedup decision: pure functions of (previous, findings, log, now)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backlog_watch.alerting.alerts import Reading, advance
from backlog_watch.delivery.dedup import Reason, needs_notify
from backlog_watch.models import Alert, AlertState, Finding, LogEntry, fingerprint
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


def test_an_alert_found_as_it_was_is_kept_whole_and_one_that_changed_is_new() -> None:
    """What lets the store write only the alerts an evaluation changed."""
    first = advance({}, [finding()], NOW, ["size"])
    again = advance(first, [finding()], NOW + MIN, ["size"])
    (fp,) = first
    assert again[fp] is first[fp] and again[fp].evaluated_at == NOW
    moved = advance(again, [finding(value=61)], NOW + 2 * MIN, ["size"])
    assert moved[fp].value == 61 and moved[fp].evaluated_at == NOW + 2 * MIN
    assert moved[fp].firing_since == NOW  # the same episode


def notices(values: list[float], keep: timedelta) -> list[tuple[int, Reason]]:
    """Evaluate a backlog once a minute (threshold 50) and notify as the pipeline would: (minute, why)."""
    alerts: dict[str, Alert] = {}
    entry: LogEntry | None = None
    sent = []
    for minute, value in enumerate(values):
        now = NOW + minute * MIN
        alerts = advance(alerts, [finding(value=value)] if value > 50 else [], now, ["size"], None, {"size": keep})
        for alert in alerts.values():
            reason = needs_notify(entry, alert, now, repeat_every=timedelta(hours=4), send_resolved=True)
            if reason is not None:
                sent.append((minute, reason))
                entry = _entry(alert, state=alert.state, at=now)
    return sent


HOVERING = [55, 48, 52, 49, 51, 47, 53, 50, 56, 44, 45, 46, 43, 42, 41, 40, 40, 40, 40, 40, 40, 40]
"""A backlog around its threshold of 50 for ten minutes, then below it for good from minute 9."""


def test_keep_firing_for_makes_a_hovering_backlog_one_episode() -> None:
    flapping = notices(HOVERING, timedelta(0))
    assert [why for _, why in flapping].count(Reason.FIRING) == 5  # one episode per crossing
    damped = notices(HOVERING, 5 * MIN)
    assert damped == [(0, Reason.FIRING), (14, Reason.RESOLVED)]  # false from minute 9, resolved 5m later


def test_an_alert_kept_firing_resolves_only_after_keep_firing_for_and_says_where_it_stands() -> None:
    keep = {"size": 10 * MIN}
    alerts = advance({}, [finding()], NOW, ["size"], None, keep)
    (fired,) = alerts.values()
    alerts = advance(alerts, [], NOW + MIN, ["size"], None, keep)
    (kept,) = alerts.values()
    assert (kept.state, kept.firing_since, kept.kept_firing_since) == (AlertState.FIRING, NOW, NOW + MIN)
    assert advance(alerts, [], NOW + 10 * MIN, ["size"], None, keep) == alerts  # unchanged: nothing to write
    reading = {fired.fingerprint: Reading(42, "open_tickets is 42")}
    (resolved,) = advance(alerts, [], NOW + 11 * MIN, ["size"], reading, keep).values()
    assert (resolved.state, resolved.resolved_at, resolved.value) == (AlertState.RESOLVED, NOW + 11 * MIN, 42)
    assert resolved.kept_firing_since is None
    # Found again while kept: the same episode goes on, and the count starts afresh next time.
    (again,) = advance(alerts, [finding(value=58)], NOW + 5 * MIN, ["size"], None, keep).values()
    assert (again.state, again.firing_since, again.kept_firing_since) == (AlertState.FIRING, NOW, None)


def test_keep_firing_for_does_not_hold_a_pending_alert() -> None:
    keep = {"size": 10 * MIN}
    alerts = advance({}, [finding(hold=5 * MIN)], NOW, ["size"], None, keep)
    assert advance(alerts, [], NOW + MIN, ["size"], None, keep) == {}

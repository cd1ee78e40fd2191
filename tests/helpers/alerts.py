"""Alerts and notifications for table tests, built in memory (no rule evaluation, no store)."""

from __future__ import annotations

from datetime import timedelta

from backlog_watch.delivery.dedup import Notification, Reason
from backlog_watch.models import Alert, AlertState, Priority, Sla, labels_of
from backlog_watch.rules.backlog import ThresholdRule
from tests.factories import NOW, ticket

URGENT_RULE = ThresholdRule(name="urgent-backlog", type="threshold", metric="open_tickets", critical_above=20)


def alert(rule: str, level: str = "warn", state: AlertState = AlertState.FIRING, **labels: str) -> Alert:
    """An alert of ``rule`` at ``level``, firing since NOW, scoped by ``labels`` (default helpdesk=zendesk)."""
    scope = labels_of(labels or {"helpdesk": "zendesk"})
    return Alert(
        fingerprint=f"{rule}:{scope}",
        rule=rule,
        labels=scope,
        state=state,
        level=level,  # type: ignore[arg-type]
        value=1,
        threshold=0,
        summary="",
        tickets=(),
        ticket_count=0,
        active_since=NOW,
        firing_since=NOW,
    )


def urgent_notification(count: int = 23) -> Notification:
    """URGENT_RULE firing critical on ``count`` urgent tickets, their subjects full of HTML specials."""
    tickets = tuple(
        ticket(
            id=str(500 + i),
            subject=f"Refund <{i}> & more",
            priority=Priority.URGENT,
            age=timedelta(hours=30 - i),
            sla=Sla(first_response_due=NOW + timedelta(minutes=25)) if i == 0 else Sla(),
        )
        for i in range(count)
    )
    alert = Alert(
        fingerprint="f" * 16,
        rule="urgent-backlog",
        labels=(("helpdesk", "zendesk"),),
        state=AlertState.FIRING,
        level="critical",
        value=float(count),
        threshold=20,
        summary=f"open_tickets is {count} (critical above 20)",
        tickets=tickets,
        ticket_count=count,
        active_since=NOW,
        firing_since=NOW,
    )
    return Notification(alert, Reason.FIRING, URGENT_RULE, NOW, data_as_of={"zendesk": NOW - timedelta(minutes=2)})

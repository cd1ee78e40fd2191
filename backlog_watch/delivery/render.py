"""The words of a notification, shared by every notifier: title, scope, ticket lines, freshness."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from backlog_watch.delivery.dedup import Notification, Reason, data_in_scope
from backlog_watch.durations import human_duration
from backlog_watch.kpis import NO_GROUP
from backlog_watch.models import Alert, AlertState, Ticket
from backlog_watch.templating import render_template, ticket_context

LISTED = 10
"""Tickets listed in one message; the rest are counted ("and 13 more")."""

UTC_ZONE = ZoneInfo("UTC")


def severity(notification: Notification) -> str:
    if notification.alert.state is AlertState.RESOLVED:
        return "RESOLVED"
    return notification.alert.level.upper()


def scope_text(alert: Alert) -> str:
    return ", ".join("no group" if value == NO_GROUP else value for _, value in alert.labels) or "all helpdesks"


def headline(notification: Notification) -> str:
    """The value in a few words: "23 open", "12 tickets older than 7d" (each rule type says its own)."""
    return notification.rule.headline(notification.alert)


def terms(notification: Notification) -> str:
    """When this rule fires, in its own words: "older than 7d", "due within 30m", "days to clear above 7.2"."""
    return notification.rule.terms(notification.alert)


def title(notification: Notification) -> str:
    """`[CRITICAL] urgent-backlog: 23 open (zendesk)`, or the rule's ``template.title``."""
    alert = notification.alert
    template = notification.rule.template
    if template is not None and template.title:
        custom = render_template(template.title, template_context(notification))
        if custom:
            return " ".join(custom.split())[:250]
    return f"[{severity(notification)}] {alert.rule}: {headline(notification)} ({scope_text(alert)})"


def text(notification: Notification) -> str:
    """The summary line under the title: the alert's own words, or the rule's ``template.text``."""
    template = notification.rule.template
    if template is not None and template.text:
        custom = render_template(template.text, template_context(notification))
        if custom:
            return custom
    return notification.alert.summary


def template_context(notification: Notification) -> dict[str, object]:
    """What a rule's templates can use (documented in templating.py and the README)."""
    alert = notification.alert
    return {
        "alert": {
            "rule": alert.rule,
            "level": alert.level,
            "state": alert.state.value,
            "value": alert.value,
            "threshold": alert.threshold,
            "summary": alert.summary,
            "ticket_count": alert.ticket_count,
            "labels": alert.label_map,
            "firing_since": alert.firing_since,
            "resolved_at": alert.resolved_at,
            "fingerprint": alert.fingerprint,
        },
        "tickets": [ticket_context(t, notification.now) for t in alert.tickets],
        "reason": notification.reason.value,
        "severity": severity(notification),
        "helpdesk": alert.label_map.get("helpdesk", ""),
        "scope": scope_text(alert),
        "headline": headline(notification),
        "now": notification.now,
    }


def local_time(moment: datetime, tz: ZoneInfo = UTC_ZONE) -> str:
    """`2026-03-02 09:42 CET`: a moment in the configured timezone, saying which."""
    local = moment.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def fired_for(alert: Alert) -> timedelta | None:
    """How long a resolved alert fired."""
    if alert.firing_since is None or alert.resolved_at is None:
        return None
    return alert.resolved_at - alert.firing_since


def reason_text(notification: Notification, tz: ZoneInfo = UTC_ZONE) -> str:
    alert = notification.alert
    match notification.reason:
        case Reason.FIRING:
            return firing_text(alert, tz)
        case Reason.ESCALATED:
            return f"Escalated to {alert.level}"
        case Reason.MORE_TICKETS:
            return f"Now {alert.ticket_count} ticket{'s' if alert.ticket_count != 1 else ''}"
        case Reason.REPEAT:
            since = alert.firing_since or notification.now
            return f"Still firing, for {human_duration(notification.now - since)}"
        case Reason.RESOLVED:
            return resolved_text(notification, tz)
        case Reason.ACKNOWLEDGED:
            return acknowledged_text(notification, tz)


def firing_text(alert: Alert, tz: ZoneInfo = UTC_ZONE) -> str:
    return f"Firing since {local_time(alert.firing_since, tz)}" if alert.firing_since else "Firing"


def acknowledged_text(notification: Notification, tz: ZoneInfo = UTC_ZONE) -> str:
    """`Acknowledged by @alice at 10:42` (the time in the configured timezone)."""
    ack = notification.acknowledged
    if ack is None:
        return "Acknowledged"
    return f"Acknowledged by @{ack.by.lstrip('@')} at {ack.at.astimezone(tz):%H:%M}"


def resolved_text(notification: Notification, tz: ZoneInfo = UTC_ZONE) -> str:
    """`Resolved: open tickets is 18 now (critical above 20), after firing for 2h 15m`: where the scope
    stands now (the alert took its value at resolution, alerts.advance) against what made it fire."""
    alert, rule = notification.alert, notification.rule
    if alert.resolved_at is None:
        return "Resolved"
    fired = fired_for(alert)
    after = f", after firing for {human_duration(fired)}" if fired is not None else ""
    now = rule.resolved(alert)
    if now is None:
        return f"Resolved at {local_time(alert.resolved_at, tz)}{after}"
    return f"Resolved: {now}{after}"


def escalation_text(notification: Notification) -> str:
    """`Escalated: firing for more than 2h` when an escalation step brought this notifier in."""
    step = notification.escalation
    if step is None:
        return ""
    return f"Escalated: firing for more than {human_duration(step.after)}"


def ticket_facts(ticket: Ticket, now: datetime) -> str:
    """`urgent, 3d 4h old, open, Billing, SLA due in 25m`."""
    age = human_duration(now - ticket.created_at)
    facts = [ticket.priority.value, f"{age} old", ticket.status.value.replace("_", " ")]
    if ticket.group:
        facts.append(ticket.group)
    facts.append(ticket.assignee or "unassigned")
    due = ticket.sla.earliest_due
    if due is not None:
        facts.append(
            f"SLA due in {human_duration(due - now)}" if due > now else f"SLA breached {human_duration(now - due)} ago"
        )
    return ", ".join(facts)


def listed(alert: Alert, limit: int = LISTED) -> tuple[Sequence[Ticket], int]:
    """The tickets to list and how many more there are."""
    shown = alert.tickets[:limit]
    return shown, max(0, alert.ticket_count - len(shown))


def freshness(notification: Notification, tz: ZoneInfo = UTC_ZONE) -> str:
    """`Data as of zendesk 09:42 CET`, from the last successful poll of each helpdesk in scope."""
    items = data_in_scope(notification.alert, notification.data_as_of)  # rows queued before it was narrowed
    if not items:
        return f"Evaluated at {local_time(notification.now, tz)}"
    parts = [
        f"{name} {moment.astimezone(tz):%H:%M %Z}" if moment else f"{name} never polled"
        for name, moment in items.items()
    ]
    return "Data as of " + ", ".join(parts)

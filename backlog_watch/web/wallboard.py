"""What the wallboard shows (and /api/backlog serves): a total across helpdesks, then per helpdesk the
backlog, its priority split, its 14-day trend against the week before, the oldest and p90 ages, SLA at
risk and breached, days to clear, and the alerts firing with their scope and age, coloured by the rules'
levels.

"A display everyone can see: when it turns red, everyone sees it." A helpdesk is red (CRITICAL) while a
critical alert fires in its scope, amber (WARN) while a warning does, green (OK) otherwise: the word is
served with the colour, for those who cannot tell red from green. An alert that fires but is not notified
(silenced, inhibited, quiet hours) still colours the board and says "muted: why". Nothing secret is
served: no token, no API URL; ticket links point at the helpdesk's agent UI, which the team can open anyway.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from backlog_watch.alerting.acknowledgements import standing
from backlog_watch.delivery.render import scope_text
from backlog_watch.durations import human_duration
from backlog_watch.kpis import Scope, days_to_clear_shown
from backlog_watch.models import ALL_TICKETS, Alert, AlertState, TicketQuery
from backlog_watch.store import ActionRecord, Store
from backlog_watch.store.read_model import ReadModel

SPARK_DAYS = 14
SPARK_STEP = timedelta(hours=12)
SPARK_POINTS = SPARK_DAYS * 2
"""The sparkline: the open backlog every 12 hours over the last 14 days, then now; last week's line is
the same moments 7 days earlier, drawn faint behind it."""
LAST_WEEK = timedelta(days=7)
ACTIONS_SHOWN = timedelta(days=1)
"""How far back the board lists people's actions on alerts."""
PRIORITIES = ("urgent", "high", "normal", "low")
STATUS_BY_LEVEL = {"critical": "red", "warn": "amber"}
WORD_BY_STATUS = {"red": "CRITICAL", "amber": "WARN", "green": "OK"}
_SEVERITY_ORDER = {"critical": 0, "warn": 1}
SHOWN_KPIS = ("sla_breached", "sla_due_1h", "age_p90_hours")
"""The KPIs a card shows besides the counts it reads itself."""


def _in_scope(alert: Alert, helpdesk: str) -> bool:
    scoped = alert.label_map.get("helpdesk")
    return scoped is None or scoped == helpdesk


def status_of(alerts: list[Alert]) -> str:
    """red while a critical alert fires, amber while a warning does, green otherwise."""
    levels = {a.level for a in alerts}
    return "red" if "critical" in levels else ("amber" if "warn" in levels else "green")


def _worst(statuses: Sequence[str]) -> str:
    return "red" if "red" in statuses else ("amber" if "amber" in statuses else "green")


def _spark_moments(now: datetime) -> list[datetime]:
    """The sparkline's moments (oldest first, ending now), then last week's, then 24 hours ago."""
    this_week = [now - SPARK_STEP * i for i in range(SPARK_POINTS, -1, -1)]
    return this_week + [m - LAST_WEEK for m in this_week] + [now - timedelta(days=1)]


def _kpi(
    query: TicketQuery, names: Sequence[str], latest: dict[Scope, tuple[datetime, dict[str, float]]]
) -> dict[str, float]:
    """The KPIs the board shows: for one helpdesk, those its last evaluation stored when there is one; else
    (before the first evaluation, and for the total across helpdesks) the figures the rules get, by the queries
    they run (store/aggregate.py: GROUP BYs over the covering indexes, a ranking by age), no ticket built."""
    if len(names) != 1:
        return query.kpis(ALL_TICKETS, (), {}).get((), {})
    scope = (("helpdesk", names[0]),)
    point = latest.get(scope)
    if point is not None and all(m in point[1] for m in SHOWN_KPIS):
        return point[1]
    return query.kpis(ALL_TICKETS, ("helpdesk",), {}).get(scope, {})


def _oldest(read: ReadModel, names: Sequence[str], now: datetime) -> dict[str, Any] | None:
    found = [o for o in (read.oldest_open(name) for name in names) if o is not None]
    if not found:
        return None
    oldest = min(found, key=lambda o: o.created_at)
    return {
        "id": oldest.id,
        "subject": oldest.subject,
        "priority": oldest.priority,
        "age": human_duration(now - oldest.created_at),
        "age_hours": round((now - oldest.created_at).total_seconds() / 3600, 1),
        "url": oldest.url,
    }


def _priority_split(read: ReadModel, names: Sequence[str], now: datetime) -> dict[str, int]:
    """Open tickets per priority, urgent first; a priority outside the four is counted as normal."""
    split = dict.fromkeys(PRIORITIES, 0)
    for name in names:
        for priority, count in read.open_by("priority", now, name).items():
            split[priority if priority in split else "normal"] += count
    return split


def scope_words(alert: Alert) -> str:
    """The scope as the room says it, helpdesk first: "zendesk, Billing", "zendesk, no group"."""
    first = [(k, v) for k, v in alert.labels if k == "helpdesk"] + [(k, v) for k, v in alert.labels if k != "helpdesk"]
    return scope_text(replace(alert, labels=tuple(first)))


def alert_row(alert: Alert, now: datetime) -> dict[str, Any]:
    """One firing alert as the board lists it: rule, level, scope in words and as labels, since, muted."""
    since = alert.firing_since or alert.active_since
    return {
        "rule": alert.rule,
        "level": alert.level,
        "summary": alert.summary,
        "scope": scope_words(alert),
        "labels": alert.label_map,
        "helpdesk": alert.label_map.get("helpdesk"),
        "since": since.isoformat(),
        "age": human_duration(now - since),
        "muted": str(alert.muted) if alert.muted else None,
        "fingerprint": alert.fingerprint,
    }


def sorted_alerts(alerts: list[Alert]) -> list[Alert]:
    """Critical first, then warnings; within a level the longest firing first, then by rule and scope."""

    def key(a: Alert) -> tuple[int, float, str, str]:
        since = a.firing_since or a.active_since
        return (_SEVERITY_ORDER.get(a.level, 2), since.timestamp(), a.rule, scope_text(a))

    return sorted(alerts, key=key)


def _board(
    read: ReadModel,
    query: TicketQuery,
    name: str,
    names: Sequence[str],
    now: datetime,
    mine: list[Alert],
    latest: dict[Scope, tuple[datetime, dict[str, float]]],
) -> dict[str, Any]:
    """One card: a helpdesk (``names`` is just it) or the total across ``names``."""
    series = [0] * (2 * (SPARK_POINTS + 1) + 1)
    solved_7d = 0
    for each in names:
        series = [a + b for a, b in zip(series, read.open_counts(_spark_moments(now), each), strict=True)]
        solved_7d += read.flow_between(now - LAST_WEEK, now, each)[1]
    this_week, last_week = series[: SPARK_POINTS + 1], series[SPARK_POINTS + 1 : -1]
    open_now = this_week[-1]
    kpis = _kpi(query, names, latest)
    status = status_of(mine)
    p90_hours = float(kpis.get("age_p90_hours", 0.0))
    return {
        "name": name,
        "status": status,
        "word": WORD_BY_STATUS[status],
        "open_tickets": open_now,
        "change_24h": open_now - series[-1],
        "priority": _priority_split(read, names, now),
        "sparkline": this_week,
        "sparkline_last_week": last_week,
        "oldest": _oldest(read, names, now),
        "age_p90_hours": round(p90_hours, 1),
        "age_p90": human_duration(timedelta(hours=p90_hours)),
        "sla_breached": int(kpis.get("sla_breached", 0)),
        "sla_due_1h": int(kpis.get("sla_due_1h", 0)),
        "days_to_clear": days_to_clear_shown(open_now, solved_7d),
        "alerts": [alert_row(a, now) for a in sorted_alerts(mine)],
    }


def helpdesk_board(
    read: ReadModel,
    query: TicketQuery,
    name: str,
    poll_every: float,
    now: datetime,
    firing: list[Alert],
    latest: dict[Scope, tuple[datetime, dict[str, float]]],
) -> dict[str, Any]:
    board = _board(read, query, name, [name], now, [a for a in firing if _in_scope(a, name)], latest)
    poll = read.poll_statuses([name])[name]
    stale_after = timedelta(seconds=2 * poll_every + 60)
    board["last_poll"] = poll.last_success.isoformat() if poll.last_success else None
    board["stale"] = poll.last_success is None or now - poll.last_success > stale_after
    return board


def backlog(store: Store, helpdesks: Mapping[str, float], now: datetime) -> dict[str, Any]:
    """The whole board; ``helpdesks`` maps each name to its poll interval in seconds. ``total`` is the card
    across all helpdesks (shown first when there are several), ``alerts`` every firing alert, worst first."""
    read = store.read_model()
    query = store.snapshot(now, list(helpdesks)).query
    every = store.load_alerts()
    firing = [a for a in every.values() if a.state is AlertState.FIRING]
    latest = read.latest_kpis(now)
    boards = [
        helpdesk_board(read, query, name, poll_every, now, firing, latest) for name, poll_every in helpdesks.items()
    ]
    total = _board(read, query, "All helpdesks", list(helpdesks), now, firing, latest)
    worst = _worst([b["status"] for b in boards])
    total["status"], total["word"] = worst, WORD_BY_STATUS[worst]
    actions = store.actions(min([now - ACTIONS_SHOWN, *(a.firing_since for a in firing if a.firing_since)]))
    acknowledged = standing(actions, every)
    for row in [*total["alerts"], *(r for b in boards for r in b["alerts"])]:
        ack = acknowledged.get(row["fingerprint"])
        row["acknowledged_by"] = ack.by if ack else None
        row["acknowledged_ago"] = human_duration(now - ack.at) if ack else None  # as Slack says "at 10:42"
    return {
        "generated_at": now.isoformat(timespec="seconds"),
        "status": worst,
        "word": WORD_BY_STATUS[worst],
        "total": total,
        "helpdesks": boards,
        "alerts": total["alerts"],
        "actions": [action_row(a, every, now) for a in reversed(actions) if now - a.at <= ACTIONS_SHOWN],
    }


def action_row(action: ActionRecord, alerts: Mapping[str, Alert], now: datetime) -> dict[str, Any]:
    """Who did what to which alert, newest first on the board ("alice acknowledge backlog-size, 5m ago")."""
    alert = alerts.get(action.fingerprint)
    return {
        "at": action.at.isoformat(),
        "age": human_duration(now - action.at),
        "actor": action.actor,
        "action": action.action,
        "detail": action.detail,
        "rule": alert.rule if alert else "",
        "scope": scope_words(alert) if alert else "",
    }

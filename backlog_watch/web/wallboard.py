"""What the wallboard shows (and /api/backlog serves): per helpdesk the backlog, its trend, the oldest
ticket, SLA at risk, days to clear and the alerts firing, coloured by the rules' levels.

"A display everyone can see: when it turns red, everyone sees it." A helpdesk is red while a critical
alert fires in its scope, amber while a warning does, green otherwise. An alert that fires but is not
notified (silenced, inhibited, quiet hours) still colours the board and says "muted: why". Nothing secret is served: no
token, no API URL; ticket links point at the helpdesk's agent UI, which the team can open anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from backlog_watch.durations import human_duration
from backlog_watch.kpis import Scope, compute, days_to_clear_shown
from backlog_watch.models import Alert, AlertState
from backlog_watch.store import Store
from backlog_watch.store.read_model import ReadModel

SPARK_POINTS = 28
SPARK_STEP = timedelta(hours=6)
"""The sparkline: the open backlog every 6 hours over the last 7 days, then now."""
STATUS_BY_LEVEL = {"critical": "red", "warn": "amber"}


def _in_scope(alert: Alert, helpdesk: str) -> bool:
    scoped = alert.label_map.get("helpdesk")
    return scoped is None or scoped == helpdesk


def status_of(alerts: list[Alert]) -> str:
    """red while a critical alert fires, amber while a warning does, green otherwise."""
    levels = {a.level for a in alerts}
    return "red" if "critical" in levels else ("amber" if "warn" in levels else "green")


def _current(
    read: ReadModel, name: str, now: datetime, latest: dict[Scope, tuple[datetime, dict[str, float]]]
) -> dict[str, float]:
    """The helpdesk's KPIs from the last evaluation, or computed from its tickets before there is one."""
    point = latest.get((("helpdesk", name),))
    if point is not None:
        return point[1]
    tickets = read.open_tickets([name])
    return {metric: compute(metric, tickets, now) for metric in ("open_tickets", "sla_breached", "sla_due_1h")}


def _oldest(read: ReadModel, name: str, now: datetime) -> dict[str, Any] | None:
    oldest = read.oldest_open(name)
    if oldest is None:
        return None
    return {
        "id": oldest.id,
        "subject": oldest.subject,
        "priority": oldest.priority,
        "age": human_duration(now - oldest.created_at),
        "url": oldest.url,
    }


def helpdesk_board(
    read: ReadModel,
    name: str,
    poll_every: float,
    now: datetime,
    firing: list[Alert],
    latest: dict[Scope, tuple[datetime, dict[str, float]]],
) -> dict[str, Any]:
    moments = [now - SPARK_STEP * i for i in range(SPARK_POINTS, 0, -1)] + [now - timedelta(days=1), now]
    counts = read.open_counts(moments, name)
    open_now = counts[-1]
    solved_7d = read.flow_between(now - timedelta(days=7), now, name)[1]
    kpis = _current(read, name, now, latest)
    poll = read.poll_statuses([name])[name]
    mine = [a for a in firing if _in_scope(a, name)]
    stale_after = timedelta(seconds=2 * poll_every + 60)
    return {
        "name": name,
        "status": status_of(mine),
        "open_tickets": open_now,
        "change_24h": open_now - counts[-2],
        "sparkline": counts[:SPARK_POINTS] + [open_now],
        "oldest": _oldest(read, name, now),
        "sla_breached": int(kpis.get("sla_breached", 0)),
        "sla_due_1h": int(kpis.get("sla_due_1h", 0)),
        "days_to_clear": days_to_clear_shown(open_now, solved_7d),
        "alerts": [
            {
                "rule": a.rule,
                "level": a.level,
                "summary": a.summary,
                "since": a.firing_since.isoformat() if a.firing_since else None,
                "muted": str(a.muted) if a.muted else None,
            }
            for a in sorted(mine, key=lambda a: (a.level != "critical", a.rule))
        ],
        "last_poll": poll.last_success.isoformat() if poll.last_success else None,
        "stale": poll.last_success is None or now - poll.last_success > stale_after,
    }


def backlog(store: Store, helpdesks: Mapping[str, float], now: datetime) -> dict[str, Any]:
    """The whole board; ``helpdesks`` maps each name to its poll interval in seconds."""
    read = store.read_model()
    firing = [a for a in store.load_alerts().values() if a.state is AlertState.FIRING]
    latest = read.latest_kpis(now)
    boards = [helpdesk_board(read, name, every, now, firing, latest) for name, every in helpdesks.items()]
    worst = (
        "red"
        if any(b["status"] == "red" for b in boards)
        else ("amber" if any(b["status"] == "amber" for b in boards) else "green")
    )
    return {"generated_at": now.isoformat(timespec="seconds"), "status": worst, "helpdesks": boards}

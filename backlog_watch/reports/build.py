"""The daily briefing and the weekly review as plain data, built from the store at ``now``.

"Start each day with a point on the backlog" and "analyse the trends each week and adjust": the
briefing says where the backlog stands and what happened since yesterday; the review shows the
week's trend and its patterns. Rendering (text, markdown, JSON, HTML, Slack) is in render.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from backlog_watch.delivery.render import scope_text
from backlog_watch.durations import human_duration
from backlog_watch.kpis import days_to_clear_shown
from backlog_watch.models import AlertState, Priority, Ticket
from backlog_watch.reports import staffing
from backlog_watch.store import Store
from backlog_watch.store.read_model import DayFlow, OpenBacklog, ReadModel, SolvedSla, local_midnight

Kind = Literal["daily", "weekly"]
AGE_BUCKETS = ((24, "< 1 day"), (72, "1-3 days"), (168, "3-7 days"), (720, "7-30 days"), (None, "> 30 days"))
SPIKE_FACTOR = 2.0
"""A weekday-hour whose inflow is this many times the average hour is a spike."""


@dataclass(frozen=True)
class Change:
    """A count now and how it moved since the comparison moment."""

    name: str
    now: int
    change: int


@dataclass(frozen=True)
class TicketLine:
    helpdesk: str
    id: str
    subject: str
    priority: str
    group: str | None
    age_hours: float
    url: str
    sla_due: str | None = None
    sla: str | None = None
    """The SLA as of the report: "due in 25m" or "breached 23d ago"."""


@dataclass(frozen=True)
class AlertLine:
    rule: str
    level: str
    state: str
    scope: str
    summary: str
    since: str


@dataclass
class Report:
    """What both reports share; ``days`` feeds the chart."""

    kind: Kind
    title: str
    generated_at: str
    timezone: str
    open_tickets: int
    days: list[DayFlow]
    days_to_clear: float | None
    by_helpdesk: list[Change] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["days"] = [{**asdict(d), "day": d.day.isoformat()} for d in self.days]
        return out


def _ticket_line(t: Ticket, now: datetime, tz: ZoneInfo) -> TicketLine:
    due = t.sla.earliest_due.astimezone(tz) if t.sla.earliest_due else None
    return TicketLine(
        t.helpdesk,
        t.id,
        t.subject,
        t.priority.value,
        t.group,
        round((now - t.created_at).total_seconds() / 3600, 1),
        t.url,
        due.isoformat() if due else None,
        _sla_words(t.sla.earliest_due, now),
    )


def _sla_words(due: datetime | None, now: datetime) -> str | None:
    if due is None:
        return None
    return f"due in {human_duration(due - now)}" if due > now else f"breached {human_duration(now - due)} ago"


def _changes(now_counts: dict[str, int], then_counts: dict[str, int], order: list[str] | None = None) -> list[Change]:
    names = order or sorted(set(now_counts) | set(then_counts), key=lambda n: (-now_counts.get(n, 0), n))
    return [
        Change(n, now_counts.get(n, 0), now_counts.get(n, 0) - then_counts.get(n, 0))
        for n in names
        if now_counts.get(n, 0) or then_counts.get(n, 0)
    ]


def build(
    store: Store, kind: Kind, now: datetime, tz: ZoneInfo, handle_hours: Mapping[str, float] | None = None
) -> Report:
    """``handle_hours``: each helpdesk's ``handle_time`` in hours, for the workload (0.5 h when unset)."""
    if kind == "daily":
        return build_daily(store, now, tz, handle_hours)
    return build_weekly(store, now, tz)


def _base(read: ReadModel, kind: Kind, title: str, now: datetime, tz: ZoneInfo, span: int) -> Report:
    today = now.astimezone(tz).date()
    open_now = read.open_counts([now])[0]
    created, solved = read.flow_between(now - timedelta(days=7), now)
    day = timedelta(days=1)
    return Report(
        kind=kind,
        title=title,
        generated_at=now.astimezone(tz).isoformat(timespec="minutes"),
        timezone=str(tz),
        open_tickets=open_now,
        days=read.days(today, span, tz, now=now),
        days_to_clear=days_to_clear_shown(open_now, solved),
        by_helpdesk=_changes(read.open_by("helpdesk", now), read.open_by("helpdesk", now - day)),
    )


def build_daily(store: Store, now: datetime, tz: ZoneInfo, handle_hours: Mapping[str, float] | None = None) -> Report:
    """The morning briefing: backlog against yesterday and the same weekday last week, the verdict,
    workload per agent, who it waits on, its ages, oldest tickets, SLA due before noon and today,
    yesterday's inflow, outflow and spikes, days to clear, and what fired overnight."""
    local = now.astimezone(tz)
    read = store.read_model()
    report = _base(read, "daily", f"Backlog briefing {local:%A %d %B %Y}", now, tz, span=14)
    yesterday = now - timedelta(days=1)
    start_today = local_midnight(local.date(), tz)
    created, solved = read.flow_between(start_today - timedelta(days=1), start_today)
    end_of_day = start_today + timedelta(days=1)
    backlog = read.open_backlog(now, staffing.age_bounds(staffing.DAILY_AGE_BUCKETS))
    at_risk_today, at_risk = read.sla_due(now, end_of_day, inclusive=False, limit=10)
    report.extra = {
        "change_since_yesterday": report.open_tickets - read.open_counts([yesterday])[0],
        "by_priority": _changes(
            read.open_by("priority", now),
            read.open_by("priority", yesterday),
            [p.value for p in Priority],
        ),
        "by_group": _changes(read.open_by("grp", now), read.open_by("grp", yesterday))[:10],
        "oldest": [_ticket_line(t, now, tz) for t in read.oldest_tickets(5)],
        "sla_breached": backlog.sla_breached,
        "sla_at_risk_today": at_risk_today,
        "sla_at_risk": [_ticket_line(t, now, tz) for t in at_risk],
        "yesterday": {"day": (local.date() - timedelta(days=1)).isoformat(), "created": created, "solved": solved},
        "overnight": _alerts_since(store, yesterday, tz),
    }
    report.extra.update(_staffing(read, report, backlog, now, tz, handle_hours or {}))
    return report


def _staffing(
    read: ReadModel,
    report: Report,
    backlog: OpenBacklog,
    now: datetime,
    tz: ZoneInfo,
    handle_hours: Mapping[str, float],
) -> dict[str, Any]:
    """What a lead staffs the day by (see staffing.py for each definition)."""
    last_week = read.open_counts([now - timedelta(days=7)])[0]
    yesterday_open = report.open_tickets - report.extra["change_since_yesterday"]
    load = staffing.workload(backlog.by_helpdesk, handle_hours, read.active_agents(now - timedelta(days=7)))
    noon = staffing.next_noon(now, tz)
    _, before_noon = read.sla_due(now, noon, inclusive=True, limit=None)
    start_today = local_midnight(now.astimezone(tz).date(), tz)
    start_yesterday = start_today - timedelta(days=1)
    week_before = read.created_with_tags(start_yesterday - timedelta(days=7), start_yesterday)
    local = now.astimezone(tz)
    return {
        "verdict": staffing.verdict(report.open_tickets, last_week, local.weekday(), report.days_to_clear, load),
        "compared": {"now": report.open_tickets, "yesterday": yesterday_open, "last_week": last_week},
        "workload": load,
        "unassigned": backlog.unassigned,
        "waiting": staffing.waiting_split(backlog.by_status),
        "age_buckets": staffing.age_buckets(backlog, staffing.DAILY_AGE_BUCKETS),
        "noon": noon.isoformat(timespec="minutes"),
        "breach_before_noon": [_ticket_line(t, now, tz) for t in before_noon],
        "spikes_yesterday": staffing.day_spikes(
            read.created_with_tags(start_yesterday, start_today),
            start_yesterday,
            staffing.hourly_baseline(week_before, 7, tz),
            tz,
        ),
    }


def _alerts_since(store: Store, since: datetime, tz: ZoneInfo) -> list[AlertLine]:
    """Alerts that fired since ``since`` or still fire, the most severe first."""
    lines = []
    for alert in store.load_alerts().values():
        fired = alert.firing_since
        if fired is None or not (alert.state is AlertState.FIRING or fired >= since):
            continue
        scope = scope_text(alert)
        lines.append(
            AlertLine(
                alert.rule,
                alert.level,
                alert.state.value,
                scope,
                alert.summary,
                fired.astimezone(tz).isoformat(timespec="minutes"),
            )
        )
    return sorted(lines, key=lambda a: (a.level != "critical", a.state != "firing", a.rule, a.scope))


def build_weekly(store: Store, now: datetime, tz: ZoneInfo) -> Report:
    """The weekly review of the seven days before today: trend, busiest tags and groups, recurring
    spikes, SLA attainment, and the backlog's age distribution."""
    local = now.astimezone(tz)
    end = local_midnight(local.date(), tz)
    start = end - timedelta(days=7)
    first, last = start.astimezone(tz).date(), (end - timedelta(days=1)).astimezone(tz).date()
    read = store.read_model()
    report = _base(read, "weekly", f"Weekly backlog review {first:%d %b} - {last:%d %b %Y}", now, tz, span=7)
    report.days = read.days(last, 7, tz)
    created, solved = read.flow_between(start, end)
    before = read.flow_between(start - timedelta(days=7), start)
    start_open, end_open = read.open_counts([start, end])
    solved_sla = read.solved_with_sla(start, end)
    report.extra = {
        "week": {
            "from": first.isoformat(),
            "to": last.isoformat(),
            "created": created,
            "solved": solved,
            "backlog_start": start_open,
            "backlog_end": end_open,
            "previous_created": before[0],
            "previous_solved": before[1],
        },
        "busiest_tags": read.busiest("tag", start, end),
        "busiest_groups": read.busiest("grp", start, end),
        "recurring_spikes": recurring_spikes(read.created_times(end - timedelta(days=28), end), tz),
        "sla_attainment": sla_attainment(solved_sla),
        "age_distribution": age_distribution(read.open_backlog(now, staffing.age_bounds(AGE_BUCKETS))),
    }
    report.extra.update(_offenders(read, report, start, end, now, tz))
    return report


def _offenders(
    read: ReadModel, report: Report, start: datetime, end: datetime, now: datetime, tz: ZoneInfo
) -> dict[str, Any]:
    """The week's trend of days to clear, the FIFO-skip and aging offenders, the busiest hour of the week."""
    trend = []
    for day in report.days:
        day_end = local_midnight(day.day + timedelta(days=1), tz)
        solved_7d = read.solved_between(day_end - timedelta(days=7), day_end)
        trend.append({"day": day.day.isoformat(), "days_to_clear": days_to_clear_shown(day.open_at_end, solved_7d)})
    skipped, first_skipped = read.waiting_past(now, staffing.solved_medians(read.solved_ages(start, end)), 5)
    old, oldest = read.waiting_past(now, staffing.AGING_HOURS, 5)
    return {
        "days_to_clear_trend": trend,
        "fifo_skipped": {"count": skipped, "oldest": [_ticket_line(t, now, tz) for t in first_skipped]},
        "aging": {"count": old, "oldest": [_ticket_line(t, now, tz) for t in oldest]},
        "busiest_hour": staffing.busiest_hour(read.created_times(start, end), tz),
    }


def sla_attainment(solved: list[SolvedSla]) -> dict[str, Any]:
    """Met / (met + breached) over the solved tickets, overall, per priority and per helpdesk, with the
    counts; tickets without SLA data are counted apart (``without_sla``), never as met."""
    priorities = {p.value: p.rank for p in Priority}
    by_priority = _attainment_by(solved, lambda s: s.priority)
    by_priority.sort(key=lambda row: priorities.get(row["name"], len(priorities)))
    return {
        **_attainment_of(solved),
        "by_priority": by_priority,
        "by_helpdesk": _attainment_by(solved, lambda s: s.helpdesk),
    }


def _attainment_of(solved: list[SolvedSla]) -> dict[str, Any]:
    met = sum(1 for s in solved if s.met is True)
    breached = sum(1 for s in solved if s.met is False)
    with_sla = met + breached
    return {
        "met": met,
        "breached": breached,
        "with_sla": with_sla,
        "without_sla": len(solved) - with_sla,
        "percent": round(100 * met / with_sla, 1) if with_sla else None,
    }


def _attainment_by(solved: list[SolvedSla], key: Callable[[SolvedSla], str]) -> list[dict[str, Any]]:
    groups: dict[str, list[SolvedSla]] = {}
    for s in solved:
        groups.setdefault(key(s), []).append(s)
    return [{"name": name, **_attainment_of(rows)} for name, rows in sorted(groups.items())]


def age_distribution(backlog: OpenBacklog) -> list[tuple[str, int]]:
    """The open backlog per ``AGE_BUCKETS`` (``backlog`` counted for their bounds)."""
    return staffing.age_buckets(backlog, AGE_BUCKETS)


def recurring_spikes(created: list[float], tz: ZoneInfo, weeks: int = 4, limit: int = 3) -> list[dict[str, Any]]:
    """Weekday-hours whose inflow, over ``weeks`` weeks, is SPIKE_FACTOR x the average hour, in 2+ weeks."""
    if not created:
        return []
    buckets: Counter[tuple[int, int]] = Counter()
    seen_weeks: dict[tuple[int, int], set[tuple[int, int]]] = {}
    for epoch in created:
        moment = datetime.fromtimestamp(epoch, tz)
        key = (moment.weekday(), moment.hour)
        buckets[key] += 1
        seen_weeks.setdefault(key, set()).add(moment.isocalendar()[:2])
    average = len(created) / (weeks * 7 * 24)
    spikes = []
    for (weekday, hour), count in buckets.most_common():
        per_week = count / weeks
        if per_week < SPIKE_FACTOR * average or len(seen_weeks[(weekday, hour)]) < 2 or count < 4:
            continue
        spikes.append(
            {
                "weekday": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][weekday],
                "hour": hour,
                "per_week": round(per_week, 1),
                "factor": round(per_week / average, 1),
                "weeks": len(seen_weeks[(weekday, hour)]),
            }
        )
    return spikes[:limit]

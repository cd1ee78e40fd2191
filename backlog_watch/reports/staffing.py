"""The figures a lead staffs the day by: workload against a healthy band, who the backlog waits on,
what breaches before noon, yesterday's spikes and their tag, the FIFO-skip and aging offenders, the
busiest hour of the week, and the one-line verdict. Pure functions over the read model's counts and
rows (the open backlog is counted in the store: no object per open ticket), so build.py only gathers
and every number can be checked by hand.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from backlog_watch.kpis import DEFAULT_HANDLE_HOURS, NO_TAG
from backlog_watch.models import Status
from backlog_watch.store.read_model import OpenBacklog

HEALTHY_HOURS_PER_AGENT = (2.0, 4.0)
"""The healthy backlog, in hours of work per agent: the open tickets x each helpdesk's ``handle_time``,
shared by the agents on record. Under 2 h the queue runs dry; over 4 h it cannot be cleared in half a
day, and the lead staffs the queue."""
CLEAR_DAYS_TARGET = 3.0
"""Without any agent on record, the verdict weighs days to clear instead: above this, staff the queue."""
SPIKE_FACTOR = 2.0
SPIKE_MIN_TICKETS = 3
"""An hour of yesterday is a spike when its inflow is at least SPIKE_FACTOR x the average hour of the
week before, and at least SPIKE_MIN_TICKETS (two tickets in a quiet hour are not a spike)."""
DAILY_AGE_BUCKETS = ((24, "< 1 day"), (72, "1-3 days"), (168, "3-7 days"), (None, "> 7 days"))
AGING_HOURS = 168
"""An open ticket older than a week is an aging offender."""
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WAITING_ON_US = frozenset({Status.NEW, Status.OPEN})
WAITING_ON_CUSTOMER = frozenset({Status.PENDING, Status.ON_HOLD})

Band = Literal["below", "within", "above"]


@dataclass(frozen=True)
class Workload:
    """Open tickets x handle time, in agent-hours, and per agent against the healthy band."""

    hours: float
    agents: int
    per_agent: float | None
    healthy_from: float
    healthy_to: float
    band: Band | None
    """None when no agent is on record: the per-agent figure cannot be judged."""


def workload(open_by_helpdesk: Mapping[str, int], handle_hours: Mapping[str, float], agents: int) -> Workload:
    """The open tickets of each helpdesk x its handle time (``DEFAULT_HANDLE_HOURS`` when unset)."""
    hours = sum(handle_hours.get(name, DEFAULT_HANDLE_HOURS) * count for name, count in open_by_helpdesk.items())
    low, high = HEALTHY_HOURS_PER_AGENT
    per_agent = round(hours / agents, 1) if agents else None
    band: Band | None = None
    if per_agent is not None:
        band = "below" if per_agent < low else ("above" if per_agent > high else "within")
    return Workload(round(hours, 1), agents, per_agent, low, high, band)


def waiting_split(open_by_status: Mapping[str, int]) -> dict[str, int]:
    """Waiting on us (new, open) against waiting on the customer (pending, on hold)."""
    return {
        "on_us": sum(open_by_status.get(s.value, 0) for s in WAITING_ON_US),
        "on_customer": sum(open_by_status.get(s.value, 0) for s in WAITING_ON_CUSTOMER),
    }


def age_buckets(backlog: OpenBacklog, buckets: Sequence[tuple[int | None, str]]) -> list[tuple[str, int]]:
    """The open tickets per age bucket: those younger than each bound (``backlog.younger``, counted in the
    store for these bounds), less those younger than the bound before."""
    counts: list[tuple[str, int]] = []
    below = 0
    for limit, label in buckets:
        upto = backlog.total if limit is None else backlog.younger[limit]
        counts.append((label, upto - below))
        below = upto
    return counts


def age_bounds(buckets: Sequence[tuple[int | None, str]]) -> list[float]:
    """The hours ``OpenBacklog.younger`` must count for ``age_buckets``."""
    return [limit for limit, _ in buckets if limit is not None]


def next_noon(now: datetime, tz: ZoneInfo) -> datetime:
    """Noon today in the config's time zone, or tomorrow's once today's has passed."""
    local = now.astimezone(tz)
    noon = datetime.combine(local.date(), time(12), tz)
    return noon if noon > now else datetime.combine(local.date() + timedelta(days=1), time(12), tz)


def hourly_baseline(created: Sequence[tuple[float, tuple[str, ...]]], days: int, tz: ZoneInfo) -> dict[int, float]:
    """Tickets per hour of the day (local), averaged over ``days``: 10:00 compares with the mornings before
    it, not with a week's average that nights pull down (which made every working hour a "spike")."""
    counts = Counter(datetime.fromtimestamp(at, tz).hour for at, _ in created)
    return {hour: counts.get(hour, 0) / days for hour in range(24)}


def day_spikes(
    created: Sequence[tuple[float, tuple[str, ...]]], day_start: datetime, baseline: Mapping[int, float], tz: ZoneInfo
) -> list[dict[str, Any]]:
    """The hours of the day starting at ``day_start`` whose inflow is a spike against the same hour's
    ``baseline`` (hourly_baseline), each with its most frequent tag: the likely cause."""
    start, end = day_start.timestamp(), (day_start + timedelta(days=1)).timestamp()
    by_hour: dict[int, list[tuple[str, ...]]] = {}
    for at, tags in created:
        if start <= at < end:
            by_hour.setdefault(datetime.fromtimestamp(at, tz).hour, []).append(tags)
    spikes = []
    for hour, tag_lists in sorted(by_hour.items()):
        usual = baseline.get(hour, 0.0)
        if len(tag_lists) < max(SPIKE_MIN_TICKETS, SPIKE_FACTOR * usual):
            continue
        tag_counts = Counter(tag for tags in tag_lists for tag in (tags or (NO_TAG,)))
        tag, tagged = min(tag_counts.items(), key=lambda item: (-item[1], item[0]))
        spikes.append(
            {
                "hour": hour,
                "created": len(tag_lists),
                "factor": round(len(tag_lists) / usual, 1) if usual else None,
                "tag": tag,
                "tagged": tagged,
            }
        )
    return spikes


def verdict(open_now: int, last_week: int, weekday: int, days_to_clear: float | None, load: Workload) -> str:
    """One line in words: "Backlog 137, up 12 on last Monday, 3.1 days to clear: staff the queue"."""
    change = open_now - last_week
    day = WEEKDAYS[weekday]
    moved = f"level with last {day}" if change == 0 else f"{'up' if change > 0 else 'down'} {abs(change)} on last {day}"
    if days_to_clear is None:
        pace = "nothing solved in 7 days" if open_now else "nothing to clear"
    else:
        pace = f"{days_to_clear:g} days to clear"
    return f"Backlog {open_now}, {moved}, {pace}: {_advice(open_now, days_to_clear, load)}"


def _advice(open_now: int, days_to_clear: float | None, load: Workload) -> str:
    if load.band == "above":
        return "staff the queue"
    if load.band == "below":
        return "room for other work"
    if load.band == "within":
        return "a healthy queue"
    if open_now and (days_to_clear is None or days_to_clear > CLEAR_DAYS_TARGET):
        return "staff the queue"
    return "on track"


def solved_medians(solved_ages: Iterable[tuple[str, str, float]]) -> dict[tuple[str, str], float]:
    """The median hours from creation to solve per (helpdesk, priority) this week: an open ticket older
    than its pair's median was skipped by a queue worked newest-first (``ReadModel.waiting_past``)."""
    ages: dict[tuple[str, str], list[float]] = {}
    for helpdesk, priority, hours in solved_ages:
        ages.setdefault((helpdesk, priority), []).append(hours)
    return {key: statistics.median(values) for key, values in ages.items()}


def busiest_hour(created: Iterable[float], tz: ZoneInfo) -> dict[str, Any] | None:
    """The weekday-hour with the most tickets created (the earliest in the week on a tie)."""
    counts = Counter((m.weekday(), m.hour) for m in (datetime.fromtimestamp(at, tz) for at in created))
    if not counts:
        return None
    (weekday, hour), count = min(counts.items(), key=lambda item: (-item[1], item[0]))
    return {"weekday": WEEKDAYS[weekday], "hour": hour, "created": count}

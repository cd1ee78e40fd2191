"""Acknowledgements: someone said "mine" about an alert, so its repeats and escalation stop.

An acknowledgement is an action in the store (``ActionRecord`` "acknowledge") and holds for the episode
it was given in, until the alert worsens: a higher level, or many more tickets than when acknowledged
(half as many again and at least five more), which the daemon records as "unacknowledge" by
backlog-watch and notifies again. Pure functions here; the store keeps the actions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from backlog_watch.models import LEVEL_RANK, Alert, AlertState
from backlog_watch.store import ActionRecord

ACKNOWLEDGE = "acknowledge"
UNACKNOWLEDGE = "unacknowledge"
SYSTEM_ACTOR = "backlog-watch"
WORSE_RATIO = 0.5
WORSE_MIN = 5


@dataclass(frozen=True)
class Acknowledgement:
    """Who acknowledged an alert's episode, when, and how bad it was then."""

    by: str
    at: datetime
    level: str
    ticket_count: int


def same_episode(action: ActionRecord, alert: Alert) -> bool:
    """Whether the action was taken on this firing episode (times survive a float round trip)."""
    return alert.firing_since is not None and abs((action.episode - alert.firing_since).total_seconds()) < 0.001


def earliest_episode(alerts: Mapping[str, Alert], now: datetime) -> datetime:
    """Where to start reading actions: the oldest firing episode (older actions hold for none)."""
    return min((a.firing_since for a in alerts.values() if a.is_firing and a.firing_since), default=now)


def standing(actions: Iterable[ActionRecord], alerts: Mapping[str, Alert]) -> dict[str, Acknowledgement]:
    """The acknowledgement in force for each firing alert's episode (the last word of its actions)."""
    acks: dict[str, Acknowledgement | None] = {}
    for action in actions:
        alert = alerts.get(action.fingerprint)
        if alert is None or alert.state is not AlertState.FIRING or not same_episode(action, alert):
            continue
        if action.action == ACKNOWLEDGE:
            acks[action.fingerprint] = Acknowledgement(action.actor, action.at, action.level, action.ticket_count)
        elif action.action == UNACKNOWLEDGE:
            acks[action.fingerprint] = None
    return {fp: ack for fp, ack in acks.items() if ack is not None}


def worsened(ack: Acknowledgement, alert: Alert) -> str | None:
    """Why the alert is now worse than when acknowledged ("now critical", "now 18 tickets"), or None."""
    if LEVEL_RANK[alert.level] > LEVEL_RANK.get(ack.level, 0):
        return f"now {alert.level}"
    if alert.ticket_count - ack.ticket_count >= max(WORSE_MIN, ack.ticket_count * WORSE_RATIO):
        return f"now {alert.ticket_count} tickets"
    return None


def review(
    actions: Iterable[ActionRecord], alerts: Mapping[str, Alert], now: datetime
) -> tuple[dict[str, Acknowledgement], list[ActionRecord]]:
    """The acknowledgements that still hold, and the "unacknowledge" actions to record for those the
    alert's worsening has cleared (so it is notified again)."""
    holding: dict[str, Acknowledgement] = {}
    cleared: list[ActionRecord] = []
    for fp, ack in standing(actions, alerts).items():
        alert = alerts[fp]
        why = worsened(ack, alert)
        if why is None:
            holding[fp] = ack
            continue
        assert alert.firing_since is not None
        cleared.append(
            ActionRecord(fp, alert.firing_since, UNACKNOWLEDGE, SYSTEM_ACTOR, now, why, alert.level, alert.ticket_count)
        )
    return holding, cleared

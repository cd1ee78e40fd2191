"""What the command line prints about alerts, as amtool and promtool users expect it: the `alerts`
listing (a table for people, JSON for scripts) and the one-line summary that ends `once`.

Kept apart from cli.py so the parser and the dispatcher stay short; everything here is a pure function
of stored alerts or of one evaluation, so it is tested without a process.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from backlog_watch.config.models import Config
from backlog_watch.delivery.render import scope_text
from backlog_watch.durations import human_duration
from backlog_watch.evaluation import Evaluation
from backlog_watch.models import LEVEL_RANK, Alert, AlertState
from backlog_watch.store import ActionRecord, open_store

STATE_RANK = {AlertState.FIRING: 0, AlertState.PENDING: 1, AlertState.RESOLVED: 2}
COLUMNS = ("RULE", "SCOPE", "LEVEL", "STATE", "SINCE", "MUTED", "LAST ACTION")
Actions = Mapping[str, Sequence[ActionRecord]]
"""fingerprint -> what people did to the alert's current episode, oldest first."""


def list_alerts(config: Config, out: TextIO, *, include_all: bool, as_json: bool) -> int:
    """`backlog-watch alerts`: reads the store only, so it shows a running daemon's alerts as of its
    last evaluation. Exit 1 when there is no store yet (reading would create an empty one)."""
    url = config.store
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        sys.stderr.write(f"alerts: no store yet at {url} (run `backlog-watch once` or `run` first)\n")
        return 1
    store = open_store(url)
    try:
        alerts = listed(store.load_alerts().values(), include_all=include_all)
        actions = episode_actions(alerts, store.actions(min((since(a) for a in alerts), default=datetime.now(UTC))))
    finally:
        store.close()
    out.write(alerts_json(alerts, actions) if as_json else alerts_table(alerts, datetime.now(UTC), config.tz, actions))
    return 0


def episode_actions(alerts: Iterable[Alert], actions: Iterable[ActionRecord]) -> dict[str, list[ActionRecord]]:
    """The actions on each alert's current (or last) firing episode."""
    episodes = {a.fingerprint: a.firing_since for a in alerts if a.firing_since is not None}
    found: dict[str, list[ActionRecord]] = {}
    for action in actions:
        episode = episodes.get(action.fingerprint)
        if episode is not None and abs((action.episode - episode).total_seconds()) < 0.001:
            found.setdefault(action.fingerprint, []).append(action)
    return found


def action_text(action: ActionRecord, tz: ZoneInfo) -> str:
    """`alice acknowledge 10:42`, `alice snooze 10:45 (silence 1a2b3c4d until ...)`."""
    detail = f" ({action.detail})" if action.detail else ""
    return f"{action.actor} {action.action} {action.at.astimezone(tz):%H:%M}{detail}"


def listed(alerts: Iterable[Alert], *, include_all: bool) -> list[Alert]:
    """The alerts to show: firing ones (pending and resolved too with ``--all``), the most pressing
    first: firing before pending before resolved, critical before warn, then by rule and scope."""
    shown = [a for a in alerts if include_all or a.state is AlertState.FIRING]
    return sorted(shown, key=lambda a: (STATE_RANK[a.state], -LEVEL_RANK[a.level], a.rule, a.labels))


def since(alert: Alert) -> datetime:
    """When the alert entered its state: what "since" means for each state."""
    if alert.state is AlertState.FIRING and alert.firing_since is not None:
        return alert.firing_since
    if alert.state is AlertState.RESOLVED and alert.resolved_at is not None:
        return alert.resolved_at
    return alert.active_since


def alerts_table(alerts: Sequence[Alert], now: datetime, tz: ZoneInfo, actions: Actions | None = None) -> str:
    """Aligned columns, the since time in the config's time zone with its age ("09:12 (3h 5m ago)"), and
    the last thing someone did to the alert's episode."""
    actions = actions or {}
    if not alerts:
        return "no alerts\n"
    rows = [
        (
            a.rule,
            scope_text(a),
            a.level.upper(),
            a.state.value,
            f"{since(a).astimezone(tz):%Y-%m-%d %H:%M} ({human_duration(now - since(a))} ago)",
            str(a.muted) if a.muted is not None else "-",
            action_text(actions[a.fingerprint][-1], tz) if actions.get(a.fingerprint) else "-",
        )
        for a in alerts
    ]
    widths = [max(len(row[i]) for row in [COLUMNS, *rows]) for i in range(len(COLUMNS) - 1)]
    lines = [_line(row, widths) for row in [COLUMNS, *rows]]
    return "".join(f"{line}\n" for line in lines)


def _line(row: Sequence[str], widths: Sequence[int]) -> str:
    """One row: every column but the last padded to its width (the last, the last action, may run long)."""
    return "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]).rstrip()


def alert_record(alert: Alert, actions: Sequence[ActionRecord] = ()) -> dict[str, Any]:
    """One alert for scripts: stable keys, labels as a mapping, times in ISO 8601 UTC."""
    return {
        "rule": alert.rule,
        "labels": alert.label_map,
        "scope": scope_text(alert),
        "level": alert.level,
        "state": alert.state.value,
        "since": since(alert).isoformat(),
        "value": alert.value,
        "threshold": alert.threshold,
        "summary": alert.summary,
        "ticket_count": alert.ticket_count,
        "muted": {"reason": alert.muted.reason, "detail": alert.muted.detail} if alert.muted else None,
        "fingerprint": alert.fingerprint,
        "actions": [
            {"actor": a.actor, "action": a.action, "at": a.at.isoformat(), "detail": a.detail} for a in actions
        ],
    }


def alerts_json(alerts: Sequence[Alert], actions: Actions | None = None) -> str:
    return json.dumps([alert_record(a, (actions or {}).get(a.fingerprint, ())) for a in alerts], indent=2) + "\n"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def once_summary(evaluation: Evaluation, *, dry_run: bool) -> str:
    """The line that ends `once`: "once: 3 helpdesks polled (0 failed), 412 tickets changed, 5 alerts
    firing: 3 sent, 2 muted". A firing alert neither sent nor muted this time was notified before and
    is counted as such, so the numbers always add up to the firing count."""
    polled = evaluation.polled
    failed = sum(1 for stored in polled.values() if stored is None)
    changed = sum(stored or 0 for stored in polled.values())
    firing = {fp for fp, a in evaluation.alerts.items() if a.state is AlertState.FIRING}
    notified = evaluation.planned if dry_run else evaluation.result.sent
    sent = firing & {n.alert.fingerprint for _, n in notified}
    undelivered = firing & {n.alert.fingerprint for _, n, _ in evaluation.result.failed} - sent
    muted = (firing & set(evaluation.muted)) - sent - undelivered
    before = len(firing - sent - undelivered - muted)
    parts = [f"{len(sent)} {'would be sent' if dry_run else 'sent'}", f"{len(muted)} muted"]
    if undelivered:
        parts.append(f"{len(undelivered)} not delivered")
    if before:
        parts.append(f"{before} notified before")
    head = "once (dry run)" if dry_run else "once"
    return (
        f"{head}: {_count(len(polled), 'helpdesk')} polled ({failed} failed), "
        f"{_count(changed, 'ticket')} changed, {_count(len(firing), 'alert')} firing: {', '.join(parts)}\n"
    )

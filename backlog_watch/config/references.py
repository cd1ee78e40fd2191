"""Cross-references in a config: names unique per section, and every name used pointing at something.

Rules and reports name notifiers (``notify``, ``escalate``), rules name calendars (``business_hours``)
and helpdesks (``where.helpdesk``), notifiers name calendars (``quiet_hours``), rules and notifiers
name time intervals (``mute_time_intervals``), inhibit rules name rules (``rule=...``), and Slack
notifiers share one app (``interactive``). No single model sees both ends, so these checks run on the
plain data: by ``parse_config`` on the file (to give each mistake its line), and by ``Config`` when
built in code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from backlog_watch.config.errors import Path_, did_you_mean

__all__ = ["reference_problems"]

_TI = "time interval"
_SECTION = {"calendar": "business_hours", _TI: "time_intervals"}
_RULE_MATCHER = re.compile(r"^\s*rule\s*=(?!~)\s*(.+?)\s*$")


def _items(data: Mapping[str, Any], section: str) -> list[tuple[int, dict[str, Any]]]:
    items = data.get(section)
    if not isinstance(items, (list, tuple)):
        return []
    return [(i, item) for i, item in enumerate(items) if isinstance(item, dict)]


def _names(data: Mapping[str, Any], section: str, what: str, found: list[tuple[Path_, str]]) -> list[str]:
    first: dict[str, int] = {}
    for i, item in _items(data, section):
        name = item.get("name")
        if not isinstance(name, str):
            continue
        if name in first:
            found.append(
                ((section, i, "name"), f'duplicate {what} name "{name}", also used by {section}[{first[name]}]')
            )
        else:
            first[name] = i
    return list(first)


def _refs(path: Path_, value: Any, known: list[str], what: str, found: list[tuple[Path_, str]]) -> None:
    listed = (
        [(path, value)]
        if isinstance(value, str)
        else ([((*path, j), v) for j, v in enumerate(value)] if isinstance(value, (list, tuple)) else [])
    )
    for where, name in listed:
        if isinstance(name, str) and name not in known:
            hint = did_you_mean(name, known, list_all=True) or (
                f" (define it under {_SECTION[what]})" if what in _SECTION else f" (no {what}s configured)"
            )
            found.append((where, f'unknown {what} "{name}"{hint}'))


def reference_problems(data: Mapping[str, Any]) -> list[tuple[Path_, str]]:
    """Duplicate names, and names that point at no helpdesk, notifier or calendar."""
    found: list[tuple[Path_, str]] = []
    helpdesks = _names(data, "helpdesks", "helpdesk", found)
    notifiers = _names(data, "notifiers", "notifier", found)
    rules = _names(data, "rules", "rule", found)
    _names(data, "reports", "report", found)
    intervals = _names(data, "time_intervals", "time interval", found)
    calendars = (
        [str(k) for k in data.get("business_hours") or {}] if isinstance(data.get("business_hours"), dict) else []
    )
    defaults = data.get("defaults")
    if isinstance(defaults, dict):
        _refs(("defaults", "notify"), defaults.get("notify"), notifiers, "notifier", found)
        _escalation_refs(("defaults",), defaults, notifiers, found)
    for i, notifier in _items(data, "notifiers"):
        _refs(("notifiers", i, "quiet_hours"), notifier.get("quiet_hours"), calendars, "calendar", found)
        _refs(("notifiers", i, "mute_time_intervals"), notifier.get("mute_time_intervals"), intervals, _TI, found)
    down = data.get("helpdesk_down")
    if isinstance(down, dict):
        _refs(("helpdesk_down", "notify"), down.get("notify"), notifiers, "notifier", found)
    for i, rule in _items(data, "rules"):
        _refs(("rules", i, "notify"), rule.get("notify"), notifiers, "notifier", found)
        _escalation_refs(("rules", i), rule, notifiers, found)
        _refs(("rules", i, "business_hours"), rule.get("business_hours"), calendars, "calendar", found)
        _refs(("rules", i, "mute_time_intervals"), rule.get("mute_time_intervals"), intervals, _TI, found)
        where = rule.get("where")
        if isinstance(where, dict):
            _refs(("rules", i, "where", "helpdesk"), where.get("helpdesk"), helpdesks, "helpdesk", found)
    for i, report in _items(data, "reports"):
        _refs(("reports", i, "notify"), report.get("notify"), notifiers, "notifier", found)
    _inhibit_refs(data, [*rules, "helpdesk-down"], found)
    _one_slack_app(data, found)
    return found


def _one_slack_app(data: Mapping[str, Any], found: list[tuple[Path_, str]]) -> None:
    """The daemon connects one Slack app: several channels may share it, a second app would never be heard."""
    apps = [
        (i, n["interactive"]) for i, n in _items(data, "notifiers") if n.get("type") == "slack" and n.get("interactive")
    ]
    for i, app in apps[1:]:
        if app != apps[0][1]:
            found.append(
                (
                    ("notifiers", i, "interactive"),
                    f"a second Slack app: the daemon answers the buttons of one, notifiers[{apps[0][0]}]'s; give "
                    "this notifier the same interactive block (one app, several channels) or none",
                )
            )


def _inhibit_refs(data: Mapping[str, Any], rules: list[str], found: list[tuple[Path_, str]]) -> None:
    """``rule=name`` in an inhibit rule's matchers must name a rule: a typo would hide nothing, silently."""
    for i, inhibit in _items(data, "inhibit_rules"):
        for side in ("source_matchers", "target_matchers"):
            matchers = inhibit.get(side)
            for j, text in enumerate(matchers if isinstance(matchers, list) else []):
                named = _RULE_MATCHER.match(text) if isinstance(text, str) else None
                if named and named.group(1) not in rules:
                    name = named.group(1)
                    hint = did_you_mean(name, rules, list_all=True)
                    found.append((("inhibit_rules", i, side, j), f'unknown rule "{name}"{hint}'))


def _escalation_refs(at: Path_, block: Mapping[str, Any], notifiers: list[str], found: list[tuple[Path_, str]]) -> None:
    steps = block.get("escalate")
    if isinstance(steps, list):
        for j, step in enumerate(steps):
            if isinstance(step, dict):
                _refs((*at, "escalate", j, "notify"), step.get("notify"), notifiers, "notifier", found)

"""Each rule type says its own headline and terms; render.py asks the rule and knows no rule type.

One table row per rule type and level (warn, critical, resolved): a plugin rule type reads as well as
a bundled one because the words live on the rule class, not in a chain of isinstance in the renderer.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter

from backlog_watch.alerting.policy import HelpdeskDownRule
from backlog_watch.delivery import render
from backlog_watch.delivery.dedup import Notification, Reason
from backlog_watch.delivery.store_failing import StoreFailingRule
from backlog_watch.models import Alert, AlertState
from backlog_watch.rules.backlog import Rule, RuleBase
from tests.factories import NOW

RULES: dict[str, dict[str, Any]] = {
    "threshold": {"metric": "open_tickets", "warn_above": 20, "critical_above": 40},
    "threshold_below": {"type": "threshold", "metric": "resolved_24h", "warn_below": 5.5, "critical_below": 2},
    "threshold_days": {"type": "threshold", "metric": "days_to_clear", "warn_above": 7.23333},
    "aging": {"older_than": "7d", "critical_older_than": "14d"},
    "aging_updated": {"type": "aging", "older_than": "2d", "field": "updated_at"},
    "sla": {"warn_within": "2h", "critical_within": "30m"},
    "sla_breach_only": {"type": "sla"},
    "spike": {"window": "1h", "baseline": "7d", "factor": 2.5},
    "spike_weekly": {"type": "spike", "window": "1h", "baseline": "hour_of_week", "factor": 3},
    "trend": {"metric": "open_tickets", "growing_for": "3d"},
    "flatline": {"window": "2h"},
    "flatline_weekly": {"type": "flatline", "window": "1h", "baseline": "hour_of_week"},
    "forecast": {"metric": "open_tickets", "above": 100, "horizon": "3d"},
    "fifo": {"window": "7d", "ratio": 0.5},
}


def rule(key: str) -> RuleBase:
    fields = {"type": key, **RULES[key], "name": f"r-{key}"}
    return TypeAdapter(Rule).validate_python(fields)  # type: ignore[no-any-return]


def notify(rule: RuleBase, level: str, state: AlertState, *, value: float, threshold: float | None) -> Notification:
    alert = Alert(
        fingerprint="f" * 16,
        rule=rule.name,
        labels=(("helpdesk", "zendesk"),),
        state=state,
        level=level,  # type: ignore[arg-type]
        value=value,
        threshold=threshold,
        summary="open tickets reach 100 on Wed 25 Nov 10:00 UTC",
        tickets=(),
        ticket_count=int(value),
        active_since=NOW,
        firing_since=NOW,
        resolved_at=NOW if state is AlertState.RESOLVED else None,
    )
    reason = Reason.RESOLVED if state is AlertState.RESOLVED else Reason.FIRING
    return Notification(alert, reason, rule, NOW)


WARN, CRITICAL, RESOLVED = ("warn", AlertState.FIRING), ("critical", AlertState.FIRING), ("warn", AlertState.RESOLVED)

CASES = [
    # rule, (level, state), value, threshold, headline, terms
    ("threshold", WARN, 23, 20, "23 open", "open tickets above 20"),
    ("threshold", CRITICAL, 41, 40, "41 open", "open tickets above 40"),
    ("threshold", RESOLVED, 12, 20, "12 open", "open tickets above 20"),
    ("threshold_below", WARN, 4, 5.5, "tickets solved in 24h 4", "tickets solved in 24h below 5.5"),
    ("threshold_below", CRITICAL, 1, 2, "tickets solved in 24h 1", "tickets solved in 24h below 2"),
    ("threshold_days", WARN, 9.87654, 7.23333, "days to clear 9.9", "days to clear above 7.2"),
    ("aging", WARN, 4, 168, "4 tickets older than 7d", "older than 7d"),
    ("aging", CRITICAL, 1, 168, "1 ticket older than 7d", "older than 14d"),
    ("aging", RESOLVED, 0, 168, "0 tickets older than 7d", "older than 7d"),
    ("aging_updated", WARN, 2, 48, "2 tickets not updated for more than 2d", "not updated for more than 2d"),
    ("sla", WARN, 3, 2, "3 SLAs at risk", "due within 2h"),
    ("sla", CRITICAL, 1, 2, "1 SLA at risk", "due within 30m"),
    ("sla", RESOLVED, 0, 2, "0 SLAs at risk", "due within 2h"),
    ("sla_breach_only", CRITICAL, 2, None, "2 SLAs at risk", "SLA breached"),
    ("spike", WARN, 12, 5, "12 new tickets in 1h", "2.5x the usual rate in 1h"),
    ("spike", CRITICAL, 1, 1, "1 new ticket in 1h", "2.5x the usual rate in 1h"),
    ("spike_weekly", WARN, 31, 24, "31 new tickets in 1h", "3x the usual for this time of the week"),
    ("trend", WARN, 30, 20, "open tickets growing for 3d", "open tickets growing for 3d"),
    ("trend", RESOLVED, 30, 20, "open tickets growing for 3d", "open tickets growing for 3d"),
    ("flatline", WARN, 2.5, 2, "no new ticket for 2.5h", "no new ticket for 2h"),
    ("flatline", CRITICAL, 3, 2, "no new ticket for 3h", "no new ticket for 2h"),
    (
        "flatline_weekly",
        WARN,
        1.5,
        1,
        "no new ticket for 1.5h",
        "no new ticket for 1h when the same time of the week usually brings some",
    ),
    (
        "forecast",
        WARN,
        60,
        100,
        "open tickets reach 100 on Wed 25 Nov 10:00 UTC",
        "100",
    ),
    ("fifo", WARN, 6, 0.5, "6 old tickets skipped", "oldest-first ratio below 0.5 in 7d"),
    ("fifo", CRITICAL, 1, 0.5, "1 old ticket skipped", "oldest-first ratio below 0.5 in 7d"),
]


@pytest.mark.parametrize(("key", "at", "value", "threshold", "headline", "terms"), CASES)
def test_each_rule_type_renders_its_own_headline_and_terms(
    key: str, at: tuple[str, AlertState], value: float, threshold: float | None, headline: str, terms: str
) -> None:
    n = notify(rule(key), at[0], at[1], value=value, threshold=threshold)
    assert render.headline(n) == headline
    assert render.terms(n) == terms


def test_every_bundled_rule_type_has_a_row_in_the_table() -> None:
    covered = {rule(key).type for key, *_ in CASES}
    assert covered == {"threshold", "aging", "sla", "spike", "trend", "flatline", "forecast", "fifo"}


def test_the_title_carries_the_rules_headline_severity_and_scope() -> None:
    sla = rule("sla")
    assert render.title(notify(sla, *CRITICAL, value=3, threshold=2)) == "[CRITICAL] r-sla: 3 SLAs at risk (zendesk)"
    assert render.title(notify(sla, *RESOLVED, value=0, threshold=2)) == "[RESOLVED] r-sla: 0 SLAs at risk (zendesk)"


def test_built_in_rules_say_their_own_words_or_the_plain_value() -> None:
    down = notify(HelpdeskDownRule(), "critical", AlertState.FIRING, value=600, threshold=None)
    assert render.headline(down) == "failing for 10m"
    assert render.terms(down) == ""
    store = notify(StoreFailingRule(), "critical", AlertState.FIRING, value=1, threshold=None)
    assert render.headline(store) == "1"


class _Backlog(RuleBase):
    """A rule type from a plugin: render knows nothing of it and still shows its words."""

    def headline(self, alert: Any) -> str:
        return f"{alert.value:g} frobs"

    def terms(self, alert: Any) -> str:
        return f"more than {alert.threshold:g} frobs at {alert.level}"


def test_a_plugin_rule_type_renders_through_its_own_methods() -> None:
    n = notify(_Backlog(name="frob", type="frobs"), *WARN, value=7, threshold=5)
    assert render.headline(n) == "7 frobs" and render.terms(n) == "more than 5 frobs at warn"
    assert render.title(n) == "[WARN] frob: 7 frobs (zendesk)"

"""What a support lead reads in an alert: each rule's own terms, values rounded for people, metric
names in words, times in the configured timezone, and a resolved notice that says how long it fired."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from backlog_watch.delivery.dedup import Notification, Reason
from backlog_watch.delivery.notifiers.console import format_text
from backlog_watch.delivery.notifiers.email import build_message
from backlog_watch.delivery.notifiers.slack import build_blocks, reply_text
from backlog_watch.delivery.render import UTC_ZONE
from backlog_watch.models import Alert, AlertState
from backlog_watch.rules.backlog import AgingRule, RuleBase, SlaRule, ThresholdRule
from tests.factories import NOW

PARIS = ZoneInfo("Europe/Paris")


def notification(
    rule: RuleBase,
    *,
    value: float,
    threshold: float,
    level: str = "critical",
    reason: Reason = Reason.FIRING,
    **alert: Any,
) -> Notification:
    fields: dict[str, Any] = {
        "fingerprint": "f" * 16,
        "rule": rule.name,
        "labels": (("helpdesk", "zendesk"),),
        "state": AlertState.FIRING,
        "level": level,
        "value": value,
        "threshold": threshold,
        "summary": "summary",
        "tickets": (),
        "ticket_count": int(value),
        "active_since": NOW,
        "firing_since": NOW,
        **alert,
    }
    return Notification(Alert(**fields), reason, rule, NOW, data_as_of={"zendesk": NOW})


def everything_shown(n: Notification, tz: ZoneInfo = UTC_ZONE) -> str:
    """The Slack blocks, the email (text and HTML) and the console text of one notification."""
    blocks = str([b.to_dict() for b in build_blocks(n, tz)])
    message: EmailMessage = build_message([n], sender="a@acme.com", to=["b@acme.com"], tz=tz)
    bodies = [part.get_content() for part in message.walk() if part.get_content_maintype() == "text"]
    return "\n".join([blocks, *bodies, format_text(n, tz)])


def test_aging_and_sla_alerts_show_the_rules_own_terms_not_a_bare_threshold() -> None:
    aging = AgingRule.model_validate({"name": "old", "type": "aging", "older_than": "7d"})
    shown = everything_shown(notification(aging, value=4, threshold=168, level="warn"))
    assert "older than 7d" in shown and "Warn when" in shown
    assert "threshold" not in shown.lower() and "168" not in shown

    sla = SlaRule.model_validate({"name": "sla", "type": "sla", "warn_within": "2h", "critical_within": "30m"})
    shown = everything_shown(notification(sla, value=3, threshold=2))
    assert "Critical when" in shown and "due within 30m" in shown
    assert "threshold" not in shown.lower()


def test_a_metric_shows_in_words_and_rounded_for_people() -> None:
    rule = ThresholdRule.model_validate(
        {"name": "slow", "type": "threshold", "metric": "days_to_clear", "warn_above": 7.23333}
    )
    shown = everything_shown(notification(rule, value=9.87654, threshold=7.23333, level="warn"))
    assert "days to clear above 7.2" in shown and "days to clear 9.9" in shown
    assert "days_to_clear" not in shown and "7.23333" not in shown and "9.87654" not in shown


def test_alerts_show_times_in_the_configured_timezone_and_say_which() -> None:
    rule = ThresholdRule.model_validate(
        {"name": "big", "type": "threshold", "metric": "open_tickets", "critical_above": 20}
    )
    shown = everything_shown(notification(rule, value=23, threshold=20), PARIS)
    local = NOW.astimezone(PARIS)
    assert f"Firing since {local:%Y-%m-%d %H:%M} {local.tzname()}" in shown
    assert f"zendesk {local:%H:%M} {local.tzname()}" in shown
    assert " UTC" not in shown


def test_a_resolved_notice_says_how_long_the_alert_fired() -> None:
    rule = ThresholdRule.model_validate(
        {"name": "big", "type": "threshold", "metric": "open_tickets", "critical_above": 20}
    )
    resolved = notification(
        rule,
        value=21,
        threshold=20,
        reason=Reason.RESOLVED,
        state=AlertState.RESOLVED,
        firing_since=NOW - timedelta(hours=2, minutes=15),
        resolved_at=NOW,
    )
    assert "after firing for 2h 15m" in reply_text(resolved)
    assert "after firing for 2h 15m" in everything_shown(resolved)

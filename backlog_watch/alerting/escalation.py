"""Escalation: an alert still firing after ``after`` is also sent to further notifiers.

``escalate: [{after: 2h, level: critical, notify: [leads-email]}]`` on a rule or in ``defaults``. The
time counts from when the alert started firing; ``level`` (optional) asks for at least that level.
Resolved notices follow the escalation: a notifier that was told about the alert hears it is over.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from backlog_watch.models import Alert
from backlog_watch.rules.base import EscalationStep


def escalated_notifiers(
    steps: Iterable[EscalationStep], alert: Alert, now: datetime, already: Iterable[str]
) -> dict[str, EscalationStep]:
    """The extra notifiers this alert reaches now, each with the step that brought it in."""
    skip = set(already)
    found: dict[str, EscalationStep] = {}
    for step in steps:
        if step.applies(alert, now):
            for name in step.notify:
                if name not in skip and name not in found:
                    found[name] = step
    return found

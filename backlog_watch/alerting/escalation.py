"""Escalation: an alert still firing after ``after`` is also sent to further notifiers.

``escalate: [{after: 2h, level: critical, notify: [leads-email]}]`` on a rule or in ``defaults``. The
time counts from when the alert started firing; ``level`` (optional) asks for at least that level.
Resolved notices follow the escalation: a notifier that was told about the alert hears it is over.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from backlog_watch.durations import Duration
from backlog_watch.models import LEVEL_RANK, Alert, AlertState


class EscalationStep(BaseModel):
    """One step: after this long firing (at this level or above), also notify these."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after: Duration
    level: Literal["warn", "critical"] | None = None
    notify: tuple[str, ...] = Field(min_length=1)

    @field_validator("notify", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def applies(self, alert: Alert, now: datetime) -> bool:
        """Whether this step reaches the alert now (resolved alerts: let needs_notify decide)."""
        if alert.state is AlertState.RESOLVED:
            return True
        if alert.state is not AlertState.FIRING or alert.firing_since is None:
            return False
        if self.level is not None and LEVEL_RANK[alert.level] < LEVEL_RANK[self.level]:
            return False
        return now - alert.firing_since >= self.after


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

"""Escalation as a table: which step reaches an alert, when, and which notifiers it adds."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from pydantic import ValidationError

from backlog_watch.alerting.escalation import escalated_notifiers
from backlog_watch.models import AlertState
from backlog_watch.rules.base import EscalationStep
from tests.factories import NOW
from tests.helpers.alerts import alert

H = timedelta(hours=1)


def step(after: str = "2h", level: str | None = None, notify: object = ("boss",)) -> EscalationStep:
    return EscalationStep.model_validate({"after": after, "level": level, "notify": notify})


@pytest.mark.parametrize(
    ("state", "level", "firing_for", "step_level", "applies"),
    [
        pytest.param(AlertState.FIRING, "warn", 2 * H, None, True, id="firing-exactly-after"),
        pytest.param(AlertState.FIRING, "warn", 2 * H - timedelta(seconds=1), None, False, id="firing-not-yet"),
        pytest.param(AlertState.FIRING, "warn", 3 * H, "critical", False, id="warn-below-step-level"),
        pytest.param(AlertState.FIRING, "critical", 3 * H, "critical", True, id="critical-meets-step-level"),
        pytest.param(AlertState.FIRING, "critical", 3 * H, "warn", True, id="critical-above-step-level"),
        pytest.param(AlertState.PENDING, "critical", 3 * H, None, False, id="pending-never"),
        pytest.param(AlertState.RESOLVED, "warn", timedelta(0), "critical", True, id="resolved-always"),
    ],
)
def test_a_step_applies(
    state: AlertState, level: str, firing_for: timedelta, step_level: str | None, applies: bool
) -> None:
    subject = alert("backlog-size", level, state)
    assert step(level=step_level).applies(subject, NOW + firing_for) is applies


def test_a_firing_alert_without_firing_since_is_not_escalated() -> None:
    subject = replace(alert("backlog-size", "critical"), firing_since=None)
    assert step(after="0s").applies(subject, NOW + 10 * H) is False


@pytest.mark.parametrize(
    ("steps", "firing_for", "already", "expected"),
    [
        pytest.param([step("2h", notify="boss")], 1 * H, [], {}, id="before-any-step"),
        pytest.param([step("2h", notify="boss")], 2 * H, [], {"boss": 0}, id="one-step-a-string"),
        pytest.param([step("2h", notify=["boss"])], 2 * H, ["boss"], {}, id="already-notified-skipped"),
        pytest.param(
            [step("1h", notify=["lead"]), step("4h", notify=["boss"])], 2 * H, [], {"lead": 0}, id="first-step-only"
        ),
        pytest.param(
            [step("1h", notify=["lead"]), step("4h", notify=["lead", "boss"])],
            5 * H,
            [],
            {"lead": 0, "boss": 1},
            id="earliest-step-wins-a-notifier",
        ),
        pytest.param(
            [step("1h", "critical", ["boss"]), step("1h", notify=["lead"])], 2 * H, [], {"lead": 1}, id="level-gated"
        ),
    ],
)
def test_escalated_notifiers(
    steps: list[EscalationStep], firing_for: timedelta, already: list[str], expected: dict[str, int]
) -> None:
    found = escalated_notifiers(steps, alert("backlog-size", "warn"), NOW + firing_for, already)
    assert {name: steps.index(brought_by) for name, brought_by in found.items()} == expected


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"after": "2h", "notify": []}, id="no-notifier"),
        pytest.param({"after": "2 hours", "notify": ["boss"]}, id="bad-duration"),
        pytest.param({"after": "2h", "level": "info", "notify": ["boss"]}, id="unknown-level"),
        pytest.param({"after": "2h", "notify": ["boss"], "to": ["x"]}, id="unknown-key"),
    ],
)
def test_bad_steps_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        EscalationStep.model_validate(settings)

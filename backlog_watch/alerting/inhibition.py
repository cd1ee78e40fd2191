"""Inhibition, after Alertmanager: a firing alert that matches ``source_matchers`` hides the alerts that
match ``target_matchers`` and carry the same values for every label named in ``equal``.

Matchers are written as in silences (``rule=backlog-size``, ``level=~warn|critical``, ``helpdesk!=jira``)
and see the same labels: ``rule``, ``level``, every scope label and the rule's ``labels:``. A label
missing from both alerts counts as equal, as in Alertmanager. By default no alert of one rule hides
an alert of another: a critical backlog must not hide the tickets aging in it. The one built-in
inhibition is helpdesk-down hiding the other alerts of its helpdesk (their data is stale), switched
off with ``helpdesk_down: {hides_others: false}``. The old ``inhibit:`` keys are translated here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from backlog_watch.alerting.silences import Matcher

HELPDESK_DOWN = "helpdesk-down"
_LABEL = r"^[A-Za-z_][A-Za-z0-9_.-]*$"


def _matcher_text(text: str) -> str:
    Matcher.parse(text)  # the ValueError says how to write one; pydantic puts it on the item's line
    return text


MatcherText = Annotated[str, AfterValidator(_matcher_text)]


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class InhibitRule(BaseModel):
    """One ``inhibit_rules`` entry: firing sources hide the targets that agree with them on ``equal``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source_matchers: tuple[MatcherText, ...] = Field(min_length=1)
    target_matchers: tuple[MatcherText, ...] = Field(min_length=1)
    equal: tuple[Annotated[str, Field(pattern=_LABEL)], ...] = ()

    @field_validator("source_matchers", "target_matchers", "equal", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)

    @property
    def sources(self) -> tuple[Matcher, ...]:
        return tuple(Matcher.parse(m) for m in self.source_matchers)

    @property
    def targets(self) -> tuple[Matcher, ...]:
        return tuple(Matcher.parse(m) for m in self.target_matchers)

    def hides(self, source: Mapping[str, str], target: Mapping[str, str]) -> bool:
        """Whether an alert with the ``source`` labels (firing) hides one with the ``target`` labels."""
        return (
            all(m.matches(source) for m in self.sources)
            and all(m.matches(target) for m in self.targets)
            and all(source.get(name) == target.get(name) for name in self.equal)
        )

    def __str__(self) -> str:
        equal = f" equal [{', '.join(self.equal)}]" if self.equal else ""
        return f"[{', '.join(self.source_matchers)}] over [{', '.join(self.target_matchers)}]{equal}"


DOWN_HIDES_OTHERS = InhibitRule(
    source_matchers=(f"rule={HELPDESK_DOWN}",), target_matchers=(f"rule!={HELPDESK_DOWN}",), equal=("helpdesk",)
)
"""The built-in inhibition: a helpdesk that cannot be polled has stale data, so its other alerts wait."""


class InhibitSettings(BaseModel):
    """Deprecated (``inhibit_rules`` replaces it): kept one release, translated by ``legacy_rules``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    critical_hides_warn: bool | None = None
    """Deprecated: a firing critical alert hides the warn alerts of the same scope, whatever their rule."""
    helpdesk_down_hides: bool | None = None
    """Deprecated: ``helpdesk_down.hides_others``."""

    def deprecations(self) -> list[str]:
        """One line per old key set, saying what replaces it."""
        lines = []
        if self.critical_hides_warn is not None:
            lines.append(
                "inhibit.critical_hides_warn is deprecated and will be removed: "
                + (
                    "write the inhibit_rules you want instead (e.g. source_matchers: [level=critical], "
                    "target_matchers: [level=warn], equal: [rule, helpdesk])"
                    if self.critical_hides_warn
                    else "remove it (no alert of one rule hides another's by default)"
                )
            )
        if self.helpdesk_down_hides is not None:
            lines.append(
                "inhibit.helpdesk_down_hides is deprecated and will be removed: "
                f"use helpdesk_down.hides_others: {str(self.helpdesk_down_hides).lower()}"
            )
        return lines

    def legacy_rules(self, scope_labels: tuple[str, ...]) -> list[InhibitRule]:
        """``critical_hides_warn: true`` as it behaved: same scope (every scope label equal), any rule."""
        if not self.critical_hides_warn:
            return []
        return [
            InhibitRule(
                source_matchers=("level=critical",),
                target_matchers=("level=warn",),
                equal=tuple(sorted(set(scope_labels))),
            )
        ]


def effective_rules(
    configured: tuple[InhibitRule, ...] | list[InhibitRule],
    legacy: InhibitSettings,
    down_hides_others: bool,
    scope_labels: tuple[str, ...],
) -> list[InhibitRule]:
    """The inhibit rules in force: the configured ones, the old keys translated, the built-in one."""
    rules = [*configured, *legacy.legacy_rules(scope_labels)]
    down = legacy.helpdesk_down_hides if legacy.helpdesk_down_hides is not None else down_hides_others
    return [*rules, DOWN_HIDES_OTHERS] if down else rules

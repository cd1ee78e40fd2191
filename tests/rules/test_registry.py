"""The rule registry: the bundled rule types are found by entry point, as a third party's would be;
a block is validated by the class its ``type`` names, and an unknown type says which ones exist."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from importlib.metadata import EntryPoint, entry_points
from typing import Literal

import pytest
from pydantic import TypeAdapter, ValidationError

import backlog_watch.rules as registry
from backlog_watch.config import parse_config
from backlog_watch.errors import ConfigError
from backlog_watch.models import Snapshot
from backlog_watch.rules import ENTRY_POINT_GROUP, Rule, RuleBase, available_rules, rule_class
from backlog_watch.rules.base import Measure
from tests.factories import NOW, snapshot_of

BUNDLED = {"threshold", "aging", "sla", "spike", "trend", "flatline", "forecast", "fifo"}
RULE = TypeAdapter(Rule)


def test_the_bundled_rule_types_are_registered_by_entry_point() -> None:
    declared = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert set(declared) >= BUNDLED
    assert all(declared[name].startswith("backlog_watch.rules.") for name in BUNDLED)
    found = available_rules()
    for name in BUNDLED:
        # the entry point's name is the `type` its class accepts, and nothing else
        assert typing.get_args(found[name].model_fields["type"].annotation) == (name,)
        assert rule_class(name) is found[name]
    assert rule_class("agging") is None and rule_class(3) is None


def test_a_rule_block_is_validated_by_the_class_its_type_names() -> None:
    rule = RULE.validate_python({"name": "old", "type": "aging", "older_than": "7d"})
    assert type(rule) is available_rules()["aging"]
    with pytest.raises(ValidationError) as caught:
        RULE.validate_python({"name": "old", "type": "aging", "older_thn": "7d"})
    assert [e["loc"] for e in caught.value.errors()] == [("older_than",), ("older_thn",)]


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("agging", 'unknown rule type "agging" (did you mean "aging"?)'),
        ("treshold", 'unknown rule type "treshold" (did you mean "threshold"?)'),
        ("zzz", 'unknown rule type "zzz" (choose from: aging, fifo, flatline, forecast, sla, spike, threshold, trend)'),
        (3, "expected a rule type, got 3 (choose from: aging, fifo,"),
    ],
)
def test_an_unknown_rule_type_says_did_you_mean_or_lists_the_registered_ones(kind: object, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RULE.validate_python({"name": "x", "type": kind})
    (error,) = caught.value.errors()
    assert error["loc"] == ("type",) and error["msg"].startswith(message)


def test_a_rule_block_without_a_type_is_missing_its_type() -> None:
    with pytest.raises(ValidationError) as caught:
        RULE.validate_python({"name": "x"})
    assert [(e["type"], e["loc"]) for e in caught.value.errors()] == [("missing", ("type",))]


class QuietRule(RuleBase):
    """A third party's rule type: fires when a helpdesk has fewer tickets than ``at_least``."""

    type: Literal["quiet"]
    at_least: int

    def measure(self, snapshot: Snapshot, now: typing.Any) -> Iterator[Measure]:
        found = snapshot.query.kpis(self.where.filter, self.scope_labels, snapshot.handle_hours, percentiles=False)
        for scope, values in self.scoped(snapshot, found, {"open_tickets": 0.0}).items():
            count = values["open_tickets"]
            level = "warn" if count < self.at_least else None
            yield Measure(scope, count, level, float(self.at_least), f"{count:g} tickets")

    def headline(self, alert: typing.Any) -> str:
        return f"only {alert.value:g} tickets"


@pytest.fixture
def quiet_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if a package declared ``quiet = "tests.rules.test_registry:QuietRule"`` under backlog_watch.rules."""
    original = registry.entry_points
    plugin = EntryPoint(name="quiet", value=f"{__name__}:QuietRule", group=ENTRY_POINT_GROUP)

    def with_plugin(*, group: str) -> list[EntryPoint]:
        return [*original(group=group), *([plugin] if group == ENTRY_POINT_GROUP else [])]

    monkeypatch.setattr(registry, "entry_points", with_plugin)


CONFIG = """\
helpdesks:
  - {name: zendesk, type: zendesk, url: "https://acme.zendesk.com", email: ops@acme.com, token: t0k3n-123}
rules:
  - name: too-quiet
    type: quiet
    at_least: {at_least}
"""


def test_a_third_party_rule_type_is_configured_like_a_bundled_one(quiet_installed: None) -> None:
    config = parse_config(CONFIG.replace("{at_least}", "3"))
    (rule,) = config.rules
    assert isinstance(rule, QuietRule) and rule.at_least == 3 and config.unsupported() == []
    findings = list(rule.evaluate(snapshot_of(NOW, ("zendesk",), []), NOW))
    assert [(f.level, f.value) for f in findings] == [("warn", 0.0)]
    # its keys are explained by line, as a bundled rule's are
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG.replace("{at_least}", "lots"))
    assert caught.value.problems == ['config.yaml:6: rules[0].at_least: expected a whole number, got "lots"']


def test_without_the_plugin_its_type_is_unknown_with_the_config_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG.replace("{at_least}", "3"))
    assert caught.value.problems == [
        'config.yaml:5: rules[0].type: unknown rule type "quiet" '
        "(choose from: aging, fifo, flatline, forecast, sla, spike, threshold, trend)"
    ]


def test_an_entry_point_that_is_not_a_rule_class_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = EntryPoint(name="bad", value="backlog_watch.rules.base:plural", group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda *, group: [bad])
    with pytest.raises(TypeError, match='"bad" = backlog_watch.rules.base:plural is not a RuleBase subclass'):
        available_rules()

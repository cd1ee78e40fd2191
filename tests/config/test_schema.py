"""The config's JSON Schema: kept in the repository without drift, accepting what `check` accepts and
rejecting what it rejects, plugins' types included, secrets shown as write-only strings."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import jsonschema
import pytest
from ruamel.yaml import YAML

from backlog_watch.config import parse_config
from backlog_watch.config.schema import SCHEMA_FILE, block_classes, config_schema, schema_text
from backlog_watch.errors import ConfigError
from backlog_watch.rules.base import RuleBase
from tests.helpers.cli import cli
from tests.helpers.config import CONTRACT_ENV
from tests.paths import CONTRACT, ROOT

SCHEMA_PATH = ROOT / SCHEMA_FILE
MODELINE = "# yaml-language-server: $schema=./backlog-watch.schema.json\n"
ENV = {"ZENDESK_API_TOKEN": "zd-token-0001", "SLACK_BOT_TOKEN": "xoxb-slack-0004"}

BASE = """\
timezone: Europe/Paris
helpdesks:
  - name: zendesk
    type: zendesk
    url: https://acme.zendesk.com
    email: ops@acme.com
    token: ${ZENDESK_API_TOKEN}
notifiers:
  - name: support-slack
    type: slack
    token: ${SLACK_BOT_TOKEN}
    channel: "#support-leads"
defaults:
  notify: support-slack
  repeat_every: 4h
rules:
  - name: backlog-size
    type: threshold
    metric: open_tickets
    warn_above: 50
  - name: aging-tickets
    type: aging
    older_than: 7d
    where: {priority: urgent}
"""


def edit(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


def plain(text: str) -> Any:
    """The YAML as an editor's language server sees it: dates stay the strings they are written as."""

    def jsonable(node: Any) -> Any:
        if isinstance(node, dict):
            return {str(k): jsonable(v) for k, v in node.items()}
        if isinstance(node, list):
            return [jsonable(v) for v in node]
        return node.isoformat() if isinstance(node, (date, datetime)) else node

    return jsonable(YAML(typ="safe").load(text))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_schema_in_the_repository_is_the_generated_one() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(bundled_only=True), (
        f"{SCHEMA_FILE} is out of date: regenerate it with "
        f"`.venv/bin/backlog-watch schema --bundled-only > {SCHEMA_FILE}`"
    )


@pytest.mark.parametrize("path", sorted((ROOT / "config").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_validates_and_names_the_schema(
    path: Path, validator: jsonschema.Draft202012Validator
) -> None:
    text = path.read_text(encoding="utf-8")
    assert [e.message for e in validator.iter_errors(plain(text))] == []
    # The example is the contract verbatim (test_config checks it byte for byte), so it cannot carry the
    # modeline; editors map it with yaml.schemas (README, Configuration).
    assert text.startswith(MODELINE) == (path != CONTRACT)


SEASONAL = "  - name: weekly\n    type: {}\n    window: 1h\n    baseline: {}\n{}"
"""A rule block (spike or flatline) after the base's rules: its type, baseline and further keys."""
WEEKEND = "time_intervals:\n  - name: weekend\n    time_intervals:\n      - {}: [saturday, sunday]\n"
NO_HELPDESKS = BASE.split("helpdesks:")[0] + "notifiers:" + BASE.split("notifiers:")[1]

# (what, config text, what the loader says: None when it accepts, else a fragment of its message)
VARIANTS: list[tuple[str, str, str | None]] = [
    ("the base (notify: one name for a list)", BASE, None),
    ("a ${VAR} for a number", edit("warn_above: 50", "warn_above: ${BACKLOG_LIMIT:-50}"), None),
    ("a combined duration", edit("repeat_every: 4h", "repeat_every: 1h30m"), None),
    ("an x- anchor block", "x-common: &zd {url: https://acme.zendesk.com}\n" + BASE, None),
    ("unknown top-level key", BASE + "evalute_every: 1m\n", "unknown key"),
    ("unknown rule key", edit("warn_above: 50", "warn_abov: 50"), "unknown key"),
    ("unknown helpdesk key", edit("email: ops@acme.com", "emial: ops@acme.com"), "unknown key"),
    ("unknown rule type", edit("type: threshold", "type: treshold"), "unknown rule type"),
    ("unknown notifier type", edit("type: slack", "type: slak"), "unknown notifier type"),
    ("unknown helpdesk type", edit("type: zendesk", "type: zendsk"), "unknown connector type"),
    ("rule without type", edit("    type: threshold\n", ""), "type"),
    ("bad duration", edit("older_than: 7d", "older_than: 7 days"), "is not a duration"),
    ("bad metric", edit("metric: open_tickets", "metric: open_tikets"), "metric"),
    ("threshold not a number", edit("warn_above: 50", "warn_above: fifty"), "warn_above"),
    ("bad priority in where", edit("priority: urgent", "priority: urgnet"), "priority"),
    ("bad rule name", edit("name: backlog-size", "name: -backlog size"), "name"),
    ("helpdesks missing", NO_HELPDESKS, "helpdesks"),
    ("helpdesks empty", "helpdesks: []\n" + NO_HELPDESKS, "helpdesks"),
    ("token missing", edit("    token: ${ZENDESK_API_TOKEN}\n", ""), "token"),
    ("rules not a list", BASE.split("rules:")[0] + "rules: backlog-size\n", "rules"),
    ("per_page above the maximum", edit("email: ops@acme.com", "email: ops@acme.com\n    per_page: 5000"), "per_page"),
    ("group_by an unknown label", edit("older_than: 7d", "older_than: 7d\n    group_by: team"), "group_by"),
    ("send_resolved not a boolean", edit("repeat_every: 4h", "send_resolved: maybe"), "send_resolved"),
    ("a seasonal spike", BASE + SEASONAL.format("spike", "hour_of_week", "    factor: 3\n    weeks: 6\n"), None),
    ("a seasonal flatline", BASE + SEASONAL.format("flatline", "hour_of_week", "    min_usual: 2\n"), None),
    (
        "seasonal weeks below one",
        BASE + SEASONAL.format("spike", "hour_of_week", "    factor: 3\n    weeks: 0\n"),
        "weeks",
    ),
    ("a baseline of neither kind", BASE + SEASONAL.format("spike", "weekly", "    factor: 3\n"), "baseline"),
    ("weeks on a calendar-time spike", BASE + SEASONAL.format("spike", "7d", "    factor: 3\n    weeks: 2\n"), "weeks"),
    ("min_usual on a plain flatline", BASE + SEASONAL.format("flatline", "null", "    min_usual: 2\n"), "min_usual"),
    ("a time interval", BASE + WEEKEND.format("weekdays"), None),
    ("unknown time interval key", BASE + WEEKEND.format("weekday"), "unknown key"),
    ("keep_firing_for not a duration", edit("older_than: 7d", "older_than: 7d\n    keep_firing_for: soon"), "duration"),
]

# What no JSON Schema can see: names that refer to other sections, and the environment. `check` alone.
CHECK_ONLY: list[tuple[str, str, str]] = [
    ("notify names no notifier", edit("notify: support-slack", "notify: support-slak"), "unknown notifier"),
    ("two rules of one name", edit("name: aging-tickets", "name: backlog-size"), "backlog-size"),
    ("a misspelt weekday", BASE + WEEKEND.format("weekdays").replace("saturday", "saturdya"), "weekday"),
    ("unset variable", edit("${ZENDESK_API_TOKEN}", "${ZENDESK_TOKEN}"), "is not set"),
]


def verdicts(text: str, validator: jsonschema.Draft202012Validator) -> tuple[str | None, list[str]]:
    try:
        parse_config(text, env=ENV)
        loader = None
    except ConfigError as exc:
        loader = "\n".join(exc.problems)
    return loader, [e.message for e in validator.iter_errors(plain(text))]


@pytest.mark.parametrize(("what", "text", "fragment"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_the_schema_and_check_agree(
    what: str, text: str, fragment: str | None, validator: jsonschema.Draft202012Validator
) -> None:
    loader, schema_errors = verdicts(text, validator)
    if fragment is None:
        assert loader is None
        assert schema_errors == []
    else:
        assert loader is not None and fragment in loader
        assert schema_errors, f"the schema accepts what check refuses: {loader}"


@pytest.mark.parametrize(("what", "text", "fragment"), CHECK_ONLY, ids=[v[0] for v in CHECK_ONLY])
def test_what_only_check_sees(what: str, text: str, fragment: str, validator: jsonschema.Draft202012Validator) -> None:
    loader, schema_errors = verdicts(text, validator)
    assert loader is not None and fragment in loader
    assert schema_errors == []


def test_the_contract_validates(validator: jsonschema.Draft202012Validator) -> None:
    parse_config(CONTRACT.read_text(encoding="utf-8"), env=CONTRACT_ENV)
    assert list(validator.iter_errors(plain(CONTRACT.read_text(encoding="utf-8")))) == []


def test_secrets_are_write_only_strings_without_a_value() -> None:
    defs = config_schema(bundled_only=True)["$defs"]
    token = defs["ZendeskSettings"]["properties"]["token"]
    assert token == {"format": "password", "title": "Token", "type": "string", "writeOnly": True}
    smtp_password = json.dumps(defs["EmailSettings"]["properties"]["password"])
    assert '"writeOnly": true' in smtp_password and "default" not in smtp_password.replace('"default": null', "")
    assert not any(secret in schema_text() for secret in CONTRACT_ENV.values())


class _QueueDepthRule(RuleBase):
    """A plugin's rule type, as a third party registers one."""

    type: Literal["queue_depth"]
    depth_above: int


def test_a_plugins_rule_type_is_validated_by_its_own_schema() -> None:
    blocks = block_classes()
    blocks[RuleBase] = {**blocks[RuleBase], "queue_depth": _QueueDepthRule}
    validator = jsonschema.Draft202012Validator(config_schema(blocks=blocks))
    rule = "  - name: depth\n    type: queue_depth\n    depth_above: {}\n"
    assert list(validator.iter_errors(plain(BASE + rule.format(10)))) == []
    assert [e.message for e in validator.iter_errors(plain(BASE + rule.format('"ten"')))] != []


async def test_schema_command_prints_installed_plugins_types_unless_bundled_only() -> None:
    code, out, _ = await cli("schema")
    assert code == 0
    notifiers = json.loads(out)["properties"]["notifiers"]["items"]["properties"]["type"]["enum"]
    assert {"slack", "email", "acme_jsonl"} <= set(notifiers)  # tests/plugin_example, installed by make
    code, out, _ = await cli("schema", "--bundled-only")
    assert code == 0 and out == SCHEMA_PATH.read_text(encoding="utf-8")
    assert "acme_jsonl" not in out

"""The example plugin of tests/plugin_example (installed by the Makefile, as a third party's package would
be): found by entry point, importing only the public surface, and delivering end to end: its connector's
tickets -> a rule fires -> its notifier receives the alert. Its own test module runs the shipped connector
conformance suite (tests/plugin_example/tests/test_acme_conformance.py)."""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from pathlib import Path

from acme_backlog_plugin.connector import AcmeQueueConnector
from acme_backlog_plugin.notifier import JsonLinesNotifier
from acme_backlog_plugin.standin import AcmeStandIn

from backlog_watch.app import assemble
from backlog_watch.config import parse_config
from backlog_watch.sim import SimClock
from backlog_watch.sources.connector import available_connectors
from tests.helpers.cli import cli
from tests.helpers.imports import backlog_watch_imports
from tests.paths import ROOT

PLUGIN = ROOT / "tests" / "plugin_example"


def config_text(standin: AcmeStandIn, folder: Path, notifier: str) -> str:
    return f"""\
store: sqlite:///{folder / "bw.db"}
helpdesks:
  - name: acme
    type: acme_queue
    url: {standin.url}
    token: {standin.settings()["token"]}
notifiers:
  - {notifier}
defaults: {{notify: [team]}}
rules:
  - name: backlog-size
    type: threshold
    metric: open_tickets
    warn_above: 5
"""


def delivered(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_plugin_is_found_by_entry_point_and_imports_only_the_public_surface() -> None:
    assert available_connectors()["acme_queue"] is AcmeQueueConnector
    notifiers = {ep.name: ep for ep in entry_points(group="backlog_watch.notifiers")}
    assert notifiers["acme_jsonl"].load() is JsonLinesNotifier
    assert notifiers["acme_jsonl"].dist is not None and notifiers["acme_jsonl"].dist.name == "acme-backlog-plugin"
    modules = sorted((PLUGIN / "acme_backlog_plugin").glob("*.py"))
    assert len(modules) == 4
    for module in modules:
        assert set(backlog_watch_imports(module.read_text())) <= {"backlog_watch"}, module.name


async def test_the_plugin_connector_feeds_a_rule_that_alerts_the_plugin_notifier(tmp_path: Path) -> None:
    clock = SimClock()
    out = tmp_path / "alerts.jsonl"
    async with AcmeStandIn(clock, tickets=40) as standin:
        config = parse_config(config_text(standin, tmp_path, "{name: team, type: console}"), "plugin.yaml", env={})
        async with assemble(config, clock=clock.now, notifiers={"team": JsonLinesNotifier("team", out)}) as parts:
            code, _ = await parts.daemon.once()
    assert code == 0
    [line] = delivered(out)
    assert line["rule"] == "backlog-size" and line["state"] == "firing" and line["level"] == "warn"
    assert line["labels"] == {"helpdesk": "acme"} and line["value"] == len(standin.open_ids())
    assert "backlog-size" in str(line["text"])


async def test_backlog_watch_once_delivers_to_a_notifier_found_by_entry_point(tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    async with AcmeStandIn(SimClock(), tickets=40) as standin:
        path = tmp_path / "plugin.yaml"
        path.write_text(config_text(standin, tmp_path, f"{{name: team, type: acme_jsonl, path: {out}}}"))
        code, _, err = await cli("once", "--config", str(path))
    assert code == 0, err
    [line] = delivered(out)
    assert line["rule"] == "backlog-size" and line["state"] == "firing"


def test_the_plugin_guide_shows_the_example_as_it_is() -> None:
    """docs/writing-plugins.md quotes the example's files whole: the guide cannot drift from what runs."""
    guide = (ROOT / "docs" / "writing-plugins.md").read_text()
    for name in ("pyproject.toml", "acme_backlog_plugin/connector.py", "acme_backlog_plugin/notifier.py"):
        assert f"# tests/plugin_example/{name}\n" + (PLUGIN / name).read_text() in guide, name
    assert (PLUGIN / "tests" / "test_acme_conformance.py").read_text() in guide

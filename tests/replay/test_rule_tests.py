"""`backlog-watch test rules`: the repository's own rule tests pass; a wrong expectation fails with a
readable diff (exit 1); a malformed test file names file:line: key (exit 2). Each run is the real
command in its own process, the daemon's evaluation inside it."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.cli import cli
from tests.paths import CONTRACT, ROOT

EXAMPLE_TESTS = sorted((ROOT / "config" / "tests").glob("*.yaml"))

LIFECYCLE = """
store: sqlite:///unused.db
helpdesks:
  - {name: zendesk, type: zendesk, url: https://a.zendesk.com, email: a@b.c, token: t}
notifiers:
  - {name: rec, type: console}
defaults: {notify: [rec], repeat_every: 1h}
rules:
  - name: big
    type: threshold
    metric: open_tickets
    warn_above: 3
    for: 10m
    keep_firing_for: 20m
"""

TEST = """
config: lifecycle.yaml
evaluate_every: 5m
tickets:
  - {id: 1, count: 3, created: -1h}
  - id: 10
    created: +5m
    changes:
      - {at: +30m, status: solved}
expect:
  - at: +10m            # 4 open since +5m: pending, for 10m
    alerts: []
  - at: +15m
    alerts:
      - rule: big
        labels: {helpdesk: zendesk}
        level: warn
        tickets: [1, 2, 3, 10]
        message_contains: ["big: 4 open (zendesk)", "open tickets is 4 (warn above 3)"]
  - at: +45m            # 3 open since +30m: kept firing for 20m
    alerts:
      - {rule: big, labels: {helpdesk: zendesk}, level: warn}
  - at: +50m
    alerts: []
"""


def write(folder: Path, test: str) -> Path:
    (folder / "lifecycle.yaml").write_text(LIFECYCLE)
    path = folder / "big.test.yaml"
    path.write_text(test)
    return path


async def test_the_repository_rule_tests_pass() -> None:
    assert len(EXAMPLE_TESTS) >= 5
    code, out, err = await cli("test", "rules", *map(str, EXAMPLE_TESTS))
    assert code == 0, out + err
    for path in EXAMPLE_TESTS:
        assert f"PASS {path}" in out
    assert f"{len(EXAMPLE_TESTS)} of {len(EXAMPLE_TESTS)} test file(s) passed" in out
    # every rule of the contract fires in at least one of them
    expected = " ".join(p.read_text() for p in EXAMPLE_TESTS)
    rules = CONTRACT.read_text().split("\nrules:")[1].split("\nreports:")[0]
    names = [line.split("name: ")[1].split()[0] for line in rules.splitlines() if "- name: " in line]
    assert len(names) == 12
    assert [n for n in names if f"rule: {n}" not in expected] == []


async def test_a_correct_expectation_passes_through_for_and_keep_firing_for(tmp_path: Path) -> None:
    code, out, err = await cli("test", "rules", str(write(tmp_path, TEST)))
    assert (code, err) == (0, ""), out
    assert "4 moment(s), 2 alert(s) as expected" in out


async def test_a_wrong_expectation_fails_with_a_diff(tmp_path: Path) -> None:
    wrong = (
        TEST.replace("level: warn\n        tickets: [1, 2, 3, 10]", "level: critical\n        tickets: [1, 2, 3]")
        .replace("  - at: +50m\n    alerts: []", "  - at: +50m\n    alerts:\n      - {rule: big, level: warn}")
        .replace("4 open (zendesk)", "5 open (zendesk)")
    )
    path = write(tmp_path, wrong)
    code, out, _ = await cli("test", "rules", str(path))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"FAIL {path}: 2 of 4 moment(s) differ (- expected, + got)"
    at_15 = lines.index(f"{path}:13: at +15m (2026-11-23 09:15 UTC):")
    assert lines[at_15 + 1 : at_15 + 4] == [
        "  - big {helpdesk=zendesk} critical tickets [1, 2, 3]",
        "  + big {helpdesk=zendesk} warn tickets [1, 2, 3, 10]",
        '  message of big {helpdesk=zendesk} does not contain "big: 5 open (zendesk)"',
    ]
    assert "    | [WARN] big: 4 open (zendesk)" in lines
    at_50 = lines.index(f"{path}:23: at +50m (2026-11-23 09:50 UTC):")
    assert lines[at_50 + 1] == "  - big {} warn"  # expected, and nothing fires
    assert lines[-1] == "0 of 1 test file(s) passed"


async def test_a_whole_message_is_compared_line_by_line(tmp_path: Path) -> None:
    message = (
        "  - at: +15m\n    alerts:\n      - rule: big\n        labels: {helpdesk: zendesk}\n        level: warn\n"
        "        message: |\n          [WARN] big: 4 open (zendesk)\n            Firing since soon\n"
    )
    test = TEST.split("  - at: +15m")[0] + message
    code, out, _ = await cli("test", "rules", str(write(tmp_path, test)))
    assert code == 1
    assert "  message of big {helpdesk=zendesk} differs:" in out
    assert "    -  Firing since soon" in out
    assert "    +  Firing since 2026-11-23 09:15 UTC. open tickets is 4 (warn above 3)" in out


async def test_a_malformed_test_file_names_file_line_and_key(tmp_path: Path) -> None:
    broken = (
        TEST.replace("created: +5m", "created: +5x")
        .replace("{id: 1, count: 3, created: -1h}", "{id: 1, count: 3, created: -1h, priorty: high}")
        .replace("level: warn\n        tickets", "level: warning\n        tickets")
    )
    path = write(tmp_path, broken)
    code, out, err = await cli("test", "rules", str(path))
    assert code == 2
    assert err.splitlines() == [
        f'{path}:5: tickets[0]: unknown key "priorty" (did you mean "priority"?)',
        f'{path}:7: tickets[1].created: "+5x" is not a time: write +30m, -2h, 0 or 2026-11-23T10:00:00Z',
        f'{path}:17: expect[1].alerts[0].level: "warning" is not allowed: use one of warn, critical '
        '(did you mean "warn"?)',
    ]
    assert "0 of 1 test file(s) passed" in out


async def test_names_the_config_does_not_have_are_located_too(tmp_path: Path) -> None:
    wrong = TEST.replace("{rule: big, labels", "{rule: bgi, labels")
    wrong = wrong.replace("- id: 10", "- id: 10\n    helpdesk: zendsk")
    path = write(tmp_path, wrong)
    code, _, err = await cli("test", "rules", str(path))
    assert code == 2
    assert err.splitlines() == [
        f'{path}:7: tickets[1].helpdesk: no helpdesk "zendsk" in the config (did you mean "zendesk"?)',
        f'{path}:23: expect[2].alerts[0].rule: rule "bgi" is not in the config (did you mean "big"?)',
    ]
    (tmp_path / "other.test.yaml").write_text("config: missing.yaml\nexpect: [{at: 0}]\n")
    (tmp_path / "syntax.test.yaml").write_text("config: lifecycle.yaml\nexpect: [{at: 0}\n")
    files = [tmp_path / "other.test.yaml", tmp_path / "syntax.test.yaml", path.with_name("none")]
    code, out, err = await cli("test", "rules", *map(str, files))
    assert code == 2
    lines = err.splitlines()
    assert lines[0] == f"{tmp_path / 'other.test.yaml'}:1: config: no such config file: {tmp_path / 'missing.yaml'}"
    assert lines[1].startswith(f"{tmp_path / 'syntax.test.yaml'}:3: YAML syntax error")
    assert lines[2] == f"{path.with_name('none')}: no such file"

"""The container end to end (scripts/container-test.sh): build, run from variables alone, HEALTHCHECK
healthy against the simulator, an alert in the Slack stand-in, the board behind its token, SIGTERM ->
exit 0. Skipped, with the script's reason, when no Docker engine can run. The image's default configs
(config/container-*.yaml) and docker-compose.yml are checked without one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "container-test.sh"
ENTRYPOINT = SCRIPT.parent / "docker-entrypoint.sh"
SKIPPED = 77


@pytest.mark.slow
def test_container_from_variables_alone_builds_runs_alerts_and_stops() -> None:
    if os.environ.get("BACKLOG_WATCH_SKIP_CONTAINER"):
        pytest.skip("BACKLOG_WATCH_SKIP_CONTAINER is set")
    result = subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, timeout=1200, env={**os.environ, "PY": sys.executable}
    )
    output = result.stdout + result.stderr
    if result.returncode == SKIPPED:
        pytest.skip(output.strip().splitlines()[-1])
    assert result.returncode == 0, output[-4000:]
    assert "HEALTHCHECK: healthy" in output and "alert in Slack: [CRITICAL] aging-tickets" in output
    assert "/api/backlog: 401 without the token, 200 with it" in output
    assert "stopped with exit 0" in output


CONTAINER_CONFIGS = {
    kind: SCRIPT.parent.parent / "config" / f"container-{kind}.yaml" for kind in ("zendesk", "freshdesk", "jira")
}
SITE_ENV = {
    "BW_HELPDESK_URL": "https://yourcompany.example.com",
    "BW_HELPDESK_EMAIL": "ops@yourcompany.example.com",
    "BW_HELPDESK_TOKEN": "helpdesk-token-0001",
    "BW_HELPDESK_API_KEY": "helpdesk-key-0002",
    "BW_JIRA_JQL": "project = SUP",
    "BW_SLACK_CHANNEL": "#leads",
    "SLACK_BOT_TOKEN": "xoxb-0003",
}


def test_compose_runs_the_daemon_from_variables_alone_published_on_loopback() -> None:
    from ruamel.yaml import YAML

    root = SCRIPT.parent.parent
    compose = YAML(typ="safe").load((root / "docker-compose.yml").read_text())
    service = compose["services"]["backlog-watch"]
    assert service["volumes"] == ["backlog-watch-data:/data"] and "backlog-watch-data" in compose["volumes"]
    assert service["ports"] == ["127.0.0.1:8080:8080"]
    passed = set(service["environment"])
    for path in CONTAINER_CONFIGS.values():  # every variable the default configs read, compose can pass
        read = set(re.findall(r"\$\{(BW_[A-Z_]+|SLACK_BOT_TOKEN|BACKLOG_WATCH_HOOK_SECRET)", path.read_text()))
        required = {name for name in read if f"${{{name}}}" in path.read_text()}
        assert required <= passed, (path.name, required - passed)


@pytest.mark.parametrize("kind", sorted(CONTAINER_CONFIGS))
def test_the_images_default_config_for_each_type_reads_the_site_from_variables(kind: str) -> None:
    from backlog_watch.config.loader import load_config

    config = load_config(CONTAINER_CONFIGS[kind], env={**SITE_ENV, "BW_HTTP_TOKEN": "wall-token-0123456789"})
    [helpdesk] = config.helpdesks
    assert (helpdesk.type, helpdesk.name, helpdesk.url) == (kind, kind, SITE_ENV["BW_HELPDESK_URL"])
    assert config.notifier("support-slack").channel == "#leads"  # type: ignore[attr-defined]
    assert config.timezone == "UTC" and config.http.hook_secret is None and config.http.port == 8080
    assert config.unsupported() == [] and config.store.startswith("sqlite:////data/")
    tuned = load_config(
        CONTAINER_CONFIGS[kind],
        env={**SITE_ENV, "BW_TIMEZONE": "Europe/Paris", "BW_HTTP_ALLOW_UNAUTHENTICATED": "true", "BW_POLL_EVERY": "5m"},
    )
    assert tuned.timezone == "Europe/Paris" and tuned.helpdesks[0].poll_every.total_seconds() == 300


def test_the_default_configs_refuse_an_unprotected_listen_and_a_missing_site_value() -> None:
    from backlog_watch.config.loader import load_config
    from backlog_watch.errors import ConfigError

    with pytest.raises(ConfigError) as refused:
        load_config(CONTAINER_CONFIGS["zendesk"], env={k: v for k, v in SITE_ENV.items() if k != "BW_HELPDESK_URL"})
    found = "\n".join(refused.value.problems)
    assert "environment variable BW_HELPDESK_URL is not set" in found and "http.auth.bearer" in found


def test_the_default_configs_differ_only_in_their_helpdesk_block() -> None:
    def outside_helpdesks(text: str) -> str:
        start, end = text.index("\nhelpdesks:\n"), text.index("\nnotifiers:\n")
        return text[:start] + text[end:]

    texts = {
        kind: outside_helpdesks(path.read_text().replace(kind, "TYPE")) for kind, path in CONTAINER_CONFIGS.items()
    }
    assert len(set(texts.values())) == 1, "the container-*.yaml files drifted apart outside helpdesks:"


@pytest.mark.parametrize(
    ("mounted", "kind", "expected"),
    [
        (True, "jira", "MOUNTED"),  # a mounted config wins over the variables
        (False, None, "/config/examples/container-zendesk.yaml"),
        (False, "freshdesk", "/config/examples/container-freshdesk.yaml"),
    ],
)
def test_the_entrypoint_runs_the_mounted_config_or_the_default_for_the_type(
    tmp_path: Path, mounted: bool, kind: str | None, expected: str
) -> None:
    stub = tmp_path / "bin" / "backlog-watch"  # prints what the real one would be run with
    stub.parent.mkdir()
    stub.write_text('#!/bin/sh\necho "$BACKLOG_WATCH_CONFIG $*"\n')
    stub.chmod(0o755)
    config = tmp_path / "backlog-watch.yaml"
    if mounted:
        config.write_text("store: sqlite:////data/x.db\n")
    env = {"PATH": f"{stub.parent}:/usr/bin:/bin", "BACKLOG_WATCH_CONFIG": str(config)}
    result = subprocess.run(
        ["sh", str(ENTRYPOINT), "healthcheck"],
        capture_output=True,
        text=True,
        env={**env, **({"BW_HELPDESK_TYPE": kind} if kind else {})},
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{config if mounted else expected} --log-format json healthcheck"


def test_the_entrypoint_refuses_an_unknown_helpdesk_type_with_exit_2(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "BACKLOG_WATCH_CONFIG": str(tmp_path / "absent.yaml"),
        "BW_HELPDESK_TYPE": "servicenow",
    }
    result = subprocess.run(["sh", str(ENTRYPOINT), "run"], capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == 2 and "BW_HELPDESK_TYPE=servicenow: choose zendesk, freshdesk or jira" in result.stderr

"""Hostile config files: `check` answers each with one located line and exit 2, quickly, in bounded memory."""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backlog_watch.sim import SimClock, SlackStandIn, ZendeskSimulator

MEMORY_LIMIT = 1024 * 1024 * 1024
"""Address space for the process: a billion laughs or a 10**8 range would need far more."""
CPU_SECONDS = 60
TIMEOUT = 90

BASE = """\
helpdesks:
  - name: zendesk
    type: zendesk
    url: https://acme.zendesk.com
    email: ops@acme.com
    token: zd-token-0001
notifiers:
  - name: support-slack
    type: slack
    token: xoxb-slack-0004
    channel: "#support-leads"
defaults:
  notify: [support-slack]
rules:
  - name: backlog-size
    type: threshold
    metric: open_tickets
    warn_above: 50
"""
# helpdesks 1, name 2, type 3, url 4, email 5, token 6, notifiers 7, name 8, type 9, token 10, channel 11,
# defaults 12, notify 13, rules 14, name 15, type 16, metric 17, warn_above 18.


def _billion_laughs() -> str:
    levels = ["  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"]
    levels += [f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9)]
    return "x-lol:\n" + "".join(levels) + BASE


def _rule(extra: str) -> str:
    return BASE + extra


HOSTILE = {
    "alias bomb": (_billion_laughs(), ":2: x-lol.l", "the YAML aliases expand to more than 100000 values"),
    "deep flow nesting": (
        BASE + "x-deep: " + "[" * 20_000 + "]" * 20_000 + "\n",
        ":19: ",
        "nested deeper than 64 levels",
    ),
    "deep block nesting": (
        BASE + "x-deep:\n" + "".join(f"{'  ' * i}- \n" for i in range(1, 200)),
        ":",
        "nested deeper than 64 levels",
    ),
    "absurd duration": (
        _rule("  - name: aged\n    type: aging\n    older_than: 99999999999d\n"),
        ":21: rules[1].older_than: ",
        '"99999999999d" is longer than ten years',
    ),
    "huge range in a template": (
        _rule('    template:\n      title: "{% for i in range(10**8) %}x{% endfor %}"\n'),
        ":20: rules[0].template.title: ",
        "range() of 100000000 numbers is too long",
    ),
    "nested loops in a template": (
        _rule(
            '    template:\n      text: "{% for i in range(999) %}{% for j in range(999) %}'
            '{% for k in range(999) %}{% endfor %}{% endfor %}{% endfor %}"\n'
        ),
        ":20: rules[0].template.text: ",
        "takes too long to render",
    ),
    "infinite threshold": (
        BASE.replace("warn_above: 50", "warn_above: .inf"),
        ":18: rules[0].warn_above: ",
        "expected a finite number, got .inf",
    ),
    "nan threshold": (
        BASE.replace("warn_above: 50", "warn_above: .nan"),
        ":18: rules[0].warn_above: ",
        "expected a finite number, got .nan",
    ),
    "zero interval": ("evaluate_every: 0s\n" + BASE, ":1: evaluate_every: ", "must be longer than 0s"),
    "zero poll interval": (
        BASE.replace("    token: zd-token-0001\n", "    token: zd-token-0001\n    poll_every: 0s\n"),
        ":7: helpdesks[0].poll_every: ",
        "must be longer than 0s",
    ),
    "10 MB channel name": (
        BASE.replace('"#support-leads"', '"#' + "x" * 10_000_000 + '"'),
        ":11: notifiers[0].channel: ",
        "line is 10000016 characters long (at most 65536)",
    ),
    "long channel name": (
        BASE.replace('"#support-leads"', '"#' + "x" * 100 + '"'),
        ":11: notifiers[0].channel: ",
        "at most 80 characters",
    ),
}


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


@pytest.mark.parametrize(("text", "where", "message"), HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_config_is_one_located_error_and_exit_2(tmp_path: Path, text: str, where: str, message: str) -> None:
    config = tmp_path / "hostile.yaml"
    config.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "backlog_watch", "--log-format", "text", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        preexec_fn=_limits,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    assert any(line.startswith(f"{config}{where}") and message in line for line in lines), lines
    assert all(len(line) < 1000 for line in lines)  # no echo of the 10 MB value


# -- secrets never reach a log line, whoever logs them ------------------------------------------------

WEBHOOK_PATH = "/services/T0HUSH/B0HUSH/webhook-key-never-logged"


@pytest.fixture
async def sim() -> AsyncIterator[ZendeskSimulator]:
    clock = SimClock()
    simulator = ZendeskSimulator(seed=3, tickets=60, clock=clock)
    await simulator.start()
    clock.advance(120)  # the export's one-minute rule
    yield simulator
    await simulator.stop()


@pytest.mark.parametrize("log_format", ["json", "text"])
async def test_a_slack_outage_logs_no_secret_from_any_library(
    sim: ZendeskSimulator, tmp_path: Path, log_format: str
) -> None:
    async with SlackStandIn(webhook_path=WEBHOOK_PATH) as slack:
        slack.fail_next(50, 500)  # every attempt fails (the outbox, not slack-sdk, retries later)
        config = tmp_path / "outage.yaml"
        config.write_text(f"""\
store: sqlite:///{tmp_path / "bw.db"}
helpdesks:
  - {{name: zendesk, type: zendesk, url: "{sim.url}", email: "{sim.email}", token: "{sim.token}"}}
notifiers:
  - {{name: hook, type: slack_webhook, url: "{slack.webhook_url}"}}
defaults: {{notify: [hook]}}
rules:
  - {{name: backlog-size, type: threshold, metric: open_tickets, warn_above: 1}}
""")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "backlog_watch",
            "--log-format",
            log_format,
            "--verbose",
            "once",
            "--config",
            str(config),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
        attempts = len(slack.calls_to("webhook"))
    logs = err.decode()
    assert proc.returncode == 1, logs[-2000:]  # the notifier failed
    secrets = [slack.webhook_url, WEBHOOK_PATH, "webhook-key-never-logged", sim.token]
    leaks = [(secret, line) for line in (logs + out.decode()).splitlines() for secret in secrets if secret in line]
    assert leaks == []
    assert attempts == 1 and "**********" in logs  # slack-sdk logs the URL it posts to (debug): masked

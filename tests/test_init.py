"""`backlog-watch init` as a new user runs it: flags -> a config -> `check` -> `once --dry-run` against
the matching simulator on loopback, in real processes with stdin not a terminal."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from backlog_watch.cli import build_parser
from backlog_watch.init import cmd_init, fill_in
from backlog_watch.sim import FreshdeskSimulator, JiraSimulator, SimClock, SlackStandIn, ZendeskSimulator
from backlog_watch.sim.zendesk import ZendeskSimulator as AnySimulator


async def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``backlog-watch ARGS`` in ``cwd`` with stdin from /dev/null (a script, not a terminal)."""
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_API_TOKEN", "_API_KEY", "_BOT_TOKEN"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "backlog_watch",
        "--log-format",
        "text",
        *args,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**clean, **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture(params=["zendesk", "freshdesk", "jira"])
async def vendor_sim(request: pytest.FixtureRequest) -> AsyncIterator[AnySimulator]:
    """The simulator of one vendor on 127.0.0.1 at an ephemeral port, past the export's one-minute rule."""
    clock = SimClock()
    kinds: dict[str, type[AnySimulator]] = {
        "zendesk": ZendeskSimulator,
        "freshdesk": FreshdeskSimulator,
        "jira": JiraSimulator,
    }
    sim = kinds[request.param](seed=3, tickets=120, clock=clock)
    await sim.start()
    clock.advance(120)
    try:
        yield sim
    finally:
        await sim.stop()


def init_flags(sim: AnySimulator) -> tuple[str, list[str], dict[str, str]]:
    """The vendor, the init flags that point at ``sim``, and the environment holding its credential."""
    if isinstance(sim, FreshdeskSimulator):
        return "freshdesk", ["--url", sim.url], {"FRESHDESK_API_KEY": sim.api_key}
    if isinstance(sim, JiraSimulator):
        flags = ["--url", sim.url, "--email", sim.email, "--jql", f"project = {sim.project}"]
        return "jira", flags, {"JIRA_API_TOKEN": sim.token}
    return "zendesk", ["--url", sim.url, "--email", sim.email], {"ZENDESK_API_TOKEN": sim.token}


async def test_init_for_each_vendor_writes_a_config_that_checks_and_polls_its_simulator(
    vendor_sim: AnySimulator, tmp_path: Path
) -> None:
    vendor, flags, env = init_flags(vendor_sim)
    code, out, err = await run_cli("init", "--helpdesk-type", vendor, *flags, cwd=tmp_path)
    assert code == 0, err
    written = tmp_path / "backlog-watch.yaml"
    text = written.read_text()
    (variable, secret) = next(iter(env.items()))
    assert f"${{{variable}}}" in text and secret not in text  # the secret is read, never written
    assert f"export {variable}=..." in out and "check --config backlog-watch.yaml" in out
    assert text.count("\n#") >= 5  # commented for the one who edits it next

    code, out, err = await run_cli("check", "--config", "backlog-watch.yaml", cwd=tmp_path)
    assert code == 2 and variable in err and "Traceback" not in err  # unset: named, not guessed
    code, out, err = await run_cli("check", "--config", "backlog-watch.yaml", cwd=tmp_path, env=env)
    assert code == 0, err
    assert "valid (1 helpdesk(s), 1 notifier(s), 6 rule(s)" in out

    code, out, err = await run_cli("once", "--config", "backlog-watch.yaml", "--dry-run", cwd=tmp_path, env=env)
    assert code == 0, err
    starter_rules = ("backlog-size", "urgent-backlog", "aging-tickets", "unassigned", "days-to-clear", "sla")
    for rule in starter_rules:
        assert f"rule {rule} (" in out, out
    lines = out.splitlines()
    (rule_at,) = [n for n, line in enumerate(lines) if line.startswith("rule backlog-size ")]
    open_tickets = lines[rule_at + 1].strip()  # "helpdesk=jira: 57 -> quiet (...)": polled, counted
    assert open_tickets.startswith(f"helpdesk={vendor}: {len(vendor_sim.open_ids())} -> "), open_tickets
    assert not (tmp_path / "backlog-watch.db").exists()  # a dry run leaves no store behind


async def test_init_with_slack_reads_the_bot_token_from_the_environment(
    zendesk_sim: ZendeskSimulator, slack_standin: SlackStandIn, tmp_path: Path
) -> None:
    zendesk_sim.clock.advance(120)
    flags = ["--url", zendesk_sim.url, "--email", zendesk_sim.email, "--slack-channel", "#support"]
    code, out, err = await run_cli(
        "init", "--helpdesk-type", "zendesk", *flags, "--slack-api-url", slack_standin.api_url, cwd=tmp_path
    )
    assert code == 0, err
    text = (tmp_path / "backlog-watch.yaml").read_text()
    assert "${SLACK_BOT_TOKEN}" in text and slack_standin.token not in text
    env = {"ZENDESK_API_TOKEN": zendesk_sim.token, "SLACK_BOT_TOKEN": slack_standin.token}
    code, out, err = await run_cli("once", "--config", "backlog-watch.yaml", "--dry-run", cwd=tmp_path, env=env)
    assert code == 0, err
    assert "[dry run] would send to slack" in out  # the simulator's backlog passes the starter's thresholds
    assert not slack_standin.calls_to("chat.postMessage")


async def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    tuned = tmp_path / "backlog-watch.yaml"
    tuned.write_text("# tuned by hand\n")
    flags = ["init", "--helpdesk-type", "freshdesk", "--url", "https://acme.freshdesk.com"]
    code, _, err = await run_cli(*flags, cwd=tmp_path)
    assert code == 2 and "Traceback" not in err
    assert "backlog-watch.yaml exists: pass --force" in err
    assert tuned.read_text() == "# tuned by hand\n"
    code, _, err = await run_cli(*flags, "--force", cwd=tmp_path)
    assert code == 0, err
    assert "type: freshdesk" in tuned.read_text()


async def test_init_without_a_terminal_names_every_missing_flag(tmp_path: Path) -> None:
    code, out, err = await run_cli("init", "--helpdesk-type", "jira", cwd=tmp_path)
    assert code == 2 and "Traceback" not in err
    (line,) = err.splitlines()
    assert "stdin is not a terminal" in line and "--url, --email, --jql" in line
    assert not (tmp_path / "backlog-watch.yaml").exists()
    code, _, err = await run_cli("init", cwd=tmp_path)
    assert code == 2 and "--helpdesk-type, --url" in err


async def test_init_refuses_a_plain_http_url_that_is_not_loopback(tmp_path: Path) -> None:
    flags = ["--helpdesk-type", "zendesk", "--url", "http://acme.zendesk.com", "--email", "a@b.c"]
    code, _, err = await run_cli("init", *flags, cwd=tmp_path)
    assert code == 2 and "Traceback" not in err
    assert "helpdesks[0].url" in err
    assert not (tmp_path / "backlog-watch.yaml").exists()


def parsed(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["init", *argv])


class Typist:
    """Answers prompts in order, keeping what was asked."""

    def __init__(self, *answers: str) -> None:
        self.answers: Iterator[str] = iter(answers)
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return next(self.answers)


def test_on_a_terminal_init_asks_what_no_flag_gave_and_repeats_a_wrong_choice(tmp_path: Path) -> None:
    typist = Typist(
        "servicenow", "jira", "https://acme.atlassian.net", "ops@acme.com", "", "", "#leads", "Europe/Paris"
    )
    output = tmp_path / "bw.yaml"
    out = io.StringIO()
    assert cmd_init(parsed("--output", str(output)), out, ask=typist) == 0
    assert typist.prompts[0] == typist.prompts[1]  # "servicenow" is not offered: asked again
    assert "[JIRA_API_TOKEN]" in typist.prompts[4] and "[project = SUP]" in typist.prompts[5]
    text = output.read_text()
    assert 'jql: "project = SUP"' in text and 'channel: "#leads"' in text and 'timezone: "Europe/Paris"' in text
    assert "token: ${JIRA_API_TOKEN}" in text and "token: ${SLACK_BOT_TOKEN}" in text
    assert f"wrote {output}" in out.getvalue()


def test_flags_given_are_not_asked_again() -> None:
    typist = Typist("", "")  # the credential variable and the time zone: their defaults
    args = parsed("--helpdesk-type", "freshdesk", "--url", "https://acme.freshdesk.com", "--slack-channel", "#s")
    answers = fill_in(args, typist)
    assert len(typist.prompts) == 2
    assert answers.credential_variable == "FRESHDESK_API_KEY" and answers.timezone == "UTC"

"""The starter config's text: every answer reads back as typed, secrets only as ${VAR}, wrong answers named
by the flag that gave them."""

from __future__ import annotations

from pathlib import Path

import pytest

from backlog_watch.config.loader import parse_config
from backlog_watch.config.starter import StarterAnswers, render_starter, validate_starter
from backlog_watch.errors import ConfigError


def test_answers_with_yaml_characters_read_back_as_typed() -> None:
    answers = StarterAnswers(
        helpdesk_type="jira",
        url="https://acme.atlassian.net",
        email="ops+jira@acme.com",
        jql='project = "SUP #2" AND labels in (a: b, {c})',
        slack_channel="#support-leads",
        credential_env="MY_JIRA_TOKEN",
        timezone="America/New_York",
    )
    text = render_starter(answers, "site.yaml")
    config = parse_config(text, "site.yaml", env={"MY_JIRA_TOKEN": "t0k", "SLACK_BOT_TOKEN": "xoxb-1"})
    (helpdesk,) = config.helpdesks
    assert getattr(helpdesk, "jql") == answers.jql  # noqa: B009 (a plugin's settings class)
    assert getattr(helpdesk, "email") == "ops+jira@acme.com"  # noqa: B009
    assert config.timezone == "America/New_York"
    assert "${MY_JIRA_TOKEN}" in text and "t0k" not in text
    assert "--config site.yaml --dry-run" in text


def test_wrong_answers_are_named_by_their_flag() -> None:
    answers = StarterAnswers(helpdesk_type="zendesk", url="acme", timezone="Mars/Olympus", credential_env="1-TOKEN")
    with pytest.raises(ConfigError) as raised:
        render_starter(answers)
    problems = "\n".join(raised.value.problems)
    for flag in ("--url", "--email", "--timezone", "--credential-env"):
        assert f"init: {flag}: " in problems, problems


@pytest.mark.parametrize("kind", ["zendesk", "freshdesk", "jira"])
def test_each_vendor_gets_the_sla_rule_and_passes_the_loader(kind: str) -> None:
    answers = StarterAnswers(helpdesk_type=kind, url=f"https://acme.{kind}.example", email="a@b.c", jql="project = X")
    text = render_starter(answers)
    validate_starter(text, "backlog-watch.yaml", answers)
    config = parse_config(text, env={answers.credential_variable: "secret"})
    assert [rule.type for rule in config.effective_rules() if rule.name == "sla"] == ["sla"]
    assert [n.type for n in config.notifiers] == ["console"]  # no channel: the console until one is given


def test_the_store_sits_next_to_the_config_whatever_folder_runs_it(tmp_path: Path) -> None:
    """A `run` started by systemd or cron from another folder finds the same store (not ./ of the caller)."""
    answers = StarterAnswers(
        helpdesk_type="zendesk", url="https://acme.zendesk.com", email="ops@acme.com", timezone="UTC"
    )
    target = tmp_path / "site" / "backlog-watch.yaml"
    config = parse_config(render_starter(answers, str(target)), str(target), env={"ZENDESK_API_TOKEN": "t"})
    assert config.store == f"sqlite:///{target.parent.resolve() / 'backlog-watch.db'}"

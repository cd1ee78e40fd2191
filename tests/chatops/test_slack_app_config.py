"""The Slack app's config: each transport says what it lacks, secrets stay out of errors and repr."""

from __future__ import annotations

from typing import Any

import pytest

from backlog_watch.errors import ConfigError
from tests.helpers.config import document, parse, threshold, zendesk


def with_interactive(interactive: dict[str, str]) -> dict[str, Any]:
    notifier = {
        "name": "slack",
        "type": "slack",
        "token": "xoxb-bot",
        "channel": "#support",
        "interactive": interactive,
    }
    return document(helpdesks=[zendesk()], notifiers=[notifier], notify=["slack"], rules=[threshold(warn_above=1)])


@pytest.mark.parametrize(
    ("interactive", "said"),
    [
        ({}, "transport socket_mode needs app_token"),
        ({"app_token": "xoxb-a-bot-token-0123"}, "app_token must be an app-level token (xapp-...), not a bot token"),
        ({"app_token": "A0123-app-id"}, "app_token must be an app-level token (xapp-...)\n"),
        ({"app_token": ""}, "transport socket_mode needs app_token"),
        ({"transport": "http", "signing_secret": ""}, "transport http needs signing_secret"),
        ({"transport": "http"}, "transport http needs signing_secret"),
        ({"transport": "carrier-pigeon"}, "interactive.transport"),
    ],
)
def test_each_transport_says_what_it_lacks(interactive: dict[str, str], said: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse(with_interactive(interactive))
    text = "\n".join(refused.value.problems) + "\n"
    assert said in text and "notifiers[0].interactive" in text
    assert "xoxb-a-bot-token-0123" not in text


def test_the_app_token_and_signing_secret_are_secrets() -> None:
    config = parse(with_interactive({"app_token": "xapp-1-secret-app-token", "signing_secret": "s3cr3t-signing"}))
    shown = repr(config.notifiers[0])
    assert "xapp-1-secret-app-token" not in shown and "s3cr3t-signing" not in shown


def test_slack_notifiers_share_one_app_and_a_second_one_is_named() -> None:
    app = {"app_token": "xapp-1-the-app"}
    doc = with_interactive(app)
    leads = {**doc["notifiers"][0], "name": "leads", "channel": "#leads"}
    parse({**doc, "notifiers": [*doc["notifiers"], leads]})  # one app, two channels: fine
    other = {**leads, "interactive": {"app_token": "xapp-1-another-app"}}
    with pytest.raises(ConfigError) as refused:
        parse({**doc, "notifiers": [*doc["notifiers"], other]})
    (problem,) = refused.value.problems
    assert (
        "notifiers[1].interactive: a second Slack app: the daemon answers the buttons of one, notifiers[0]'s" in problem
    )
    assert "xapp-1-another-app" not in problem


def test_an_unset_app_token_is_said_once() -> None:
    with pytest.raises(ConfigError) as refused:
        parse(with_interactive({"app_token": "${SLACK_APP_TOKEN}"}), filename="config.yaml")
    assert refused.value.problems == [
        "config.yaml:13: notifiers[0].interactive.app_token: environment variable SLACK_APP_TOKEN is not set"
    ]

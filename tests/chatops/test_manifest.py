"""manifest.yaml is what a newcomer pastes into api.slack.com/apps: within Slack's app manifest schema
(version 1: slackapi/manifest-schema), and granting what the README's scope table says the app uses."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
# The keys Slack's manifest schema (v1) allows at each level this manifest uses.
ALLOWED = {
    (): {"_metadata", "display_information", "features", "oauth_config", "settings"},
    ("display_information",): {"name", "description", "background_color", "long_description"},
    ("features",): {"app_home", "bot_user", "shortcuts", "slash_commands", "unfurl_domains", "workflow_steps"},
    ("features", "app_home"): {"home_tab_enabled", "messages_tab_enabled", "messages_tab_read_only_enabled"},
    ("features", "bot_user"): {"display_name", "always_online"},
    ("oauth_config",): {"redirect_urls", "scopes", "token_management_enabled", "pkce_enabled"},
    ("oauth_config", "scopes"): {"bot", "user", "bot_optional", "user_optional"},
    ("settings",): {
        "allowed_ip_address_ranges",
        "event_subscriptions",
        "incoming_webhooks",
        "interactivity",
        "org_deploy_enabled",
        "socket_mode_enabled",
        "is_hosted",
        "token_rotation_enabled",
    },
    ("settings", "event_subscriptions"): {"request_url", "bot_events", "user_events", "metadata_subscriptions"},
    ("settings", "interactivity"): {"is_enabled", "request_url", "message_menu_options_url"},
}


def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load((ROOT / "manifest.yaml").read_text())
    return loaded


def test_the_manifest_keeps_to_slacks_schema() -> None:
    app = manifest()
    for path, allowed in ALLOWED.items():
        node: Any = app
        for key in path:
            node = node.get(key, {})
        assert set(node) <= allowed, (path, set(node) - allowed)
    shown = app["display_information"]
    assert 1 <= len(shown["name"]) <= 35 and 1 <= len(shown["description"]) <= 140
    assert re.fullmatch(r"#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?", shown["background_color"])
    assert 1 <= len(app["features"]["bot_user"]["display_name"]) <= 80
    for command in app["features"]["slash_commands"]:
        assert set(command) <= {"command", "url", "description", "usage_hint", "should_escape"}
        assert re.fullmatch(r"/\S{1,31}", command["command"]) and 1 <= len(command["description"]) <= 2000
    assert app["settings"]["interactivity"]["is_enabled"] is True


def test_the_manifest_grants_what_the_readme_and_the_app_need() -> None:
    app = manifest()
    readme = (ROOT / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| bot token `xoxb-...` -> `token`"))
    assert set(app["oauth_config"]["scopes"]["bot"]) == set(re.findall(r"`([a-z.]+:[a-z.]+|commands)`", row))
    assert [c["command"] for c in app["features"]["slash_commands"]] == ["/backlog"]
    assert app["features"]["app_home"]["home_tab_enabled"] is True
    assert app["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert app["settings"]["socket_mode_enabled"] is True  # the default transport: no public URL

"""The notifier registry: the bundled notifiers are found by entry point, as a third party's would be;
each validates its own config block with its ``Settings`` and is built by ``from_settings``."""

from __future__ import annotations

import typing
from importlib.metadata import EntryPoint, entry_points
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

import backlog_watch.delivery.notifiers.base as registry
from backlog_watch.app import build_notifier
from backlog_watch.config import parse_config
from backlog_watch.config.errors import extra_secrets
from backlog_watch.delivery.dedup import Delivery, Notification
from backlog_watch.delivery.notifiers.base import (
    ENTRY_POINT_GROUP,
    DigestNotifier,
    NotifierSettings,
    available_notifiers,
    notifier_type,
)
from backlog_watch.errors import ConfigError

BUNDLED = {"console", "email", "jsm", "pagerduty", "slack", "slack_webhook", "teams", "webhook"}
DIGESTS = {"console", "email", "slack_webhook"}
"""The others thread (Slack), page (PagerDuty, JSM) or feed a machine (webhook, Teams): one message each."""
PARIS = ZoneInfo("Europe/Paris")

BLOCKS: dict[str, dict[str, Any]] = {
    "console": {},
    "email": {"host": "smtp.acme.com", "from": "bw@acme.com", "to": "lead@acme.com"},
    "slack": {"token": "xoxb-1", "channel": "#support"},
    "slack_webhook": {"url": "https://hooks.slack.com/services/T/B/x"},
    "teams": {"url": "https://prod-01.westeurope.logic.azure.com/workflows/1/triggers/manual/paths/invoke?sig=x"},
    "pagerduty": {"routing_key": "0123456789abcdef0123456789abcdef"},
    "jsm": {"cloud_id": "abc-123", "email": "ops@acme.com", "api_token": "tok"},
    "webhook": {"url": "https://hooks.acme.com/backlog", "secret": "s3cret"},
}


def test_the_bundled_notifiers_are_registered_by_entry_point() -> None:
    declared = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert set(declared) >= BUNDLED
    assert all(declared[name].startswith("backlog_watch.delivery.notifiers.") for name in BUNDLED)
    found = available_notifiers()
    for name in BUNDLED:
        settings = found[name].Settings
        assert issubclass(settings, NotifierSettings)
        assert typing.get_args(settings.model_fields["type"].annotation) == (name,)
        assert notifier_type(name) is found[name]
    assert notifier_type("slak") is None and notifier_type(None) is None


@pytest.mark.parametrize("kind", sorted(BUNDLED))
def test_each_bundled_notifier_is_built_from_its_own_settings(kind: str) -> None:
    registered = available_notifiers()[kind]
    settings = registered.Settings.model_validate({"name": f"my-{kind}", "type": kind, **BLOCKS[kind]})
    notifier = build_notifier(settings, PARIS)
    assert type(notifier) is registered
    assert notifier.name == f"my-{kind}" and notifier.tz == PARIS  # type: ignore[attr-defined]
    assert isinstance(notifier, DigestNotifier) == (kind in DIGESTS)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("slak", 'unknown notifier type "slak" (did you mean "slack"?)'),
        ("fax", 'unknown notifier type "fax" (choose from: {registered})'),
    ],
)
def test_an_unknown_notifier_type_says_did_you_mean_or_lists_the_registered_ones(kind: str, message: str) -> None:
    # every installed notifier type is listed: the bundled ones and any plugin (the example plugin is one)
    registered = sorted(available_notifiers())
    assert {"console", "email", "slack", "slack_webhook"} <= set(registered)
    message = message.format(registered=", ".join(registered))
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG.format(block=f"{{name: pager, type: {kind}}}"))
    assert caught.value.problems == [f"config.yaml:4: notifiers[0].type: {message}"]


class PagerSettings(NotifierSettings):
    type: Literal["pager"] = "pager"
    service_key: SecretStr
    endpoint: SecretStr
    """Holds a credential under a key that does not look secret: still masked, by its SecretStr type."""
    urgency: Literal["high", "low"] = "high"


class PagerNotifier:
    """A third party's notifier: registered by entry point, knows nothing of the bundled ones."""

    Settings: ClassVar[type[PagerSettings]] = PagerSettings

    def __init__(self, name: str, urgency: str, tz: ZoneInfo) -> None:
        self.name, self.urgency, self.tz = name, urgency, tz
        self.sent: list[Notification] = []

    @classmethod
    def from_settings(cls, settings: Any, *, tz: ZoneInfo) -> PagerNotifier:
        return cls(settings.name, settings.urgency, tz)

    async def send(self, notification: Notification) -> Delivery:
        self.sent.append(notification)
        return Delivery()


@pytest.fixture
def pager_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if a package declared ``pager = "...:PagerNotifier"`` under backlog_watch.notifiers."""
    original = registry.entry_points
    plugin = EntryPoint(name="pager", value=f"{__name__}:PagerNotifier", group=ENTRY_POINT_GROUP)

    def with_plugin(*, group: str) -> list[EntryPoint]:
        return [*original(group=group), *([plugin] if group == ENTRY_POINT_GROUP else [])]

    monkeypatch.setattr(registry, "entry_points", with_plugin)


CONFIG = """\
helpdesks:
  - {{name: zendesk, type: zendesk, url: "https://acme.zendesk.com", email: ops@acme.com, token: t0k3n-123}}
notifiers:
  - {block}
rules:
  - {{name: size, type: threshold, metric: open_tickets, warn_above: 5, notify: pager}}
"""
PAGER = "{name: pager, type: pager, service_key: pk-98765, endpoint: https://pager.example/e-4321, urgency: %s}"


def test_a_third_party_notifier_is_configured_and_built_like_a_bundled_one(pager_installed: None) -> None:
    config = parse_config(CONFIG.format(block=PAGER % "low"))
    settings = config.notifier("pager")
    assert isinstance(settings, PagerSettings) and settings.urgency == "low"
    notifier = build_notifier(settings, PARIS)
    assert isinstance(notifier, PagerNotifier) and (notifier.urgency, notifier.tz) == ("low", PARIS)


def test_a_third_party_notifiers_keys_are_explained_by_line_and_its_secrets_masked(pager_installed: None) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG.format(block=PAGER % "https://pager.example/e-4321"))
    (problem,) = caught.value.problems
    assert problem.startswith("config.yaml:4: notifiers[0].urgency: ")
    assert "e-4321" not in problem and "**********" in problem
    assert extra_secrets({"notifiers": [{"type": "pager", "endpoint": "https://pager.example/e-4321"}]}) == [
        "https://pager.example/e-4321"
    ]


def test_a_report_needs_a_notifier_that_can_send_reports(pager_installed: None) -> None:
    text = CONFIG.format(block=PAGER % "high") + (
        "reports:\n  - {name: morning, schedule: '0 9 * * *', kind: daily, notify: pager}\n"
    )
    assert parse_config(text).unsupported() == [
        'reports[0] "morning": notifier "pager" (pager) cannot send reports yet'
    ]


def test_an_entry_point_without_settings_and_factory_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = EntryPoint(name="bad", value="backlog_watch.delivery.render:title", group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda *, group: [bad])
    with pytest.raises(TypeError, match="has no NotifierSettings `Settings` and `from_settings`"):
        available_notifiers()

"""Silences, inhibition, the Slack pacer and webhook, and the `silence` CLI."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from backlog_watch.alerting.policy import HELPDESK_DOWN, DeliveryPolicy
from backlog_watch.alerting.silences import Matcher, Silences
from backlog_watch.cli import main
from backlog_watch.config import parse_config
from backlog_watch.delivery.notifiers.slack import ChannelPacer
from backlog_watch.delivery.notifiers.slack_webhook import SlackWebhookNotifier
from backlog_watch.errors import ConfigError
from backlog_watch.models import AlertState
from backlog_watch.sim import SlackStandIn
from backlog_watch.store.sqlite import SqliteStore
from tests.factories import NOW
from tests.helpers.alerts import alert, urgent_notification
from tests.helpers.config import document, threshold, write, zendesk


def test_silence_mutes_what_matches_until_it_ends_or_expires(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "bw.db")
    silences = Silences(store)
    silence = silences.add(
        [Matcher.parse("rule=backlog-size"), Matcher.parse("helpdesk=zendesk")],
        ends_at=NOW + timedelta(hours=2),
        created_by="alice",
        comment="migration",
        now=NOW,
    )
    policy = DeliveryPolicy()
    alerts = [alert("backlog-size"), alert("backlog-size", helpdesk="jira"), alert("aging")]
    muted = policy.muted(alerts, {}, silences.active(NOW), NOW)
    assert list(muted) == [alerts[0].fingerprint] and "alice: migration" in str(muted[alerts[0].fingerprint])
    later = NOW + timedelta(hours=2)
    assert policy.muted(alerts, {}, silences.all(), later) == {}
    silences.expire(silence.id[:6], NOW + timedelta(minutes=5))
    assert silences.active(NOW + timedelta(minutes=6)) == []
    with pytest.raises(KeyError):
        silences.expire("nope", NOW)
    store.close()


def test_no_cross_rule_inhibition_by_default_and_helpdesk_down_hides_its_helpdesk() -> None:
    policy = DeliveryPolicy()
    warn = alert("days-to-clear")
    critical = alert("backlog-size", "critical")
    other_scope = alert("aging", helpdesk="zendesk", group="Billing")
    assert policy.muted([warn, critical, other_scope], {}, [], NOW) == {}  # a critical hides no other rule
    down = alert(HELPDESK_DOWN, "critical")
    jira = alert("backlog-size", "critical", helpdesk="jira")
    muted = policy.muted([warn, critical, other_scope, down, jira], {}, [], NOW)
    assert set(muted) == {warn.fingerprint, critical.fingerprint, other_scope.fingerprint}
    assert str(muted[critical.fingerprint]).startswith("inhibited by helpdesk-down")
    assert muted[critical.fingerprint].reason == "inhibited"
    pending_down = alert(HELPDESK_DOWN, "critical", state=AlertState.PENDING)
    assert critical.fingerprint not in DeliveryPolicy().muted([critical, pending_down], {}, [], NOW)
    assert DeliveryPolicy(inhibit_rules=[]).muted([warn, critical, down], {}, [], NOW) == {}


async def test_pacer_keeps_one_message_per_second_per_channel() -> None:
    now = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = ChannelPacer(clock=lambda: now[0], sleep=sleep)
    await pacer.wait("#support")
    pacer.learn("#support", "C1")
    now[0] += 0.25
    await pacer.wait("C1")  # the same channel by its id
    await pacer.wait("C2")  # another channel: no wait
    now[0] += 2
    await pacer.wait("C1")
    assert slept == [0.75]


async def test_webhook_posts_block_kit_and_a_digest_and_hides_its_url(slack_standin: SlackStandIn) -> None:
    notifier = SlackWebhookNotifier("hook", url=SecretStr(slack_standin.webhook_url), pacer=ChannelPacer(interval=0))
    assert slack_standin.webhook_path not in repr(notifier)
    await notifier.send(urgent_notification())
    await notifier.send_digest([urgent_notification(), urgent_notification(30)])
    first, digest = slack_standin.messages("webhook")
    assert first.text == "[CRITICAL] urgent-backlog: 23 open (zendesk)" and first.blocks[0]["type"] == "header"
    assert "2 alert update" in digest.blocks[0]["text"]["text"] and "30 open" in str(digest.blocks)
    slack_standin.fail_next(3, status=500)
    from backlog_watch.errors import NotifyError

    with pytest.raises(NotifyError) as caught:
        await notifier.send(urgent_notification())
    assert caught.value.retryable and slack_standin.webhook_path not in str(caught.value)


def test_config_checks_new_references_and_templates(tmp_path: Path) -> None:
    base = """
helpdesks: [{name: zendesk, type: zendesk, url: https://a.zendesk.com, email: a@b.c, token: t}]
notifiers: [{name: slack, type: slack, token: x, channel: "#a", quiet_hours: office}]
defaults: {notify: [slack], escalate: [{after: 2h, notify: [boss]}]}
rules:
  - name: r
    type: threshold
    metric: open_tickets
    warn_above: 1
    template: {title: "{{ alert.rule }"}
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(base, "c.yaml", env={})
    text = "\n".join(caught.value.problems)
    assert 'notifiers[0].quiet_hours: unknown calendar "office"' in text
    assert 'defaults.escalate[0].notify[0]: unknown notifier "boss"' in text
    assert "rules[0].template.title" in text and "valid template" in text


def test_silence_cli_add_list_expire(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(
        tmp_path / "c.yaml",
        document(db=tmp_path / "bw.db", helpdesks=[zendesk()], rules=[threshold(warn_above=1)]),
    )
    assert (
        main(
            [
                "silence",
                "add",
                "--config",
                str(config),
                "--matcher",
                "rule=backlog-size",
                "-m",
                "helpdesk=zendesk",
                "--for",
                "2h",
                "--by",
                "alice",
                "--comment",
                "big import",
            ]
        )
        == 0
    )
    silence_id = capsys.readouterr().out.strip()
    assert main(["silence", "list", "--config", str(config)]) == 0
    listed = capsys.readouterr().out
    assert silence_id in listed and "rule=backlog-size helpdesk=zendesk" in listed and "alice: big import" in listed
    assert main(["silence", "expire", "--config", str(config), silence_id]) == 0
    assert main(["silence", "list", "--config", str(config)]) == 0
    assert capsys.readouterr().out.endswith("no silences\n")
    assert (
        main(["silence", "add", "--config", str(config), "-m", "rule", "--for", "2h", "--by", "a", "--comment", "c"])
        == 2
    )
    assert "key=value" in capsys.readouterr().err
    assert main(["silence", "expire", "--config", str(config), "zzzzzz"]) == 1

"""The generic webhook through the real daemon and outbox, against a receiver that checks Alertmanager's
version-4 payload and the HMAC-SHA256 signature: firing then resolved; a Jinja2 body; an outage; a
wrong secret refused; the URL and the secret never shown; templates checked when the config loads."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from backlog_watch.delivery.notifiers.webhook import WebhookNotifier, WebhookSettings
from backlog_watch.errors import ConfigError, NotifyError
from backlog_watch.sim.webhook import WebhookStandIn
from tests.helpers.alerts import urgent_notification
from tests.helpers.config import document, parse, threshold, zendesk
from tests.receivers.conftest import Episode

SECRET = "hmac-shared-secret"


def entry(standin: WebhookStandIn, **settings: Any) -> dict[str, Any]:
    return {
        "name": "hook",
        "type": "webhook",
        "url": standin.hook_url,
        "secret": SECRET,
        "external_url": "https://bw.acme.com/",
        **settings,
    }


async def test_alertmanager_payloads_firing_then_resolved_signed(webhook: WebhookStandIn, episode_for: Any) -> None:
    episode: Episode = episode_for(entry(webhook))
    assert await episode.fire() == 0
    alert = await episode.stored()
    (request,) = webhook.requests
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Backlog-Watch-Signature"] == expected
    assert request.headers["Content-Type"] == "application/json"
    firing = request.json
    labels = {"alertname": "backlog-size", "helpdesk": "zendesk", "severity": "warn"}
    total = episode.backlog + 2
    (one,) = firing.pop("alerts")
    annotations = one["annotations"]
    assert firing == {
        "version": "4",
        "groupKey": '{}:{alertname="backlog-size", helpdesk="zendesk"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "hook",
        "groupLabels": {"alertname": "backlog-size", "helpdesk": "zendesk"},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "https://bw.acme.com/",
    }
    assert one == {
        "status": "firing",
        "labels": labels,
        "annotations": annotations,
        "startsAt": alert.firing_since.isoformat().replace("+00:00", "Z"),  # type: ignore[union-attr]
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "https://bw.acme.com/",
        "fingerprint": alert.fingerprint,
    }
    assert annotations["summary"] == f"[WARN] backlog-size: {total} open (zendesk)"
    assert (annotations["value"], annotations["threshold"], annotations["ticket_count"]) == (
        str(total),
        str(episode.backlog),
        str(total),
    )
    assert annotations["tickets"].count(f"{episode.sim.url}/agent/tickets/") == 10

    assert await episode.resolve() == 0
    resolved = webhook.requests[1].json
    alert = await episode.stored()
    assert resolved["status"] == "resolved" and resolved["alerts"][0]["status"] == "resolved"
    assert resolved["alerts"][0]["endsAt"] == alert.resolved_at.isoformat().replace("+00:00", "Z")  # type: ignore[union-attr]
    assert resolved["alerts"][0]["fingerprint"] == alert.fingerprint
    episode.clock.advance(timedelta(hours=1))
    assert await episode.run() == 0
    assert len(webhook.requests) == 2 and all(r.accepted for r in webhook.requests)


async def test_a_body_template_is_sent_as_rendered(episode_for: Any) -> None:
    template = (
        '{"text": "{{ severity }} {{ alert.rule }}: {{ headline }}", "status": "{{ payload.status }}",'
        ' "count": {{ alert.ticket_count }}}'
    )
    async with WebhookStandIn(secret=SECRET, alertmanager=False) as plain:
        episode: Episode = episode_for(entry(plain, body_template=template))
        assert await episode.fire() == 0
        assert await episode.resolve() == 0
    total = episode.backlog + 2
    assert [r.json for r in plain.requests] == [
        {"text": f"WARN backlog-size: {total} open", "status": "firing", "count": total},
        {"text": f"RESOLVED backlog-size: {episode.backlog} open", "status": "resolved", "count": total},
    ]


async def test_an_outage_is_retried_by_the_outbox_and_delivered_once(webhook: WebhookStandIn, episode_for: Any) -> None:
    episode: Episode = episode_for(entry(webhook))
    webhook.fail_next(3, status=500)
    assert await episode.fire() == 1
    for wait in (31, 61, 121):
        episode.clock.advance(wait)
        await episode.run()
    assert [r.status for r in webhook.requests] == [500, 500, 500, 200]
    assert len(webhook.payloads) == 1
    episode.clock.advance(timedelta(hours=2))
    assert await episode.run() == 0
    assert len(webhook.payloads) == 1


async def test_a_wrong_secret_is_refused_and_neither_url_nor_secret_is_shown(
    webhook: WebhookStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    url = webhook.hook_url + "?token=url-token-8080"
    settings = WebhookSettings.model_validate(
        {"name": "hook", "type": "webhook", "url": url, "secret": "wrong-secret-5150"}
    )
    notifier = WebhookNotifier(settings)
    try:
        with pytest.raises(NotifyError) as caught, caplog.at_level(logging.DEBUG, logger="backlog_watch"):
            await notifier.send(urgent_notification())
    finally:
        await notifier.close()
    assert not caught.value.retryable and "Webhook refused the request: HTTP 401 bad signature" in str(caught.value)
    shown = str(caught.value) + repr(notifier) + repr(settings) + caplog.text
    assert "wrong-secret-5150" not in shown and "url-token-8080" not in shown
    assert webhook.payloads == []


def hook_doc(**settings: Any) -> dict[str, Any]:
    block = {"name": "hook", "type": "webhook", "url": "https://hooks.acme.com/x?t=secret-in-url-1", **settings}
    return document(helpdesks=[zendesk()], notifiers=[block], notify=["hook"], rules=[threshold(warn_above=1)])


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"body_template": "{{ alert.nope }}"}, "notifiers[0].body_template: is not a valid template:"),
        ({"body_template": "text {{ severity }}"}, "body_template does not make JSON of a sample alert"),
        ({"url": "http://hooks.acme.com/x"}, "notifiers[0].url: must be an https:// URL"),
        ({"timeout": 0}, "notifiers[0].timeout: must be greater than 0"),
    ],
)
def test_config_mistakes_are_named_and_the_url_masked(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(hook_doc(**settings))
    (line,) = caught.value.problems
    assert line.startswith("test.yaml:") and problem in line and "secret-in-url-1" not in line


def test_a_text_body_template_needs_its_content_type() -> None:
    config = parse(hook_doc(body_template="{{ severity }}: {{ headline }}", content_type="text/plain"))
    assert config.notifier("hook").content_type == "text/plain"  # type: ignore[attr-defined]


def test_the_readmes_body_template_makes_json_of_any_headline() -> None:
    readme_example = '{"text": {{ (severity ~ " " ~ alert.rule ~ ": " ~ headline) | tojson }}}'
    notifier = WebhookNotifier.from_settings(parse(hook_doc(body_template=readme_example)).notifier("hook"))
    quoted = urgent_notification()
    quoted = replace(quoted, alert=replace(quoted.alert, rule='say "hi"'))
    assert json.loads(notifier.body(quoted)) == {"text": 'CRITICAL say "hi": 23 open'}


def test_the_payload_is_what_alertmanager_receivers_read() -> None:
    from backlog_watch.delivery.notifiers.webhook import payload
    from backlog_watch.sim.webhook import check_alertmanager

    body = payload(urgent_notification(), receiver="hook")
    assert check_alertmanager(json.loads(json.dumps(body))) == []
    assert body["commonLabels"]["severity"] == "critical" and body["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"

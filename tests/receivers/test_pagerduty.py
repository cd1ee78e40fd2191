"""PagerDuty Events API v2 through the real daemon and outbox, against the stand-in that checks each event
as PagerDuty documents it: trigger -> acknowledge -> resolve with the fingerprint as dedup_key; an
outage, a 429 with Retry-After, a refused event; the routing key never shown."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from backlog_watch.delivery.notifiers.base import AcknowledgingNotifier
from backlog_watch.delivery.notifiers.pagerduty import PagerDutyNotifier
from backlog_watch.errors import NotifyError
from backlog_watch.sim.pagerduty import PagerDutyStandIn
from tests.helpers.alerts import urgent_notification
from tests.receivers.conftest import Episode


def entry(standin: PagerDutyStandIn, **settings: Any) -> dict[str, Any]:
    return {
        "name": "pager",
        "type": "pagerduty",
        "routing_key": standin.routing_key,
        "url": standin.enqueue_url,
        **settings,
    }


async def test_trigger_acknowledge_resolve_with_the_fingerprint_as_dedup_key(
    pagerduty: PagerDutyStandIn, episode_for: Any
) -> None:
    episode: Episode = episode_for(entry(pagerduty))
    assert await episode.run() == 0
    assert pagerduty.requests == []  # at the threshold: quiet, nothing sent

    assert await episode.fire() == 0
    alert = await episode.stored()
    (trigger,) = pagerduty.events
    payload = trigger.pop("payload")
    assert trigger == {
        "routing_key": pagerduty.routing_key,
        "event_action": "trigger",
        "dedup_key": alert.fingerprint,
        "client": "backlog-watch",
        "links": trigger["links"],
    }
    total = episode.backlog + 2
    assert payload["summary"] == f"[WARN] backlog-size: {total} open (zendesk)"
    assert (payload["severity"], payload["source"], payload["component"]) == ("warning", "backlog-watch", "zendesk")
    assert payload["class"] == "backlog-size" and payload["timestamp"] == alert.firing_since.isoformat()  # type: ignore[union-attr]
    details = payload["custom_details"]
    assert (details["value"], details["threshold"], details["ticket_count"]) == (total, episode.backlog, total)
    assert details["fires_when"] == f"open tickets above {episode.backlog}" and len(details["tickets"]) == 10
    assert all(link["href"].startswith(episode.sim.url) for link in trigger["links"])

    acknowledged = await episode.acknowledge(by="alice")
    assert pagerduty.events[1] == {
        "routing_key": pagerduty.routing_key,
        "event_action": "acknowledge",
        "dedup_key": acknowledged.fingerprint,
    }
    assert pagerduty.alerts == {alert.fingerprint: "acknowledged"}

    assert await episode.resolve() == 0
    assert pagerduty.events[2] == {
        "routing_key": pagerduty.routing_key,
        "event_action": "resolve",
        "dedup_key": alert.fingerprint,
    }
    assert pagerduty.alerts == {alert.fingerprint: "resolved"}
    episode.clock.advance(timedelta(hours=1))
    assert await episode.run() == 0
    assert len(pagerduty.requests) == 3  # told everything once


async def test_an_outage_is_retried_by_the_outbox_and_delivered_once(
    pagerduty: PagerDutyStandIn, episode_for: Any
) -> None:
    episode: Episode = episode_for(entry(pagerduty))
    pagerduty.fail_next(2, status=503)
    assert await episode.fire() == 1  # not delivered: queued in the outbox
    episode.clock.advance(31)
    assert await episode.run() == 1  # second attempt, still down
    episode.clock.advance(30)
    assert await episode.run() == 0  # backing off (1m): not even tried
    assert [r.status for r in pagerduty.requests] == [503, 503]
    episode.clock.advance(31)
    assert await episode.run() == 0
    assert [r.status for r in pagerduty.requests] == [503, 503, 202]
    assert [e["event_action"] for e in pagerduty.events] == ["trigger"]
    episode.clock.advance(timedelta(hours=2))
    assert await episode.run() == 0
    assert len(pagerduty.requests) == 3


async def test_a_429_waits_for_its_retry_after(pagerduty: PagerDutyStandIn, episode_for: Any) -> None:
    episode: Episode = episode_for(entry(pagerduty))
    pagerduty.rate_limit_next(1, retry_after=120)  # longer than the first backoff (30s)
    assert await episode.fire() == 1
    episode.clock.advance(60)
    assert await episode.run() == 0
    assert len(pagerduty.requests) == 1  # Retry-After not over: not tried
    episode.clock.advance(61)
    assert await episode.run() == 0
    assert [r.status for r in pagerduty.requests] == [429, 202]


async def test_a_refused_event_is_a_permanent_error_saying_why_without_the_routing_key(
    pagerduty: PagerDutyStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "0" * 32
    notifier = PagerDutyNotifier("pager", routing_key=SecretStr(wrong), url=pagerduty.enqueue_url)
    try:
        with pytest.raises(NotifyError) as caught, caplog.at_level(logging.DEBUG, logger="backlog_watch"):
            await notifier.send(urgent_notification())
    finally:
        await notifier.close()
    assert not caught.value.retryable
    assert "PagerDuty refused the request: HTTP 400" in str(caught.value) and "Invalid routing key" in str(caught.value)
    assert wrong not in str(caught.value) + repr(notifier) + caplog.text
    assert isinstance(notifier, AcknowledgingNotifier)

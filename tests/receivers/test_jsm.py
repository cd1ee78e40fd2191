"""JSM Operations alerts through the real daemon and outbox, against the stand-in that checks each request
as Atlassian documents it: create (alias = fingerprint) -> acknowledge -> close, found by alias; an
outage; refusals; the API token never shown."""

from __future__ import annotations

import base64
import logging
from datetime import timedelta
from typing import Any

import pytest

from backlog_watch.delivery.notifiers.jsm import JsmNotifier, JsmSettings
from backlog_watch.errors import ConfigError, NotifyError
from backlog_watch.sim.jsm import JsmStandIn
from tests.helpers.alerts import urgent_notification
from tests.helpers.config import document, parse, threshold, zendesk
from tests.receivers.conftest import Episode


def entry(standin: JsmStandIn, **settings: Any) -> dict[str, Any]:
    return {
        "name": "ops",
        "type": "jsm",
        "cloud_id": standin.cloud_id,
        "email": standin.email,
        "api_token": standin.token,
        "api_url": standin.url,
        **settings,
    }


def calls(standin: JsmStandIn) -> list[tuple[str, str]]:
    """Method and path (with the query of a GET) of every request, the site's prefix cut."""
    return [
        (r.method, r.path.removeprefix(standin.base) + (f"?{r.query['query']}" if r.query.get("query") else ""))
        for r in standin.requests
    ]


async def test_create_acknowledge_close_with_the_fingerprint_as_alias(jsm: JsmStandIn, episode_for: Any) -> None:
    episode: Episode = episode_for(entry(jsm, tags=["support"], responders=[{"type": "team", "name": "Leads"}]))
    assert await episode.fire() == 0
    alert = await episode.stored()
    (created,) = jsm.alerts.values()
    body = created.body
    total = episode.backlog + 2
    assert body["message"] == f"[WARN] backlog-size: {total} open (zendesk)"
    assert (body["alias"], body["priority"], body["source"], body["entity"]) == (
        alert.fingerprint,
        "P3",
        "backlog-watch",
        "zendesk",
    )
    assert body["tags"] == ["support", "backlog-size"] and body["responders"] == [{"type": "team", "name": "Leads"}]
    assert body["details"] == {
        "rule": "backlog-size",
        "level": "warn",
        "value": str(float(total)),
        "threshold": str(float(episode.backlog)),
        "ticket_count": str(total),
        "label.helpdesk": "zendesk",
    }
    assert f"Warn when open tickets above {episode.backlog}" in body["description"]
    assert body["description"].count(f"{episode.sim.url}/agent/tickets/") == 10
    auth = jsm.requests[0].headers["Authorization"]
    assert auth == "Basic " + base64.b64encode(f"{jsm.email}:{jsm.token}".encode()).decode()

    await episode.acknowledge(by="alice")
    assert created.acknowledged and created.notes == ["Acknowledged by alice"]

    assert await episode.resolve() == 0
    assert created.status == "closed" and created.notes[-1].startswith("Resolved")
    query = f'alias:"{alert.fingerprint}" AND status:open'
    assert calls(jsm) == [
        ("POST", ""),
        ("GET", f"?{query}"),
        ("POST", f"/{created.id}/acknowledge"),
        ("GET", f"?{query}"),
        ("POST", f"/{created.id}/close"),
    ]
    assert all(r.accepted for r in jsm.requests)
    episode.clock.advance(timedelta(hours=1))
    assert await episode.run() == 0
    assert len(jsm.requests) == 5


async def test_a_new_episode_after_close_creates_a_new_alert(jsm: JsmStandIn, episode_for: Any) -> None:
    episode: Episode = episode_for(entry(jsm))
    assert await episode.fire() == 0
    assert await episode.resolve() == 0
    episode.extra = []
    assert await episode.fire() == 0
    first, second = jsm.alerts.values()
    assert (first.status, second.status) == ("closed", "open") and first.alias == second.alias


async def test_an_outage_is_retried_by_the_outbox_and_delivered_once(jsm: JsmStandIn, episode_for: Any) -> None:
    episode: Episode = episode_for(entry(jsm))
    jsm.fail_next(2, status=502)
    assert await episode.fire() == 1
    episode.clock.advance(31)
    assert await episode.run() == 1
    episode.clock.advance(61)
    assert await episode.run() == 0
    assert [r.status for r in jsm.requests] == [502, 502, 202]
    (created,) = jsm.alerts.values()
    assert created.count == 1  # created once: nothing twice after recovery
    jsm.fail_next(1, status=503)  # down again when it resolves: the close waits and comes
    assert await episode.resolve() == 1
    episode.clock.advance(31)
    assert await episode.run() == 0
    assert created.status == "closed"
    assert [r.status for r in jsm.requests][3:] == [503, 200, 202]


async def test_wrong_credentials_are_a_permanent_error_without_the_token(
    jsm: JsmStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    settings = JsmSettings.model_validate({**entry(jsm), "api_token": "not-the-token-4242"})
    notifier = JsmNotifier(settings)
    try:
        with pytest.raises(NotifyError) as caught, caplog.at_level(logging.DEBUG, logger="backlog_watch"):
            await notifier.send(urgent_notification())
    finally:
        await notifier.close()
    assert not caught.value.retryable and "JSM Operations refused the request: HTTP 401" in str(caught.value)
    assert "not-the-token-4242" not in str(caught.value) + repr(notifier) + repr(settings) + caplog.text
    assert jsm.alerts == {}


async def test_the_stand_in_refuses_what_jsm_refuses(jsm: JsmStandIn) -> None:
    import httpx

    auth = base64.b64encode(f"{jsm.email}:{jsm.token}".encode()).decode()
    async with httpx.AsyncClient(base_url=jsm.url, headers={"Authorization": f"Basic {auth}"}) as client:
        bad = await client.post(jsm.base, json={"message": "x" * 131, "priority": "P9", "tags": ["t"] * 21})
        missing = await client.post(f"{jsm.base}/nope/close", json={})
        other_site = await client.post("/jsm/ops/api/other/v1/alerts", json={"message": "m"})
    assert bad.status_code == 422
    assert bad.json()["errors"] == [
        "message is longer than 130",
        "priority must be one of P1, P2, P3, P4, P5",
        "tags is longer than 20",
    ]
    assert (missing.status_code, missing.json()["message"]) == (404, "Alert not found")
    assert other_site.status_code == 404 and jsm.alerts == {}


def test_config_problems_are_named_by_file_line_and_key_and_the_token_masked() -> None:
    block = {
        "name": "ops",
        "type": "jsm",
        "cloud_id": "abc",
        "email": "ops@acme.com",
        "api_token": "tok-775533",
        "priority": {"critical": "P0"},
        "api_url": "http://jsm.example.com",
        "responders": [{"type": "team", "name": "Leads"}, {"type": "group", "name": "x"}, {"type": "user"}],
    }
    with pytest.raises(ConfigError) as caught:
        parse(receiver_doc(block))
    assert [": ".join(p.split(": ")[:2]) for p in caught.value.problems] == [
        "test.yaml:14: notifiers[0].priority.critical",
        "test.yaml:15: notifiers[0].api_url",
        "test.yaml:19: notifiers[0].responders[1].type",
        "test.yaml:21: notifiers[0].responders[2]",
    ]
    assert "tok-775533" not in "\n".join(caught.value.problems)
    fixed = {
        "priority": {"critical": "P2"},
        "api_url": "https://api.atlassian.com",
        "responders": [{"type": "team", "id": "t1"}],
    }
    config = parse(receiver_doc({**block, **fixed}))
    assert config.notifier("ops").priority == {"critical": "P2"}  # type: ignore[attr-defined]


def receiver_doc(block: dict[str, Any]) -> dict[str, Any]:
    return document(helpdesks=[zendesk()], notifiers=[block], notify=["ops"], rules=[threshold(warn_above=1)])

"""Microsoft Teams through a Workflows webhook, via the real daemon and outbox, against the stand-in that
checks each message as an Adaptive Card: a warning card with the value against its threshold and the
tickets linked, a green resolved card; an outage; the URL's signature never shown."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from backlog_watch.delivery.notifiers.teams import TeamsNotifier
from backlog_watch.errors import NotifyError
from backlog_watch.sim.teams import TeamsStandIn
from backlog_watch.sim.teams.standin import MESSAGE_MAX
from tests.helpers.alerts import urgent_notification
from tests.receivers.conftest import Episode


def entry(standin: TeamsStandIn) -> dict[str, Any]:
    return {"name": "teams", "type": "teams", "url": standin.webhook_url}


def texts(element: dict[str, Any]) -> list[str]:
    """Every TextBlock's text in a card or container, in order."""
    found = [element["text"]] if element.get("type") == "TextBlock" else []
    for child in element.get("body", []) + element.get("items", []):
        found += texts(child)
    return found


async def test_a_warning_card_then_a_resolved_card(teams: TeamsStandIn, episode_for: Any) -> None:
    episode: Episode = episode_for(entry(teams))
    assert await episode.fire() == 0
    (request,) = teams.requests
    assert request.headers["Content-Type"] == "application/json" and request.query["sig"] == teams.sig
    message = request.json
    assert message["type"] == "message"
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    total = episode.backlog + 2
    header = card["body"][0]
    assert (header["type"], header["style"]) == ("Container", "warning")
    assert header["items"][0]["text"] == "WARN · backlog-size · zendesk" and header["items"][0]["color"] == "warning"
    facts = next(e for e in card["body"] if e["type"] == "FactSet")["facts"]
    assert facts == [
        {"title": "Now", "value": f"{total} open"},
        {"title": "Warn when", "value": f"open tickets above {episode.backlog}"},
    ]
    lines = next(t for t in texts(card) if t.startswith("- ")).splitlines()
    assert len(lines) == 10 and all(f"]({episode.sim.url}/agent/tickets/" in line for line in lines)
    assert f"…and {total - 10} more" in texts(card)

    assert await episode.resolve() == 0
    resolved = teams.cards[1]
    assert resolved["body"][0]["style"] == "good"
    assert resolved["body"][0]["items"][0]["text"] == "RESOLVED · backlog-size · zendesk"
    assert any(t.startswith("Resolved: open tickets is") for t in texts(resolved))
    assert not any(e["type"] == "FactSet" for e in resolved["body"])
    assert not any(t.startswith("- ") for t in texts(resolved))  # no ticket list once it cleared
    episode.clock.advance(timedelta(hours=1))
    assert await episode.run() == 0
    assert len(teams.requests) == 2


async def test_an_outage_is_retried_by_the_outbox_and_posted_once(
    teams: TeamsStandIn, episode_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)  # what the daemon logs (libraries' INFO lines are off in production)
    episode: Episode = episode_for(entry(teams))
    teams.rate_limit_next(1, retry_after=45)
    teams.fail_next(1, status=502)
    assert await episode.fire() == 1
    episode.clock.advance(46)
    assert await episode.run() == 1  # the 502
    episode.clock.advance(61)
    assert await episode.run() == 0
    assert [r.status for r in teams.requests] == [429, 502, 202]
    assert "failed (next try" in caplog.text and "Teams answered HTTP 429" in caplog.text
    assert teams.sig not in caplog.text  # the URL is the credential
    assert len(teams.cards) == 1
    episode.clock.advance(timedelta(hours=2))
    assert await episode.run() == 0
    assert len(teams.cards) == 1


async def test_a_wrong_signature_is_permanent_and_never_shown(
    teams: TeamsStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    url = teams.webhook_url.replace(teams.sig, "forged-sig-31337")
    notifier = TeamsNotifier("teams", url=SecretStr(url))
    try:
        with pytest.raises(NotifyError) as caught, caplog.at_level(logging.DEBUG, logger="backlog_watch"):
            await notifier.send(urgent_notification())
    finally:
        await notifier.close()
    assert not caught.value.retryable and "Teams refused the request: HTTP 401" in str(caught.value)
    assert "forged-sig-31337" not in str(caught.value) + repr(notifier) + caplog.text
    assert teams.cards == []


async def test_a_long_backlog_stays_under_teams_28_kb_and_subjects_keep_their_links(teams: TeamsStandIn) -> None:
    from dataclasses import replace

    notification = urgent_notification(count=40)
    long_subjects = tuple(t.model_copy(update={"subject": "[VIP] " + "S" * 2000}) for t in notification.alert.tickets)
    big = replace(notification, alert=replace(notification.alert, tickets=long_subjects))
    notifier = TeamsNotifier("teams", url=SecretStr(teams.webhook_url))
    try:
        await notifier.send(big)
    finally:
        await notifier.close()
    (request,) = teams.requests
    assert request.accepted and len(request.body) <= MESSAGE_MAX
    shown = json.dumps(teams.cards[0])
    assert "more" in shown and "(VIP) SSS" in shown and "[VIP]" not in shown  # a bracket would end the link text


async def test_the_stand_in_refuses_a_card_teams_cannot_render(teams: TeamsStandIn) -> None:
    import httpx

    card = {"type": "AdaptiveCard", "version": "2.0", "body": [{"type": "TextBlock", "color": "purple"}]}
    message = {"type": "message", "attachments": [{"contentType": "application/json", "content": card}]}
    async with httpx.AsyncClient() as client:
        answer = await client.post(teams.webhook_url, json=message)
    assert answer.status_code == 400
    problems = answer.json()["error"]["message"]
    assert "attachments[0].contentType must be one of application/vnd.microsoft.card.adaptive" in problems
    assert "attachments[0].content.version must be one of" in problems
    assert "body[0].text is required" in problems and "body[0].color must be one of" in problems
    assert teams.cards == []

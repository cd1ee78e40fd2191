"""Clicking and typing in the Slack stand-in over plain HTTP (what a newcomer does with curl): the envelope
reaches slack-sdk's real SocketModeClient as Slack would send it, and the answer comes back once acked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from backlog_watch.sim import SlackStandIn
from tests.helpers.waiting import until

BUTTONS = [
    {
        "type": "actions",
        "block_id": "alert:1",
        "elements": [
            {"type": "button", "action_id": "app.acknowledge", "text": {"type": "plain_text", "text": "Acknowledge"}},
            {
                "type": "static_select",
                "action_id": "app.snooze",
                "placeholder": {"type": "plain_text", "text": "Snooze…"},
                "options": [
                    {"text": {"type": "plain_text", "text": "Snooze for 1 hour"}, "value": "1h"},
                    {"text": {"type": "plain_text", "text": "Snooze for 4 hours"}, "value": "4h"},
                ],
            },
            {"type": "button", "action_id": "app.take_oldest", "text": {"type": "plain_text", "text": "Take oldest"}},
        ],
    }
]


@pytest.fixture
async def app(slack_standin: SlackStandIn) -> AsyncIterator[list[SocketModeRequest]]:
    """An app connected over Socket Mode that acks everything (a slash command with an answer)."""
    received: list[SocketModeRequest] = []

    async def listener(client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        received.append(request)
        answer = {"text": "12 open"} if request.type == "slash_commands" else None
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id, payload=answer))

    web = AsyncWebClient(token=slack_standin.token, base_url=slack_standin.api_url)
    client = SocketModeClient(app_token=slack_standin.app_token, web_client=web)
    client.socket_mode_request_listeners.append(listener)
    await client.connect()
    try:
        await until(slack_standin.connected.is_set, what="the Socket Mode connection")
        yield received
    finally:
        await client.close()


async def post(standin: SlackStandIn, path: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient() as raw:
        return await raw.post(f"{standin.url}/_standin/{path}", json=body)


async def alert(standin: SlackStandIn, text: str) -> str:
    bot = AsyncWebClient(token=standin.token, base_url=standin.api_url)
    return str((await bot.chat_postMessage(channel="#support", text=text, blocks=BUTTONS))["ts"])


async def test_a_click_by_label_reaches_the_app_as_block_actions_from_that_person(
    slack_standin: SlackStandIn, app: list[SocketModeRequest]
) -> None:
    first = await alert(slack_standin, "[WARN] unassigned: 3 tickets")
    await alert(slack_standin, "[CRITICAL] backlog-size: 130 open")

    clicked = await post(slack_standin, "click", {"action": "take oldest", "text": "unassigned"})
    assert clicked.status_code == 200, clicked.text
    assert clicked.json()["ok"] and (clicked.json()["ts"], clicked.json()["action_id"]) == (first, "app.take_oldest")
    (request,) = app
    assert request.type == "interactive" and request.payload["type"] == "block_actions"
    assert request.payload["actions"][0]["action_id"] == "app.take_oldest"
    assert request.payload["container"]["message_ts"] == first
    assert request.payload["user"]["name"] == "alice"
    assert slack_standin.users[request.payload["user"]["id"]].email == "alice@example.com"

    newest = await post(slack_standin, "click", {"action": "Acknowledge", "user": "raj", "email": "raj@acme.com"})
    assert newest.json()["ts"] != first  # no text: the newest message with that button
    assert app[1].payload["user"]["name"] == "raj"
    assert slack_standin.users[app[1].payload["user"]["id"]].email == "raj@acme.com"


async def test_a_menu_wants_one_of_its_options_and_a_wrong_button_is_named(
    slack_standin: SlackStandIn, app: list[SocketModeRequest]
) -> None:
    await alert(slack_standin, "[WARN] aging")
    missing = await post(slack_standin, "click", {"action": "Snooze"})
    assert missing.status_code == 400
    assert (
        missing.json()["error"] == "'Snooze' needs an option, one of: 1h (Snooze for 1 hour), 4h (Snooze for 4 hours)"
    )
    by_text = await post(slack_standin, "click", {"action": "snooze", "option": "Snooze for 4 hours"})
    assert by_text.status_code == 200 and app[0].payload["actions"][0]["selected_option"]["value"] == "4h"

    wrong = await post(slack_standin, "click", {"action": "Escalate"})
    assert wrong.status_code == 404
    assert wrong.json()["error"] == "no message has 'Escalate'; the buttons there: acknowledge, snooze, take oldest"
    nowhere = await post(slack_standin, "click", {"action": "Acknowledge", "text": "no such alert"})
    assert nowhere.status_code == 404 and "has the app posted one yet?" in nowhere.json()["error"]
    assert len(app) == 1  # refused clicks send nothing


async def test_a_slash_command_answers_with_the_ack_payload(
    slack_standin: SlackStandIn, app: list[SocketModeRequest]
) -> None:
    answered = await post(slack_standin, "command", {"text": "zendesk", "channel": "#support"})
    assert answered.status_code == 200 and answered.json()["ack"] == {"text": "12 open"}
    assert (app[0].payload["command"], app[0].payload["text"]) == ("/backlog", "zendesk")


async def test_without_a_connected_app_a_click_says_what_to_start(slack_standin: SlackStandIn) -> None:
    await alert(slack_standin, "[WARN] aging")
    refused = await post(slack_standin, "click", {"action": "Acknowledge"})
    assert refused.status_code == 409 and "is `backlog-watch run` up" in refused.json()["error"]
    assert slack_standin.envelopes == []
    async with httpx.AsyncClient() as raw:
        answers = await raw.get(f"{slack_standin.url}/_standin/answers")
        broken = await raw.post(f"{slack_standin.url}/_standin/click", content=b"[1]")
    assert answers.json() == {"ok": True, "ephemeral": [], "responses": []}
    assert broken.status_code == 400 and broken.json()["error"] == "the body is not a JSON object"

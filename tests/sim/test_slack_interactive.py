"""The Slack stand-in's interactive side, as slack-sdk's real clients see it: Socket Mode only with an
app-level token, envelopes acked or listed as unacked, users.info, chat.postEphemeral, views.publish,
and Block Kit's limits on buttons and menus."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.web.async_client import AsyncWebClient

from backlog_watch.sim import SlackStandIn
from tests.helpers.waiting import until


async def test_connections_open_wants_the_app_token_and_answers_a_loopback_websocket(
    slack_standin: SlackStandIn,
) -> None:
    app = AsyncWebClient(token=slack_standin.app_token, base_url=slack_standin.api_url)
    opened = await app.apps_connections_open(app_token=slack_standin.app_token)
    assert opened["url"].startswith(slack_standin.url.replace("http://", "ws://") + "/link/")
    bot = AsyncWebClient(token=slack_standin.token, base_url=slack_standin.api_url)
    with pytest.raises(SlackApiError) as refused:
        await bot.apps_connections_open(app_token=slack_standin.token)
    assert refused.value.response["error"] == "not_allowed_token_type"
    with pytest.raises(SlackApiError) as wrong:
        await bot.apps_connections_open(app_token="xapp-1-wrong")
    assert wrong.value.response["error"] == "invalid_auth"


async def test_an_envelope_nobody_acks_is_listed_as_unacked(slack_standin: SlackStandIn) -> None:
    client = SocketModeClient(
        app_token=slack_standin.app_token,
        web_client=AsyncWebClient(token=slack_standin.token, base_url=slack_standin.api_url),
    )
    await client.connect()  # no listener: nothing acknowledges what arrives
    try:
        await until(slack_standin.connected.is_set, what="the connection")
        slack_standin.add_user("U1", "bob", "bob@example.com")
        envelope = await slack_standin.send_envelope("events_api", slack_standin.home_opened("U1"))
        assert slack_standin.unacked == [envelope]
        await client.send_socket_mode_response({"envelope_id": envelope.envelope_id})
        await until(envelope.acked.is_set, what="the ack")
        assert slack_standin.unacked == []
    finally:
        await client.close()


async def test_users_ephemerals_and_home_views_are_checked_as_slack_does(slack_standin: SlackStandIn) -> None:
    bot = AsyncWebClient(token=slack_standin.token, base_url=slack_standin.api_url)
    slack_standin.add_user("U1", "bob", "bob@example.com")
    assert (await bot.users_info(user="U1"))["user"]["profile"]["email"] == "bob@example.com"
    with pytest.raises(SlackApiError) as unknown:
        await bot.users_info(user="U404")
    assert unknown.value.response["error"] == "user_not_found"
    posted = await bot.chat_postMessage(channel="#support", text="hello")
    await bot.chat_postEphemeral(channel=posted["channel"], user="U1", text="only for you")
    assert [e["text"] for e in slack_standin.ephemerals] == ["only for you"]
    with pytest.raises(SlackApiError) as bad_view:
        await bot.views_publish(user_id="U1", view={"type": "modal", "blocks": []})
    assert bad_view.value.response["error"] == "invalid_arguments"
    await bot.views_publish(user_id="U1", view={"type": "home", "blocks": [{"type": "divider"}]})
    assert slack_standin.home_views["U1"]["blocks"] == [{"type": "divider"}]


async def test_buttons_need_unique_action_ids_and_short_texts(slack_standin: SlackStandIn) -> None:
    bot = AsyncWebClient(token=slack_standin.token, base_url=slack_standin.api_url)
    button = {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "Go"}, "value": "v"}
    twice = [{"type": "actions", "elements": [button, button]}]
    with pytest.raises(SlackApiError) as duplicate:
        await bot.chat_postMessage(channel="#support", text="x", blocks=twice)
    assert duplicate.value.response["errors"] == [
        "must be a unique action_id [json-pointer:/blocks/0/elements/1/action_id]"
    ]
    long = [{"type": "actions", "elements": [{**button, "text": {"type": "plain_text", "text": "x" * 76}}]}]
    with pytest.raises(SlackApiError) as too_long:
        await bot.chat_postMessage(channel="#support", text="x", blocks=long)
    assert too_long.value.response["error"] == "invalid_blocks"

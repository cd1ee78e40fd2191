"""The real slack-sdk AsyncWebClient against the Slack stand-in, over loopback HTTP."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from backlog_watch.sim import SlackStandIn, serve_slack
from tests.helpers.waiting import until

TS = re.compile(r"^\d{10}\.\d{6}$")


def client_for(standin: SlackStandIn, token: str | None = None, **options: Any) -> AsyncWebClient:
    return AsyncWebClient(token=token or standin.token, base_url=standin.api_url, **options)


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


async def test_post_update_and_reply_are_recorded_in_order(slack_standin: SlackStandIn):
    client = client_for(slack_standin)
    blocks = [header("CRITICAL · open tickets"), section("*142 open* (threshold 100)")]
    posted = await client.chat_postMessage(channel="#support-alerts", text="142 open tickets", blocks=blocks)
    assert posted["ok"] and posted["channel"].startswith("C") and TS.match(posted["ts"])
    assert posted["message"]["blocks"] == blocks and posted["message"]["text"] == "142 open tickets"
    channel, ts = posted["channel"], posted["ts"]

    updated = await client.chat_update(
        channel=channel,
        ts=ts,
        text="150 open tickets",
        blocks=[header("CRITICAL · open tickets"), section("*150 open*")],
    )
    assert (updated["channel"], updated["ts"], updated["text"]) == (channel, ts, "150 open tickets")
    reply = await client.chat_postMessage(channel=channel, thread_ts=ts, text="Escalated to CRITICAL")
    assert reply["message"]["thread_ts"] == ts and reply["ts"] > ts

    calls = slack_standin.calls
    assert [c.method for c in calls] == ["chat.postMessage", "chat.update", "chat.postMessage"]
    assert calls[0].params == {"channel": "#support-alerts", "text": "142 open tickets", "blocks": blocks}
    assert calls[1].params["ts"] == ts and calls[1].params["channel"] == channel
    assert calls[2].params == {"channel": channel, "thread_ts": ts, "text": "Escalated to CRITICAL"}
    assert all(c.headers["Authorization"] == f"Bearer {slack_standin.token}" for c in calls)

    [parent] = slack_standin.messages("#support-alerts")
    assert slack_standin.messages(channel) == [parent]
    assert (parent.ts, parent.text, parent.blocks[1]["text"]["text"]) == (
        ts,
        "150 open tickets",
        "*150 open*",
    )
    assert parent.edited and parent.edits[0][0] == "142 open tickets"
    assert [(r.text, r.thread_ts) for r in parent.replies] == [("Escalated to CRITICAL", ts)]


async def test_a_reply_to_a_reply_joins_the_parent_thread(slack_standin: SlackStandIn):
    client = client_for(slack_standin)
    parent = await client.chat_postMessage(channel="ops", text="parent")
    first = await client.chat_postMessage(channel=parent["channel"], thread_ts=parent["ts"], text="one")
    await client.chat_postMessage(channel=parent["channel"], thread_ts=first["ts"], text="two")
    [message] = slack_standin.messages("ops")
    assert [r.text for r in message.replies] == ["one", "two"]
    history = await client.conversations_history(channel=parent["channel"])
    assert [m["text"] for m in history["messages"]] == ["parent"] and history["messages"][0]["reply_count"] == 2


async def test_a_wrong_token_is_invalid_auth_with_http_200(slack_standin: SlackStandIn):
    with pytest.raises(SlackApiError) as caught:
        await client_for(slack_standin, token="xoxb-wrong").chat_postMessage(channel="ops", text="hi")
    assert caught.value.response["error"] == "invalid_auth"
    assert caught.value.response.status_code == 200
    assert slack_standin.messages("ops") == []
    async with httpx.AsyncClient() as raw:
        anonymous = await raw.post(slack_standin.api_url + "auth.test")
    assert anonymous.status_code == 200 and anonymous.json() == {"ok": False, "error": "not_authed"}
    me = await client_for(slack_standin).auth_test()
    assert (me["team_id"], me["user_id"]) == ("T000", slack_standin.bot_user_id)


async def test_a_429_then_success_with_slack_sdks_retry_handler(slack_standin: SlackStandIn):
    slack_standin.rate_limit_next(1, retry_after=0)
    client = client_for(slack_standin, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])
    posted = await client.chat_postMessage(channel="ops", text="after the wait")
    assert posted["ok"]
    assert [c.method for c in slack_standin.calls] == ["chat.postMessage", "chat.postMessage"]
    assert [m.text for m in slack_standin.messages("ops")] == ["after the wait"]


async def test_without_a_retry_handler_the_429_surfaces_with_retry_after(slack_standin: SlackStandIn):
    slack_standin.rate_limit_next(1, retry_after=3)
    with pytest.raises(SlackApiError) as caught:
        await client_for(slack_standin).chat_postMessage(channel="ops", text="too fast")
    response = caught.value.response
    assert response.status_code == 429 and response["error"] == "ratelimited"
    assert response.headers["Retry-After"] == "3"
    assert slack_standin.messages("ops") == []


async def test_a_server_error_is_retried_by_slack_sdk(slack_standin: SlackStandIn):
    slack_standin.fail_next(1, status=503)
    client = client_for(slack_standin, retry_handlers=[AsyncServerErrorRetryHandler(max_retry_count=1)])
    assert (await client.chat_postMessage(channel="ops", text="second try"))["ok"]
    assert len(slack_standin.calls) == 2


@pytest.mark.parametrize(
    ("blocks", "complaint"),
    [
        ([header("x" * 151)], "must be less than 151 characters [json-pointer:/blocks/0/text/text]"),
        ([section("y" * 3001)], "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"),
        ([section("z")] * 51, "no more than 50 items allowed [json-pointer:/blocks]"),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "*bold*"}}], "/blocks/0/text/type"),
        ([{"type": "fancy"}], "unsupported type: fancy"),
    ],
)
async def test_blocks_beyond_slacks_limits_are_invalid_blocks(slack_standin: SlackStandIn, blocks, complaint):
    with pytest.raises(SlackApiError) as caught:
        await client_for(slack_standin).chat_postMessage(channel="ops", text="t", blocks=blocks)
    assert caught.value.response["error"] == "invalid_blocks"
    assert any(complaint in error for error in caught.value.response["errors"])
    assert slack_standin.messages("ops") == []


async def test_limits_at_the_edge_are_accepted(slack_standin: SlackStandIn):
    blocks = [header("x" * 150), section("y" * 3000)] + [{"type": "divider"}] * 48
    assert (await client_for(slack_standin).chat_postMessage(channel="ops", text="t", blocks=blocks))["ok"]


async def test_unknown_targets_are_refused(slack_standin: SlackStandIn):
    client = client_for(slack_standin)
    posted = await client.chat_postMessage(channel="ops", text="parent")
    cases = [
        ("chat_update", {"channel": posted["channel"], "ts": "1.000001", "text": "x"}, "message_not_found"),
        (
            "chat_update",
            {"channel": "ops", "ts": posted["ts"], "text": "x"},
            "channel_not_found",
        ),  # wants an id
        ("chat_postMessage", {"channel": "ops", "thread_ts": "1.000001", "text": "x"}, "thread_not_found"),
        ("conversations_info", {"channel": "nowhere"}, "channel_not_found"),
    ]
    for method, arguments, error in cases:
        with pytest.raises(SlackApiError) as caught:
            await getattr(client, method)(**arguments)
        assert caught.value.response["error"] == error
    async with httpx.AsyncClient() as raw:
        headers = {"Authorization": f"Bearer {slack_standin.token}"}
        empty = await raw.post(slack_standin.api_url + "chat.postMessage", json={"channel": "ops"}, headers=headers)
    assert empty.json() == {"ok": False, "error": "no_text"}
    assert [m.text for m in slack_standin.messages("ops")] == ["parent"]


async def test_strict_channels_and_form_encoded_calls():
    async with SlackStandIn(channels={"#alerts": "C0ALERTS"}) as standin, httpx.AsyncClient() as raw:
        form = {
            "token": standin.token,
            "channel": "alerts",
            "text": "from a form",
            "blocks": '[{"type": "divider"}]',
        }
        answer = (await raw.post(standin.api_url + "chat.postMessage", data=form)).json()
        assert answer["ok"] and answer["channel"] == "C0ALERTS"
        assert standin.calls[0].params == form
        assert standin.messages("C0ALERTS")[0].blocks == [{"type": "divider"}]
        elsewhere = await raw.post(standin.api_url + "chat.postMessage", data={**form, "channel": "random"})
        assert elsewhere.json() == {"ok": False, "error": "channel_not_found"}


async def test_the_incoming_webhook_answers_ok(slack_standin: SlackStandIn):
    async with httpx.AsyncClient() as raw:
        ok = await raw.post(slack_standin.webhook_url, json={"text": "hello", "blocks": [section("*hi*")]})
        assert (ok.status_code, ok.text) == (200, "ok")
        empty = await raw.post(slack_standin.webhook_url, json={})
        assert (empty.status_code, empty.text) == (400, "no_text")
        too_long = await raw.post(slack_standin.webhook_url, json={"text": "t", "blocks": [header("h" * 200)]})
        assert (too_long.status_code, too_long.text) == (400, "invalid_blocks")
        wrong = await raw.post(f"{slack_standin.url}/services/T000/B000/WRONG", json={"text": "x"})
        assert (wrong.status_code, wrong.text) == (404, "no_service")
    assert [m.text for m in slack_standin.messages(slack_standin.webhook_channel)] == ["hello"]
    assert [c.method for c in slack_standin.calls] == ["webhook"] * 3


async def test_serve_slack_runs_until_cancelled():
    lines: list[str] = []
    task = asyncio.create_task(serve_slack(0, out=lines.append))
    try:
        await until(lambda: lines, what="serve_slack to say where it listens")
        api_url = re.search(r"api_url (\S+),", lines[0])
        assert api_url, lines
        client = AsyncWebClient(token="xoxb-standin-token", base_url=api_url[1])
        assert (await client.chat_postMessage(channel="ops", text="served"))["ok"]
        click = re.search(r"curl -d '(.+)' (\S+/_standin/click)", "\n".join(lines))
        assert click, lines
        async with httpx.AsyncClient() as raw:  # the printed line, as a newcomer pastes it: no app yet
            pasted = await raw.post(click[2], content=click[1])
        assert pasted.status_code == 409 and "backlog-watch run" in pasted.json()["error"]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

"""The Slack app: what people do in Slack, whichever transport brought it (socket_mode.py or the HTTP
endpoint, web/slack_events.py).

A click on an alert's parent (``block_actions``) becomes an ``AlertActions`` call, whose ``Outcome``
says where it is told: in the alert's thread (a snooze, an unsnooze, a take or the helpdesk's refusal
of it: the team sees who did what), to the clicker alone (chat.postEphemeral: nothing was changed, e.g.
the alert resolved since), or nowhere, as an acknowledgement shows on the parent, edited by the
delivery pipeline. ``/backlog [helpdesk]`` answers with the wallboard's
numbers, to the caller only; opening the App Home tab publishes them there (views.publish).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from backlog_watch.chatops.actions import AlertActions, AlertReference, Outcome
from backlog_watch.delivery.notifiers.slack import (
    ACKNOWLEDGE_ACTION,
    ACTIONS_BLOCK,
    SNOOZE_ACTION,
    TAKE_ACTION,
    UNSNOOZE_ACTION,
)

log = logging.getLogger(__name__)

Board = Callable[[], Mapping[str, Any]]
"""The wallboard's numbers now (web/wallboard.py ``backlog``): ``total``, ``helpdesks``, ``alerts``."""


class SlackApp:
    """Answers block actions, the /backlog command and App Home openings."""

    def __init__(self, client: AsyncWebClient, actions: AlertActions, board: Board) -> None:
        self.client = client
        self.actions = actions
        self.board = board

    async def interactive(self, payload: Mapping[str, Any]) -> None:
        """A click on one of our buttons or menus (other interactions are not ours: ignored)."""
        if payload.get("type") != "block_actions":
            return
        user = payload.get("user") or {}
        channel = (payload.get("container") or {}).get("channel_id") or (payload.get("channel") or {}).get("id")
        thread = (payload.get("container") or {}).get("message_ts")
        for action in payload.get("actions") or []:
            block_id = str(action.get("block_id", ""))
            if not block_id.startswith(ACTIONS_BLOCK + ":"):
                continue
            try:
                reference = AlertReference.parse(block_id.removeprefix(ACTIONS_BLOCK + ":"))
            except ValueError:
                log.warning("ignoring a Slack action on a block this version did not make: %s", block_id[:80])
                continue
            outcome = await self._act(action, reference, user)
            if outcome is not None:
                await self._tell(outcome, channel, str(user.get("id", "")), thread)

    async def _act(
        self, action: Mapping[str, Any], reference: AlertReference, user: Mapping[str, Any]
    ) -> Outcome | None:
        actor = str(user.get("username") or user.get("name") or user.get("id"))
        action_id = action.get("action_id")
        if action_id == ACKNOWLEDGE_ACTION:
            return await self.actions.acknowledge(reference, actor)
        if action_id == SNOOZE_ACTION:
            choice = str((action.get("selected_option") or {}).get("value"))
            return await self.actions.snooze(reference, actor, choice)
        if action_id == UNSNOOZE_ACTION:
            return await self.actions.unsnooze(reference, actor)
        if action_id == TAKE_ACTION:
            return await self.actions.take_oldest(reference, actor, await self._email(str(user.get("id", ""))))
        return None

    async def _email(self, user_id: str) -> str | None:
        """The clicker's email (users.info, which needs the users:read.email scope)."""
        try:
            response = await self.client.users_info(user=user_id)
        except (SlackApiError, SlackClientError) as exc:
            log.warning("Slack users.info failed for %s: %s", user_id, exc)
            return None
        email = ((response.get("user") or {}).get("profile") or {}).get("email")
        return str(email) if email else None

    async def _tell(self, outcome: Outcome, channel: str | None, user: str, thread: str | None) -> None:
        if channel is None:
            return
        try:
            if outcome.audience == "clicker":
                await self.client.chat_postEphemeral(channel=channel, user=user, text=outcome.text, thread_ts=thread)
            elif outcome.audience == "thread":
                await self.client.chat_postMessage(channel=channel, thread_ts=thread, text=outcome.text)
        except (SlackApiError, SlackClientError) as exc:
            log.warning("could not tell Slack the outcome of an action: %s", exc)

    def command(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The answer to ``/backlog [helpdesk]``, ephemeral (the ack's payload or the HTTP response)."""
        wanted = str(payload.get("text") or "").strip()
        board = self.board()
        cards = {card["name"]: card for card in board.get("helpdesks", [])}
        if wanted and wanted not in cards:
            known = ", ".join(cards) or "none"
            return {"response_type": "ephemeral", "text": f'No helpdesk named "{wanted}" (known: {known}).'}
        card = cards[wanted] if wanted else board["total"]
        return {"response_type": "ephemeral", "text": card_text(card), "blocks": [_section(card_text(card))]}

    async def event(self, payload: Mapping[str, Any]) -> None:
        """``app_home_opened`` on the Home tab: publish the wallboard's numbers for that user."""
        event = payload.get("event") or {}
        if event.get("type") != "app_home_opened" or event.get("tab", "home") != "home":
            return
        try:
            await self.client.views_publish(user_id=str(event.get("user")), view=home_view(self.board()))
        except (SlackApiError, SlackClientError) as exc:
            log.warning("Slack views.publish failed: %s", exc)


def card_text(card: Mapping[str, Any]) -> str:
    """One wallboard card in a few words: `*zendesk* (ok): 42 open (+3 in 24h) · 5 urgent · ...`."""
    priority = card.get("priority") or {}
    oldest = card.get("oldest") or {}
    parts = [
        f"{card['open_tickets']} open ({card['change_24h']:+d} in 24h)",
        f"{priority.get('urgent', 0)} urgent",
        f"oldest {oldest['age']}" if oldest.get("age") else "",
        f"{card['sla_breached']} SLA breached",
        f"{card['days_to_clear']} days to clear" if card.get("days_to_clear") is not None else "",
        _count(len(card.get("alerts", [])), "alert") + " firing",
    ]
    return f"*{card['name']}* ({card['word']}): " + " · ".join(p for p in parts if p)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def home_view(board: Mapping[str, Any]) -> dict[str, Any]:
    """The App Home tab: the total, each helpdesk, and the recent actions on alerts."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Backlog now"}},
        _section(card_text(board["total"])),
        *(_section(card_text(card)) for card in board.get("helpdesks", [])),
    ]
    actions = board.get("actions") or []
    if actions:
        lines = [f"• @{a['actor']} {a['action']} {a['rule']} ({a['scope']}) {a['age']} ago" for a in actions[:10]]
        blocks += [{"type": "divider"}, _section("*Recent actions*\n" + "\n".join(lines))]
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"As of {board['generated_at']}"}]})
    return {"type": "home", "blocks": blocks[:100]}

"""What people do in the Slack stand-in, over HTTP: a click or ``/backlog`` without writing Python.

``POST /_standin/click`` with JSON ``{"action": "Acknowledge"}`` clicks that button of the newest message
carrying it, as ``user`` (default ``alice``, ``alice@example.com``; ``email`` sets theirs, e.g. a
simulated helpdesk agent's for Take oldest); ``text`` picks the newest message whose text contains it,
``channel`` and ``ts`` pick one exactly, ``option`` chooses in a menu (``{"action": "Snooze", "option":
"1h"}``). ``POST /_standin/command`` sends ``/backlog`` (``text``, ``user``, ``channel``). Both send the
Socket Mode envelope Slack would and answer once the app acks it (Slack waits 3 seconds), with the ack's
payload; ``GET /_standin/answers`` lists what the app told people privately (ephemeral messages and
response URLs).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

from backlog_watch.sim.slack.web_api import SlackMessage

if TYPE_CHECKING:
    from backlog_watch.sim.slack.standin import SlackStandIn

ACK_WITHIN = 3.0
"""Seconds Slack waits for an envelope's ack before telling the person the app did not answer."""
NOT_CONNECTED = "no app is connected over Socket Mode: is `backlog-watch run` up, with interactive.app_token set?"


def people_routes(standin: SlackStandIn) -> list[web.RouteDef]:
    """The stand-in's routes for clicks, commands and the private answers they got."""

    async def click(request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        if not standin.connected.is_set():
            return _refused(409, NOT_CONNECTED)
        action = str(body.get("action", "")).strip()
        if not action:
            return _refused(400, 'say which button: {"action": "Acknowledge"} (or Snooze, Unsnooze, Take oldest)')
        found = _target(standin, body, action)
        if isinstance(found, str):
            return _refused(404, found)
        message, action_id = found
        try:
            option = _option(message, action_id, body.get("option"))
        except LookupError as missing:
            return _refused(400, f"{action!r} {missing.args[0]}")
        payload = standin.click(message, action_id, _person(standin, body), option)
        status, answer = await _deliver(standin, "interactive", payload)
        where = {"channel": message.channel, "ts": message.ts, "action_id": action_id}
        return web.json_response({**answer, **where}, status=status)

    async def command(request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        if not standin.connected.is_set():
            return _refused(409, NOT_CONNECTED)
        payload = standin.slash_command(
            _person(standin, body), str(body.get("channel", "#general")), str(body.get("text", ""))
        )
        status, answer = await _deliver(standin, "slash_commands", payload)
        return web.json_response(answer, status=status)

    async def answers(request: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": True, "ephemeral": standin.ephemerals, "responses": standin.responses})

    return [
        web.post("/_standin/click", click),
        web.post("/_standin/command", command),
        web.get("/_standin/answers", answers),
    ]


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text='{"ok": false, "error": "the body is not a JSON object"}', content_type="application/json"
        )
    return body


def _refused(status: int, error: str) -> web.StreamResponse:
    return web.json_response({"ok": False, "error": error}, status=status)


def _person(standin: SlackStandIn, body: dict[str, Any]) -> str:
    """The clicker's user id, added to the workspace on first use (``email`` replaces theirs)."""
    name = str(body.get("user", "alice"))
    user_id = next((u.id for u in standin.users.values() if u.name == name), f"U0{name.upper()}")
    known = standin.users.get(user_id)
    email = str(body.get("email") or (known.email if known else f"{name}@example.com"))
    standin.add_user(user_id, name, email)
    return user_id


def _label(element: dict[str, Any]) -> str:
    text = element.get("text") or element.get("placeholder") or {}
    return str(text.get("text", "")).rstrip("…. ").lower()


def _matches(element: dict[str, Any], action: str) -> bool:
    wanted = action.lower().replace("_", " ")
    action_id = str(element.get("action_id", ""))
    return wanted in (_label(element), action_id.lower(), action_id.rsplit(".", 1)[-1].replace("_", " "))


def _target(standin: SlackStandIn, body: dict[str, Any], action: str) -> tuple[SlackMessage, str] | str:
    """The newest message (in ``channel``, with ``ts`` or ``text`` if given) with a matching element and the
    element's action_id; or what is wrong, in words."""
    channels = [body["channel"]] if body.get("channel") else standin.channel_ids
    candidates = [m for channel in channels for m in standin.messages(str(channel))]
    if body.get("ts"):
        candidates = [m for m in candidates if m.ts == str(body["ts"])]
    if body.get("text"):
        candidates = [m for m in candidates if str(body["text"]) in m.text]
    for message in sorted(candidates, key=lambda m: m.ts, reverse=True):
        for element in _elements(message):
            if _matches(element, action):
                return message, str(element["action_id"])
    if not candidates:
        return "no message matches (channel, ts, text): has the app posted one yet?"
    offered = sorted({_label(e) for m in candidates for e in _elements(m)})
    return f"no message has {action!r}; the buttons there: {', '.join(offered) or 'none'}"


def _elements(message: SlackMessage) -> list[dict[str, Any]]:
    return [e for block in message.blocks if block.get("type") == "actions" for e in block.get("elements", [])]


def _element(message: SlackMessage, action_id: str) -> dict[str, Any]:
    return next(e for e in _elements(message) if e.get("action_id") == action_id)


def _option(message: SlackMessage, action_id: str, option: object) -> str | None:
    """A menu's option by value or by its text (``1h`` or ``Snooze for 1 hour``); None for a button.
    Raises LookupError naming the options when none matches."""
    element = _element(message, action_id)
    if element["type"] == "button":
        return None
    wanted = str(option or "").lower()
    for choice in element["options"]:
        if wanted in (choice["value"].lower(), choice["text"]["text"].lower()):
            return str(choice["value"])
    offered = ", ".join(f"{o['value']} ({o['text']['text']})" for o in element["options"])
    raise LookupError(f"needs an option, one of: {offered}")


async def _deliver(standin: SlackStandIn, kind: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Send the envelope and wait for its ack as Slack does: the HTTP status and what the app answered."""
    envelope = await standin.send_envelope(kind, payload)
    try:
        await asyncio.wait_for(envelope.acked.wait(), ACK_WITHIN)
    except TimeoutError:
        late = {
            "ok": False,
            "error": f"the app did not ack within {ACK_WITHIN:g}s",
            "envelope_id": envelope.envelope_id,
        }
        return 504, late
    return 200, {"ok": True, "envelope_id": envelope.envelope_id, "ack": envelope.response}

"""PagerDutyStandIn: the Events API v2 (``POST /v2/enqueue``), checking events as PagerDuty documents them.

A valid event is answered 202 ``{"status": "success", "message": "Event processed", "dedup_key": ...}``
and moves its alert (``alerts``: dedup_key -> triggered | acknowledged | resolved); an invalid one 400
``{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}``, as PagerDuty
answers it: a routing key that is not the integration's, an unknown ``event_action``, a trigger without
``payload.summary`` (at most 1024 characters), ``source`` or a known ``severity``, an acknowledge or
resolve without ``dedup_key``. Outages: ``fail_next`` (5xx), ``rate_limit_next`` (429).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from backlog_watch.sim.receiver import ReceiverStandIn, Schema, json_object

__all__ = ["PagerDutyStandIn"]

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
STATE = {"trigger": "triggered", "acknowledge": "acknowledged", "resolve": "resolved"}


class PagerDutyStandIn(ReceiverStandIn):
    """One PagerDuty service with one Events API v2 integration (``routing_key``)."""

    def __init__(self, *, routing_key: str = "R0UT1NGKEY0F32CHARACTERSPDSTANDN") -> None:
        super().__init__()
        self.routing_key = routing_key
        self.alerts: dict[str, str] = {}
        """dedup_key -> triggered | acknowledged | resolved."""

    @property
    def enqueue_url(self) -> str:
        return f"{self.url}/v2/enqueue"

    @property
    def events(self) -> list[dict[str, Any]]:
        """The accepted events, oldest first."""
        return [r.json for r in self.accepted]

    def answer(self, request: web.Request, body: bytes) -> web.Response:
        if request.path != "/v2/enqueue":
            return web.json_response({"status": "not found"}, status=404)
        if request.method != "POST":
            return web.json_response({"status": "method not allowed"}, status=405)
        event = json_object(body)
        if event is None:
            return _invalid(["Event object is not valid JSON"])
        problems = check(event, self.routing_key)
        if problems:
            return _invalid(problems)
        action, key = event["event_action"], event.get("dedup_key")
        if not key:  # a trigger without one: PagerDuty makes one up
            key = f"pd-{len(self.requests)}"
        if action == "trigger" or key in self.alerts:
            self.alerts[key] = STATE[action]
        return web.json_response({"status": "success", "message": "Event processed", "dedup_key": key}, status=202)


def check(event: dict[str, object], routing_key: str) -> list[str]:
    """What PagerDuty would refuse in this event."""
    schema = Schema()
    key = schema.field(event, "routing_key", str, required=True)
    if key is not None and key != routing_key:
        schema.problems.append("Invalid routing key")
    action = schema.field(event, "event_action", str, required=True, enum=ACTIONS)
    schema.field(event, "dedup_key", str, required=action in ("acknowledge", "resolve"), max_len=255)
    if action == "trigger":
        payload = schema.field(event, "payload", dict, required=True)
        if payload is not None:
            schema.field(payload, "summary", str, at="payload", required=True, max_len=1024)
            schema.field(payload, "source", str, at="payload", required=True, max_len=255)
            schema.field(payload, "severity", str, at="payload", required=True, enum=SEVERITIES)
            schema.timestamp(payload, "timestamp", at="payload")
            for name in ("component", "group", "class"):
                schema.field(payload, name, str, at="payload")
            schema.field(payload, "custom_details", dict, at="payload")
        for i, link in enumerate(schema.field(event, "links", list) or ()):
            schema.field(link, "href", str, at=f"links[{i}]", required=True)
            schema.field(link, "text", str, at=f"links[{i}]")
        schema.field(event, "client", str)
        schema.field(event, "client_url", str)
    return schema.problems


def _invalid(errors: list[str]) -> web.Response:
    return web.json_response(
        {"status": "invalid event", "message": "Event object is invalid", "errors": errors}, status=400
    )

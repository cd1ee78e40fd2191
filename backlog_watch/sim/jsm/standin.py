"""JsmStandIn: Jira Service Management Operations' alert API, for one site (``cloud_id``).

    POST /jsm/ops/api/{cloudId}/v1/alerts                   create: 202 {"result", "took", "requestId"}
    GET  /jsm/ops/api/{cloudId}/v1/alerts?query=&size=      list: {"values": [...], "count"}
    POST /jsm/ops/api/{cloudId}/v1/alerts/{id}/acknowledge  202
    POST /jsm/ops/api/{cloudId}/v1/alerts/{id}/close        202

Basic auth with the account's email and API token (401 otherwise), an unknown site is 404, an unknown
alert id 404 ("Alert not found"). A create is checked as documented: ``message`` required (at most
130 characters), ``alias`` 512, ``description`` 15,000, ``entity`` 512, ``source`` 100, ``priority``
P1..P5, at most 20 ``tags``, ``details`` strings, ``responders`` typed; a refusal is 422 with the
problems. A create whose alias is that of an open alert is folded into it (``count`` goes up), as JSM
deduplicates. The list understands ``alias:"..."`` and ``status:open|closed`` joined by AND.
"""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from backlog_watch.sim.receiver import ReceiverStandIn, Schema, json_object

__all__ = ["JsmAlert", "JsmStandIn"]

PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
RESPONDER_TYPES = ("team", "user", "escalation", "schedule")
_TERM = re.compile(r'(\w+):(?:"((?:[^"\\]|\\.)*)"|(\S+))')


@dataclass
class JsmAlert:
    """One alert as JSM keeps it."""

    id: str
    alias: str
    message: str
    priority: str
    status: str = "open"
    acknowledged: bool = False
    count: int = 1
    body: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tinyId": self.id.split("-")[0][-4:],
            "alias": self.alias,
            "message": self.message,
            "status": self.status,
            "acknowledged": self.acknowledged,
            "count": self.count,
            "priority": self.priority,
        }


class JsmStandIn(ReceiverStandIn):
    """One JSM site with one account allowed to create alerts."""

    def __init__(
        self, *, cloud_id: str = "c10ud-1d", email: str = "ops@acme.com", token: str = "jsm-api-token"
    ) -> None:
        super().__init__()
        self.cloud_id = cloud_id
        self.email = email
        self.token = token
        self.alerts: dict[str, JsmAlert] = {}

    @property
    def base(self) -> str:
        return f"/jsm/ops/api/{self.cloud_id}/v1/alerts"

    def by_alias(self, alias: str) -> list[JsmAlert]:
        return [a for a in self.alerts.values() if a.alias == alias]

    def answer(self, request: web.Request, body: bytes) -> web.Response:
        expected = base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response({"code": 401, "message": "Unauthorized; scope does not match"}, status=401)
        parts = request.path.split("/")
        if parts[:7] != self.base.split("/") or len(parts) not in (7, 9):
            return _error(404, "Not found")
        if len(parts) == 7:
            if request.method == "GET":
                return self._list(request.query.get("query", ""))
            if request.method == "POST":
                return self._create(body)
            return _error(405, "Method not allowed")
        alert = self.alerts.get(parts[7])
        if alert is None:
            return _error(404, "Alert not found")
        if request.method != "POST" or parts[8] not in ("acknowledge", "close"):
            return _error(404, "Not found")
        return self._act(alert, parts[8], body)

    def _create(self, body: bytes) -> web.Response:
        alert = json_object(body)
        if alert is None:
            return _error(400, "Request body is not valid JSON")
        problems = check_create(alert)
        if problems:
            return _unprocessable(problems)
        alias = alert.get("alias") or str(uuid.uuid4())
        open_one = next((a for a in self.by_alias(alias) if a.status == "open"), None)
        if open_one is not None:
            open_one.count += 1
            open_one.message, open_one.body = alert["message"], alert
        else:
            alert_id = f"{uuid.uuid4()}-{len(self.alerts) + 1}"
            self.alerts[alert_id] = JsmAlert(alert_id, alias, alert["message"], alert.get("priority", "P3"), body=alert)
        return _accepted()

    def _list(self, query: str) -> web.Response:
        terms = {m[1]: m[2] if m[2] is not None else m[3] for m in _TERM.finditer(query)}
        terms = {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in terms.items()}
        found = [
            a.view()
            for a in self.alerts.values()
            if ("alias" not in terms or a.alias == terms["alias"])
            and ("status" not in terms or a.status == terms["status"])
        ]
        return web.json_response({"values": found, "count": len(found), "links": {}})

    def _act(self, alert: JsmAlert, action: str, body: bytes) -> web.Response:
        given = json_object(body) if body else {}
        if given is None:
            return _error(400, "Request body is not valid JSON")
        schema = Schema()
        schema.field(given, "user", str, max_len=100)
        schema.field(given, "source", str, max_len=100)
        note = schema.field(given, "note", str, max_len=25_000)
        if not schema:
            return web.json_response(
                {"message": "Request body is not processable", "errors": schema.problems}, status=422
            )
        if action == "acknowledge":
            alert.acknowledged = True
        else:
            alert.status = "closed"
        if note:
            alert.notes.append(note)
        return _accepted()


def check_create(alert: dict[str, Any]) -> list[str]:
    """What JSM would refuse in a create-alert body."""
    schema = Schema()
    schema.field(alert, "message", str, required=True, max_len=130)
    if alert.get("message") == "":
        schema.problems.append("message can not be empty")
    schema.field(alert, "alias", str, max_len=512)
    schema.field(alert, "description", str, max_len=15_000)
    schema.field(alert, "entity", str, max_len=512)
    schema.field(alert, "source", str, max_len=100)
    schema.field(alert, "user", str, max_len=100)
    schema.field(alert, "note", str, max_len=25_000)
    schema.field(alert, "priority", str, enum=PRIORITIES)
    for i, tag in enumerate(schema.field(alert, "tags", list, max_len=20) or ()):
        if not isinstance(tag, str) or len(tag) > 50:
            schema.problems.append(f"tags[{i}] must be a string of at most 50 characters")
    schema.strings(alert, "details")
    for i, responder in enumerate(schema.field(alert, "responders", list, max_len=50) or ()):
        schema.field(responder, "type", str, at=f"responders[{i}]", required=True, enum=RESPONDER_TYPES)
        if isinstance(responder, dict) and not any(k in responder for k in ("id", "name", "username")):
            schema.problems.append(f"responders[{i}] needs an id, a name or a username")
    return schema.problems


def _accepted() -> web.Response:
    return web.json_response(
        {"result": "Request will be processed", "took": 0.01, "requestId": str(uuid.uuid4())}, status=202
    )


def _unprocessable(problems: list[str]) -> web.Response:
    return web.json_response(
        {"message": "Request body is not processable", "errors": problems, "took": 0.0}, status=422
    )


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message, "took": 0.0}, status=status)

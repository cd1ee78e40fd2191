"""WebhookStandIn: an HTTP receiver that checks what a receiver written for Alertmanager relies on.

``POST /hook``. With a ``secret``, the signature header must be ``sha256=`` and the hex HMAC-SHA256 of
the body (compared in constant time): 401 otherwise. With ``alertmanager=True`` (the default) the body
must be Alertmanager's webhook payload, version "4": ``version``, ``groupKey``, ``truncatedAlerts``,
``status`` (firing | resolved), ``receiver``, ``groupLabels``, ``commonLabels``, ``commonAnnotations``
(string maps), ``externalURL``, and ``alerts``, each with ``status``, ``labels``, ``annotations``,
``startsAt`` and ``endsAt`` (RFC 3339), ``generatorURL`` and ``fingerprint``: 400 with the problems
otherwise. Without it, any body is taken as it is (a body template's). Accepted: 200, kept in
``payloads``. Outages: ``fail_next``, ``rate_limit_next``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from aiohttp import web

from backlog_watch.sim.receiver import ReceiverStandIn, Schema, json_object

__all__ = ["WebhookStandIn", "check_alertmanager"]

STATUSES = ("firing", "resolved")


class WebhookStandIn(ReceiverStandIn):
    """One webhook endpoint; ``hook_url`` is what the notifier is given."""

    def __init__(
        self, *, secret: str | None = None, header: str = "X-Backlog-Watch-Signature", alertmanager: bool = True
    ) -> None:
        super().__init__()
        self.secret = secret
        self.header = header
        self.alertmanager = alertmanager
        self.payloads: list[bytes] = []

    @property
    def hook_url(self) -> str:
        return f"{self.url}/hook"

    def answer(self, request: web.Request, body: bytes) -> web.Response:
        if request.path != "/hook":
            return web.Response(status=404, text="not found")
        if request.method != "POST":
            return web.Response(status=405, text="method not allowed")
        if self.secret is not None:
            expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(request.headers.get(self.header, "").encode(), expected.encode()):
                return web.Response(status=401, text="bad signature")
        if self.alertmanager:
            payload = json_object(body)
            problems = ["the body is not a JSON object"] if payload is None else check_alertmanager(payload)
            if problems:
                return web.Response(status=400, text="; ".join(problems))
        self.payloads.append(body)
        return web.Response(status=200, text="ok")


def check_alertmanager(payload: dict[str, Any]) -> list[str]:
    """What a receiver of Alertmanager's version-4 webhook payload would not find where it expects it."""
    schema = Schema()
    schema.field(payload, "version", str, required=True, enum=("4",))
    schema.field(payload, "groupKey", str, required=True)
    schema.field(payload, "truncatedAlerts", int, required=True)
    schema.field(payload, "status", str, required=True, enum=STATUSES)
    schema.field(payload, "receiver", str, required=True)
    for key in ("groupLabels", "commonLabels", "commonAnnotations"):
        schema.strings(payload, key, required=True)
    schema.field(payload, "externalURL", str, required=True)
    alerts = schema.field(payload, "alerts", list, required=True)
    if alerts == []:
        schema.problems.append("alerts is empty")
    for i, alert in enumerate(alerts or ()):
        at = f"alerts[{i}]"
        schema.field(alert, "status", str, at=at, required=True, enum=STATUSES)
        schema.strings(alert, "labels", at=at, required=True)
        schema.strings(alert, "annotations", at=at, required=True)
        schema.timestamp(alert, "startsAt", at=at, required=True)
        schema.timestamp(alert, "endsAt", at=at, required=True)
        schema.field(alert, "generatorURL", str, at=at, required=True)
        schema.field(alert, "fingerprint", str, at=at, required=True)
    return schema.problems

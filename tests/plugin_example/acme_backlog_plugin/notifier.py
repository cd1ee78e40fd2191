"""The JSON-lines notifier: each notification as one JSON object appended to a file.

The smallest complete backlog-watch notifier: a ``Settings`` class that validates its config block, a
factory ``from_settings``, and ``send``, which answers a ``Delivery`` or raises ``NotifyError`` (retryable
when trying again later may work: the outbox retries it, nothing here sleeps).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Literal

from backlog_watch import Delivery, Notification, NotifierSettings, NotifyError, format_text


class JsonLinesSettings(NotifierSettings):
    """A notifier block: ``{name: audit, type: acme_jsonl, path: /var/log/backlog-alerts.jsonl}``.

    ``NotifierSettings`` brings ``name``, ``type`` and ``quiet_hours``; unknown keys are refused."""

    type: Literal["acme_jsonl"] = "acme_jsonl"
    path: Path


class JsonLinesNotifier:
    """Appends ``{"rule", "state", "level", "reason", "labels", "value", "text"}`` per notification."""

    Settings: ClassVar[type[NotifierSettings]] = JsonLinesSettings

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path

    @classmethod
    def from_settings(cls, settings: JsonLinesSettings, **_context: Any) -> JsonLinesNotifier:
        """Build from a validated block; the context (time zone, ...) is not needed here."""
        return cls(settings.name, settings.path)

    async def send(self, notification: Notification) -> Delivery:
        alert = notification.alert
        line = {
            "rule": alert.rule,
            "state": str(alert.state),
            "level": alert.level,
            "reason": str(notification.reason),
            "labels": dict(alert.labels),
            "value": alert.value,
            "text": format_text(notification),
        }
        try:
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(line, sort_keys=True) + "\n")
        except OSError as exc:
            raise NotifyError(f"cannot append to {self.path}: {exc}", notifier=self.name, retryable=True) from exc
        return Delivery(channel=str(self.path))

"""The settings every helpdesk block shares; each connector subclasses HelpdeskSettings for its own keys."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from backlog_watch.durations import Duration, Interval
from backlog_watch.models import Priority, Status

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class HelpdeskActions(BaseModel):
    """What people may do to this helpdesk from a chat (off unless said: these are writes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    assign: bool = False
    """"Take oldest" assigns a ticket to the person who clicked (the credentials must be allowed to write)."""


class HelpdeskSettings(BaseModel):
    """Keys every helpdesk block has. Connectors add theirs (credentials as SecretStr) in a subclass."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    type: str
    url: str
    poll_every: Interval = timedelta(minutes=2)
    timeout: Interval = timedelta(seconds=30)
    down_after: Duration | None = None
    """Failing polls for this long raise the helpdesk-down alert (default: ``helpdesk_down.after``)."""
    handle_time: Duration = timedelta(minutes=30)
    """How long an agent spends on a ticket, on average: workload_hours = open tickets x handle_time."""
    status_map: dict[str, Status] = Field(default_factory=dict)
    priority_map: dict[str, Priority] = Field(default_factory=dict)
    actions: HelpdeskActions = HelpdeskActions()

    @field_validator("url")
    @classmethod
    def _https_or_loopback(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname:
            return url.rstrip("/")
        if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
            return url.rstrip("/")
        raise ValueError(f'"{url}" must be an https:// URL (http:// only for loopback hosts)')

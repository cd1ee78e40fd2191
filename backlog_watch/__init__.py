"""backlog-watch: keeps a support team's ticket backlog under control.

This module is the public surface connector authors import; everything else is private and may change.
A connector needs: the Ticket model and its enums, the settings base class, the Connector protocol and
Page, the HttpConnector helper, and the errors it raises.
"""

from __future__ import annotations

__version__ = "0.1.0"

from backlog_watch.errors import (
    AuthError,
    BacklogWatchError,
    HelpdeskError,
    MalformedRecord,
    PaginationError,
    RateLimited,
    RequestError,
    TransientError,
)
from backlog_watch.models import Channel, Priority, Sla, Status, Ticket
from backlog_watch.sources.connector import Connector, Cursor, Page, available_connectors
from backlog_watch.sources.http import HttpConnector
from backlog_watch.sources.settings import HelpdeskSettings

__all__ = [
    "AuthError",
    "BacklogWatchError",
    "Channel",
    "Connector",
    "Cursor",
    "HelpdeskError",
    "HelpdeskSettings",
    "HttpConnector",
    "MalformedRecord",
    "PaginationError",
    "Page",
    "Priority",
    "RateLimited",
    "RequestError",
    "Sla",
    "Status",
    "Ticket",
    "TransientError",
    "__version__",
    "available_connectors",
]

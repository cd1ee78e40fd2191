"""backlog-watch: keeps a support team's ticket backlog under control.

This module is the public surface plugin authors import; everything else is private and may change.
``__all__`` is pinned by tests/test_public_api.py: a name added or removed here is a decision, not an
accident. The bundled connectors import only from here, as a third party's would.

- A connector needs: the Ticket model and its enums, the settings base class, the Connector protocol
  and Page, the HttpConnector helper (retries, throttling, the shared paginator), the wire parsers,
  the lookup helpers (value tables with overrides, the name cache), the update-time windows, PendingSla
  and the errors it raises; a connector whose syncs are large builds the store's row instead of a Ticket
  (``stored_row``, ``SlaRow``, ``SlaTargetRow``: ``HttpConnector._row``). Its conformance suite is
  ``backlog_watch.sources.testing``.
- A notifier needs: the Notification it is given (an Alert with its state and reason), the Delivery it
  answers, NotifyError, and a plain-text rendering of a notification.
"""

from __future__ import annotations

__version__ = "0.1.0"

from backlog_watch.delivery.dedup import Delivery, Notification, Reason
from backlog_watch.delivery.notifiers.base import Notifier, NotifierSettings
from backlog_watch.delivery.notifiers.console import format_text
from backlog_watch.durations import Duration, Interval
from backlog_watch.errors import (
    AuthError,
    BacklogWatchError,
    HelpdeskError,
    MalformedRecord,
    NotifyError,
    PaginationError,
    RateLimited,
    RequestError,
    TransientError,
)
from backlog_watch.models import Alert, AlertState, Channel, Priority, Sla, SlaKind, SlaTarget, Status, Ticket
from backlog_watch.rows import SlaRow, SlaTargetRow, StoredTicket, stored_row
from backlog_watch.sources.connector import (
    Confirmation,
    ConfirmsAbsence,
    Connector,
    Cursor,
    Page,
    ReadsTickets,
    available_connectors,
)
from backlog_watch.sources.http import Clock, HttpConnector, Params, basic_auth
from backlog_watch.sources.lookup import NameCache, inverted, mapped, names_by_id
from backlog_watch.sources.paginator import RepeatGuard, paginate
from backlog_watch.sources.periodic import PeriodicCheck, listed_ids
from backlog_watch.sources.retry import Sleep, seconds_until
from backlog_watch.sources.settings import HelpdeskSettings
from backlog_watch.sources.sla import PendingSla
from backlog_watch.sources.window import OverlapWindow, UpdatedWindow
from backlog_watch.sources.wire import (
    chunked,
    ids_of,
    json_array,
    json_object,
    next_link,
    optional_time,
    positive_id,
    read_cursor,
    typed_json,
    utc_stamp,
    utc_time,
    wire_record,
    write_cursor,
)

__all__ = [
    "Alert",
    "AlertState",
    "AuthError",
    "BacklogWatchError",
    "Channel",
    "Clock",
    "Confirmation",
    "ConfirmsAbsence",
    "Connector",
    "Cursor",
    "Delivery",
    "Duration",
    "HelpdeskError",
    "HelpdeskSettings",
    "HttpConnector",
    "Interval",
    "MalformedRecord",
    "NameCache",
    "Notification",
    "Notifier",
    "NotifierSettings",
    "NotifyError",
    "OverlapWindow",
    "Page",
    "PaginationError",
    "Params",
    "PendingSla",
    "PeriodicCheck",
    "Priority",
    "RateLimited",
    "ReadsTickets",
    "Reason",
    "RepeatGuard",
    "RequestError",
    "Sla",
    "SlaKind",
    "SlaRow",
    "SlaTarget",
    "SlaTargetRow",
    "Sleep",
    "Status",
    "StoredTicket",
    "Ticket",
    "TransientError",
    "UpdatedWindow",
    "__version__",
    "available_connectors",
    "basic_auth",
    "chunked",
    "format_text",
    "ids_of",
    "inverted",
    "json_array",
    "json_object",
    "listed_ids",
    "mapped",
    "names_by_id",
    "next_link",
    "optional_time",
    "paginate",
    "positive_id",
    "read_cursor",
    "seconds_until",
    "stored_row",
    "typed_json",
    "utc_stamp",
    "utc_time",
    "wire_record",
    "write_cursor",
]

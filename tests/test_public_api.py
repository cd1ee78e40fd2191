"""The public surface: what a plugin imports from `backlog_watch` is pinned, importable and documented,
and the bundled connectors import nothing else of backlog_watch (as httpx's tests/test_exported_members.py)."""

from __future__ import annotations

import inspect

import backlog_watch
from tests.helpers.imports import backlog_watch_imports
from tests.paths import ROOT

EXPORTED = [
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
"""The exact public surface. Changing it is a decision: plugins break when a name goes away."""


def test_the_public_surface_is_exactly_the_pinned_list() -> None:
    assert sorted(backlog_watch.__all__) == EXPORTED


def test_every_exported_name_is_importable() -> None:
    namespace: dict[str, object] = {}
    exec("from backlog_watch import *", namespace)  # noqa: S102 - what a plugin's star import sees
    assert set(namespace) - {"__builtins__"} == set(EXPORTED)
    for name in EXPORTED:
        assert getattr(backlog_watch, name) is namespace[name]


def test_the_bundled_connectors_import_only_the_public_surface() -> None:
    files = sorted((ROOT / "connectors").glob("*.py"))
    assert {f.name for f in files} >= {"zendesk.py", "freshdesk.py", "jira.py"}
    for path in files:
        imported = backlog_watch_imports(path.read_text())
        assert set(imported) <= {"backlog_watch"}, f"{path.name} imports {sorted(set(imported) - {'backlog_watch'})}"
    assert backlog_watch_imports("from backlog_watch.models import Ticket\nimport backlog_watch.errors") == [
        "backlog_watch.models",
        "backlog_watch.errors",
    ]


def test_exported_members_exist_and_are_documented() -> None:
    assert sorted(backlog_watch.__all__) == sorted(set(backlog_watch.__all__))
    for name in backlog_watch.__all__:
        member = getattr(backlog_watch, name)
        if inspect.isclass(member) or inspect.isfunction(member):
            assert inspect.getdoc(member), f"{name} has no docstring"


def test_the_zendesk_connector_is_found_by_entry_point_and_satisfies_the_protocol() -> None:
    found = backlog_watch.available_connectors()
    zendesk = found["zendesk"]
    assert zendesk.kind == "zendesk"
    assert issubclass(zendesk.Settings, backlog_watch.HelpdeskSettings)
    assert isinstance(zendesk, type) and issubclass(zendesk, backlog_watch.HttpConnector)
    for method in ("fetch", "normalize"):
        assert callable(getattr(zendesk, method))

"""The public surface: what a third-party connector imports from `backlog_watch` is there and documented."""

from __future__ import annotations

import inspect

import backlog_watch


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
    assert issubclass(zendesk, backlog_watch.HttpConnector)
    for method in ("fetch", "normalize"):
        assert callable(getattr(zendesk, method))

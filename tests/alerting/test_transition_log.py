"""The line an alert's change of state writes: in JSON (the container's log), the rule, the helpdesk and
the whole scope, so two alerts of one rule in two groups are told apart without parsing the message."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import replace

import pytest

from backlog_watch.evaluation import log_transitions
from backlog_watch.logs import setup_logging
from backlog_watch.models import AlertState
from tests.helpers.alerts import alert


@pytest.fixture
def json_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    setup_logging("json")
    try:
        yield stream
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_a_transition_line_carries_the_whole_scope(json_log: io.StringIO) -> None:
    billing = alert("aging", "critical", group="Billing", helpdesk="zendesk", priority="urgent")
    tier2 = alert("aging", "warn", group="Tier 2", helpdesk="zendesk", priority="urgent")
    still = alert("aging", "warn", group="Sales", helpdesk="zendesk")
    previous = {still.fingerprint: still, tier2.fingerprint: replace(tier2, state=AlertState.PENDING)}
    log_transitions(previous, {a.fingerprint: a for a in (billing, tier2, still)})
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert [line["labels"] for line in lines] == [
        {"group": "Billing", "helpdesk": "zendesk", "priority": "urgent"},
        {"group": "Tier 2", "helpdesk": "zendesk", "priority": "urgent"},
    ]  # the unchanged Sales alert wrote nothing
    assert {(line["rule"], line["helpdesk"], line["alert_state"]) for line in lines} == {("aging", "zendesk", "firing")}
    assert [line["alert_level"] for line in lines] == ["critical", "warn"]

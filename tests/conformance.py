"""The registry the conformance suite runs over: per connector kind, its simulator, its settings, and
how to read the simulator's ground truth as the tickets the store must hold.

The expected values are read from what the vendor's API shows (``vendor_truth``), through the mapping
tables each connector documents, so a connector that reads a field wrong, loses a ticket or keeps a
deleted one open fails here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from backlog_watch_connectors import freshdesk, jira, zendesk

from backlog_watch.models import Priority, Status
from backlog_watch.sim import FreshdeskSimulator, JiraSimulator, ZendeskSimulator
from backlog_watch.sim.generate import parse_time
from backlog_watch.sources.http import HttpConnector
from backlog_watch.sources.testing import Expected
from backlog_watch.sources.testing import Rig as SuiteRig


def _iso(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def zendesk_truth(sim: ZendeskSimulator) -> dict[str, Expected]:
    truth = {}
    for key, raw in sim.ground_truth().items():
        priority = zendesk.PRIORITIES[raw["priority"]] if raw["priority"] else Priority.NONE
        created, updated = parse_time(raw["created_at"]), parse_time(raw["updated_at"])
        assert created is not None and updated is not None
        truth[str(key)] = Expected(zendesk.STATUSES[raw["status"]], priority, created, updated, raw["subject"])
    return truth


def freshdesk_truth(sim: FreshdeskSimulator) -> dict[str, Expected]:
    return {
        key: Expected(
            Status.DELETED if raw.get("deleted") else freshdesk.STATUSES[raw["status"]],
            freshdesk.PRIORITIES[raw["priority"]],
            _iso(raw["created_at"]),
            _iso(raw["updated_at"]),
            raw["subject"],
        )
        for key, raw in sim.vendor_truth().items()
    }


def jira_truth(sim: JiraSimulator) -> dict[str, Expected]:
    truth = {}
    for key, issue in sim.vendor_truth().items():
        fields = issue["fields"]
        status = fields["status"]
        mapped = jira.STATUS_NAMES.get(status["name"].casefold()) or jira.CATEGORIES[status["statusCategory"]["key"]]
        truth[key] = Expected(
            mapped,
            jira.PRIORITIES[fields["priority"]["name"].casefold()],
            _iso(fields["created"]),
            _iso(fields["updated"]),
            fields["summary"],
        )
    return truth


@dataclass(frozen=True)
class Kind:
    """One connector kind with its simulator."""

    name: str
    simulator: Callable[..., ZendeskSimulator]
    truth: Callable[[Any], dict[str, Expected]]
    key: Callable[[Any, int], str]
    """The ticket id the store uses for the simulator's internal ticket id."""
    settings: Mapping[str, Any] = field(default_factory=dict)
    """Small pages, so a 300-ticket backlog crosses many page boundaries."""
    sim_options: Mapping[str, Any] = field(default_factory=dict)
    bad_credentials: Mapping[str, Any] = field(default_factory=dict)
    secret: str = ""
    tune: Callable[[HttpConnector], None] = lambda connector: None


KINDS: dict[str, Kind] = {
    "zendesk": Kind(
        "zendesk",
        ZendeskSimulator,
        zendesk_truth,
        lambda sim, key: str(key),
        settings={"per_page": 50},
        bad_credentials={"token": "not-the-token"},
        secret="not-the-token",
    ),
    "freshdesk": Kind(
        "freshdesk",
        FreshdeskSimulator,
        freshdesk_truth,
        lambda sim, key: str(key),
        settings={"per_page": 10, "list_requests_per_minute": 100},
        sim_options={"max_page": 3},
        bad_credentials={"api_key": "not-the-key"},
        secret="not-the-key",
        tune=lambda connector: setattr(connector, "max_page", 3),
    ),
    "jira": Kind(
        "jira",
        JiraSimulator,
        jira_truth,
        lambda sim, key: sim.key(key),
        settings={"page_size": 10},
        bad_credentials={"token": "not-the-token"},
        secret="not-the-token",
    ),
}


class Rig(SuiteRig):
    """The shipped suite's rig for one bundled kind (its simulator, settings, ids and truth)."""

    def __init__(self, kind: Kind, sim: Any, path: Path, client: httpx.AsyncClient) -> None:
        super().__init__(kind.name, sim, path, client, settings=kind.settings, tune=kind.tune, key=kind.key)
        self.kind = kind

    def assert_store_is_the_truth(self) -> None:
        """The store holds exactly what the simulator's vendor API shows (see ``assert_store_matches``)."""
        self.assert_store_matches(self.kind.truth(self.sim))

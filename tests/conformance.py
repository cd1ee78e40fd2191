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
from typing import Any, NamedTuple

import httpx
from backlog_watch_connectors import freshdesk, jira, zendesk

from backlog_watch.models import Priority, Status
from backlog_watch.sim import FreshdeskSimulator, JiraSimulator, SimClock, ZendeskSimulator
from backlog_watch.sim.generate import parse_time
from backlog_watch.sources.connector import available_connectors
from backlog_watch.sources.http import HttpConnector
from backlog_watch.store.sqlite import SqliteStore


class Expected(NamedTuple):
    status: Status
    priority: Priority
    created_at: datetime
    updated_at: datetime
    subject: str


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


@dataclass
class Rig:
    """A simulator, a store on disk, and connectors whose sleeps advance the simulator's clock."""

    kind: Kind
    sim: ZendeskSimulator
    path: Path
    client: httpx.AsyncClient
    store: SqliteStore = field(init=False)
    sleeps: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.store = SqliteStore(self.path)

    @property
    def clock(self) -> SimClock:
        return self.sim.clock

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.sim.clock.advance(seconds)

    def connector(self, **settings: Any) -> Any:
        factory = available_connectors()[self.kind.name]
        built = factory(  # type: ignore[call-arg]
            self.sim.settings(self.kind.name, **{**self.kind.settings, **settings}),
            self.client,
            sleep=self.sleep,
            clock=self.sim.clock.timestamp,
        )
        self.kind.tune(built)
        return built

    def reopen(self) -> None:
        self.store.close()
        self.store = SqliteStore(self.path)

    def key(self, ticket_id: int) -> str:
        return self.kind.key(self.sim, ticket_id)

    def stored(self) -> dict[str, Any]:
        return {t.id: t for t in self.store.tickets([self.kind.name], open_only=False)}

    def assert_store_is_the_truth(self) -> None:
        """The store holds every ticket the helpdesk shows, with its values; a deleted ticket is stored
        deleted or not at all; the open backlog is exactly the simulator's."""
        truth = self.kind.truth(self.sim)
        stored = self.stored()
        live = {k for k, e in truth.items() if e.status is not Status.DELETED}
        assert live <= stored.keys(), f"missing {sorted(live - stored.keys())[:5]}"
        for ticket_id, ticket in stored.items():
            expected = truth.get(ticket_id)
            if expected is None:  # gone from the API (Jira deletes): must be stored as deleted
                assert ticket.status is Status.DELETED, ticket_id
                continue
            got = Expected(ticket.status, ticket.priority, ticket.created_at, ticket.updated_at, ticket.subject)
            assert got == expected, ticket_id
        backlog = {t.id for t in self.store.tickets([self.kind.name])}
        assert backlog == {self.key(i) for i in self.sim.open_ids()}

"""SLA outcomes survive the solve: every connector keeps each target's due time, whether it was met and
when it was fulfilled, from the recorded vendor payloads and from the simulators over loopback HTTP
(leaner answers included: Zendesk without sideloaded SLAs, JSM fields without cycles)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from backlog_watch_connectors.freshdesk import FreshdeskConnector
from backlog_watch_connectors.jira import JiraConnector
from backlog_watch_connectors.zendesk import ZendeskConnector

from backlog_watch.models import Sla, SlaKind, SlaTarget, Status
from backlog_watch.sim import SimClock
from backlog_watch.sim.generate import SLA_TARGETS, parse_time
from backlog_watch.sources.connector import sync
from backlog_watch.store.sqlite import SqliteStore
from tests.conformance import KINDS, Rig
from tests.factories import ticket
from tests.paths import FIXTURES


def body(path: str) -> Any:
    return json.loads((FIXTURES / path).read_text())["body"]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def client() -> Iterator[httpx.AsyncClient]:
    # normalize() never sends a request; the constructors only take a client.
    yield httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(500)))


# ---- recorded payloads ---------------------------------------------------------------------------


def test_a_closed_freshdesk_ticket_keeps_its_targets_and_their_outcome(client: httpx.AsyncClient) -> None:
    connector = FreshdeskConnector({"name": "fd", "url": "https://acme.freshdesk.com", "api_key": "k"}, client)
    (raw,) = body("freshdesk/tickets-list-with-stats.json")
    ticket = connector.normalize(raw)
    assert ticket.status is Status.CLOSED
    # No first response was ever stamped and none escalated: undecided. Resolved before due_by: met.
    assert ticket.sla.targets == (
        SlaTarget(kind=SlaKind.FIRST_RESPONSE, due=utc("2022-11-17T15:59:28"), met=None),
        SlaTarget(
            kind=SlaKind.RESOLUTION, due=utc("2022-11-19T15:59:28"), met=True, fulfilled_at=utc("2022-11-16T15:59:28")
        ),
    )
    assert ticket.sla.outcome is True
    escalated = connector.normalize({**raw, "is_escalated": True})
    assert escalated.sla.targets[1].met is False and escalated.sla.outcome is False


def test_a_freshdesk_ticket_answered_late_breached_its_first_response(client: httpx.AsyncClient) -> None:
    connector = FreshdeskConnector({"name": "fd", "url": "https://acme.freshdesk.com", "api_key": "k"}, client)
    raw = body("freshdesk/python-freshdesk-ticket_1.json")
    late = {
        **raw,
        "status": 4,
        "is_escalated": False,
        "stats": {**raw["stats"], "first_responded_at": "2016-05-18T06:00:00Z"},
    }
    targets = {t.kind: t for t in connector.normalize(late).sla.targets}
    assert targets[SlaKind.FIRST_RESPONSE] == SlaTarget(
        kind=SlaKind.FIRST_RESPONSE, due=utc("2016-05-18T05:36:04"), met=False, fulfilled_at=utc("2016-05-18T06:00:00")
    )
    # The open sample keeps its old resolved_at, which is no fulfilment; is_escalated says breached.
    open_one = connector.normalize(raw).sla
    assert {t.kind: t.met for t in open_one.targets}[SlaKind.RESOLUTION] is False
    assert open_one.resolution_due == utc("2016-05-18T23:36:04") and open_one.breached


def test_a_done_jsm_issue_keeps_its_completed_cycle(client: httpx.AsyncClient) -> None:
    dump = json.loads((FIXTURES / "jira/jsm-sla-field-values.json").read_text())
    connector = JiraConnector(
        {
            "name": "jira",
            "url": "https://acme.atlassian.net",
            "email": "o@acme.com",
            "token": "t",
            "jql": "project = SUP",
            "sla_fields": {
                "해결 시간 SLA": "resolution_due",
                "최초 응답 SLA": "first_response_due",
                "연구소 대기 SLA": "next_reply_due",
            },
        },
        client,
    )
    connector.learn_fields(dump["field_schemas"])
    done = connector.sla_targets(dump["issues"]["TACEA-4539"]["fields"])
    (resolved,) = [t for t in done if t.kind is SlaKind.RESOLUTION]
    assert (resolved.met, resolved.fulfilled_at) == (True, utc("2026-07-07T01:51:22.753"))
    running = connector.sla_of(dump["issues"]["TACEA-4540"]["fields"])
    resolution = next(t for t in running.targets if t.kind is SlaKind.RESOLUTION)
    assert resolution == SlaTarget(kind=SlaKind.RESOLUTION, due=utc("2026-07-27T09:00:00"), met=None)
    # The pending part is what it always was.
    assert running.model_copy(update={"targets": ()}) == Sla(resolution_due=utc("2026-07-27T09:00:00"))


def test_zendesk_achieved_metrics_decide_the_resolution_by_the_solve_time(client: httpx.AsyncClient) -> None:
    connector = ZendeskConnector(
        {"name": "zd", "url": "https://acme.zendesk.com", "email": "o@acme.com", "token": "t"}, client
    )
    (raw,) = body("zendesk/TestTicketsPagination.test_values.4.json")["tickets"]
    solved = {
        **raw,
        "status": "solved",
        "updated_at": "2024-02-07T00:11:18Z",
        "slas": {
            "policy_metrics": [
                {"breach_at": "2023-09-10T00:52:05Z", "stage": "achieved", "metric": "first_reply_time", "days": -150},
                {
                    "breach_at": "2024-02-06T00:00:00Z",
                    "stage": "achieved",
                    "metric": "total_resolution_time",
                    "days": -1,
                },
            ]
        },
    }
    ticket = connector.normalize(solved)
    assert ticket.sla.targets == (
        SlaTarget(kind=SlaKind.FIRST_RESPONSE, due=utc("2023-09-10T00:52:05"), met=None),
        SlaTarget(
            kind=SlaKind.RESOLUTION, due=utc("2024-02-06T00:00:00"), met=False, fulfilled_at=utc("2024-02-07T00:11:18")
        ),
    )
    assert ticket.sla.first_response_due is None and ticket.sla.resolution_due is None  # nothing pending
    # The recorded ticket itself has no slas (no include): no SLA data, not a met SLA.
    assert connector.normalize(raw).sla.outcome is None


# ---- simulators over loopback --------------------------------------------------------------------


@pytest.fixture(params=["zendesk", "zendesk-lean", "freshdesk", "jira"])
async def rig(request: pytest.FixtureRequest, sim_clock: SimClock, tmp_path: Path) -> AsyncIterator[Rig]:
    name = request.param.removesuffix("-lean")
    kind = KINDS[name]
    options = {**kind.sim_options, **({"export_includes_slas": False} if request.param.endswith("-lean") else {})}
    sim = kind.simulator(seed=7, tickets=300, clock=sim_clock, **options)
    sim_clock.advance(120)
    await sim.start()
    try:
        async with httpx.AsyncClient() as client:
            rig = Rig(kind, sim, tmp_path / "bw.db", client)
            try:
                yield rig
            finally:
                rig.store.close()
    finally:
        await sim.stop()


async def test_solved_tickets_keep_their_sla_outcome_through_sync(rig: Rig) -> None:
    await sync(rig.connector(), rig.store)
    rig.reopen()  # read back from disk: what the weekly review will read
    stored = rig.stored()
    outcomes: dict[bool | None, int] = {True: 0, False: 0, None: 0}
    for ticket_id, raw in rig.sim.ground_truth().items():
        if raw["status"] not in ("solved", "closed"):
            continue
        ticket = stored[rig.key(ticket_id)]
        resolution = [t for t in ticket.sla.targets if t.kind is SlaKind.RESOLUTION]
        priority = raw.get("priority") or ("low" if rig.kind.name == "freshdesk" else None)
        if priority is None:
            assert resolution == [] and ticket.sla.outcome is None, ticket_id
            outcomes[None] += 1
            continue
        created, solved = parse_time(raw["created_at"]), parse_time(raw["updated_at"])
        assert created is not None and solved is not None
        met = solved <= created + SLA_TARGETS[priority][2]
        assert [(t.due, t.met) for t in resolution] == [(created + SLA_TARGETS[priority][2], met)], ticket_id
        assert met or ticket.sla.outcome is False, ticket_id
        # Nothing of a solved ticket is pending: the sla rule never sees it.
        assert ticket.sla.earliest_due is None and not ticket.sla.breached
        outcomes[met] += 1
    assert outcomes[True] > 0 and outcomes[False] > 0, outcomes


async def test_an_old_store_row_still_loads_and_new_targets_round_trip(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "bw.db")
    kept = Sla(
        targets=(
            SlaTarget(
                kind=SlaKind.RESOLUTION,
                due=utc("2026-01-02T00:00:00"),
                met=True,
                fulfilled_at=utc("2026-01-01T12:00:00"),
            ),
        )
    )
    solved_at = utc("2026-01-01T12:00:00")
    store.commit_page(
        "zd",
        [
            ticket(id="new", helpdesk="zd", status=Status.SOLVED, solved_at=solved_at, sla=kept),
            ticket(id="old", helpdesk="zd", status=Status.SOLVED, solved_at=solved_at),
        ],
        None,
    )
    # A row as the previous version wrote it: the pending fields only, no targets key.
    store.close()
    with sqlite3.connect(tmp_path / "bw.db") as db:
        db.execute("UPDATE tickets SET sla = ? WHERE id = 'old'", ['{"resolution_due":"2026-01-02T00:00:00Z"}'])
    reopened = SqliteStore(tmp_path / "bw.db")
    got = {t.id: t.sla for t in reopened.tickets(["zd"], open_only=False)}
    reopened.close()
    assert got["new"] == kept and got["new"].outcome is True
    assert got["old"] == Sla(resolution_due=utc("2026-01-02T00:00:00")) and got["old"].targets == ()

"""The store conformance suite, shipped: what every ``Store`` implementation must do, as pytest tests.

Subclass ``StoreConformance`` in a test module and give it one fixture, ``open_store``: a callable
that opens the store under test, the same data each time it is called within a test (so a test can
close and reopen it). Nothing else is needed; every test below then runs against that store::

    class TestSqliteStore(StoreConformance):
        @pytest.fixture
        def open_store(self, tmp_path: Path) -> Callable[[], Store]:
            return lambda: SqliteStore(tmp_path / "bw.db")

The tests speak only the ``Store`` protocol, in domain terms, so SQLite and PostgreSQL pass the same
ones. ``LeaseConformance`` is the suite of a store replicas share (its leases and fenced writes,
store/leases.py): PostgreSQL's. Importing this module needs pytest (a test dependency, not a runtime
one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backlog_watch.errors import LeaseLost
from backlog_watch.models import (
    ALL_TICKETS,
    Alert,
    AlertState,
    Listing,
    LogEntry,
    Muted,
    Priority,
    Sla,
    Status,
    Ticket,
    fingerprint,
)
from backlog_watch.store import ActionRecord, News, QueuedNews, SilenceRecord, Store
from backlog_watch.store.leases import EVALUATOR, Fence, ForwardedRequest, LeaseTable, SharesLeases, fenced

NOW = datetime(2024, 3, 4, 12, 0, tzinfo=UTC)


def _ticket(id: str, helpdesk: str = "zendesk", **fields: object) -> Ticket:
    values: dict[str, object] = {
        "helpdesk": helpdesk,
        "id": id,
        "subject": f"ticket {id}",
        "status": Status.OPEN,
        "created_at": NOW - timedelta(days=2),
        "updated_at": NOW - timedelta(hours=1),
        **fields,
    }
    return Ticket.model_validate(values)


def _alert(rule: str = "backlog-size", state: AlertState = AlertState.FIRING, **fields: object) -> Alert:
    labels = (("helpdesk", "zendesk"),)
    values: dict[str, object] = {
        "fingerprint": fingerprint(rule, labels),
        "rule": rule,
        "labels": labels,
        "state": state,
        "level": "warn",
        "value": 12.0,
        "threshold": 10.0,
        "summary": "12 open tickets",
        "tickets": (_ticket("1"),),
        "ticket_count": 12,
        "active_since": NOW - timedelta(minutes=10),
        "firing_since": NOW - timedelta(minutes=5) if state is not AlertState.PENDING else None,
        "evaluated_at": NOW,
        **fields,
    }
    return Alert(**values)  # type: ignore[arg-type]


def _entry(episode: datetime, notifier: str = "slack", fp: str = "f1", **fields: object) -> LogEntry:
    values: dict[str, object] = {
        "fingerprint": fp,
        "notifier": notifier,
        "episode": episode,
        "state": AlertState.FIRING,
        "level": "warn",
        "sent_at": episode,
        "ticket_ids": ("1", "2"),
        "channel": "C1",
        "ts": "1.0",
        "ticket_count": 2,
        **fields,
    }
    return LogEntry(**values)  # type: ignore[arg-type]


def _news(body: str, fp: str = "f1", notifier: str = "slack", episode: datetime = NOW) -> News:
    return News(fingerprint=fp, notifier=notifier, reason="firing", body=body, episode=episode)


def _append(tail: QueuedNews, news: News) -> str | None:
    return None


class StoreConformance:
    """The behaviour of the ``Store`` protocol. Subclasses provide the ``open_store`` fixture."""

    @pytest.fixture
    def open_store(self) -> Callable[[], Store]:
        raise NotImplementedError("a subclass provides open_store: a callable opening the store under test")

    @pytest.fixture
    def store(self, open_store: Callable[[], Store]) -> Iterator[Store]:
        opened = open_store()
        yield opened
        opened.close()

    # -- tickets, cursors, snapshots ---------------------------------------------------------------

    def test_a_page_and_its_cursor_are_kept_together_across_a_reopen(
        self, store: Store, open_store: Callable[[], Store]
    ) -> None:
        assert store.cursor("zendesk") is None
        store.commit_page("zendesk", [_ticket("1"), _ticket("2")], "c1")
        store.commit_page("zendesk", [_ticket("1", status=Status.SOLVED, solved_at=NOW)], "c2")
        store.close()
        reopened = open_store()
        try:
            assert reopened.cursor("zendesk") == "c2"
            assert reopened.cursor("freshdesk") is None
            assert reopened.count_tickets("zendesk") == 2 and reopened.count_tickets() == 2
            assert [t.id for t in reopened.tickets(["zendesk"])] == ["2"]
            assert {t.id for t in reopened.tickets(open_only=False)} == {"1", "2"}
        finally:
            reopened.close()

    def test_tickets_a_hook_names_are_stored_and_the_cursor_stays(
        self, store: Store, open_store: Callable[[], Store]
    ) -> None:
        store.commit_page("zendesk", [_ticket("1"), _ticket("2")], "c1")
        named = _ticket("3", tags=("outage",), group="Billing", sla=Sla(resolution_due=NOW + timedelta(hours=1)))
        store.commit_tickets([_ticket("2", status=Status.SOLVED, solved_at=NOW), named])
        store.close()
        reopened = open_store()
        try:
            assert reopened.cursor("zendesk") == "c1"
            assert {t.id: t for t in reopened.tickets(["zendesk"])} == {"1": _ticket("1"), "3": named}
            assert reopened.count_tickets("zendesk") == 3
            # Written as a page's tickets are: what the store derives from them (tags) is there too.
            busiest = reopened.read_model().busiest("tag", NOW - timedelta(days=3), NOW)
            assert busiest == [("outage", 1)]
        finally:
            reopened.close()

    def test_tickets_round_trip_with_their_sla(self, store: Store) -> None:
        due = NOW + timedelta(hours=2)
        sent = _ticket("7", tags=("vip", "billing"), group="Billing", assignee="ann", sla=Sla(resolution_due=due))
        store.commit_page("zendesk", [sent], "c1")
        (back,) = store.tickets(["zendesk"])
        assert back == sent

    def test_the_snapshot_holds_open_and_recently_solved_tickets_of_the_named_helpdesks(self, store: Store) -> None:
        store.commit_page(
            "zendesk",
            [
                _ticket("open"),
                _ticket("fresh", status=Status.SOLVED, solved_at=NOW - timedelta(days=1)),
                _ticket("old", status=Status.CLOSED, solved_at=NOW - timedelta(days=30)),
            ],
            "c1",
        )
        store.commit_page("jira", [_ticket("other", helpdesk="jira")], "j1")
        store.record_poll("zendesk", NOW)
        snapshot = store.snapshot(NOW, ["zendesk", "freshdesk"])
        everything = Listing("newest", open_only=False)
        assert {t.id for t in snapshot.query.listed(ALL_TICKETS, (("helpdesk", "zendesk"),), everything, None)} == {
            "open",
            "fresh",
        }
        assert not snapshot.query.listed(ALL_TICKETS, (("helpdesk", "jira"),), everything, None)
        assert snapshot.helpdesks == ("zendesk", "freshdesk")
        assert snapshot.stale == frozenset({"freshdesk"})  # never polled successfully
        assert [t.id for t in store.recently_solved(NOW - timedelta(days=2), ["zendesk"])] == ["fresh"]

    def test_a_ticket_retagged_or_solved_moves_scope_at_the_next_page(self, store: Store) -> None:
        store.commit_page("zendesk", [_ticket("1", tags=("vip",)), _ticket("2", tags=("vip",))], "c1")
        solved = _ticket("2", tags=("vip",), status=Status.SOLVED, solved_at=NOW)
        store.commit_page("zendesk", [_ticket("1", tags=("bug",)), solved], "c2")
        values = store.snapshot(NOW, ["zendesk"]).query.kpis(ALL_TICKETS, ["tag"], {})
        assert {scope: v["open_tickets"] for scope, v in values.items()} == {(("tag", "bug"),): 1, (("tag", "vip"),): 0}
        assert values[(("tag", "vip"),)]["resolved_24h"] == 1

    def test_a_page_encoded_ahead_is_stored_as_its_tickets_are(self, store: Store) -> None:
        """A sync hands the writer ``encode_tickets`` of each page: the same rows, tags, change log and
        scopes as the tickets themselves, retagging and a ticket twice in a page included."""
        first = [_ticket("1", tags=("vip", "bug", "vip")), _ticket("2", tags=("vip",), sla=Sla(breached=True))]
        store.commit_page("zendesk", store.encode_tickets(first), "c1")
        again = _ticket("1", tags=("bug",), status=Status.PENDING, updated_at=NOW)
        store.commit_page("zendesk", store.encode_tickets([_ticket("1"), again]), "c2")
        store.commit_page(
            "jira",
            [_ticket("1", helpdesk="jira", tags=("bug",)), first[1].model_copy(update={"helpdesk": "jira"})],
            "j1",
        )
        assert store.cursor("zendesk") == "c2"
        by_helpdesk = {(t.helpdesk, t.id): t for t in store.tickets(open_only=False)}
        assert by_helpdesk[("zendesk", "1")] == again and by_helpdesk[("zendesk", "2")] == first[1]
        values = store.snapshot(NOW, ["zendesk", "jira"]).query.kpis(ALL_TICKETS, ["helpdesk", "tag"], {})
        opened = {scope: v["open_tickets"] for scope, v in values.items() if v["open_tickets"]}
        assert opened == {
            (("helpdesk", "zendesk"), ("tag", "bug")): 1,
            (("helpdesk", "zendesk"), ("tag", "vip")): 1,
            (("helpdesk", "jira"), ("tag", "bug")): 1,
            (("helpdesk", "jira"), ("tag", "vip")): 1,
        }

    # -- the ticket change log ---------------------------------------------------------------------

    def test_the_change_log_holds_a_row_per_real_change_only(self, store: Store) -> None:
        start = NOW - timedelta(days=1)
        first = _ticket("1", created_at=start, updated_at=start, group="Billing")
        store.commit_page("zendesk", [first, _ticket("2", created_at=start, updated_at=start)], "c1")
        first_sights = store.ticket_changes(start - timedelta(days=1), NOW)  # no log rows: the stored rows
        assert [(at - start, t.id) for at, t in first_sights] == [(timedelta(0), "1"), (timedelta(0), "2")]
        commented = first.model_copy(update={"subject": "a new subject", "updated_at": start + timedelta(hours=1)})
        store.commit_page("zendesk", [commented], "c2")  # only untracked fields moved: no row
        store.commit_tickets([commented])  # seen again as it is: no row
        moved = commented.model_copy(update={"assignee": "ann", "updated_at": start + timedelta(hours=2)})
        store.commit_page("zendesk", [moved, moved], "c3")  # one change, even twice in the page
        sla = moved.model_copy(
            update={"sla": Sla(resolution_due=NOW), "tags": ("vip",), "updated_at": start + timedelta(hours=3)}
        )
        store.commit_tickets([sla])
        changes = store.ticket_changes(start - timedelta(days=1), NOW)
        assert [(at - start, t.id, t.assignee, t.tags) for at, t in changes] == [
            (timedelta(0), "2", None, ()),  # never changed: its stored row
            (timedelta(hours=1), "1", None, ()),  # the first change: the state it left, at the stored time
            (timedelta(hours=2), "1", "ann", ()),
            (timedelta(hours=3), "1", "ann", ("vip",)),
        ]
        assert changes[-1][1] == sla.model_copy(update={"subject": "a new subject"})
        assert [t.id for _, t in store.ticket_changes(start, NOW)] == ["1", "1", "1"]  # (since, until]
        assert store.ticket_changes(start, NOW, ["jira"]) == []

    def test_the_backlog_as_of_a_moment_follows_reopens_and_reassignments(self, store: Store) -> None:
        t0 = NOW - timedelta(days=3)
        old = _ticket("old", created_at=t0 - timedelta(days=5), updated_at=t0 - timedelta(days=1), assignee="bo")
        new = _ticket("new", created_at=t0, updated_at=t0, assignee="ann")
        store.commit_page("zendesk", [old, new], "c1")
        timeline: list[tuple[datetime, dict[str, object]]] = [
            (t0 + timedelta(hours=1), {"assignee": "cy", "group": "Tier 2"}),
            (t0 + timedelta(hours=5), {"status": Status.SOLVED, "solved_at": t0 + timedelta(hours=5)}),
            (t0 + timedelta(days=1), {"status": Status.OPEN, "solved_at": None, "assignee": "dee"}),
        ]
        truth = {t0: new}
        for when, change in timeline:
            new = new.model_copy(update={**change, "updated_at": when})
            store.commit_page("zendesk", [new], f"c-{when:%d%H}")
            truth[when] = new
        store.commit_page("jira", [_ticket("J1", helpdesk="jira", created_at=t0, updated_at=t0)], "j1")
        for when, expected in truth.items():
            for moment in (when, when + timedelta(minutes=30)):
                as_of = store.tickets_as_of(moment, ["zendesk"])
                assert {t.id: t for t in as_of.tickets} == {"old": old, "new": expected}, moment
                assert as_of.exact_since == t0 + timedelta(hours=1)  # the first change of a ticket known before
                assert as_of.approximate(moment) == (moment < t0 + timedelta(hours=1))
        before = store.tickets_as_of(t0 - timedelta(minutes=1))
        assert [t.id for t in before.tickets] == ["old"] and before.approximate(t0 - timedelta(minutes=1))
        assert {t.id for t in store.tickets_as_of(NOW).tickets} == {"old", "new", "J1"}
        assert store.tickets_as_of(NOW, []).tickets == []

    def test_before_its_first_sight_a_ticket_is_guessed_from_its_created_and_solved_times(self, store: Store) -> None:
        created, solved = NOW - timedelta(days=10), NOW - timedelta(days=4)
        done = _ticket(
            "9", created_at=created, updated_at=solved, status=Status.SOLVED, solved_at=solved, priority="high"
        )
        store.commit_page("zendesk", [done], "c1")
        as_of = store.tickets_as_of(NOW - timedelta(days=6))
        assert as_of.exact_since is None and as_of.approximate(NOW)
        (guess,) = as_of.tickets
        assert (guess.status, guess.solved_at, guess.updated_at, guess.priority) == (Status.OPEN, None, created, "high")
        (solved_then,) = store.tickets_as_of(NOW - timedelta(days=4)).tickets
        assert solved_then == done
        assert store.tickets_as_of(created - timedelta(seconds=1)).tickets == []

    def test_thinning_the_change_log_keeps_the_state_at_every_bucket_boundary(self, store: Store) -> None:
        start = NOW - timedelta(days=33)
        tickets = [_ticket(str(n), created_at=start, updated_at=start) for n in range(2)]
        truth: dict[datetime, dict[str, Ticket]] = {}
        step, when, n = timedelta(minutes=40), start, 0
        while when <= NOW:
            n += 1
            tickets = [
                t.model_copy(
                    update={
                        "assignee": f"agent{(n + i) % 5}",
                        "priority": Priority.HIGH if n % 3 else Priority.LOW,
                        "updated_at": when,
                    }
                )  # fmt: skip
                for i, t in enumerate(tickets)
            ]
            store.commit_page("zendesk", tickets, f"c{n}")
            truth[when] = {t.id: t for t in tickets}
            when += step

        def state_at(moment: datetime) -> dict[str, Ticket]:
            return truth[max(w for w in truth if w <= moment)]

        kept = store.ticket_changes(start - timedelta(seconds=1), NOW)
        assert len(kept) < 2 * len(truth) * 0.7  # thinned: 1.5 changes an hour, one kept after 2 days
        hour = timedelta(hours=1)
        for hours in range(2 * 24 + 1, 30 * 24, 7):  # hour boundaries in the hourly tier
            moment = datetime.fromtimestamp((NOW - hours * hour).timestamp() // 3600 * 3600, UTC)
            assert {t.id: t for t in store.tickets_as_of(moment).tickets} == state_at(moment), moment
        for days in range(31, 33):  # day boundaries in the daily tier
            moment = datetime.fromtimestamp((NOW - timedelta(days=days)).timestamp() // 86400 * 86400, UTC)
            assert {t.id: t for t in store.tickets_as_of(moment).tickets} == state_at(moment), moment
        recent = [at for at, _ in kept if at > NOW - timedelta(days=2)]
        assert len(recent) == 2 * sum(1 for w in truth if w > NOW - timedelta(days=2))  # the last 2 days: all kept
        in_a_day = [at for at, _ in kept if NOW - timedelta(days=20) < at <= NOW - timedelta(days=19)]
        assert len(in_a_day) == 2 * 24  # one per hour and ticket
        boundary = datetime.fromtimestamp((NOW - timedelta(days=31)).timestamp() // 86400 * 86400, UTC)
        assert len([at for at, _ in kept if boundary - timedelta(days=1) < at <= boundary]) == 2  # one per day

    # -- polls -------------------------------------------------------------------------------------

    def test_polls_count_consecutive_failures_from_when_the_outage_started(self, store: Store) -> None:
        assert store.poll_status("zendesk").last_attempt is None
        assert not store.any_poll_succeeded()
        store.record_poll("zendesk", NOW, skipped=2)
        started = NOW + timedelta(minutes=1)
        store.record_poll("zendesk", NOW + timedelta(minutes=2), error="503", started=started)
        failing = store.record_poll("zendesk", NOW + timedelta(minutes=4), error="503 again", auth_failed=True)
        assert failing == store.poll_status("zendesk")
        assert (failing.failures, failing.failing_since, failing.last_success) == (2, started, NOW)
        assert (failing.last_error, failing.auth_failed, failing.skipped_total) == ("503 again", True, 2)
        recovered = store.record_poll("zendesk", NOW + timedelta(minutes=6))
        assert (recovered.failures, recovered.failing_since, recovered.last_error) == (0, None, None)
        assert store.any_poll_succeeded()

    def test_poll_statuses_reads_every_helpdesk_asked_at_once(self, store: Store) -> None:
        store.record_poll("zendesk", NOW)
        store.record_poll("jira", NOW, error="503")
        found = store.poll_statuses(["jira", "zendesk", "freshdesk"])
        assert list(found) == ["jira", "zendesk", "freshdesk"]  # in the order asked
        assert found == {name: store.poll_status(name) for name in ("jira", "zendesk", "freshdesk")}
        assert (found["zendesk"].last_success, found["jira"].failures, found["freshdesk"].last_attempt) == (
            NOW,
            1,
            None,
        )
        assert store.poll_statuses(["jira"]) == {"jira": found["jira"]}

    # -- alerts and the notification log -----------------------------------------------------------

    def test_alerts_round_trip(self, store: Store) -> None:
        firing = _alert(muted=Muted("silenced", "by 1a2b (alice: import)"))
        resolved = _alert("aging", AlertState.RESOLVED, resolved_at=NOW, tickets=())
        store.save_alerts({firing.fingerprint: firing, resolved.fingerprint: resolved})
        assert store.load_alerts() == {firing.fingerprint: firing, resolved.fingerprint: resolved}
        store.save_alerts({})
        assert store.load_alerts() == {}

    def test_the_log_keeps_one_entry_per_episode_while_queued_news_needs_it(self, store: Store) -> None:
        first, second = NOW - timedelta(hours=1), NOW
        alert = _alert()
        store.save_alerts({alert.fingerprint: alert})
        fp = alert.fingerprint
        store.record_sent(_entry(first, fp=fp))
        store.outbox_enqueue([_news("{}", fp=fp, episode=first)], NOW, _append)  # news of the first episode
        store.record_sent(_entry(second, fp=fp, ts="2.0"))
        assert store.log_entry(fp, "slack", first) == _entry(first, fp=fp)
        assert store.log_entry(fp, "slack") == _entry(second, fp=fp, ts="2.0")  # the last one written
        assert store.log_entry(fp, "email") is None
        (queued,) = store.outbox_rows()
        store.outbox_drop(queued.id)
        store.record_sent(_entry(second, fp=fp, ts="3.0"))  # no queued news needs the first thread now
        assert store.log_entry(fp, "slack", first) is None

    def test_the_log_entries_of_many_alerts_are_the_last_written_of_each_notifier(self, store: Store) -> None:
        first, second = NOW - timedelta(hours=1), NOW
        alerts = [_alert(), _alert(rule="other-rule")]
        store.save_alerts({a.fingerprint: a for a in alerts})
        fp, other = (a.fingerprint for a in alerts)
        store.record_sent(_entry(first, fp=fp))
        store.outbox_enqueue([_news("{}", fp=fp, episode=first)], NOW, _append)  # keeps the first episode's entry
        store.record_sent(_entry(second, fp=fp, ts="2.0"))
        store.record_sent(_entry(first, notifier="email", fp=fp, ts="3.0"))
        store.record_sent(_entry(second, fp=other, ts="4.0"))
        assert store.log_entries([fp, other, "unknown"]) == {
            (fp, "slack"): _entry(second, fp=fp, ts="2.0"),  # as log_entry: the last one written
            (fp, "email"): _entry(first, notifier="email", fp=fp, ts="3.0"),
            (other, "slack"): _entry(second, fp=other, ts="4.0"),
        }
        assert store.log_entries([other]) == {(other, "slack"): _entry(second, fp=other, ts="4.0")}
        assert store.log_entries([]) == {}

    def test_saving_alerts_writes_the_changes_keeps_the_rest_and_drops_the_gone(
        self, store: Store, open_store: Callable[[], Store]
    ) -> None:
        kept, changed, gone = _alert("backlog-size"), _alert("aging", AlertState.PENDING), _alert("sla")
        store.save_alerts({a.fingerprint: a for a in (kept, changed, gone)})
        store.record_sent(_entry(NOW, fp=gone.fingerprint))
        fired = replace(changed, state=AlertState.FIRING, firing_since=NOW, value=14.0, summary="14 open tickets")
        new = _alert("unassigned", muted=Muted("inhibited", "by backlog-size"))
        after = {a.fingerprint: a for a in (kept, fired, new)}
        store.save_alerts(after)
        assert store.load_alerts() == after
        assert store.log_entry(gone.fingerprint, "slack") is None  # its alert went: its log too
        store.save_alerts(after)  # an evaluation that changed nothing
        store.close()
        reopened = open_store()
        try:
            assert reopened.load_alerts() == after
        finally:
            reopened.close()

    def test_saving_alerts_against_what_is_stored_writes_only_the_difference(self, store: Store) -> None:
        kept, changed, gone = _alert("backlog-size"), _alert("aging", AlertState.PENDING), _alert("sla")
        before = {a.fingerprint: a for a in (kept, changed, gone)}
        store.save_alerts(before)
        store.record_sent(_entry(NOW, fp=gone.fingerprint))
        fired = replace(changed, state=AlertState.FIRING, firing_since=NOW, value=14.0)
        after = {a.fingerprint: a for a in (kept, fired, _alert("unassigned"))}
        store.save_alerts(after, before)
        assert store.load_alerts() == after
        assert store.log_entry(gone.fingerprint, "slack") is None  # its alert went: its log too
        # what the caller says is stored is trusted: an alert it says is unchanged is not written again
        store.save_alerts(
            {**after, kept.fingerprint: replace(kept, value=99.0)},
            {**after, kept.fingerprint: replace(kept, value=99.0)},
        )
        assert store.load_alerts()[kept.fingerprint] == kept
        store.save_alerts({}, after)
        assert store.load_alerts() == {}

    def test_saving_alerts_drops_the_log_of_alerts_gone_unless_news_of_them_is_queued(self, store: Store) -> None:
        store.record_sent(_entry(NOW, fp="gone"))
        store.record_sent(_entry(NOW, fp="queued"))
        store.outbox_enqueue([_news("{}", fp="queued")], NOW, _append)
        store.save_alerts({})
        assert store.log_entry("gone", "slack") is None
        assert store.log_entry("queued", "slack") is not None

    # -- the outbox --------------------------------------------------------------------------------

    def test_the_outbox_keeps_queue_order_and_folds_only_what_fold_allows(self, store: Store) -> None:
        store.outbox_enqueue([_news("a"), _news("b", notifier="email"), _news("c")], NOW, _append)
        assert [(r.body, r.notifier) for r in store.outbox_rows()] == [("a", "slack"), ("b", "email"), ("c", "slack")]
        tail = store.outbox_tail("f1", "slack")
        assert tail is not None and tail.body == "c" and tail.attempts == 0 and not tail.held
        assert (tail.created_at, tail.next_attempt_at, tail.episode) == (NOW, NOW, NOW)

        seen: list[tuple[str, str]] = []

        def fold(last: QueuedNews, news: News) -> str | None:
            seen.append((last.body, news.body))
            return "reminder"

        store.outbox_enqueue([_news("d")], NOW, fold)
        assert seen == [("c", "d")]
        assert [(r.body, r.reason) for r in store.outbox_rows() if r.notifier == "slack"] == [
            ("a", "firing"),
            ("d", "reminder"),
        ]
        assert store.outbox_tail("f1", "pagerduty") is None

    def test_completing_news_logs_it_and_deletes_its_row_together(self, store: Store) -> None:
        store.outbox_enqueue([_news("a"), _news("b")], NOW, _append)
        first, second = store.outbox_rows()
        store.outbox_complete([(first.id, _entry(NOW, ts="9.9"))])
        assert [r.body for r in store.outbox_rows()] == ["b"]
        assert store.log_entry("f1", "slack") == _entry(NOW, ts="9.9")
        assert second.id > first.id

    def test_a_row_claimed_for_sending_is_answered_and_a_gone_one_is_not(self, store: Store) -> None:
        store.outbox_enqueue([_news("a"), _news("b", notifier="email")], NOW, _append)
        slack, email = store.outbox_rows()
        store.outbox_drop(email.id)
        assert store.outbox_claim([slack.id, email.id], "replica-1") == {slack.id: None}  # email's is gone
        store.outbox_complete([(slack.id, _entry(NOW))])
        assert store.outbox_rows() == [] and store.outbox_claim([slack.id], "replica-1") == {}

    def test_a_failed_row_is_rescheduled_held_and_dropped(self, store: Store) -> None:
        store.outbox_enqueue([_news("a"), _news("b", notifier="email")], NOW, _append)
        slack, email = store.outbox_rows()
        later = NOW + timedelta(minutes=5)
        store.outbox_reschedule(slack.id, later, "HTTP 503")
        assert [r.body for r in store.outbox_rows(due_at=NOW)] == ["b"]
        assert [r.body for r in store.outbox_rows(due_at=later)] == ["a", "b"]
        (retried,) = [r for r in store.outbox_rows() if r.id == slack.id]
        assert (retried.attempts, retried.next_attempt_at, retried.last_error) == (1, later, "HTTP 503")
        store.outbox_hold("email")
        assert {r.notifier: r.held for r in store.outbox_rows()} == {"slack": False, "email": True}
        store.outbox_drop(email.id)
        assert [r.id for r in store.outbox_rows()] == [slack.id]

    # -- silences ----------------------------------------------------------------------------------

    def test_silences_are_kept_listed_and_ended(self, store: Store) -> None:
        silence = SilenceRecord(
            "abc123",
            (("rule", "=", "backlog-size"), ("helpdesk", "=~", "zen.*")),
            NOW,
            NOW + timedelta(hours=2),
            "alice",
            "bulk import",
            NOW,
        )
        later = SilenceRecord("def456", (("level", "!=", "warn"),), NOW, NOW + timedelta(hours=1), "bob", "", NOW)
        store.add_silence(silence)
        store.add_silence(later)
        assert store.silences() == [silence, later]
        store.end_silence("abc123", NOW + timedelta(minutes=30))
        store.end_silence("def456", NOW + timedelta(hours=3))  # already ended by then: left as it is
        assert [s.ends_at for s in store.silences()] == [NOW + timedelta(minutes=30), NOW + timedelta(hours=1)]

    # -- actions on alerts -------------------------------------------------------------------------

    def test_actions_are_kept_in_order_and_listed_since_a_moment(self, store: Store) -> None:
        ack = ActionRecord("f1", NOW - timedelta(hours=1), "acknowledge", "alice", NOW, "", "warn", 12)
        snooze = ActionRecord("f2", NOW, "snooze", "bob", NOW, "for 1h", "critical", 3)
        take = ActionRecord("f1", NOW - timedelta(hours=1), "take", "carol", NOW + timedelta(minutes=5), "#42")
        for action in (ack, snooze, take):
            store.add_action(action)
        assert store.actions(NOW - timedelta(days=1)) == [ack, snooze, take]
        assert store.actions(NOW + timedelta(minutes=1)) == [take]

    # -- KPI history -------------------------------------------------------------------------------

    def test_kpi_history_rows_by_scope_and_the_last_row_before_a_moment(self, store: Store) -> None:
        a, b = '[["helpdesk","zendesk"]]', '[["helpdesk","jira"]]'
        store.record_kpis(NOW - timedelta(hours=2), {a: {"open_tickets": 10.0}, b: {"open_tickets": 3.0}})
        store.record_kpis(NOW - timedelta(hours=1), {a: {"open_tickets": 12.0}})
        rows = store.kpi_rows(NOW - timedelta(days=1), NOW)
        assert [(at, kpis["open_tickets"]) for at, kpis in rows[a]] == [
            ((NOW - timedelta(hours=2)).timestamp(), 10.0),
            ((NOW - timedelta(hours=1)).timestamp(), 12.0),
        ]
        assert store.kpi_rows(NOW - timedelta(minutes=90), NOW).get(b, []) == []
        latest = store.kpis_at(NOW - timedelta(minutes=30), timedelta(days=1))
        assert {key: kpis["open_tickets"] for key, (_, kpis) in latest.items()} == {a: 12.0, b: 3.0}
        assert store.kpis_at(NOW - timedelta(hours=3), timedelta(days=1)) == {}
        assert sorted(store.kpi_scopes()) == sorted([a, b])
        assert store.kpi_row_count() == 3

    def test_kpi_history_keeps_one_row_per_scope_per_five_minutes_the_latest(self, store: Store) -> None:
        a, b = '[["helpdesk","zendesk"]]', '[["helpdesk","jira"]]'
        bucket = NOW - timedelta(minutes=10)  # NOW is on the hour: a 5-minute bucket starts here
        for second in range(0, 300, 20):  # an evaluation every 20 s for 5 minutes
            store.record_kpis(bucket + timedelta(seconds=second), {a: {"open_tickets": float(second)}, b: {"x": 1.0}})
        store.record_kpis(bucket + timedelta(minutes=5), {a: {"open_tickets": 300.0}})  # the next bucket
        rows = store.kpi_rows(NOW - timedelta(hours=1), NOW)
        assert [(at, kpis["open_tickets"]) for at, kpis in rows[a]] == [
            ((bucket + timedelta(seconds=280)).timestamp(), 280.0),  # the bucket's last record
            ((bucket + timedelta(minutes=5)).timestamp(), 300.0),
        ]
        assert len(rows[b]) == 1 and store.kpi_row_count() == 3

    # -- the store itself --------------------------------------------------------------------------

    def test_a_copy_holds_what_the_store_holds(self, store: Store, tmp_path: Path) -> None:
        from backlog_watch.store.sqlite import SqliteStore

        store.commit_page("zendesk", [_ticket("1")], "c1")
        store.probe_write()
        assert store.failing is None
        store.copy_to(tmp_path / "copy.db")
        copy = SqliteStore(tmp_path / "copy.db")
        try:
            assert copy.cursor("zendesk") == "c1" and [t.id for t in copy.tickets()] == ["1"]
        finally:
            copy.close()


class LeaseConformance:
    """The leases of a store replicas share (``SharesLeases``, store/leases.py) and the fencing of its
    writes. Subclasses provide ``open_store`` (opening the shared store; each call another replica's
    connection to the same data) and ``lapse`` (make a replica's leases and heartbeat expire now, as
    if it had stopped renewing them for a TTL: a test waits for no clock)."""

    TTL = 3.0

    @pytest.fixture
    def open_store(self) -> Callable[[], Store]:
        raise NotImplementedError("a subclass provides open_store: a callable opening the shared store")

    @pytest.fixture
    def lapse(self) -> Callable[[str], None]:
        raise NotImplementedError("a subclass provides lapse(replica): its leases and heartbeat expire now")

    @pytest.fixture
    def stores(self, open_store: Callable[[], Store]) -> Iterator[tuple[Store, Store]]:
        a, b = open_store(), open_store()
        yield a, b
        a.close()
        b.close()

    def tables(self, stores: tuple[Store, Store]) -> tuple[LeaseTable, LeaseTable]:
        a, b = stores
        assert isinstance(a, SharesLeases) and isinstance(b, SharesLeases)
        return a.lease_table("a", self.TTL), b.lease_table("b", self.TTL)

    # -- claims, renewals, releases ------------------------------------------------------------------

    def test_a_free_lease_is_claimed_once_and_renewed_by_its_holder_only(self, stores: tuple[Store, Store]) -> None:
        a, b = self.tables(stores)
        claim = a.claim(EVALUATOR)
        assert claim is not None and claim.previous is None and claim.token > 0
        assert b.claim(EVALUATOR) is None
        assert a.renew([EVALUATOR, "helpdesk:zendesk"]) == {EVALUATOR: claim.token}
        assert b.renew([EVALUATOR]) == {}
        assert a.holders() == b.holders() == {EVALUATOR: "a"}

    def test_a_released_lease_goes_to_the_next_claimer_under_a_bigger_token(self, stores: tuple[Store, Store]) -> None:
        a, b = self.tables(stores)
        first = a.claim("helpdesk:zendesk")
        assert first is not None
        a.release(["helpdesk:zendesk"])
        assert a.holders() == {} and a.renew(["helpdesk:zendesk"]) == {}
        second = b.claim("helpdesk:zendesk")
        assert second is not None and second.token > first.token
        assert (second.previous, second.takeover) == ("a", False)  # handed over, not taken over

    def test_a_lapsed_lease_is_taken_over_and_its_former_holder_cannot_renew_it(
        self, stores: tuple[Store, Store], lapse: Callable[[str], None]
    ) -> None:
        a, b = self.tables(stores)
        assert a.heartbeat() == 1 and b.heartbeat() == 2
        first = a.claim(EVALUATOR)
        assert first is not None and b.claim(EVALUATOR) is None
        lapse("a")
        assert b.heartbeat() == 1  # a's heartbeat lapsed with its leases
        taken = b.claim(EVALUATOR)
        assert taken is not None and taken.token > first.token and (taken.previous, taken.takeover) == ("a", True)
        assert a.renew([EVALUATOR]) == {} and a.holders() == {EVALUATOR: "b"}

    def test_a_replica_restarted_under_its_own_id_claims_a_new_token(self, stores: tuple[Store, Store]) -> None:
        a, _ = self.tables(stores)
        first = a.claim(EVALUATOR)
        again = a.claim(EVALUATOR)  # a new process with the same replica id: the old one's work must fail
        assert first is not None and again is not None and again.token > first.token and again.previous is None

    def test_leaving_releases_every_lease_and_the_heartbeat(self, stores: tuple[Store, Store]) -> None:
        a, b = self.tables(stores)
        a.heartbeat()
        b.heartbeat()
        assert a.claim(EVALUATOR) is not None and a.claim("helpdesk:zendesk") is not None
        a.leave()
        assert b.holders() == {} and b.heartbeat() == 1
        assert b.claim(EVALUATOR) is not None

    def test_forwarded_work_is_taken_once_by_the_holder_of_its_lease(self, stores: tuple[Store, Store]) -> None:
        a, b = self.tables(stores)
        b.forward(ForwardedRequest("poll", "zendesk", ("12", "13")))
        b.forward(ForwardedRequest("poll", "jira"))
        b.forward(ForwardedRequest("evaluate", ""))
        assert a.take_requests(["freshdesk"], evaluator=False) == []
        assert a.take_requests(["zendesk", "jira"], evaluator=True) == [
            ForwardedRequest("poll", "zendesk", ("12", "13")),
            ForwardedRequest("poll", "jira"),
            ForwardedRequest("evaluate", ""),
        ]
        assert a.take_requests(["zendesk", "jira"], evaluator=True) == []

    # -- fencing -------------------------------------------------------------------------------------

    def test_a_stale_holder_writes_nothing_after_a_takeover(
        self, stores: tuple[Store, Store], lapse: Callable[[str], None]
    ) -> None:
        store, other = stores
        a, b = self.tables(stores)
        helpdesk, evaluator = a.claim("helpdesk:zendesk"), a.claim(EVALUATOR)
        assert helpdesk is not None and evaluator is not None
        polls = Fence("helpdesk:zendesk", "a", helpdesk.token)
        evaluates = Fence(EVALUATOR, "a", evaluator.token)
        with fenced(polls):
            store.commit_page("zendesk", [_ticket("1")], "c1")
            store.record_poll("zendesk", NOW)
        with fenced(evaluates):
            store.save_alerts({(alert := _alert()).fingerprint: alert})
            store.outbox_enqueue([_news("a"), _news("b", fp="f2")], NOW, _append)
            queued = store.outbox_rows()
            assert store.outbox_claim([queued[0].id], "a") == {queued[0].id: None}
        lapse("a")  # a is paused past its TTL; b takes its leases
        assert b.claim("helpdesk:zendesk") is not None and b.claim(EVALUATOR) is not None
        polling: list[Callable[[], object]] = [
            lambda: store.commit_page("zendesk", [_ticket("1", subject="stale"), _ticket("2")], "c2"),
            lambda: store.commit_tickets([_ticket("3")]),
            lambda: store.record_poll("zendesk", NOW + timedelta(minutes=1), error="late"),
        ]
        evaluating: list[Callable[[], object]] = [
            lambda: store.save_alerts({}),
            lambda: store.outbox_enqueue([_news("c")], NOW, _append),
            lambda: store.outbox_claim([queued[1].id], "a"),
            lambda: store.outbox_complete([(queued[0].id, _entry(NOW))]),
        ]
        for fence, writes in ((polls, polling), (evaluates, evaluating)):
            for write in writes:
                with fenced(fence), pytest.raises(LeaseLost, match=fence.lease):
                    write()
        assert other.cursor("zendesk") == "c1"
        assert [(t.id, t.subject) for t in other.tickets()] == [("1", "ticket 1")]
        assert other.poll_status("zendesk").last_error is None
        assert list(other.load_alerts()) == [alert.fingerprint]
        assert [r.body for r in other.outbox_rows()] == ["a", "b"] and other.log_entry("f1", "slack") is None

    def test_the_new_evaluator_learns_which_sends_the_old_one_never_recorded(
        self, stores: tuple[Store, Store], lapse: Callable[[str], None]
    ) -> None:
        store, other = stores
        a, b = self.tables(stores)
        old = a.claim(EVALUATOR)
        assert old is not None
        with fenced(Fence(EVALUATOR, "a", old.token)):
            store.outbox_enqueue([_news("a"), _news("b", fp="f2")], NOW, _append)
            sending, idle = store.outbox_rows()
            store.outbox_claim([sending.id], "a")  # then a dies before outbox_complete
        lapse("a")
        new = b.claim(EVALUATOR)
        assert new is not None
        with fenced(Fence(EVALUATOR, "b", new.token)):
            assert other.outbox_claim([sending.id, idle.id], "b") == {sending.id: "a", idle.id: None}
            assert other.outbox_claim([sending.id], "b") == {sending.id: None}  # b's own claim now

    def test_news_is_never_folded_into_a_row_being_sent(self, stores: tuple[Store, Store]) -> None:
        store, _ = stores

        def fold(last: QueuedNews, news: News) -> str | None:
            return "firing"

        store.outbox_enqueue([_news("a")], NOW, _append)
        (row,) = store.outbox_rows()
        store.outbox_claim([row.id], "a")
        store.outbox_enqueue([_news("b")], NOW, fold)  # folding would rewrite what is on its way out
        assert [r.body for r in store.outbox_rows()] == ["a", "b"]
        store.outbox_enqueue([_news("c")], NOW, fold)  # the row waiting behind it may fold
        assert [r.body for r in store.outbox_rows()] == ["a", "c"]

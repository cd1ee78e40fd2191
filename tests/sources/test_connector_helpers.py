"""The framework helpers the bundled connectors share: value tables with overrides, the per-poll name
cache, PendingSla, the update-time windows, JSON cursors, ids and Basic auth."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from backlog_watch import (
    NameCache,
    OverlapWindow,
    PaginationError,
    PendingSla,
    Priority,
    Sla,
    Status,
    UpdatedWindow,
    basic_auth,
    inverted,
    mapped,
    names_by_id,
    optional_time,
    positive_id,
    read_cursor,
    utc_stamp,
    write_cursor,
)

T0 = datetime(2024, 5, 6, 14, 28, 1, tzinfo=UTC)


def test_inverted_reads_a_table_grouped_by_our_value() -> None:
    table = inverted({Status.PENDING: ("a", "b"), Status.CLOSED: ("c",)})
    assert table == {"a": Status.PENDING, "b": Status.PENDING, "c": Status.CLOSED}


@pytest.mark.parametrize(
    ("value", "casefold", "expected"),
    [
        ("high", False, Priority.URGENT),  # the override wins over the default
        ("low", False, Priority.LOW),
        ("HIGH", False, None),
        ("HIGH", True, Priority.URGENT),
        ("P9", True, None),
    ],
)
def test_mapped_tries_the_overrides_then_the_defaults(value: str, casefold: bool, expected: Priority | None) -> None:
    defaults = {"high": Priority.HIGH, "low": Priority.LOW}
    assert mapped(value, {"High" if casefold else "high": Priority.URGENT}, defaults, casefold=casefold) is expected


def test_names_by_id_skips_entries_without_an_id_or_a_name() -> None:
    entries = [{"id": 1, "name": "Tier 1"}, {"id": 2}, {"name": "x"}, "junk", {"id": 3, "contact": {"name": "Ann"}}]
    assert names_by_id(entries) == {"1": "Tier 1"}
    assert names_by_id(entries, lambda e: (e.get("contact") or {}).get("name")) == {"3": "Ann"}
    assert names_by_id(None) == {}


async def test_the_name_cache_asks_at_most_once_per_poll() -> None:
    cache = NameCache()
    calls: list[list[str]] = []

    async def load_all() -> dict[str, str]:
        calls.append([])
        return {"1": "Tier 1"}

    async def load(ids: list[str]) -> dict[str, str]:
        calls.append(ids)
        return {i: f"user {i}" for i in ids if i != "9"}

    await cache.reload_for({"1", "2"}, load_all)
    await cache.reload_for({"2"}, load_all)  # still unknown, but the list was read this poll
    assert calls == [[]] and cache.name_of(1) == "Tier 1" and cache.name_of(2) == "2" and cache.name_of(None) is None
    users = NameCache()
    await users.add({"5", "9"}, load)
    await users.add({"5", "9", "6"}, load)  # 9 was asked this poll: only 6 is new
    assert calls[1:] == [["5", "9"], ["6"]] and users.name_of("5") == "user 5"
    users.new_poll()
    await users.add({"9"}, load)
    assert calls[-1] == ["9"]


def test_pending_sla_takes_the_earliest_due_and_pauses_only_without_a_running_clock() -> None:
    pending = PendingSla()
    pending.running("resolution_due", T0 + timedelta(hours=2))
    pending.running("resolution_due", T0 + timedelta(hours=1), breached=True)
    pending.paused()
    assert pending.sla() == Sla(resolution_due=T0 + timedelta(hours=1), breached=True, paused=False)
    only_paused = PendingSla()
    only_paused.paused()
    assert only_paused.sla() == Sla(paused=True)
    with pytest.raises(ValueError, match="not one of"):
        PendingSla().running("due_soon", T0)


def test_the_updated_window_keeps_ties_on_its_second_and_skips_what_it_saw() -> None:
    window = UpdatedWindow(T0, {"7"})
    page = [
        {"id": 7, "updated_at": "2024-05-06T14:28:01Z"},  # seen at that second
        {"id": 8, "updated_at": "2024-05-06T14:28:01Z"},  # a tie, not seen yet
        {"id": 6, "updated_at": "2024-05-06T14:28:00Z"},  # before the window
        {"id": 9},  # unreadable: kept for normalize to report, does not move the window
        {"id": 10, "updated_at": "2024-05-06T14:28:05Z"},
    ]
    assert [r["id"] for r in window.fresh(page)] == [8, 9, 10]
    assert window.since == T0 + timedelta(seconds=4) and window.sorted_ids() == ["10"]
    assert UpdatedWindow(T0, {"10", "9", "a"}).sorted_ids() == ["a", "9", "10"]


def test_the_overlap_window_skips_records_seen_with_the_same_stamp_and_forgets_old_ones() -> None:
    window = OverlapWindow(10_000, {"A-1": 10_000, "A-0": 1_000}, overlap=5_000)
    assert window.start == 5_000
    records = [("A-1", 10_000), ("A-2", 12_000), ("A-1", 11_000), None]
    fresh = window.fresh(records, lambda r: r)
    assert fresh == [("A-2", 12_000), ("A-1", 11_000), None]
    assert window.newest == 12_000 and window.pruned() == {"A-1": 11_000, "A-2": 12_000}
    assert OverlapWindow(None, {}, 5_000).start is None


def test_json_cursors_round_trip_and_an_unreadable_one_is_a_pagination_error() -> None:
    text = write_cursor({"b": 1, "a": [2]})
    assert text == '{"b":1,"a":[2]}'
    assert read_cursor(text, lambda data: data["a"], "hd") == [2]
    for bad in ("not json", '{"b": 1}', "[]"):
        with pytest.raises(PaginationError, match="unreadable cursor"):
            read_cursor(bad, lambda data: data["a"], "hd")


def test_wire_helpers_for_ids_and_times() -> None:
    assert positive_id(5, "a ticket id") == 5
    for bad in (0, -1, True, "5", None):
        with pytest.raises(ValueError, match="is not a ticket id"):
            positive_id(bad, "a ticket id")
    assert optional_time(None) is None and optional_time("2024-05-06T14:28:01Z") == T0
    assert utc_stamp(T0.astimezone(tz=None)) == "2024-05-06T14:28:01Z"


def test_basic_auth_accepts_plain_and_secret_parts() -> None:
    header = basic_auth("me@example.com/token", SecretStr("s3cret"))["Authorization"]
    assert base64.b64decode(header.removeprefix("Basic ")) == b"me@example.com/token:s3cret"
    assert basic_auth(SecretStr("key"), "X") == {"Authorization": "Basic " + base64.b64encode(b"key:X").decode()}

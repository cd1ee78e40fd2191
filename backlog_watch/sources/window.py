"""Positions in a listing ordered by update time, for APIs that page by ``updated_since`` / ``updated >=``.

Such a filter is coarse (a second, a minute) and the vendor's index may lag, so a poll must start a little
before the newest time it saw and skip what it already has; otherwise ties on that time are lost or
stored twice. The bookkeeping is the same for every vendor; the field names and the margin are theirs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from backlog_watch.sources.wire import field_of, utc_time


def id_order(value: str) -> tuple[int, str]:
    """Sort key of ids in a stored cursor: numeric ids by number, then any others as text."""
    return (int(value), value) if value.isdigit() else (0, value)


@dataclass
class UpdatedWindow:
    """The last update time seen and the ids seen at it: a record is new when updated later, or at that
    time but not yet seen (for listings asked from one step before ``since``, ties included)."""

    since: datetime
    ids: set[str] = field(default_factory=set)

    def is_new(self, updated_at: datetime, record_id: str) -> bool:
        return updated_at > self.since or (updated_at == self.since and record_id not in self.ids)

    def advance(self, updated_at: datetime, record_id: str) -> None:
        if updated_at > self.since:
            self.since, self.ids = updated_at, set()
        self.ids.add(record_id)

    def fresh(self, records: Iterable[Any], *, stamp: str = "updated_at", key: str = "id") -> list[Any]:
        """The records of a page new to the window, which advances past them (JSON objects, or typed
        records with these attributes). A record whose time or id cannot be read is kept (normalize
        reports it) but cannot move the window."""
        found = []
        for raw in records:
            read = _stamp_and_id(raw, stamp, key)
            if read is None:
                found.append(raw)
                continue
            updated_at, record_id = read
            if self.is_new(updated_at, record_id):
                self.advance(updated_at, record_id)
                found.append(raw)
        return found

    def sorted_ids(self) -> list[str]:
        return sorted(self.ids, key=id_order)


def _stamp_and_id(raw: Any, stamp: str, key: str) -> tuple[datetime, str] | None:
    """A record's time and id, None when either cannot be read."""
    record_id = field_of(raw, key)
    try:
        return (utc_time(field_of(raw, stamp)), str(record_id)) if record_id is not None else None
    except ValueError:
        return None


class OverlapWindow:
    """For a listing whose filter is coarse and whose index lags (Jira's JQL): each poll looks again
    ``overlap`` before the newest stamp seen, and skips the records already seen with the same stamp.
    Stamps are integers (epoch milliseconds); ``seen`` keeps only those within the overlap."""

    def __init__(self, newest: int | None, seen: dict[str, int], overlap: int) -> None:
        self.newest = newest
        self.seen = seen
        self.overlap = overlap

    @property
    def start(self) -> int | None:
        """Where the next listing starts (None: from the beginning)."""
        return None if self.newest is None else self.newest - self.overlap

    def fresh(self, records: Iterable[Any], key_and_stamp: Callable[[Any], tuple[str, int] | None]) -> list[Any]:
        """The records not seen with their stamp; those whose key and stamp can be read are noted."""
        found = []
        for raw in records:
            read = key_and_stamp(raw)
            if read is not None and self.seen.get(read[0]) == read[1]:
                continue
            found.append(raw)
            if read is not None:
                self.seen[read[0]] = read[1]
                self.newest = read[1] if self.newest is None else max(self.newest, read[1])
        return found

    def pruned(self) -> dict[str, int]:
        """``seen`` without the stamps before the overlap (sorted, for a stable cursor)."""
        floor = self.start
        if floor is not None:
            self.seen = {k: v for k, v in self.seen.items() if v >= floor}
        return dict(sorted(self.seen.items()))

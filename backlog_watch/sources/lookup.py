"""Turning a vendor's values into ours: value tables with the config's overrides, and names of ids.

Every connector maps statuses, priorities and channels through a table of defaults that the config may
override (``status_map`` / ``priority_map``), and shows groups and assignees by name, learnt from the
vendor's lists. The tables are the vendor's facts; how they are read and cached is written once, here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

Key = TypeVar("Key")
Value = TypeVar("Value")


def inverted(groups: Mapping[Value, Iterable[Key]]) -> dict[Key, Value]:
    """A lookup table written the way a module docstring reads it: each of our values with the vendor's
    values that map to it (``{Status.PENDING: ("waiting for customer", "pending customer")}``)."""
    return {key: value for value, keys in groups.items() for key in keys}


def mapped(
    value: str, overrides: Mapping[str, Value], defaults: Mapping[str, Value], *, casefold: bool = False
) -> Value | None:
    """``value`` through the config's ``overrides`` first, then the connector's ``defaults``; None when
    neither knows it. ``casefold``: the vendor's values are names people type, compared ignoring case
    (``defaults`` then has casefolded keys)."""
    if casefold:
        value = value.casefold()
        overrides = {k.casefold(): v for k, v in overrides.items()}
    return overrides.get(value) or defaults.get(value)


def names_by_id(entries: Any, name_of: Callable[[Mapping[str, Any]], Any] | None = None) -> dict[str, str]:
    """``{id: name}`` of a vendor's list (groups, agents, users); entries without an id or name are skipped.
    ``name_of`` reads the name of an entry (default: its ``name``)."""
    if not isinstance(entries, list):
        return {}
    read = name_of or (lambda entry: entry.get("name"))
    return {
        str(entry["id"]): str(read(entry))
        for entry in entries
        if isinstance(entry, Mapping) and entry.get("id") is not None and read(entry)
    }


class NameCache:
    """The names of the ids records refer to (groups, assignees), asked for only when a page needs one
    the cache lacks, and at most once per poll: an id the vendor will not name costs one request a poll,
    not one a page. ``new_poll`` starts a poll."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self._asked: set[str] = set()
        self._reloaded = False

    def new_poll(self) -> None:
        self._asked = set()
        self._reloaded = False

    def name_of(self, value: Any) -> str | None:
        """The name of id ``value``; the id itself while its name is unknown; None for no id."""
        return None if value is None else self.names.get(str(value), str(value))

    async def reload_for(self, ids: set[str], load_all: Callable[[], Awaitable[dict[str, str]]]) -> None:
        """For a list read whole (all or nothing): read it again when ``ids`` holds an unknown id."""
        if ids - self.names.keys() and not self._reloaded:
            self._reloaded = True
            self.names = await load_all()

    async def add(self, ids: set[str], load: Callable[[list[str]], Awaitable[dict[str, str]]]) -> None:
        """For names read by id: ask for the unknown ids of ``ids``, each at most once per poll."""
        wanted = ids - self.names.keys() - self._asked
        if wanted:
            self._asked |= wanted
            self.names.update(await load(sorted(wanted)))

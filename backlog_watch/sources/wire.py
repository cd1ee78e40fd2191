"""Reading what vendor APIs answer: the small parsers every connector needs, written once.

Each raises what the framework expects: a body of the wrong shape is a PaginationError (the listing
cannot be trusted, the cursor does not move); a bad value in one record is a ValueError, which
``HttpConnector.normalize`` turns into a counted MalformedRecord.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import msgspec
from pydantic_core import from_json

from backlog_watch.errors import PaginationError

Item = TypeVar("Item")
State = TypeVar("State")
Body = TypeVar("Body")


def utc_time(value: Any) -> datetime:
    """An ISO-8601 time with a zone (``2024-05-06T14:28:01Z``, ``...-0800``) as aware UTC.

    A time without a zone is refused: guessing one would shift every age by hours.
    """
    if not isinstance(value, str):
        raise ValueError(f"time {value!r} is not a string")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is UTC:  # "Z" and "+00:00", most of what vendors send: already what we keep
        return parsed
    if parsed.tzinfo is None:
        raise ValueError(f"time {value!r} has no time zone")
    return parsed.astimezone(UTC)


def optional_time(value: Any) -> datetime | None:
    """``utc_time`` of a value the vendor may leave null (a due date not set, a ticket not yet solved)."""
    return None if value is None else utc_time(value)


def utc_stamp(moment: datetime) -> str:
    """``moment`` as the ISO-8601 UTC second most APIs take in a query (``2024-05-06T14:28:01Z``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def positive_id(value: Any, what: str) -> int:
    """``value`` when it is a positive integer (not a bool); else ValueError naming ``what`` it should be
    ("a Zendesk ticket id"), which normalize turns into a counted MalformedRecord."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"id {value!r} is not {what} (a positive integer)")
    return value


def json_object(response: httpx.Response, helpdesk: str) -> Mapping[str, Any]:
    """The response's JSON object; PaginationError when it is unreadable or not an object."""
    body = _json(response, helpdesk)
    if not isinstance(body, Mapping):
        raise PaginationError(f"{response.request.url.path} did not answer a JSON object", helpdesk=helpdesk)
    return body


def typed_json(
    response: httpx.Response,
    decoder: msgspec.json.Decoder[Body],
    helpdesk: str,
    lenient: Callable[[httpx.Response], Body],
) -> Body:
    """The response's JSON decoded straight into the connector's wire types (``decoder``: msgspec Structs
    naming only the fields it reads), not into a dict and list for every object the vendor sends.

    A 1000-ticket Zendesk page: 1.6 us a ticket against 5.2 for a generic parse, and nothing for the
    cycle collector to walk (``gc=False`` Structs, the fields the connector does not read never built).
    A body that does not fit the types (one record of an unexpected shape) is read again by ``lenient``
    as plain JSON (``json_object`` / ``json_array``), which builds the page record by record
    (``wire_record``): the odd record is skipped and counted by normalize, not the page. A body that is
    not JSON is a PaginationError.
    """
    try:
        return decoder.decode(response.content)
    except msgspec.ValidationError:
        return lenient(response)
    except msgspec.DecodeError as exc:
        raise PaginationError(f"unreadable JSON from {response.request.url.path}", helpdesk=helpdesk) from exc


def wire_record(raw: Any, record_type: type[Item]) -> Item | Any:
    """``raw`` (a plain JSON value) as the connector's typed record, or as it is when it does not fit:
    ``HttpConnector.normalize`` then says why it is malformed."""
    try:
        return msgspec.convert(raw, record_type)
    except msgspec.ValidationError:
        return raw


def json_array(response: httpx.Response, helpdesk: str) -> list[Any]:
    """The response's JSON array; PaginationError when it is unreadable or not an array."""
    body = _json(response, helpdesk)
    if not isinstance(body, list):
        raise PaginationError(f"{response.request.url.path} did not answer a JSON array", helpdesk=helpdesk)
    return body


def _json(response: httpx.Response, helpdesk: str) -> Any:
    # pydantic-core's parser (already a dependency), caching object keys only: a 1000-ticket Zendesk page
    # in 0.6x json.loads's time (0.7x orjson's); its default also caches every short value, which made it
    # slower than json.loads on Zendesk's pages (1.25x), whose values are mostly distinct.
    try:
        return from_json(response.content, cache_strings="keys")
    except ValueError as exc:
        raise PaginationError(f"unreadable JSON from {response.request.url.path}", helpdesk=helpdesk) from exc


def next_link(response: httpx.Response) -> str | None:
    """The ``Link: <...>; rel="next"`` URL of a response (RFC 8288), or None on the last page."""
    return response.links.get("next", {}).get("url")


def chunked(items: Sequence[Item], size: int) -> Iterable[Sequence[Item]]:
    """``items`` in slices of at most ``size``, for APIs that read many ids per request (show_many)."""
    return (items[i : i + size] for i in range(0, len(items), size))


def field_of(record: Any, key: str) -> Any:
    """A record's ``key``, None when it has none: a JSON object's key or a typed record's attribute."""
    if isinstance(record, msgspec.Struct):  # a C type check; ``Mapping``'s is an ABC's, in Python
        return getattr(record, key, None)
    return record.get(key) if isinstance(record, Mapping) else getattr(record, key, None)


def ids_of(records: Iterable[Any], key: str) -> set[str]:
    """The ``key`` values of the records that have one, as strings (group ids, assignee ids)."""
    return {str(value) for record in records if (value := field_of(record, key)) is not None}


def read_cursor(text: str, parse: Callable[[Any], State], helpdesk: str) -> State:
    """A JSON cursor read by ``parse``; PaginationError when it cannot be read (a cursor written by
    another version, or edited by hand): the poll fails loudly instead of starting over silently."""
    try:
        return parse(jsonlib.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PaginationError(f"unreadable cursor {text!r}: {exc}", helpdesk=helpdesk) from exc


def write_cursor(state: Mapping[str, Any]) -> str:
    """A JSON cursor, compact (it is stored with every page)."""
    return jsonlib.dumps(state, separators=(",", ":"))

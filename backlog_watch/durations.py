"""Durations as the config writes them: "90s", "15m", "4h", "7d", "2w" (and combinations like "1h30m"),
and past moments as the command line takes them (``--at``: ISO 8601, "3d ago" or "-3d")."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer
from pydantic_core import PydanticCustomError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?[smhdw])+$")
MAX_DURATION = timedelta(days=3650)
"""Ten years: longer than any backlog question, and far from timedelta's overflow (and from dates
before year 1 when a window is subtracted from now)."""


def parse_duration(value: Any) -> timedelta:
    """Parse "90s", "15m", "4h", "7d", "2w" or "1h30m"; a timedelta passes through."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if len(text) <= 64 and _WHOLE.match(text):
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
            if not math.isfinite(seconds) or seconds > MAX_DURATION.total_seconds():
                raise PydanticCustomError(
                    "duration_too_long", '"{value}" is longer than ten years (at most 3650d)', {"value": value}
                )
            return timedelta(seconds=seconds)
    raise PydanticCustomError("duration", '"{value}" is not a duration (use 90s, 15m, 4h, 7d or 2w)', {"value": value})


def format_duration(delta: timedelta) -> str:
    """The shortest config spelling of a duration: 2h, 90m, 1d12h."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0s"
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]


def positive_duration(value: timedelta) -> timedelta:
    """An interval of 0s would poll, evaluate or re-notify in a busy loop."""
    if value <= timedelta(0):
        raise PydanticCustomError("interval", "must be longer than 0s (e.g. 30s or 5m)")
    return value


Interval = Annotated[Duration, AfterValidator(positive_duration)]
"""A duration that repeats something: poll_every, evaluate_every, repeat_every..."""


def human_duration(delta: timedelta) -> str:
    """An age as a person says it: "23d 4h", "4h 17m", "12m", "40s"."""
    seconds = max(0, int(delta.total_seconds()))
    units = [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)]
    parts: list[str] = []
    for unit, size in units:
        count, seconds = divmod(seconds, size)
        if count or parts:
            parts.append(f"{count}{unit}")
    shown = [p for p in parts[:2] if not p.startswith("0")] or parts[:1]
    return " ".join(shown) if shown else "0s"


_AGO = re.compile(r"^-\s*(\S+)$|^(\S+)\s+ago$", re.IGNORECASE)


def parse_moment(text: str, now: datetime, tz: tzinfo) -> datetime:
    """A past moment: ISO 8601 ("2024-05-13T09:00", "2024-05-13 09:00+02:00", "2024-05-13"; a time
    without an offset is in ``tz``), or a duration before ``now`` ("3d ago", "-3d", "1h30m ago").
    Aware UTC; a ValueError of one line when it is not a time or not in the past."""
    stripped = text.strip()
    relative = _AGO.match(stripped)
    if relative:
        try:
            moment = now - parse_duration(relative.group(1) or relative.group(2))
        except ValueError as exc:  # pydantic's custom error is a ValueError, its str() the message
            raise ValueError(f'"{text}": {str(exc).splitlines()[0]}') from None
    else:
        try:
            parsed = datetime.fromisoformat(stripped)
        except ValueError:
            raise ValueError(
                f'"{text}" is not a time: use ISO 8601 (2024-05-13T09:00, in {tz} unless it has an offset) '
                "or a time ago (3d ago, -3d, 1h30m ago)"
            ) from None
        moment = parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed
    if moment > now:
        raise ValueError(f'"{text}" is in the future ({moment.astimezone(tz):%Y-%m-%d %H:%M} {tz}): --at looks back')
    return moment.astimezone(UTC)

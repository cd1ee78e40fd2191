"""Durations as the config writes them: "90s", "15m", "4h", "7d", "2w" (and combinations like "1h30m")."""

from __future__ import annotations

import math
import re
from datetime import timedelta
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

"""Durations as the config writes them: "90s", "15m", "4h", "7d", "2w" (and combinations like "1h30m")."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer
from pydantic_core import PydanticCustomError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?[smhdw])+$")


def parse_duration(value: Any) -> timedelta:
    """Parse "90s", "15m", "4h", "7d", "2w" or "1h30m"; a timedelta passes through."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if _WHOLE.match(text):
            return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in _PART.findall(text)))
    raise PydanticCustomError(
        "duration", '"{value}" is not a duration (use 90s, 15m, 4h, 7d or 2w)', {"value": value}
    )


def format_duration(delta: timedelta) -> str:
    """The shortest config spelling of a duration: 2h, 90m, 1d12h."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]


def human_duration(delta: timedelta) -> str:
    """An age as a person says it: "23d 4h", "4h 17m", "12m", "40s"."""
    seconds = max(0, int(delta.total_seconds()))
    units = [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)]
    parts = []
    for unit, size in units:
        count, seconds = divmod(seconds, size)
        if count or parts:
            parts.append(f"{count}{unit}")
    shown = [p for p in parts[:2] if not p.startswith("0")] or parts[:1]
    return " ".join(shown) if shown else "0s"

"""Logging: human-readable lines on a terminal, JSON lines otherwise (the container's stdout).

Every record about a helpdesk, a rule or a notifier carries its name (``extra={"helpdesk": ...}``);
the human format shows it in brackets, the JSON format as a field.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["auto", "json", "text"]
CONTEXT_KEYS = ("helpdesk", "rule", "notifier")


class HumanFormatter(logging.Formatter):
    """``12:04:31 WARNING [zendesk] poll failed: ...``"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(context)s%(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        names = [str(getattr(record, key)) for key in CONTEXT_KEYS if getattr(record, key, None)]
        record.context = f"[{' '.join(names)}] " if names else ""
        return super().format(record)


def setup_logging(fmt: LogFormat = "auto", level: int | str = logging.INFO) -> None:
    """Route the root logger to stderr (stdout carries alerts and reports) in the chosen format."""
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(
            "{levelname}{name}{message}", style="{", timestamp="time",
            rename_fields={"levelname": "level", "name": "logger"},
        ))
    else:
        handler.setFormatter(HumanFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "apscheduler", "aiohttp.access", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

"""Logging: human-readable lines on a terminal, JSON lines otherwise (the container's stdout).

Every record about a helpdesk, a rule or a notifier carries its name (``extra={"helpdesk": ...}``);
the human format shows it in brackets, the JSON format as a field.

Every line, ours and third-party libraries' alike (slack_sdk logs a webhook's URL, the credential,
at INFO on every retry), is scrubbed of every configured secret by the root handler's formatter.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, SecretStr
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


MASK = "**********"
_SECRETS: set[str] = set()


def register_secrets(values: Iterable[str]) -> None:
    """Mask these values in every log line from now on (values under 4 characters would mask noise)."""
    _SECRETS.update(v for v in values if len(v) >= 4)


def secret_values(node: Any) -> list[str]:
    """Every SecretStr in a config (models, lists, dicts), and a password inside any URL-looking string."""
    found: list[str] = []
    if isinstance(node, SecretStr):
        found.append(node.get_secret_value())
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            found += secret_values(getattr(node, name))
    elif isinstance(node, (list, tuple)):
        for item in node:
            found += secret_values(item)
    elif isinstance(node, dict):
        for item in node.values():
            found += secret_values(item)
    elif isinstance(node, str) and "://" in node:
        try:
            password = urlsplit(node).password
        except ValueError:
            password = None
        found += [password] if password else []
    return found


def scrub_text(text: str) -> str:
    """The text with every registered secret masked, as written, URL-quoted and JSON-escaped."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}:
            text = text.replace(form, MASK)
    return text


class ScrubbingFormatter(logging.Formatter):
    """Wraps the chosen formatter: the finished line (message, arguments, traceback) is scrubbed."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return scrub_text(self.inner.format(record)) if _SECRETS else self.inner.format(record)


def setup_logging(fmt: LogFormat = "auto", level: int | str = logging.INFO) -> None:
    """Route the root logger to stderr (stdout carries alerts and reports) in the chosen format."""
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    inner: logging.Formatter = HumanFormatter()
    if fmt == "json":
        inner = JsonFormatter(
            "{levelname}{name}{message}",
            style="{",
            timestamp="time",
            rename_fields={"levelname": "level", "name": "logger"},
        )
    handler.setFormatter(ScrubbingFormatter(inner))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "apscheduler", "aiohttp.access", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

"""Per-rule Jinja2 overrides of a notification's title and text (``template: {title: ..., text: ...}``).

Templates run in Jinja2's sandbox with ``StrictUndefined``, so a misspelt field is an error at load
time (a trial render against a sample alert) rather than an empty string in a page at 3 a.m. What a
template can use is ``template_context``'s dict, documented in the README:

    alert:   rule, level, state, value, threshold, summary, ticket_count, labels (dict), firing_since,
             resolved_at, fingerprint
    tickets: the listed tickets (most urgent or oldest first), each with id, subject, url, status,
             priority, group, assignee, tags, created_at, age (e.g. "3d 4h"), sla_due (datetime or None)
    reason:  firing | escalated | more_tickets | repeat | resolved
    severity: WARN | CRITICAL | RESOLVED;  helpdesk: the scope's helpdesk (or "");  scope: "zendesk, Billing"
    headline: the default value words ("23 open");  now: the evaluation time (UTC)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, field_validator

from backlog_watch.durations import human_duration

TITLE_MAX = 250
MAX_OUTPUT = 10_000
"""Characters a template may produce, or build in one value: a title is 250, a Slack text 3,000."""
MAX_STEPS = 200_000
"""Lines of template code one render may run: a loop over every listed ticket needs a few hundred."""
MAX_SECONDS = 0.5
MAX_RANGE = 1_000


class TemplateBudgetError(SecurityError):
    """A template ran too long or built too much: refused at load, "" (the default text) at run time."""


class BudgetedEnvironment(SandboxedEnvironment):
    """Jinja2's sandbox plus bounds on work and size, so no template can hang or fill memory.

    The sandbox alone allows ``range(99999)`` nested in itself (10**10 steps) and ``"x" * 10**9``;
    here ``range`` is short, ``*`` and ``**`` are checked before they run, and every render is
    traced (sys.settrace) and stopped after MAX_STEPS lines or MAX_SECONDS.
    """

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
        self.globals["range"] = _short_range

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if (
            operator == "**"
            and isinstance(left, int)
            and isinstance(right, int)
            and (abs(right) > 64 or abs(left).bit_length() * abs(right) > 256)
        ):
            raise TemplateBudgetError(f"{left} ** {right} is too large a number")
        if operator == "*":
            _check_product(left, right)
        return super().call_binop(context, operator, left, right)


def _short_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise TemplateBudgetError(f"range() of {len(numbers)} numbers is too long (at most {MAX_RANGE})")
    return numbers


def _check_product(left: Any, right: Any) -> None:
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, (str, list, tuple)) and isinstance(count, int) and len(seq) * count > MAX_OUTPUT:
            raise TemplateBudgetError(f"a value of {len(seq) * count} items is too large (at most {MAX_OUTPUT})")
    if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > 256:
        raise TemplateBudgetError("too large a number")


def budgeted(render: Callable[[], Iterator[str]]) -> str:
    """Join a render's output while counting its steps, time and size; TemplateBudgetError past any."""
    deadline = time.monotonic() + MAX_SECONDS
    steps = 0

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal steps
        steps += 1
        if steps > MAX_STEPS or (steps % 1000 == 0 and time.monotonic() > deadline):
            raise TemplateBudgetError(f"takes too long to render (more than {MAX_STEPS} steps or {MAX_SECONDS}s)")
        return trace

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        parts: list[str] = []
        size = 0
        for chunk in render():
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateBudgetError(f"renders more than {MAX_OUTPUT} characters")
            parts.append(chunk)
        return "".join(parts)
    except RecursionError:
        raise TemplateBudgetError("recurses too deeply") from None
    finally:
        sys.settrace(previous)


_ENV = BudgetedEnvironment()


class TemplateSettings(BaseModel):
    """A rule's own title (subject line, Slack header and fallback text) and text (the summary line)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str | None = None
    text: str | None = None

    @field_validator("title", "text")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        return None if value is None else check_template(value, SAMPLE_CONTEXT)


def check_template(source: str, context: Mapping[str, Any]) -> str:
    """The template, once it has rendered ``context`` (a sample) within budget; else ValueError saying why."""
    if len(source) > MAX_OUTPUT:
        raise ValueError(f"is {len(source)} characters long (at most {MAX_OUTPUT})")
    try:
        template = _ENV.from_string(source)
        budgeted(lambda: template.generate(context))
    except TemplateError as exc:
        raise ValueError(f"is not a valid template: {exc}") from None
    return source


def render_template(source: str, context: Mapping[str, Any]) -> str:
    """Render one override; a failure at run time falls back to the caller's default (returns "")."""
    try:
        template = _ENV.from_string(source)
        return budgeted(lambda: template.generate(context)).strip()
    except TemplateError:
        return ""


def ticket_context(ticket: Any, now: datetime) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "subject": ticket.subject,
        "url": ticket.url,
        "status": ticket.status.value,
        "priority": ticket.priority.value,
        "group": ticket.group,
        "assignee": ticket.assignee,
        "tags": list(ticket.tags),
        "created_at": ticket.created_at,
        "helpdesk": ticket.helpdesk,
        "age": human_duration(now - ticket.created_at),
        "sla_due": ticket.sla.earliest_due,
    }


_SAMPLE_NOW = datetime(2024, 1, 1, tzinfo=UTC)
SAMPLE_CONTEXT: dict[str, Any] = {
    "alert": {
        "rule": "backlog-size",
        "level": "critical",
        "state": "firing",
        "value": 23.0,
        "threshold": 20.0,
        "summary": "open_tickets is 23 (critical above 20)",
        "ticket_count": 23,
        "labels": {"helpdesk": "zendesk"},
        "firing_since": _SAMPLE_NOW,
        "resolved_at": None,
        "fingerprint": "0" * 16,
    },
    "tickets": [
        {
            "id": "1",
            "subject": "Refund",
            "url": "https://example.invalid/1",
            "status": "open",
            "priority": "urgent",
            "group": "Billing",
            "assignee": None,
            "tags": [],
            "helpdesk": "zendesk",
            "created_at": _SAMPLE_NOW,
            "age": "3d 4h",
            "sla_due": None,
        }
    ],
    "reason": "firing",
    "severity": "CRITICAL",
    "helpdesk": "zendesk",
    "scope": "zendesk",
    "headline": "23 open",
    "now": _SAMPLE_NOW,
}

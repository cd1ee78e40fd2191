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

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, field_validator

from backlog_watch.durations import human_duration

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)

TITLE_MAX = 250


class TemplateSettings(BaseModel):
    """A rule's own title (subject line, Slack header and fallback text) and text (the summary line)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str | None = None
    text: str | None = None

    @field_validator("title", "text")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            _ENV.from_string(value).render(SAMPLE_CONTEXT)
        except TemplateError as exc:
            raise ValueError(f"is not a valid template: {exc}") from None
        return value


def render_template(source: str, context: Mapping[str, Any]) -> str:
    """Render one override; a failure at run time falls back to the caller's default (returns "")."""
    try:
        return _ENV.from_string(source).render(context).strip()
    except TemplateError:
        return ""


def ticket_context(ticket: Any, now: datetime) -> dict[str, Any]:
    return {
        "id": ticket.id, "subject": ticket.subject, "url": ticket.url, "status": ticket.status.value,
        "priority": ticket.priority.value, "group": ticket.group, "assignee": ticket.assignee,
        "tags": list(ticket.tags), "created_at": ticket.created_at, "helpdesk": ticket.helpdesk,
        "age": human_duration(now - ticket.created_at), "sla_due": ticket.sla.earliest_due,
    }


_SAMPLE_NOW = datetime(2024, 1, 1, tzinfo=UTC)
SAMPLE_CONTEXT: dict[str, Any] = {
    "alert": {"rule": "backlog-size", "level": "critical", "state": "firing", "value": 23.0, "threshold": 20.0,
              "summary": "open_tickets is 23 (critical above 20)", "ticket_count": 23,
              "labels": {"helpdesk": "zendesk"}, "firing_since": _SAMPLE_NOW, "resolved_at": None,
              "fingerprint": "0" * 16},
    "tickets": [{"id": "1", "subject": "Refund", "url": "https://example.invalid/1", "status": "open",
                 "priority": "urgent", "group": "Billing", "assignee": None, "tags": [], "helpdesk": "zendesk",
                 "created_at": _SAMPLE_NOW, "age": "3d 4h", "sla_due": None}],
    "reason": "firing", "severity": "CRITICAL", "helpdesk": "zendesk", "scope": "zendesk",
    "headline": "23 open", "now": _SAMPLE_NOW,
}

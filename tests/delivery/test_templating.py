"""Rule templates as a table: what a template renders from the documented context, what is refused
when the config loads (a typo, an unbounded loop), and what falls back to the default text at run time."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from backlog_watch.templating import SAMPLE_CONTEXT, TemplateSettings, render_template

RENDERS = [
    ("{{ alert.rule }}", "backlog-size"),
    ("{{ severity }} {{ headline }} ({{ scope }})", "CRITICAL 23 open (zendesk)"),
    ("{{ alert.value | int }} over {{ alert.threshold | int }}", "23 over 20"),
    ("{{ alert.labels.helpdesk }}/{{ helpdesk }}", "zendesk/zendesk"),
    ("{% for t in tickets %}#{{ t.id }} {{ t.subject }} ({{ t.age }}){% endfor %}", "#1 Refund (3d 4h)"),
    ("{{ tickets | length }} listed of {{ alert.ticket_count }}", "1 listed of 23"),
    ("{{ reason }} since {{ alert.firing_since.strftime('%Y-%m-%d') }}", "firing since 2024-01-01"),
    ("  padded  \n", "padded"),
    ("{{ 'x' * 3 }}", "xxx"),
    ("{{ range(3) | list | length }}", "3"),
]


@pytest.mark.parametrize(("source", "expected"), RENDERS)
def test_a_template_renders_from_the_documented_context(source: str, expected: str) -> None:
    assert render_template(source, SAMPLE_CONTEXT) == expected
    assert TemplateSettings(title=source).title == source  # accepted when the config loads


REFUSED = [
    ("{{ alert.rulee }}", "is not a valid template"),
    ("{{ unknown }}", "is not a valid template"),
    ("{% for t in tickets %}", "is not a valid template"),
    ("{{ 'x' * 100000 }}", "too large"),
    ("{{ 2 ** 1000 }}", "too large a number"),
    ("{{ range(100000) | list }}", "is too long"),
    ("{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}", "too long to render"),
    ("{{ ''.__class__.__mro__ }}", "is not a valid template"),
    ("x" * 10_001, "characters long"),
]


@pytest.mark.parametrize(("source", "why"), REFUSED)
def test_a_bad_template_is_refused_when_the_config_loads(source: str, why: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TemplateSettings(text=source)
    assert why in str(caught.value)


FALLS_BACK: list[tuple[str, dict[str, Any]]] = [
    ("{{ alert.rule }}", {}),  # a context without the field: StrictUndefined
    ("{{ tickets[0].subject }}", {**SAMPLE_CONTEXT, "tickets": []}),
]


@pytest.mark.parametrize(("source", "context"), FALLS_BACK)
def test_a_template_that_fails_at_run_time_gives_the_default_text(source: str, context: dict[str, Any]) -> None:
    assert render_template(source, context) == ""

"""A report in words: sections of lines, rendered as text, markdown, JSON, HTML (email) or Block Kit.

Every format is built from the same ``sections()``, so the terminal, Slack and email say the same thing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from jinja2 import Environment, select_autoescape

from backlog_watch.durations import human_duration
from backlog_watch.reports.build import AlertLine, Change, Report, TicketLine
from backlog_watch.reports.staffing import Workload

Format = Literal["text", "markdown", "json"]
CHART_CID = "backlog-chart"


@dataclass(frozen=True)
class Section:
    heading: str
    lines: list[str]


def _signed(n: int) -> str:
    return f"+{n}" if n > 0 else ("±0" if n == 0 else str(n))


def _changes(changes: Sequence[Change]) -> list[str]:
    return [f"{c.name}: {c.now} ({_signed(c.change)})" for c in changes] or ["none"]


def _age(hours: float) -> str:
    from datetime import timedelta

    return human_duration(timedelta(hours=hours))


def _ticket(t: TicketLine) -> str:
    facts = [t.priority, f"{_age(t.age_hours)} old", t.group or "no group", t.helpdesk]
    if t.sla:
        facts.append(f"SLA {t.sla}")
    return f"#{t.id} {t.subject} ({', '.join(facts)})"


def _alert(a: AlertLine) -> str:
    return f"{a.level.upper()} {a.rule} ({a.scope}), {a.state} since {a.since[:16].replace('T', ' ')}: {a.summary}"


def _clear(days: float | None) -> str:
    return f"{days:g} days" if days is not None else "n/a (nothing solved in 7 days)"


def sections(report: Report) -> list[Section]:
    return _daily(report) if report.kind == "daily" else _weekly(report)


def _daily(r: Report) -> list[Section]:
    x = r.extra
    y = x["yesterday"]
    c = x["compared"]
    return [
        Section("Verdict", [x["verdict"]]),
        Section(
            "Backlog",
            [
                f"Open: {r.open_tickets} ({_signed(x['change_since_yesterday'])} since yesterday)",
                f"Open now {c['now']}, yesterday {c['yesterday']}, same day last week {c['last_week']} "
                f"({_signed(c['now'] - c['last_week'])})",
                f"Yesterday ({y['day']}): {y['created']} created, {y['solved']} solved",
                f"Days to clear at last week's pace: {_clear(r.days_to_clear)}",
            ],
        ),
        Section(
            "Staffing",
            [
                _workload(x["workload"]),
                f"Unassigned: {x['unassigned']}",
                f"Waiting on us (new, open): {x['waiting']['on_us']}; waiting on the customer (pending, on hold): "
                f"{x['waiting']['on_customer']}",
            ],
        ),
        Section("Age", [f"{label}: {n}" for label, n in x["age_buckets"]]),
        Section(
            f"SLA breaching before noon ({x['noon'][11:16]}): {len(x['breach_before_noon'])}",
            [_ticket(t) for t in x["breach_before_noon"]] or ["none"],
        ),
        Section("Yesterday's spikes", [_spike(s) for s in x["spikes_yesterday"]] or ["none"]),
        Section("By helpdesk", _changes(r.by_helpdesk)),
        Section("By priority", _changes(x["by_priority"])),
        Section("By group", _changes(x["by_group"])),
        Section("Oldest tickets", [_ticket(t) for t in x["oldest"]] or ["none"]),
        Section(
            f"SLA at risk today: {x['sla_at_risk_today']} more due before midnight "
            f"(besides {x['sla_breached']} already breached)",
            [_ticket(t) for t in x["sla_at_risk"]] or ["none"],
        ),
        Section("Fired overnight", [_alert(a) for a in x["overnight"]] or ["nothing fired"]),
    ]


def _workload(w: Workload) -> str:
    band = f"healthy {w.healthy_from:g}-{w.healthy_to:g} h per agent"
    total = f"Workload: {w.hours:g} agent-hours"
    if w.per_agent is None:
        return f"{total}; no agent on record to share it ({band})"
    return f"{total}, {w.per_agent:g} h for each of {w.agents} agents: {w.band} the band ({band})"


def _spike(s: dict[str, Any]) -> str:
    factor = (
        f", {s['factor']:g}x that hour's average over the week before"
        if s["factor"] is not None
        else ", none at that hour in the week before"
    )
    return (
        f"{s['hour']:02d}:00-{s['hour'] + 1:02d}:00: {s['created']} created{factor}; "
        f"tag {s['tag']} on {s['tagged']} of them"
    )


def _weekly(r: Report) -> list[Section]:
    x = r.extra
    w = x["week"]
    sla = x["sla_attainment"]
    spikes = [
        f"{s['weekday']} {s['hour']:02d}:00-{s['hour'] + 1:02d}:00: {s['per_week']:g} tickets a week, "
        f"{s['factor']:g}x the average hour (in {s['weeks']} of the last 4 weeks)"
        for s in x["recurring_spikes"]
    ]
    return [
        Section(
            "The week",
            [
                f"Created: {w['created']} (previous week {w['previous_created']}); solved: {w['solved']} "
                f"(previous week {w['previous_solved']})",
                f"Backlog: {w['backlog_start']} -> {w['backlog_end']} "
                f"({_signed(w['backlog_end'] - w['backlog_start'])})",
                f"Open now: {r.open_tickets}; days to clear at last week's pace: {_clear(r.days_to_clear)}",
            ],
        ),
        Section(
            "Inflow and outflow, day by day",
            [
                f"{d.day:%a %d %b}: {d.created} created, {d.solved} solved ({_signed(d.created - d.solved)}), "
                f"{d.open_at_end} open"
                for d in r.days
            ],
        ),
        Section(
            "Days to clear, day by day",
            [f"{row['day']}: {_clear(row['days_to_clear'])}" for row in x["days_to_clear_trend"]],
        ),
        Section("Busiest tags", [f"{name}: {n}" for name, n in x["busiest_tags"]] or ["none"]),
        Section("Busiest groups", [f"{name}: {n}" for name, n in x["busiest_groups"]] or ["none"]),
        Section("Recurring spikes", spikes or ["none: inflow is even across the week"]),
        Section("SLA attainment", _attainment(sla)),
        Section("Backlog age", [f"{label}: {n}" for label, n in x["age_distribution"]]),
        Section(
            f"Skipped, not oldest first: {x['fifo_skipped']['count']}",
            [_ticket(t) for t in x["fifo_skipped"]["oldest"]] or ["none"],
        ),
        Section(
            f"Aging, open over 7 days: {x['aging']['count']}", [_ticket(t) for t in x["aging"]["oldest"]] or ["none"]
        ),
        Section("Busiest hour of the week", [_busiest(x["busiest_hour"])]),
    ]


def _busiest(hour: dict[str, Any] | None) -> str:
    if hour is None:
        return "none: no ticket created this week"
    return f"{hour['weekday']} {hour['hour']:02d}:00-{hour['hour'] + 1:02d}:00: {hour['created']} created"


def _attainment(sla: dict[str, Any]) -> list[str]:
    """Overall, then per priority and per helpdesk; plainly "no SLA data" when no solved ticket says."""
    if sla["with_sla"] == 0:
        solved = sla["without_sla"]
        return [
            f"no SLA data: none of the {solved} tickets solved this week carried an SLA outcome"
            if solved
            else "no SLA data: no ticket was solved this week"
        ]
    lines = [f"Overall: {_rate(sla)}"]
    lines += [f"Priority {row['name']}: {_rate(row)}" for row in sla["by_priority"]]
    lines += [f"Helpdesk {row['name']}: {_rate(row)}" for row in sla["by_helpdesk"]]
    return lines


def _rate(row: dict[str, Any]) -> str:
    counts = f"{row['met']} met, {row['breached']} breached"
    if row["without_sla"]:
        counts += f", {row['without_sla']} without SLA data"
    return f"{row['percent']:g}% ({counts})" if row["percent"] is not None else f"no SLA data ({counts})"


def as_text(report: Report) -> str:
    out = [report.title, "=" * len(report.title)]
    for s in sections(report):
        out += ["", s.heading] + [f"  {line}" for line in s.lines]
    return "\n".join(out) + "\n"


def as_markdown(report: Report) -> str:
    out = [f"# {report.title}"]
    for s in sections(report):
        out += ["", f"## {s.heading}", ""] + [f"- {line}" for line in s.lines]
    return "\n".join(out) + "\n"


def as_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2, default=str) + "\n"


def render(report: Report, fmt: Format) -> str:
    return {"text": as_text, "markdown": as_markdown, "json": as_json}[fmt](report)


_HTML = Environment(autoescape=select_autoescape(default=True)).from_string("""<!doctype html>
<html><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body style="font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; color: #222; max-width: 760px">
<h1 style="font-size: 20px">{{ title }}</h1>
<p style="color: #666">{{ generated }} ({{ timezone }})</p>
{% if chart_src %}<img src="{{ chart_src }}" alt="Created, solved and open tickets per day" width="700">{% endif %}
{% for s in sections %}<h2 style="font-size: 16px; margin-bottom: 4px">{{ s.heading }}</h2>
<ul style="margin-top: 0">{% for line in s.lines %}<li>{{ line }}</li>{% endfor %}</ul>
{% endfor %}</body></html>
""")


def as_html(report: Report, chart_src: str | None = f"cid:{CHART_CID}") -> str:
    """The email body; the chart is ``<img src="cid:backlog-chart">`` (or a data: URI passed as chart_src)."""
    return _HTML.render(
        title=report.title,
        generated=report.generated_at,
        timezone=report.timezone,
        chart_src=chart_src,
        sections=sections(report),
    )


def _mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_blocks(report: Report) -> list[dict[str, Any]]:
    """Block Kit: a header, one section per part of the report (within Slack's 3000-character limit)."""
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": report.title[:150]}}]
    for s in sections(report):
        body = f"*{_mrkdwn(s.heading)}*\n" + "\n".join(f"• {_mrkdwn(line)}" for line in s.lines)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body[:3000]}})
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"{report.generated_at} ({report.timezone}) · backlog-watch"}],
        }
    )
    return blocks[:50]

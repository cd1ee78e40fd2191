"""Inhibition as Alertmanager's inhibit_rules: no alert of one rule hides another's unless a rule says so.

The contract's own rule set on a backlog that is critical, aging and near its SLAs: every one of those
alerts reaches the Slack stand-in through the real daemon, store, outbox and slack-sdk client.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from backlog_watch.alerting.inhibition import DOWN_HIDES_OTHERS, InhibitRule
from backlog_watch.alerting.policy import HELPDESK_DOWN, DeliveryPolicy
from backlog_watch.app import Parts, assemble, build_notifier
from backlog_watch.cli import main
from backlog_watch.config import parse_config
from backlog_watch.config.models import Config
from backlog_watch.errors import ConfigError
from backlog_watch.models import AlertState, Sla, Status
from backlog_watch.sim import SlackStandIn
from tests.factories import NOW, ticket
from tests.helpers.alerts import alert
from tests.helpers.config import CONTRACT_ENV
from tests.paths import CONTRACT


def contract(slack: SlackStandIn, db: Path, extra: str = "") -> Config:
    """The contract file as it stands, its Slack pointed at the stand-in and its store on disk."""
    text = CONTRACT.read_text().replace(
        'channel: "#support-leads"', f'channel: "#support-leads"\n    api_url: {slack.api_url}'
    )
    text = text.replace("store: sqlite:///./backlog-watch.db", f"store: sqlite:///{db}")
    return parse_config(text + extra, "contract.yaml", env={**CONTRACT_ENV, "SLACK_BOT_TOKEN": slack.token})


def worst_backlog() -> list[object]:
    """zendesk: 120 open (backlog-size critical), 30 open for 10 days (aging-tickets), 3 SLAs due in 1h."""
    fresh = [ticket(age=timedelta(hours=3), status=Status.OPEN) for _ in range(87)]
    aged = [ticket(age=timedelta(days=10), status=Status.NEW) for _ in range(30)]
    due = [ticket(age=timedelta(hours=2), sla=Sla(resolution_due=NOW + timedelta(hours=1))) for _ in range(3)]
    return [*fresh, *aged, *due]


@asynccontextmanager
async def contract_daemon(slack: SlackStandIn, db: Path, extra: str = "") -> AsyncIterator[Parts]:
    """The daemon `run` builds from the contract, on a store holding the worst backlog, polled at NOW."""
    config = contract(slack, db, extra)
    notifiers = {"support-slack": build_notifier(config.notifier("support-slack"))}
    async with assemble(config, notifiers=notifiers, clock=lambda: NOW) as parts:
        parts.store.commit_page("zendesk", worst_backlog(), None)  # type: ignore[arg-type]
        parts.store.record_poll("zendesk", NOW)
        yield parts


def posted_rules(slack: SlackStandIn) -> set[str]:
    return {m.blocks[0]["text"]["text"].split(" · ")[1] for m in slack.messages("#support-leads")}


async def test_contract_rules_a_critical_backlog_hides_neither_aging_tickets_nor_sla(
    slack_standin: SlackStandIn,
    tmp_path: Path,
) -> None:
    async with contract_daemon(slack_standin, tmp_path / "bw.db") as parts:
        evaluation = await parts.daemon.evaluate()
    levels = {a.rule: a.level for a in evaluation.alerts.values() if a.state is AlertState.FIRING}
    assert levels["backlog-size"] == "critical" and levels["sla"] == "warn" and "aging-tickets" in levels
    assert evaluation.muted == {}
    assert {"backlog-size", "aging-tickets", "sla"} <= posted_rules(slack_standin)


async def test_an_explicit_inhibit_rule_hides_exactly_what_it_names(
    slack_standin: SlackStandIn,
    tmp_path: Path,
) -> None:
    extra = """
inhibit_rules:
  - source_matchers: [rule=backlog-size, level=critical]
    target_matchers: [rule=sla]
    equal: [helpdesk]
"""
    async with contract_daemon(slack_standin, tmp_path / "bw.db", extra) as parts:
        evaluation = await parts.daemon.evaluate()
        stored = parts.store.load_alerts()
    (hidden,) = evaluation.muted
    assert evaluation.alerts[hidden].rule == "sla"
    assert str(stored[hidden].muted) == "inhibited by backlog-size (critical, helpdesk=zendesk)"
    posted = posted_rules(slack_standin)
    assert "sla" not in posted and {"backlog-size", "aging-tickets"} <= posted


def test_inhibit_rules_match_rule_level_and_labels_with_equal() -> None:
    config = parse_config(
        """
helpdesks: [{name: zendesk, type: zendesk, url: "https://a.zendesk.com", email: a@b.c, token: t}]
rules:
  - {name: backlog-size, type: threshold, metric: open_tickets, warn_above: 1, labels: {team: tier1}}
  - {name: urgent-backlog, type: threshold, metric: open_tickets, where: {priority: [urgent]}, critical_above: 9}
inhibit_rules:
  - source_matchers: [rule=urgent-backlog, level=critical]
    target_matchers: [rule=backlog-size, level=warn, team=~tier.*]
    equal: [helpdesk]
""",
        "inhibit.yaml",
        env={},
    )
    policy = DeliveryPolicy.from_config(config)
    rules = {r.name: r for r in config.effective_rules()}
    urgent = alert("urgent-backlog", "critical")
    size = alert("backlog-size")
    size_jira = alert("backlog-size", helpdesk="jira")  # another helpdesk: `equal` keeps it
    aging = alert("aging-tickets")  # another rule: not named, not hidden
    pending = alert("urgent-backlog", "critical", state=AlertState.PENDING, helpdesk="freshdesk")
    size_freshdesk = alert("backlog-size", helpdesk="freshdesk")  # its source is only pending
    muted = policy.muted([urgent, size, size_jira, aging, pending, size_freshdesk], rules, [], NOW)
    assert set(muted) == {size.fingerprint}
    assert policy.muted([urgent, size], {}, [], NOW) == {}  # without the rule's labels, team=~ does not match


def test_helpdesk_down_hides_its_helpdesk_unless_switched_off_and_over_all_when_written() -> None:
    base = """
helpdesks: [{name: zendesk, type: zendesk, url: "https://a.zendesk.com", email: a@b.c, token: t}]
rules: [{name: backlog-size, type: threshold, metric: open_tickets, warn_above: 1}]
"""
    down = alert(HELPDESK_DOWN, "critical")
    here, jira = alert("backlog-size", "critical"), alert("aging", helpdesk="jira")
    alerts = [down, here, jira]
    default = DeliveryPolicy.from_config(parse_config(base, "a.yaml", env={}))
    assert set(default.muted(alerts, {}, [], NOW)) == {here.fingerprint}
    off = DeliveryPolicy.from_config(parse_config(base + "helpdesk_down: {hides_others: false}", "b.yaml", env={}))
    assert off.muted(alerts, {}, [], NOW) == {}
    over_all = DeliveryPolicy.from_config(
        parse_config(
            base
            + """
helpdesk_down: {hides_others: false}
inhibit_rules:
  - {source_matchers: [rule=helpdesk-down], target_matchers: ["rule!=helpdesk-down"]}
""",
            "c.yaml",
            env={},
        )
    )
    assert set(over_all.muted(alerts, {}, [], NOW)) == {here.fingerprint, jira.fingerprint}


def test_bad_inhibit_rules_are_config_errors_with_file_and_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            """\
helpdesks: [{name: zendesk, type: zendesk, url: "https://a.zendesk.com", email: a@b.c, token: t}]
rules: [{name: backlog-size, type: threshold, metric: open_tickets, warn_above: 1}]
inhibit_rules:
  - source_matchers:
      - rule=backlog-size
      - level
    target_matchers: ["group=~(Billing"]
    equal: [helpdesk]
  - source_matchers: [rule=backlog-sise]
    target_matcher: [rule=aging]
""",
            "bad.yaml",
            env={},
        )
    problems = "\n".join(caught.value.problems)
    assert 'bad.yaml:6: inhibit_rules[0].source_matchers[1]: "level" is not a matcher' in problems
    assert "bad.yaml:7: inhibit_rules[0].target_matchers[0]: " in problems and "regular expression" in problems
    assert (
        'bad.yaml:9: inhibit_rules[1].source_matchers[0]: unknown rule "backlog-sise" (did you mean "backlog-size"?)'
    ) in problems  # a typo would otherwise hide nothing, silently
    assert 'bad.yaml:10: inhibit_rules[1]: unknown key "target_matcher" (did you mean "target_matchers"?)' in problems


def test_old_inhibit_keys_still_work_and_check_says_they_are_deprecated(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = """
helpdesks: [{name: zendesk, type: zendesk, url: "https://a.zendesk.com", email: a@b.c, token: t}]
rules: [{name: backlog-size, type: threshold, metric: open_tickets, warn_above: 1}]
inhibit: {critical_hides_warn: true, helpdesk_down_hides: false}
"""
    policy = DeliveryPolicy.from_config(parse_config(text, "old.yaml", env={}))
    warn, critical = alert("days-to-clear"), alert("backlog-size", "critical")
    other_scope = alert("aging", group="Billing")
    down = alert(HELPDESK_DOWN, "critical")
    assert set(policy.muted([warn, critical, other_scope, down], {}, [], NOW)) == {warn.fingerprint}
    path = tmp_path / "old.yaml"
    path.write_text(text)
    out = io.StringIO()
    assert main(["check", "--config", str(path)], out) == 0
    lines = [line for line in out.getvalue().splitlines() if "deprecated" in line]
    assert len(lines) == 2
    assert "inhibit.critical_hides_warn is deprecated" in lines[0] and "inhibit_rules" in lines[0]
    assert "use helpdesk_down.hides_others: false" in lines[1]


MUTED_CONFIG = """
store: sqlite:///{db}
http: {{listen: "127.0.0.1:0"}}
business_hours:
  weekend: {{days: [sat, sun], hours: "09:00-18:00"}}
helpdesks: [{{name: zendesk, type: zendesk, url: "https://a.zendesk.com", email: a@b.c, token: t}}]
notifiers:
  - {{name: console, type: console}}
  - {{name: night, type: console, quiet_hours: weekend}}
defaults: {{notify: [console]}}
rules:
  - {{name: backlog-size, type: threshold, metric: open_tickets, warn_above: 1, critical_above: 2}}
  - {{name: urgent-backlog, type: threshold, metric: open_tickets, where: {{priority: [urgent]}}, warn_above: 0}}
  - {{name: unassigned, type: aging, older_than: 1h, where: {{assigned: false}}}}
  - {{name: old-tickets, type: aging, older_than: 1h, notify: [night]}}
inhibit_rules:
  - {{source_matchers: [rule=backlog-size, level=critical], target_matchers: [rule=urgent-backlog],
     equal: [helpdesk]}}
"""


async def test_muted_alerts_are_logged_once_marked_on_the_board_and_counted(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import httpx

    from backlog_watch.alerting.silences import Matcher, Silences
    from backlog_watch.app import daemon_hooks, web_state
    from backlog_watch.models import Priority
    from backlog_watch.web.server import WebServer

    config = parse_config(MUTED_CONFIG.format(db=tmp_path / "bw.db"), "muted.yaml", env={})
    now = [NOW]  # a Monday, 10:00 UTC: the weekend calendar of `night` is closed
    async with assemble(config, clock=lambda: now[0]) as parts:
        for notifier in parts.daemon.notifiers.values():
            notifier._stream = io.StringIO()  # type: ignore[attr-defined]
        parts.store.commit_page(
            "zendesk",
            [
                ticket(age=timedelta(hours=3)),
                ticket(age=timedelta(hours=3)),
                ticket(age=timedelta(hours=3), priority=Priority.URGENT, assignee=None),
            ],
            None,
        )
        parts.store.record_poll("zendesk", NOW)
        Silences(parts.store).add(
            [Matcher.parse("rule=unassigned")],
            ends_at=NOW + timedelta(hours=1),
            created_by="alice",
            comment="triage later",
            now=NOW,
        )
        caplog.set_level("INFO", logger="backlog_watch.alerting.policy")
        first = await parts.daemon.evaluate()
        now[0] += timedelta(minutes=1)
        await parts.daemon.evaluate()  # the same mutings: nothing logged again

        why = {first.alerts[fp].rule: m for fp, m in first.muted.items()}
        assert {r: m.reason for r, m in why.items()} == {
            "urgent-backlog": "inhibited",
            "unassigned": "silenced",
            "old-tickets": "quiet_hours",
        }
        assert [n for n, _ in first.result.sent] == ["console"]  # backlog-size only
        assert [n for n, _ in first.result.held] == ["night"]  # quiet hours hold it for the digest
        lines = [r.getMessage() for r in caplog.records if "not notified" in r.getMessage()]
        assert len(lines) == 3 and all(r.levelname == "INFO" for r in caplog.records if "not notified" in r.message)
        assert any("urgent-backlog" in line and "inhibited by backlog-size (critical" in line for line in lines)

        hooks = daemon_hooks(parts.daemon)
        server = WebServer("127.0.0.1", 0, web_state(config, parts, hooks))
        url = await server.start()
        try:
            async with httpx.AsyncClient(base_url=url) as client:
                board = (await client.get("/api/backlog")).json()
                metrics = (await client.get("/metrics")).text
        finally:
            await hooks.close()
            await server.stop()
    shown = {a["rule"]: a["muted"] for a in board["helpdesks"][0]["alerts"]}
    assert shown["backlog-size"] is None
    assert shown["urgent-backlog"] == "inhibited by backlog-size (critical, helpdesk=zendesk)"
    assert shown["unassigned"].startswith("silenced by ") and "alice: triage later" in shown["unassigned"]
    assert shown["old-tickets"] == "quiet hours (night)"
    for reason in ("silenced", "inhibited", "quiet_hours"):
        assert f'backlog_watch_alerts_muted{{reason="{reason}"}} 1.0' in metrics


URGENT = {"rule": "urgent-backlog", "level": "critical", "helpdesk": "zendesk"}
SIZE = {"rule": "backlog-size", "level": "warn", "helpdesk": "zendesk", "team": "tier1"}


@pytest.mark.parametrize(
    ("source_matchers", "target_matchers", "equal", "source", "target", "hides"),
    [
        pytest.param(["rule=urgent-backlog"], ["rule=backlog-size"], [], URGENT, SIZE, True, id="source-and-target"),
        pytest.param(["rule=aging"], ["rule=backlog-size"], [], URGENT, SIZE, False, id="source-does-not-match"),
        pytest.param(["rule=urgent-backlog"], ["rule=aging"], [], URGENT, SIZE, False, id="target-does-not-match"),
        pytest.param(
            ["rule=urgent-backlog", "level=warn"], ["rule=backlog-size"], [], URGENT, SIZE, False, id="all-sources"
        ),
        pytest.param(
            ["rule=urgent-backlog"], ["rule=backlog-size", "team=~tier.*"], [], URGENT, SIZE, True, id="target-regex"
        ),
        pytest.param(
            ["rule=urgent-backlog"], ["rule=backlog-size", "team!=tier1"], [], URGENT, SIZE, False, id="target-not"
        ),
        pytest.param(
            ["rule=urgent-backlog"], ["rule=backlog-size"], ["helpdesk"], URGENT, SIZE, True, id="equal-same-value"
        ),
        pytest.param(
            ["rule=urgent-backlog"],
            ["rule=backlog-size"],
            ["helpdesk"],
            URGENT,
            {**SIZE, "helpdesk": "jira"},
            False,
            id="equal-other-value",
        ),
        pytest.param(
            ["rule=urgent-backlog"], ["rule=backlog-size"], ["group"], URGENT, SIZE, True, id="equal-missing-on-both"
        ),
        pytest.param(
            ["rule=urgent-backlog"],
            ["rule=backlog-size"],
            ["group"],
            URGENT,
            {**SIZE, "group": "Billing"},
            False,
            id="equal-missing-on-one",
        ),
        pytest.param(
            ["rule=helpdesk-down"],
            ["rule!=helpdesk-down"],
            ["helpdesk"],
            {"rule": "helpdesk-down", "level": "critical", "helpdesk": "zendesk"},
            {"rule": "helpdesk-down", "level": "critical", "helpdesk": "zendesk"},
            False,
            id="a-rule-never-hides-itself-when-targets-exclude-it",
        ),
    ],
)
def test_an_inhibit_rule_hides(
    source_matchers: list[str],
    target_matchers: list[str],
    equal: list[str],
    source: dict[str, str],
    target: dict[str, str],
    hides: bool,
) -> None:
    rule = InhibitRule.model_validate(
        {"source_matchers": source_matchers, "target_matchers": target_matchers, "equal": equal}
    )
    assert rule.hides(source, target) is hides


@pytest.mark.parametrize(
    ("target", "hides"),
    [
        pytest.param({"rule": "backlog-size", "helpdesk": "zendesk"}, True, id="same-helpdesk"),
        pytest.param({"rule": "backlog-size", "helpdesk": "jira"}, False, id="other-helpdesk"),
        pytest.param({"rule": HELPDESK_DOWN, "helpdesk": "zendesk"}, False, id="itself"),
    ],
)
def test_helpdesk_down_hides_the_other_alerts_of_its_helpdesk(target: dict[str, str], hides: bool) -> None:
    source = {"rule": HELPDESK_DOWN, "level": "critical", "helpdesk": "zendesk"}
    assert DOWN_HIDES_OTHERS.hides(source, target) is hides


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"source_matchers": [], "target_matchers": ["rule=a"]}, id="no-source"),
        pytest.param({"source_matchers": ["rule=a"], "target_matchers": []}, id="no-target"),
        pytest.param({"source_matchers": ["level"], "target_matchers": ["rule=a"]}, id="not-a-matcher"),
        pytest.param({"source_matchers": ["rule=a"], "target_matchers": ["group=~("]}, id="bad-regex"),
        pytest.param({"source_matchers": ["rule=a"], "target_matchers": ["rule=b"], "equal": ["1x"]}, id="bad-label"),
    ],
)
def test_bad_inhibit_rules_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        InhibitRule.model_validate(settings)

"""The config: the contract loads, each mistake is a `file:line: path: message` line, secrets stay hidden."""

from __future__ import annotations

import importlib.metadata
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from backlog_watch_connectors.freshdesk import FreshdeskSettings
from backlog_watch_connectors.jira import JiraSettings
from backlog_watch_connectors.zendesk import ZendeskSettings
from pydantic import SecretStr, ValidationError

from backlog_watch import plugins
from backlog_watch.config import Config, load_config, parse_config
from backlog_watch.delivery.notifiers.console import ConsoleSettings
from backlog_watch.delivery.notifiers.email import EmailSettings
from backlog_watch.delivery.notifiers.slack import SlackSettings
from backlog_watch.delivery.notifiers.slack_webhook import WebhookSettings
from backlog_watch.errors import ConfigError
from tests.paths import SHARED

PROJECT = Path(__file__).resolve().parents[2]
EXAMPLE = PROJECT / "config" / "backlog-watch.example.yaml"
CONTRACT = EXAMPLE  # the repository's verbatim copy of the contract; checked against ../shared below
SHARED_CONTRACT = SHARED / "design" / "config-contract.yaml"
MINIMAL = PROJECT / "config" / "minimal.yaml"

CONTRACT_ENV = {
    "ZENDESK_API_TOKEN": "zd-token-0001",
    "FRESHDESK_API_KEY": "fd-key-0002",
    "JIRA_API_TOKEN": "jira-token-0003",
    "SLACK_BOT_TOKEN": "xoxb-slack-0004",
    "SMTP_PASSWORD": "smtp-password-0005",
}
SECRETS = list(CONTRACT_ENV.values())

# A small valid config; the table below edits it. Line numbers are on the right.
BASE = """\
timezone: Europe/Paris
http:
  listen: 127.0.0.1:8080
helpdesks:
  - name: zendesk
    type: zendesk
    url: https://acme.zendesk.com
    email: ops@acme.com
    token: ${ZENDESK_API_TOKEN}
notifiers:
  - name: support-slack
    type: slack
    token: ${SLACK_BOT_TOKEN}
    channel: "#support-leads"
defaults:
  notify: [support-slack]
rules:
  - name: backlog-size
    type: threshold
    metric: open_tickets
    warn_above: 50
  - name: aging-tickets
    type: aging
    older_than: 7d
"""
# timezone 1, http 2, listen 3, helpdesks 4, name 5, type 6, url 7, email 8, token 9, notifiers 10,
# name 11, type 12, token 13, channel 14, defaults 15, notify 16, rules 17, backlog-size 18..21,
# aging-tickets 22..24.
ENV = {"ZENDESK_API_TOKEN": "zd-token-0001", "SLACK_BOT_TOKEN": "xoxb-slack-0004"}


def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> str:
    monkeypatch.chdir(tmp_path)
    Path("config.yaml").write_text(text, encoding="utf-8")
    return "config.yaml"


def problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, env: dict[str, str] = ENV) -> list[str]:
    path = write(tmp_path, monkeypatch, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env)
    return caught.value.problems


def edit(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


# -- the contract ------------------------------------------------------------------------------------


def test_loading_the_contract_reads_each_plugin_group_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each rule block, notifier and helpdesk asks for its type's class: the installed distributions'
    entry points are read once a process (backlog_watch/plugins.py), not once a block (2-3 ms each)."""
    read: list[str] = []
    original = importlib.metadata.entry_points

    def counted(*, group: str) -> importlib.metadata.EntryPoints:
        read.append(group)
        return original(group=group)

    monkeypatch.setattr(plugins.metadata, "entry_points", counted)
    plugins.entry_points.cache_clear()
    try:
        config = load_config(CONTRACT, env=CONTRACT_ENV)
    finally:
        plugins.entry_points.cache_clear()  # later tests read the real registry afresh
    assert len(config.rules) >= 10
    assert sorted(read) == sorted(set(read))
    assert {"backlog_watch.rules", "backlog_watch.connectors", "backlog_watch.notifiers"} <= set(read)


def test_contract_loads_with_its_variables_set() -> None:
    config = load_config(CONTRACT, env=CONTRACT_ENV)
    assert config.path == CONTRACT
    assert config.timezone == "Europe/Paris" and str(config.tz) == "Europe/Paris"
    assert (config.http.host, config.http.port) == ("127.0.0.1", 8080)
    assert [h.name for h in config.helpdesks] == ["zendesk", "freshdesk", "jira"]
    assert isinstance(config.helpdesk("zendesk"), ZendeskSettings)
    assert isinstance(config.helpdesk("freshdesk"), FreshdeskSettings)
    assert isinstance(config.helpdesk("jira"), JiraSettings)
    assert config.helpdesk("jira").jql == "project = SUP"  # type: ignore[attr-defined]
    assert isinstance(config.notifier("support-slack"), SlackSettings)
    assert isinstance(config.notifier("leads-email"), EmailSettings)
    assert config.notifier("leads-email").from_ == "backlog-watch <alerts@acme.com>"  # type: ignore[union-attr]
    assert len(config.rules) == 12
    assert [r.name for r in config.reports] == ["morning-briefing", "weekly-review"]
    support_eu = config.calendar("support-eu")
    assert support_eu.is_open(datetime(2026, 11, 23, 10, tzinfo=config.tz))
    assert not support_eu.is_open(datetime(2026, 12, 25, 10, tzinfo=config.tz))  # a holiday


def test_the_whole_contract_runs_nothing_is_left_unsupported() -> None:
    config = load_config(CONTRACT, env=CONTRACT_ENV)
    assert config.unsupported() == []
    # Every rule of the contract runs, with the defaults filled in.
    assert [r.unsupported_reason() for r in config.effective_rules()] == [None] * 12


def test_example_config_is_the_contract_verbatim() -> None:
    if not SHARED_CONTRACT.is_file():
        pytest.skip(f"the shared contract is not beside this checkout ({SHARED_CONTRACT})")
    assert EXAMPLE.read_bytes() == SHARED_CONTRACT.read_bytes()
    example = load_config(EXAMPLE, env=CONTRACT_ENV)
    assert example.unsupported() == load_config(CONTRACT, env=CONTRACT_ENV).unsupported()


def test_minimal_config_loads_and_runs_entirely() -> None:
    config = load_config(MINIMAL, env=ENV)
    assert config.unsupported() == []
    assert [h.type for h in config.helpdesks] == ["zendesk"]
    assert [n.type for n in config.notifiers] == ["slack"]
    assert [r.type for r in config.rules] == ["threshold"]
    assert config.store == "sqlite:///./backlog-watch.db"


def test_base_config_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(write(tmp_path, monkeypatch, BASE), env=ENV)
    assert config.path == Path("config.yaml")
    assert config.unsupported() == []


# -- one line per mistake ----------------------------------------------------------------------------

BAD_CONFIGS = {
    "bad duration": (
        edit("older_than: 7d", "older_than: 7 days"),
        'config.yaml:24: rules[1].older_than: "7 days" is not a duration (use 90s, 15m, 4h, 7d or 2w)',
    ),
    "unknown key": (
        edit("older_than: 7d", "olders_than: 7d"),
        'config.yaml:24: rules[1]: unknown key "olders_than" (did you mean "older_than"?)',
    ),
    "missing key": (edit("    metric: open_tickets\n", ""), 'config.yaml:18: rules[0]: missing required key "metric"'),
    "unknown rule type": (
        edit("type: aging", "type: agging"),
        'config.yaml:23: rules[1].type: unknown rule type "agging" (did you mean "aging"?)',
    ),
    "unknown connector": (
        edit("type: zendesk", "type: zendsk"),
        'config.yaml:6: helpdesks[0].type: unknown connector type "zendsk" (did you mean "zendesk"?)',
    ),
    "unknown notifier type": (
        edit("type: slack", "type: slak"),
        'config.yaml:12: notifiers[0].type: unknown notifier type "slak" (did you mean "slack"?)',
    ),
    "unset variable": (
        edit("${ZENDESK_API_TOKEN}", "${ZENDESK_TOKEN}"),
        "config.yaml:9: helpdesks[0].token: environment variable ZENDESK_TOKEN is not set",
    ),
    "unset notifier variable": (  # its empty value must not be masked everywhere in the line
        edit("${SLACK_BOT_TOKEN}", "${SLACK_UNSET}"),
        "config.yaml:13: notifiers[0].token: environment variable SLACK_UNSET is not set",
    ),
    "unknown notifier": (
        edit("notify: [support-slack]", "notify: [support-slak]"),
        'config.yaml:16: defaults.notify[0]: unknown notifier "support-slak" (did you mean "support-slack"?)',
    ),
    "rule notify": (
        BASE + "    notify: leads\n",
        'config.yaml:25: rules[1].notify: unknown notifier "leads" (choose from: support-slack)',
    ),
    "unknown helpdesk": (
        BASE + "    where: {helpdesk: [zendesk, jira]}\n",
        'config.yaml:25: rules[1].where.helpdesk[1]: unknown helpdesk "jira" (choose from: zendesk)',
    ),
    "unknown calendar": (
        BASE + "    business_hours: support-eu\n",
        'config.yaml:25: rules[1].business_hours: unknown calendar "support-eu" (define it under business_hours)',
    ),
    "duplicate rule": (
        edit("name: aging-tickets", "name: backlog-size"),
        'config.yaml:22: rules[1].name: duplicate rule name "backlog-size", also used by rules[0]',
    ),
    "yaml syntax": (
        edit("older_than: 7d", "older_than: [7d"),
        "config.yaml:25: YAML syntax error: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence started on line 24)",
    ),
    "wrong type": (
        edit("warn_above: 50", "warn_above: fifty"),
        'config.yaml:21: rules[0].warn_above: expected a number, got "fifty"',
    ),
    "listen": (
        edit("listen: 127.0.0.1:8080", "listen: localhost"),
        'config.yaml:3: http.listen: "localhost" is not host:port (e.g. 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080)',
    ),
    "bad cron": (
        BASE + "reports:\n  - name: morning\n    schedule: '0 9 * *'\n    kind: daily\n    notify: support-slack\n",
        'config.yaml:27: reports[0].schedule: "0 9 * *" is not a cron schedule '
        '(minute hour day month weekday, e.g. "0 9 * * mon-fri"): '
        "Wrong number of fields; got 4, expected 5",
    ),
    "bad timezone": (
        edit("timezone: Europe/Paris", "timezone: Europe/Pariss"),
        'config.yaml:1: timezone: "Europe/Pariss" is not a time zone (did you mean "Europe/Paris"?)',
    ),
    "bad literal": (
        edit("metric: open_tickets", "metric: open_ticket"),
        'config.yaml:20: rules[0].metric: "open_ticket" is not allowed: use one of open_tickets, '
        "unassigned_tickets, pending_tickets, on_hold_tickets, age_avg_hours, age_p50_hours, "
        "age_p90_hours, age_max_hours, created_24h, resolved_24h, net_flow_24h, "
        "resolved_per_day_7d, days_to_clear, workload_hours, sla_breached, sla_due_1h "
        '(did you mean "open_tickets"?)',
    ),
    "missing section": (BASE.split("rules:")[0], 'config.yaml:1: missing required key "rules"'),
    "duplicate key": (
        edit('    channel: "#support-leads"\n', '    channel: "#support-leads"\n    channel: "#x"\n'),
        'config.yaml:15: YAML syntax error: duplicate key "channel" in the mapping that starts on line 11',
    ),
    "connector key": (
        edit("    email: ops@acme.com\n", "    emial: ops@acme.com\n"),
        'config.yaml:8: helpdesks[0]: unknown key "emial" (did you mean "email"?)',
    ),
    "http url": (
        edit("url: https://acme.zendesk.com", "url: http://acme.zendesk.com"),
        'config.yaml:7: helpdesks[0].url: "http://acme.zendesk.com" must be an https:// URL '
        "(http:// only for loopback hosts)",
    ),
    "unknown top-level key": (
        edit("timezone:", "timezon:"),
        'config.yaml:1: unknown key "timezon" (did you mean "timezone"?)',
    ),
    "not a mapping": (
        "- helpdesks\n",
        "config.yaml:1: the config must be a mapping (store:, helpdesks:, notifiers:, rules: ...), got a list",
    ),
}


@pytest.mark.parametrize(("text", "expected"), BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
def test_each_mistake_is_one_located_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: str
) -> None:
    assert problems(tmp_path, monkeypatch, text) == [expected]


def test_every_problem_is_reported_at_once_in_file_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = edit("older_than: 7d", "older_than: soon").replace("listen: 127.0.0.1:8080", "listen: nowhere")
    text = text.replace("${ZENDESK_API_TOKEN}", "${UNSET_TOKEN}")
    found = problems(tmp_path, monkeypatch, text)
    assert [line.split(":")[1] for line in found] == ["3", "9", "24"]
    assert "environment variable UNSET_TOKEN is not set" in found[1]


def test_missing_file_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config("nowhere.yaml")
    assert caught.value.problems == ["nowhere.yaml: no such file"]


# -- ${VAR} interpolation ----------------------------------------------------------------------------


def test_default_used_when_the_variable_is_unset_or_empty() -> None:
    text = edit('channel: "#support-leads"', "channel: ${SLACK_CHANNEL:-#alerts}")
    assert parse_config(text, env=ENV).notifier("support-slack").channel == "#alerts"  # type: ignore[union-attr]
    empty = {**ENV, "SLACK_CHANNEL": ""}
    assert parse_config(text, env=empty).notifier("support-slack").channel == "#alerts"  # type: ignore[union-attr]
    given = {**ENV, "SLACK_CHANNEL": "#ops"}
    assert parse_config(text, env=given).notifier("support-slack").channel == "#ops"  # type: ignore[union-attr]


def test_variables_inside_strings_and_dollar_escape() -> None:
    text = edit("url: https://acme.zendesk.com", "url: https://${SUBDOMAIN:-acme}.zendesk.com/$$x")
    assert parse_config(text, env={**ENV, "SUBDOMAIN": "beta"}).helpdesk("zendesk").url == "https://beta.zendesk.com/$x"


def test_variables_give_numbers_and_durations() -> None:
    text = edit("warn_above: 50", "warn_above: ${WARN_AT:-75}")
    text = text.replace("older_than: 7d", "older_than: ${AGE}")
    config = parse_config(text, env={**ENV, "AGE": "3d"})
    assert config.rules[0].warn_above == 75  # type: ignore[union-attr]
    assert config.rules[1].older_than == timedelta(days=3)  # type: ignore[union-attr]


def test_x_keys_hold_anchors_to_share_blocks() -> None:
    text = "x-acme: &acme\n  url: https://acme.zendesk.com\n  email: ops@acme.com\n" + edit(
        "    url: https://acme.zendesk.com\n    email: ops@acme.com\n", "    <<: *acme\n"
    )
    assert parse_config(text, env=ENV).helpdesk("zendesk").url == "https://acme.zendesk.com"


def test_malformed_reference_is_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(edit("${ZENDESK_API_TOKEN}", "${ZENDESK_API_TOKEN"), env=ENV)
    assert caught.value.problems == [
        "config.yaml:9: helpdesks[0].token: malformed ${...}: write ${NAME} or ${NAME:-default} "
        "(and $$ for a literal $)"
    ]


# -- secrets ------------------------------------------------------------------------------------------


def test_secrets_are_secretstr_and_absent_from_repr() -> None:
    config = load_config(CONTRACT, env=CONTRACT_ENV)
    assert isinstance(config.helpdesk("zendesk").token, SecretStr)  # type: ignore[attr-defined]
    assert isinstance(config.helpdesk("freshdesk").api_key, SecretStr)  # type: ignore[attr-defined]
    assert isinstance(config.notifier("leads-email").password, SecretStr)  # type: ignore[union-attr]
    assert config.helpdesk("jira").token.get_secret_value() == "jira-token-0003"  # type: ignore[attr-defined]
    shown = repr(config) + str(config)
    assert not [secret for secret in SECRETS if secret in shown]


def test_store_password_is_masked_in_repr() -> None:
    config = parse_config("store: postgresql://bw:db-pass-99@db.internal/bw\n" + BASE, env=ENV)
    assert "db-pass-99" not in repr(config)
    assert "postgresql://bw:***@db.internal/bw" in repr(config)
    assert config.unsupported() == []  # the shared store runs


def test_errors_never_echo_a_secret() -> None:
    text = BASE.replace("    channel:", "    api_url: ftp://x\n    channel:").replace(
        "notifiers:\n",
        "notifiers:\n  - name: hook\n    type: slack_webhook\n"
        "    url: http://hooks.example.com/services/T0/B0/hook-secret-7\n"
        "  - name: mail\n    type: email\n    host: smtp.acme.com\n    username: a@acme.com\n"
        "    password: [smtp-secret-8]\n    from: a@acme.com\n    to: b@acme.com\n",
    )
    text = text.replace(
        "    older_than: 7d\n", "    older_than: 7d\n    description: see xoxb-slack-0004\n    for: xoxb-slack-0004\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env=ENV)
    message = str(caught.value)
    assert len(caught.value.problems) == 4, message  # webhook url, email password, api_url, for
    for secret in ("hook-secret-7", "smtp-secret-8", "xoxb-slack-0004", "zd-token-0001"):
        assert secret not in message


def test_notifier_models() -> None:
    slack = SlackSettings(name="s", token=SecretStr("t"), channel="#c", api_url="http://127.0.0.1:9000/api")
    assert slack.api_url == "http://127.0.0.1:9000/api/"
    with pytest.raises(ValidationError, match="https://"):
        SlackSettings(name="s", token=SecretStr("t"), channel="#c", api_url="http://slack.example.com/api/")
    email = EmailSettings.model_validate(
        {"name": "m", "host": "smtp", "port": 465, "tls": True, "from": "a@acme.com", "to": "b@acme.com"}
    )
    assert (email.tls, email.starttls, email.to) == (True, False, ["b@acme.com"])
    with pytest.raises(ValidationError, match="not both"):
        EmailSettings.model_validate(
            {"name": "m", "host": "smtp", "tls": True, "starttls": True, "from": "a@acme.com", "to": ["b@acme.com"]}
        )
    hook = WebhookSettings(name="w", url=SecretStr("https://hooks.slack.com/services/x"))
    assert "services" not in repr(hook)


# -- the model in code --------------------------------------------------------------------------------


def test_effective_rules_fill_defaults_and_a_rules_own_value_wins() -> None:
    text = edit(
        "older_than: 7d",
        "older_than: 7d\n    notify: []\n    repeat_every: 1d\n"
        "    send_resolved: false\n    group_by: [helpdesk, group]",
    )
    text = text.replace("  notify: [support-slack]", "  notify: [support-slack]\n  repeat_every: 2h")
    config = parse_config(text, env=ENV)
    inherited, own = config.effective_rules()
    assert (inherited.notify, inherited.repeat_every, inherited.send_resolved, inherited.group_by) == (
        ("support-slack",),
        timedelta(hours=2),
        True,
        ("helpdesk",),
    )
    assert (own.notify, own.repeat_every, own.send_resolved, own.group_by) == (
        (),
        timedelta(days=1),
        False,
        ("helpdesk", "group"),
    )
    assert config.rules[0].notify is None  # the config itself is left as written


def test_config_built_in_code_checks_references() -> None:
    helpdesk = {"name": "zd", "type": "zendesk", "url": "https://a.zendesk.com", "email": "a@b.c", "token": "t"}
    rule = {"name": "r", "type": "threshold", "metric": "open_tickets", "warn_above": 1}
    config = Config.model_validate(
        {
            "helpdesks": [helpdesk],
            "notifiers": [ConsoleSettings(name="out")],
            "defaults": {"notify": "out"},
            "rules": [rule],
        }
    )
    assert config.path is None
    assert isinstance(config.helpdesks[0], ZendeskSettings)
    assert config.effective_rules()[0].notify == ("out",)
    with pytest.raises(ValidationError, match='rules\\[0\\].notify\\[0\\]: unknown notifier "slack"'):
        Config.model_validate({"helpdesks": [helpdesk], "rules": [{**rule, "notify": ["slack"]}]})
    with pytest.raises(KeyError):
        config.helpdesk("freshdesk")
    with pytest.raises(KeyError):
        config.notifier("slack")


def test_listen_accepts_ipv6_and_any_address() -> None:
    config = parse_config(edit("listen: 127.0.0.1:8080", 'listen: "[::1]:9090"'), env=ENV)
    assert (config.http.host, config.http.port) == ("::1", 9090)
    any_address = "listen: 0.0.0.0:80\n  allow_unauthenticated: true  # a public listen must say so"
    config = parse_config(edit("listen: 127.0.0.1:8080", any_address), env=ENV)
    assert (config.http.host, config.http.port) == ("0.0.0.0", 80)


def test_a_threshold_outside_the_metrics_range_is_an_error_at_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = problems(tmp_path, monkeypatch, edit("warn_above: 50", "warn_above: -5"))
    assert len(found) == 1
    assert found[0].startswith("config.yaml:21: rules[0].warn_above:")
    assert "-5 is out of range" in found[0] and "never negative" in found[0]
    # net_flow_24h can go below zero: a negative threshold there is a real rule
    config = parse_config(
        edit("metric: open_tickets\n    warn_above: 50", "metric: net_flow_24h\n    warn_below: -5"), env=ENV
    )
    assert config.rules[0].warn_below == -5  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        ("warn_above: 100\n    critical_above: 50", "warn_above (100) must be below critical_above (50)"),
        ("warn_above: 50\n    critical_above: 50", "warn_above (50) must be below critical_above (50)"),
        ("warn_below: 5\n    critical_below: 10", "warn_below (5) must be above critical_below (10)"),
    ],
)
def test_a_warn_level_past_the_critical_one_is_an_error_at_its_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, levels: str, message: str
) -> None:
    """A warn level that can never be reached (the alert would go straight to critical) is refused."""
    found = problems(tmp_path, monkeypatch, edit("warn_above: 50", levels))
    assert len(found) == 1 and found[0].startswith("config.yaml:") and "rules[0]" in found[0]
    assert message in found[0] and "never reached" in found[0]


def test_an_empty_variable_is_refused_unless_its_default_allows_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docker compose passes an unset variable on as an empty one: that is a config error at its line,
    not a refused login later; ``${NAME:-}`` says empty is meant."""
    found = problems(tmp_path, monkeypatch, BASE, env={**ENV, "ZENDESK_API_TOKEN": ""})
    assert found == [
        "config.yaml:9: helpdesks[0].token: environment variable ZENDESK_API_TOKEN is empty "
        "(write ${ZENDESK_API_TOKEN:-} if empty is meant)"
    ]
    path = write(tmp_path, monkeypatch, edit("${ZENDESK_API_TOKEN}", "${ZENDESK_API_TOKEN:-fallback-token}"))
    assert load_config(path, env={**ENV, "ZENDESK_API_TOKEN": ""}).helpdesks[0].name == "zendesk"

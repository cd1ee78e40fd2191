"""Time intervals: Alertmanager's fields on the wall clock of their location, mute windows on rules and
notifiers (held and sent as one digest when the window ends, criticals through with except_levels), and
config mistakes named by file, line and key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from backlog_watch.alerting.policy import DeliveryPolicy
from backlog_watch.alerting.time_intervals import IntervalSpec, TimeInterval
from backlog_watch.config import parse_config
from backlog_watch.errors import ConfigError
from backlog_watch.sim import SimClock, ZendeskSimulator
from tests.factories import NOW
from tests.helpers.alerts import alert
from tests.helpers.config import aging, document, dump, email, parse, threshold, zendesk
from tests.helpers.daemon import once
from tests.smtp import bodies, smtp_server

PARIS = ZoneInfo("Europe/Paris")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "moment", "inside"),
    [
        ({"weekdays": ["saturday:sunday"]}, "2026-11-28 12:00", True),  # a Saturday
        ({"weekdays": ["saturday:sunday"]}, "2026-11-30 12:00", False),  # a Monday
        ({"times": [{"start_time": "22:00", "end_time": "24:00"}]}, "2026-11-30 23:59", True),
        ({"times": [{"start_time": "22:00", "end_time": "24:00"}]}, "2026-11-30 21:59", False),
        ({"weekdays": ["monday"], "times": [{"start_time": "09:00", "end_time": "10:00"}]}, "2026-11-30 09:30", True),
        ({"weekdays": ["monday"], "times": [{"start_time": "09:00", "end_time": "10:00"}]}, "2026-12-01 09:30", False),
        ({"days_of_month": ["-1"]}, "2026-02-28 08:00", True),  # the last day of February
        ({"days_of_month": ["-1"]}, "2026-03-30 08:00", False),
        ({"days_of_month": ["1:7"], "months": ["december"]}, "2026-12-07 08:00", True),
        ({"days_of_month": ["1:7"], "months": ["december"]}, "2026-11-07 08:00", False),
        ({"months": ["1:3"], "years": ["2027"]}, "2027-02-01 00:00", True),
        ({"months": ["1:3"], "years": ["2027"]}, "2026-02-01 00:00", False),
        # 23:30 UTC on Sunday is 00:30 on Monday in Paris: the location's wall clock counts
        ({"weekdays": ["monday"], "location": "Europe/Paris"}, "2026-11-29 23:30", True),
        ({"weekdays": ["monday"]}, "2026-11-29 23:30", False),  # default zone: UTC here
    ],
)
def test_a_spec_matches_on_the_wall_clock_of_its_location(spec: dict[str, Any], moment: str, inside: bool) -> None:
    assert IntervalSpec.model_validate(spec).contains(at(moment), UTC) is inside


def test_a_named_interval_is_any_of_its_specs_in_the_configs_zone() -> None:
    nights = TimeInterval.model_validate(
        {
            "name": "nights",
            "time_intervals": [
                {"times": [{"start_time": "00:00", "end_time": "07:00"}]},
                {"times": [{"start_time": "21:00", "end_time": "24:00"}]},
            ],
        }
    )
    assert nights.contains(at("2026-11-30 05:00"), UTC) and nights.contains(at("2026-11-30 22:00"), UTC)
    assert not nights.contains(at("2026-11-30 12:00"), UTC)
    assert nights.contains(at("2026-11-30 05:30"), PARIS)  # 06:30 in Paris
    assert not nights.contains(at("2026-11-30 06:30"), PARIS)  # 07:30 in Paris


CONFIG = """\
timezone: UTC
time_intervals:
  - name: weekend
    time_intervals:
      - weekdays: [saturday:sunday]
helpdesks:
  - {name: zendesk, type: zendesk, url: https://acme.zendesk.com, email: ops@acme.com, token: t0ken-1}
notifiers:
  - {name: pager, type: console, mute_time_intervals: [weekend], except_levels: [critical]}
rules:
  - name: backlog-size
    type: threshold
    metric: open_tickets
    warn_above: 50
    critical_above: 100
    notify: pager
    mute_time_intervals: weekend
    except_levels: [critical]
"""


def test_a_rules_window_mutes_its_alerts_except_the_levels_it_lets_through() -> None:
    config = parse_config(CONFIG)
    policy = DeliveryPolicy.from_config(config)
    rules = {r.name: r for r in config.effective_rules()}
    warn, critical = alert("backlog-size"), alert("backlog-size", "critical", helpdesk="jira")
    saturday = at("2026-11-28 12:00")
    muted = policy.muted([warn, critical], rules, [], saturday)
    assert list(muted) == [warn.fingerprint]
    assert (muted[warn.fingerprint].reason, str(muted[warn.fingerprint])) == (
        "time_interval",
        "time interval (weekend)",
    )
    assert policy.muted([warn, critical], rules, [], NOW) == {}  # a Monday
    assert policy.quiet_hours["pager"].holds("warn", saturday) and not policy.quiet_hours["pager"].holds(
        "critical", saturday
    )


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "weekdays: [saturday:sunday]",
            "weekdays: [sat:sun]",
            "config.yaml:5: time_intervals[0].time_intervals[0]"
            '.weekdays: "sat:sun" is not a weekday or a range of them (e.g. monday:friday)',
        ),
        (
            "weekdays: [saturday:sunday]",
            "times: [{start_time: '18:00', end_time: '09:00'}]",
            "config.yaml:5: time_intervals[0].time_intervals[0].times[0]: 18:00-09:00 ends before it starts",
        ),
        (
            "weekdays: [saturday:sunday]",
            "location: Europe/Pariss",
            "config.yaml:5: time_intervals[0]"
            '.time_intervals[0].location: "Europe/Pariss" is not a time zone (did you mean "Europe/Paris"?)',
        ),
        (
            "mute_time_intervals: weekend",
            "mute_time_intervals: weekends",
            'config.yaml:17: rules[0].mute_time_intervals: unknown time interval "weekends" (did you mean "weekend"?)',
        ),
        (
            "mute_time_intervals: [weekend], except",
            "mute_time_intervals: [nights], except",
            'config.yaml:9: notifiers[0].mute_time_intervals[0]: unknown time interval "nights" (choose from: weekend)',
        ),
        ("except_levels: [critical]\n", "except_levels: [urgent]\n", "config.yaml:18: rules[0].except_levels[0]"),
    ],
)
def test_config_mistakes_name_file_line_and_key(old: str, new: str, expected: str) -> None:
    assert old in CONFIG
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG.replace(old, new))
    assert any(line.startswith(expected) for line in caught.value.problems), caught.value.problems


MAINTENANCE = [
    {
        "name": "maintenance",
        "time_intervals": [{"weekdays": ["monday"], "times": [{"start_time": "14:00", "end_time": "15:00"}]}],
    }
]


async def test_a_notifiers_window_holds_then_sends_one_digest_and_lets_criticals_through(
    zendesk_sim: ZendeskSimulator, sim_clock: SimClock, tmp_path: Path
) -> None:
    sim_clock.advance(120)  # Monday 14:32 UTC, inside the maintenance window
    with smtp_server() as (box, port):
        doc = document(
            db=tmp_path / "bw.db",
            time_intervals=MAINTENANCE,
            helpdesks=[zendesk(zendesk_sim)],
            notifiers=[email(port, mute_time_intervals=["maintenance"], except_levels=["critical"])],
            notify=["mail"],
            repeat_every="1d",
            rules=[threshold(warn_above=1), aging(), threshold("all-hands", critical_above=1)],
        )
        config = parse(dump(doc), "maintenance.yaml")
        assert await once(config, sim_clock) == 0
        assert [m["Subject"].split(":")[0] for m in box.messages] == ["[CRITICAL] all-hands"]
        sim_clock.advance(timedelta(minutes=20))
        assert await once(config, sim_clock) == 0
        assert len(box.messages) == 1  # the warnings wait
        sim_clock.advance(timedelta(minutes=10))  # 15:02: the window has ended
        assert await once(config, sim_clock) == 0
        assert len(box.messages) == 2
        sim_clock.advance(60)
        assert await once(config, sim_clock) == 0
        assert len(box.messages) == 2
    digest = box.messages[1]
    assert digest["Subject"] == "[DIGEST] backlog-watch: 2 alert updates"
    text, _ = bodies(digest)
    assert "[WARN] backlog-size" in text and "[WARN] old-tickets" in text and "all-hands" not in text

"""Business hours: working time across nights, weekends, holidays and DST changes, computed per day."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from backlog_watch.business_hours import BusinessCalendar, CalendarSettings

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


@pytest.fixture
def support_eu() -> BusinessCalendar:
    """The contract's calendar: Mon-Fri 09:00-18:00 Paris, closed on Christmas and New Year's Day."""
    settings = CalendarSettings(
        timezone="Europe/Paris",
        days=["mon", "tue", "wed", "thu", "fri"],
        hours="09:00-18:00",
        holidays=[date(2026, 12, 25), date(2027, 1, 1)],
    )
    return BusinessCalendar.from_settings(settings)


def calendar(**settings: object) -> BusinessCalendar:
    values = {"timezone": "Europe/Paris", **settings}
    return BusinessCalendar.from_settings(CalendarSettings.model_validate(values))


# 2026-11-20 is a Friday, 2026-11-23 a Monday; 2026-03-29 and 2026-10-25 are Paris's DST Sundays.


def test_friday_evening_ticket_is_five_working_minutes_old_on_monday(support_eu: BusinessCalendar) -> None:
    friday_evening, monday_morning = paris(2026, 11, 20, 17, 55), paris(2026, 11, 23, 9, 0)
    assert support_eu.working_time(friday_evening, monday_morning) == timedelta(minutes=5)


def test_weekend_counts_nothing(support_eu: BusinessCalendar) -> None:
    assert support_eu.working_time(paris(2026, 11, 21, 0, 0), paris(2026, 11, 23, 0, 0)) == timedelta(0)


def test_a_full_week_counts_five_working_days(support_eu: BusinessCalendar) -> None:
    assert support_eu.working_time(paris(2026, 11, 16), paris(2026, 11, 23)) == timedelta(hours=45)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (paris(2026, 11, 23, 8, 0), paris(2026, 11, 23, 10, 0), timedelta(hours=1)),  # starts before opening
        (paris(2026, 11, 23, 12, 0), paris(2026, 11, 23, 13, 30), timedelta(minutes=90)),  # inside hours
        (paris(2026, 11, 23, 17, 0), paris(2026, 11, 23, 23, 0), timedelta(hours=1)),  # ends after closing
        (paris(2026, 11, 23, 19, 0), paris(2026, 11, 24, 8, 59), timedelta(0)),  # the whole night
        (paris(2026, 11, 23, 19, 0), paris(2026, 11, 24, 9, 30), timedelta(minutes=30)),  # starts after closing
    ],
)
def test_start_and_end_inside_and_outside_hours(
    support_eu: BusinessCalendar, start: datetime, end: datetime, expected: timedelta
) -> None:
    assert support_eu.working_time(start, end) == expected


def test_end_before_start_is_zero(support_eu: BusinessCalendar) -> None:
    assert support_eu.working_time(paris(2026, 11, 23, 12), paris(2026, 11, 23, 10)) == timedelta(0)
    assert support_eu.working_time(paris(2026, 11, 23, 12), paris(2026, 11, 23, 12)) == timedelta(0)


def test_holidays_are_closed(support_eu: BusinessCalendar) -> None:
    # Thursday 24 December 17:00 to Monday 28 December 10:00: Christmas Friday is a holiday.
    assert support_eu.working_time(paris(2026, 12, 24, 17), paris(2026, 12, 28, 10)) == timedelta(hours=2)
    assert not support_eu.is_open(paris(2026, 12, 25, 11))


def test_other_time_zones_are_converted(support_eu: BusinessCalendar) -> None:
    # 08:00 UTC is 09:00 in Paris in November; 14:00 in New York is 20:00 in Paris.
    assert support_eu.working_time(
        datetime(2026, 11, 23, 8, 0, tzinfo=UTC), datetime(2026, 11, 23, 14, 0, tzinfo=NEW_YORK)
    ) == timedelta(hours=9)


def test_working_time_across_the_march_dst_weekend(support_eu: BusinessCalendar) -> None:
    # Friday 27 March 17:00 CET to Monday 30 March 10:00 CEST: an hour each side; Sunday lost the other.
    assert support_eu.working_time(paris(2026, 3, 27, 17), paris(2026, 3, 30, 10)) == timedelta(hours=2)


def test_dst_days_last_what_the_wall_clock_says() -> None:
    all_sunday = calendar(days=["sun"], hours="00:00-24:00")
    assert all_sunday.working_time(paris(2026, 3, 28), paris(2026, 3, 30)) == timedelta(hours=23)
    assert all_sunday.working_time(paris(2026, 10, 24), paris(2026, 10, 26)) == timedelta(hours=25)
    # 02:00-03:00 does not exist on the March Sunday and happens twice on the October one.
    night = calendar(days=["sun"], hours="01:00-04:00")
    assert night.working_time(paris(2026, 3, 29), paris(2026, 3, 30)) == timedelta(hours=2)
    assert night.working_time(paris(2026, 10, 25), paris(2026, 10, 26)) == timedelta(hours=4)


def test_several_ranges_skip_the_lunch_break() -> None:
    split = calendar(hours=["13:00-18:00", "09:00-12:00"])
    assert split.working_time(paris(2026, 11, 23, 9), paris(2026, 11, 23, 18)) == timedelta(hours=8)
    assert not split.is_open(paris(2026, 11, 23, 12, 30))
    due = split.add_working_time(paris(2026, 11, 23, 11, 30), timedelta(hours=1))
    assert due == paris(2026, 11, 23, 13, 30)


def test_is_open(support_eu: BusinessCalendar) -> None:
    assert support_eu.is_open(paris(2026, 11, 23, 9, 0))
    assert support_eu.is_open(datetime(2026, 11, 23, 16, 59, tzinfo=UTC))  # 17:59 in Paris
    assert not support_eu.is_open(paris(2026, 11, 23, 8, 59))
    assert not support_eu.is_open(paris(2026, 11, 23, 18, 0))  # closing time is already closed
    assert not support_eu.is_open(paris(2026, 11, 21, 12, 0))  # Saturday


def test_add_working_time_crosses_the_weekend(support_eu: BusinessCalendar) -> None:
    friday = paris(2026, 11, 20, 17, 55)
    assert support_eu.add_working_time(friday, timedelta(minutes=5)) == paris(2026, 11, 20, 18, 0)
    assert support_eu.add_working_time(friday, timedelta(minutes=10)) == paris(2026, 11, 23, 9, 5)
    assert support_eu.add_working_time(paris(2026, 11, 21, 3), timedelta(hours=2)) == paris(2026, 11, 23, 11)
    assert support_eu.add_working_time(friday, timedelta(0)) == friday


def test_add_working_time_keeps_the_callers_time_zone(support_eu: BusinessCalendar) -> None:
    start = datetime(2026, 11, 20, 16, 55, tzinfo=UTC)  # 17:55 in Paris
    due = support_eu.add_working_time(start, timedelta(minutes=10))
    assert due.tzinfo is UTC
    assert due == paris(2026, 11, 23, 9, 5)


def test_add_working_time_inverts_working_time(support_eu: BusinessCalendar) -> None:
    start = paris(2026, 3, 20, 7, 13)
    for hours in (1, 5, 9, 10, 17.5, 44, 100, 1000):
        delta = timedelta(hours=hours)
        assert support_eu.working_time(start, support_eu.add_working_time(start, delta)) == delta


def test_always_counts_elapsed_time_even_across_dst() -> None:
    always = BusinessCalendar.always()
    start, end = paris(2026, 3, 28, 12), paris(2026, 3, 29, 12)
    assert always.working_time(start, end) == timedelta(hours=23)  # not end - start: that is wall-clock time
    assert always.working_time(end, start) == timedelta(0)
    assert always.is_open(paris(2026, 11, 21, 3))
    assert always.add_working_time(start, timedelta(hours=24)) == paris(2026, 3, 29, 13)


def test_two_year_span_is_fast_and_exact(support_eu: BusinessCalendar) -> None:
    began = time.perf_counter()
    worked = support_eu.working_time(datetime(2025, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert time.perf_counter() - began < 0.5
    # 2025 and 2026 have 261 weekdays each; Christmas 2026 is a Friday (Christmas 2025 is not a holiday here).
    assert worked == timedelta(hours=9) * (261 + 261 - 1)


def test_naive_datetimes_are_refused(support_eu: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        support_eu.working_time(datetime(2026, 11, 23, 9), paris(2026, 11, 23, 10))


def test_calendar_time_zone_defaults_to_the_configs() -> None:
    nine_to_six = BusinessCalendar.from_settings(CalendarSettings(), "America/New_York")
    assert nine_to_six.is_open(datetime(2026, 11, 23, 9, 30, tzinfo=NEW_YORK))
    assert not nine_to_six.is_open(paris(2026, 11, 23, 9, 30))


def test_settings_accept_full_day_names_and_date_strings() -> None:
    settings = CalendarSettings.model_validate({"days": ["Monday", "SAT"], "holidays": ["2026-12-25"]})
    assert settings.days == ("mon", "sat")
    assert settings.holidays == (date(2026, 12, 25),)
    assert CalendarSettings().days == ("mon", "tue", "wed", "thu", "fri")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"hours": "18:00-09:00"}, '"18:00-09:00" ends before it starts'),
        ({"hours": "9h-18h"}, '"9h-18h" is not a range of hours'),
        ({"hours": "09:00-24:30"}, "is not a range of hours"),
        ({"hours": ["09:00-12:00", "11:00-14:00"]}, "overlap"),
        ({"timezone": "Europe/Pari"}, 'did you mean "Europe/Paris"'),
        ({"days": ["mon", "funday"]}, "funday"),
        ({"days": []}, "at least 1 item"),
    ],
)
def test_invalid_settings(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CalendarSettings.model_validate(settings)

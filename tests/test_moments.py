"""``--at TIME`` (durations.parse_moment): ISO 8601 in the config's time zone unless it has an offset, or a
time ago; a bad or future one is a ValueError of one line naming what was given."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from backlog_watch.durations import parse_moment

NOW = datetime(2024, 5, 15, 12, 0, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3d ago", datetime(2024, 5, 12, 12, 0, tzinfo=UTC)),
        ("-3d", datetime(2024, 5, 12, 12, 0, tzinfo=UTC)),
        ("1h30m AGO", datetime(2024, 5, 15, 10, 30, tzinfo=UTC)),
        ("- 2w", datetime(2024, 5, 1, 12, 0, tzinfo=UTC)),
        ("2024-05-13T09:00", datetime(2024, 5, 13, 7, 0, tzinfo=UTC)),  # 9:00 in Paris (CEST)
        ("2024-05-13 09:00", datetime(2024, 5, 13, 7, 0, tzinfo=UTC)),
        ("2024-05-13", datetime(2024, 5, 12, 22, 0, tzinfo=UTC)),  # Paris's midnight
        ("2024-01-15T09:00", datetime(2024, 1, 15, 8, 0, tzinfo=UTC)),  # winter: CET
        ("2024-05-13T09:00+00:00", datetime(2024, 5, 13, 9, 0, tzinfo=UTC)),  # an offset wins
        ("2024-05-13T09:00Z", datetime(2024, 5, 13, 9, 0, tzinfo=UTC)),
    ],
)
def test_a_moment_is_iso_8601_in_the_time_zone_or_a_time_ago(text: str, expected: datetime) -> None:
    moment = parse_moment(text, NOW, PARIS)
    assert moment == expected and moment.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("last monday", '"last monday" is not a time: use ISO 8601 (2024-05-13T09:00, in Europe/Paris unless'),
        ("3 days ago", '"3 days ago" is not a time'),
        ("-3x", '"-3x": "3x" is not a duration (use 90s, 15m, 4h, 7d or 2w)'),
        ("99999d ago", '"99999d ago": "99999d" is longer than ten years'),
        ("2024-05-16", '"2024-05-16" is in the future (2024-05-16 00:00 Europe/Paris): --at looks back'),
        ("", '"" is not a time'),
    ],
)
def test_a_bad_moment_says_what_was_given(text: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_moment(text, NOW, PARIS)
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)

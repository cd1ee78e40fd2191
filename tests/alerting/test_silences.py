"""Silence matchers as a table: =, !=, =~ (anchored to the whole value), spacing, and bad ones refused."""

from __future__ import annotations

import pytest

from backlog_watch.alerting.silences import Matcher

LABELS = {"rule": "backlog-size", "helpdesk": "zendesk", "group": "Billing", "level": "warn"}


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        pytest.param("rule=backlog-size", True, id="equal"),
        pytest.param("rule=backlog", False, id="equal-is-whole-value"),
        pytest.param("group=billing", False, id="equal-is-case-sensitive"),
        pytest.param("tag=vip", False, id="equal-missing-label"),
        pytest.param("helpdesk!=jira", True, id="not-equal"),
        pytest.param("helpdesk!=zendesk", False, id="not-equal-same"),
        pytest.param("tag!=vip", True, id="not-equal-missing-label"),
        pytest.param("group=~Bill.*", True, id="regex"),
        pytest.param("group=~Bill", False, id="regex-anchored-at-end"),
        pytest.param("group=~ill.*", False, id="regex-anchored-at-start"),
        pytest.param("level=~warn|critical", True, id="regex-alternation-whole"),
        pytest.param("tag=~.*", False, id="regex-missing-label"),
        pytest.param("  rule = backlog-size  ", True, id="spaces-around"),
    ],
)
def test_matcher_matches(text: str, matches: bool) -> None:
    assert Matcher.parse(text).matches(LABELS) is matches


@pytest.mark.parametrize(
    ("text", "key", "op", "value"),
    [
        pytest.param("rule=backlog-size", "rule", "=", "backlog-size", id="equal"),
        pytest.param("helpdesk!=jira", "helpdesk", "!=", "jira", id="not-equal"),
        pytest.param("group=~Bill.*", "group", "=~", "Bill.*", id="regex"),
        pytest.param("url=https://x/?a=b", "url", "=", "https://x/?a=b", id="value-holds-an-equals-sign"),
    ],
)
def test_matcher_parses_and_prints_back(text: str, key: str, op: str, value: str) -> None:
    matcher = Matcher.parse(text)
    assert (matcher.key, matcher.op, matcher.value) == (key, op, value)
    assert str(matcher) == text


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param("rule", "key=value", id="no-operator"),
        pytest.param("=x", "key=value", id="no-key"),
        pytest.param("rule=", "key=value", id="no-value"),
        pytest.param("1rule=x", "key=value", id="key-starts-with-a-digit"),
        pytest.param("group=~(", "regular expression", id="bad-regex"),
        pytest.param("group=~[a-", "regular expression", id="bad-regex-class"),
    ],
)
def test_bad_matchers_say_how_to_write_them(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        Matcher.parse(text)

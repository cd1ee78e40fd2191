"""A shutdown cuts an evaluation between rules: the rules not yet measured are not (with 500 helpdesks
an evaluation's rules took seconds to finish after SIGTERM, past Docker's stop timeout)."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from backlog_watch.evaluation import measure_rules
from backlog_watch.rules.backlog import ThresholdRule
from tests.factories import NOW, snapshot_of, ticket

RULES = [
    ThresholdRule(name=name, type="threshold", metric="open_tickets", warn_above=1) for name in ("first", "second")
]


class Cutting:
    """The snapshot's query, setting ``cut`` at the first question asked (a SIGTERM while measuring)."""

    def __init__(self, query: Any, cut: threading.Event) -> None:
        self.query, self.cut, self.asked = query, cut, 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.query, name)

        def asked(*args: Any, **kwargs: Any) -> Any:
            self.asked += 1
            self.cut.set()
            return method(*args, **kwargs)

        return asked


def test_a_cut_evaluation_measures_no_further_rule() -> None:
    snapshot = snapshot_of(NOW, ["zendesk"], [ticket(id=str(i), helpdesk="zendesk") for i in range(5)])
    whole, _ = measure_rules(RULES, snapshot, NOW, {})
    assert [f.rule for f in whole] == ["first", "second"]  # both fire on 5 open tickets
    cut = threading.Event()
    cutting = Cutting(snapshot.query, cut)
    found, _ = measure_rules(RULES, replace(snapshot, query=cutting), NOW, {}, cut)
    assert [f.rule for f in found] == ["first"] and cut.is_set()  # the second was never asked
    asked = cutting.asked
    assert measure_rules(RULES, replace(snapshot, query=cutting), NOW, {}, cut)[0] == []
    assert cutting.asked == asked  # already cut: nothing measured, nothing asked

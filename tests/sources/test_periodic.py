"""PeriodicCheck and listed_ids: a periodic check is due against the poll's start, stamped when it ends,
and a malformed reconciliation listing becomes a problem instead of a short list of open ids."""

from __future__ import annotations

from datetime import timedelta

from backlog_watch import PaginationError, PeriodicCheck, listed_ids


class SteppingClock:
    """A wall clock that reads ``times`` in turn (the last one forever)."""

    def __init__(self, *times: float) -> None:
        self.times = list(times)

    def __call__(self) -> float:
        return self.times.pop(0) if len(self.times) > 1 else self.times[0]


def test_a_check_never_made_is_due() -> None:
    assert PeriodicCheck(None, timedelta(minutes=15), SteppingClock(1000.0)).due


def test_due_is_decided_against_the_polls_start_not_the_time_it_is_asked() -> None:
    check = PeriodicCheck(100.0, timedelta(seconds=60), SteppingClock(159.0, 500.0))
    assert check.started == 159.0 and not check.due
    assert not check.due  # still not: the clock moved on, the poll's start did not
    assert PeriodicCheck(100.0, timedelta(seconds=60), SteppingClock(160.0)).due


def test_done_stamps_the_check_when_it_ended() -> None:
    check = PeriodicCheck(None, timedelta(seconds=60), SteppingClock(10.0, 250.0))
    assert check.done() == 250.0 and check.last == 250.0
    assert not check.due  # made at 250, the poll started at 10


async def test_a_listing_answers_its_ids() -> None:
    async def listing() -> frozenset[str]:
        return frozenset({"SUP-1"})

    assert await listed_ids(listing(), "the open-issue listing") == (frozenset({"SUP-1"}), None)


async def test_a_malformed_listing_is_a_problem_not_an_empty_list() -> None:
    async def listing() -> frozenset[str]:
        raise PaginationError("an empty page that is not the last", helpdesk="jira")

    open_ids, problem = await listed_ids(listing(), "the open-issue listing")
    assert open_ids is None
    assert problem is not None and problem.startswith("the open-issue listing is malformed (")
    assert "an empty page that is not the last" in problem

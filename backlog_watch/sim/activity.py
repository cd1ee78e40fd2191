"""The random walk a simulated helpdesk plays as time passes: arrivals, assignments, replies, solves.

Each kind of event is a Poisson process with an hourly rate; ``plan`` draws the events of a stretch of
time from the simulator's seeded ``random.Random``, and the simulator applies them in time order.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Activity:
    """Events per simulated hour. The defaults make a demo's backlog visibly move (and slowly grow)."""

    arrivals: float = 6.0
    """New tickets (status new, mostly unassigned)."""
    assignments: float = 4.0
    """An unassigned ticket gets an agent (new -> open)."""
    replies: float = 6.0
    """Open <-> pending/hold: an agent asks the customer, the customer answers."""
    solves: float = 5.0
    escalations: float = 0.5
    """A ticket's priority goes up one step and it gets the ``escalated`` tag."""
    deletions: float = 0.1
    """Spam removed: a new ticket deleted."""


QUIET = Activity(0, 0, 0, 0, 0, 0)


def plan(rng: random.Random, seconds: float, activity: Activity) -> list[tuple[float, str]]:
    """The events of the next ``seconds``: (offset in seconds, kind), in time order."""
    events: list[tuple[float, str]] = []
    for kind, per_hour in asdict(activity).items():
        if per_hour <= 0:
            continue
        rate = per_hour / 3600
        offset = rng.expovariate(rate)
        while offset < seconds:
            events.append((offset, kind))
            offset += rng.expovariate(rate)
    return sorted(events)

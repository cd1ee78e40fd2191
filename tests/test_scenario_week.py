"""A simulated week, driven by the test's clock: simulated Zendesk -> SQLite on disk -> every rule
kind that watches the backlog -> a recording notifier. The backlog grows and shrinks, one tag spikes,
an urgent ticket's SLA approaches then breaches; the exact alerts fire, escalate and resolve when
the plan says they must.

The plan, in hours from a Monday 14:30 UTC (an evaluation 2 minutes past each hour):
  h0: 5 tickets; then one in, one out each hour (5 open)
  h24-43: two in, one out (6, 7, ... 25 open); h44-51: one in, three out (23, 21, ... 9); then steady
  h60: 8 tickets tagged "login" arrive (and are solved at once: a spike counts them all the same)
  h80:02: an urgent ticket, after that hour's evaluation (first reply due at 81:02), solved at 81:05
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from backlog_watch.app import assemble
from backlog_watch.delivery.dedup import Delivery, Notification
from backlog_watch.sim import SimClock, ZendeskSimulator
from tests.factories import SIM_START
from tests.helpers.config import console, document, dump, parse, zendesk

RULES = """
rules:
  - name: backlog-size
    type: threshold
    metric: open_tickets
    warn_above: 10
    critical_above: 20
  - name: backlog-sustained
    type: threshold
    metric: open_tickets
    warn_above: 15
    for: 2h
  - name: backlog-growing
    type: trend
    metric: open_tickets
    growing_for: 1d
  - name: inflow-spike
    type: spike
    window: 1h
    baseline: 1d
    factor: 3
    min_count: 6
    group_by: [helpdesk, tag]
  - name: sla
    type: sla
    warn_within: 30m
    critical_within: 10m
"""


class Recorder:
    """A notifier that remembers what it was asked to send, stamped with the simulated time."""

    def __init__(self, clock: SimClock) -> None:
        self.name = "rec"
        self.clock = clock
        self.sent: list[tuple[str, str, str, str]] = []

    async def send(self, n: Notification) -> Delivery:
        offset = self.clock.now() - SIM_START
        minutes = int(offset.total_seconds() // 60)
        tag = dict(n.alert.labels).get("tag")
        rule = f"{n.alert.rule}[{tag}]" if tag else n.alert.rule
        self.sent.append((f"{minutes // 60}:{minutes % 60:02d}", rule, n.reason.value, n.alert.level))
        return Delivery()


class Helpdesk:
    """The simulated helpdesk's side of the plan: tickets in, oldest out."""

    def __init__(self, sim: ZendeskSimulator) -> None:
        self.sim = sim

    def create(self, n: int, tag: str = "general", priority: str | None = None) -> list[int]:
        return [int(self.sim.create_ticket(tags=[tag], priority=priority)["id"]) for _ in range(n)]

    def solve_oldest(self, n: int) -> None:
        general = sorted(k for k in self.sim.open_ids() if self.sim.ticket(k)["tags"] == ["general"])
        for key in general[:n]:
            self.sim.solve_ticket(key)


def plan_hour(helpdesk: Helpdesk, h: int) -> None:
    if h == 0:
        helpdesk.create(5)
    elif 24 <= h <= 43:
        helpdesk.create(2)
        helpdesk.solve_oldest(1)
    elif 44 <= h <= 51:
        helpdesk.create(1)
        helpdesk.solve_oldest(3)
    else:
        helpdesk.create(1)
        helpdesk.solve_oldest(1)
    if h == 60:
        for key in helpdesk.create(8, tag="login"):
            helpdesk.sim.solve_ticket(key)


async def test_a_simulated_week(sim_clock: SimClock, tmp_path: Path) -> None:
    sim = ZendeskSimulator(seed=11, tickets=0, clock=sim_clock)
    await sim.start()
    try:
        config = parse(
            dump(
                document(
                    db=tmp_path / "bw.db",
                    helpdesks=[zendesk(sim)],
                    notifiers=[console("rec")],
                    notify=["rec"],
                    repeat_every="2w",
                ),
                RULES,
            ),
            "week.yaml",
        )
        recorder = Recorder(sim_clock)
        helpdesk = Helpdesk(sim)
        urgent: list[int] = []
        async with assemble(config, clock=sim_clock.now, notifiers={"rec": recorder}) as parts:

            async def evaluate_at(minutes: int, before: Callable[[], object] | None = None) -> None:
                sim_clock.set(SIM_START + timedelta(minutes=minutes))
                if before is not None:
                    before()
                sim_clock.advance(120)  # past the export's one-minute rule
                code, _ = await parts.daemon.once()
                assert code == 0

            for h in range(7 * 24):
                await evaluate_at(h * 60, lambda h=h: plan_hour(helpdesk, h))  # type: ignore[misc]
                if h == 80:
                    urgent = helpdesk.create(1, tag="vip", priority="urgent")
                    await evaluate_at(h * 60 + 30)  # 30 minutes to the first reply target
                    await evaluate_at(h * 60 + 50)  # 10 minutes
                if h == 81:  # breached at 81:02 (the hourly evaluation saw it); solved at 81:05
                    await evaluate_at(h * 60 + 5, lambda key=urgent[0]: sim.solve_ticket(key))  # type: ignore[misc]
            history_rows = parts.daemon.history.count()
    finally:
        await sim.stop()

    assert recorder.sent == [
        ("24:02", "backlog-growing", "firing", "warn"),  # 6 open against 5 a day before
        ("29:02", "backlog-size", "firing", "warn"),  # 11 open
        ("32:02", "backlog-size", "more_tickets", "warn"),  # 14 open: a quarter more, told in the thread
        ("36:02", "backlog-size", "more_tickets", "warn"),  # 18 open
        ("36:02", "backlog-sustained", "firing", "warn"),  # above 15 since 34:02, for 2h
        ("39:02", "backlog-size", "escalated", "critical"),  # 21 open: the same alert, escalated
        ("41:02", "backlog-sustained", "more_tickets", "warn"),  # 23 open: a critical hides no other rule
        ("48:02", "backlog-sustained", "resolved", "warn"),  # 15 open
        ("51:02", "backlog-growing", "resolved", "warn"),  # 9 open, as many as a day before
        ("51:02", "backlog-size", "resolved", "warn"),  # back to warn at 46:02 (19 open), silently
        ("60:02", "inflow-spike[login]", "firing", "warn"),
        ("61:02", "inflow-spike[login]", "resolved", "warn"),
        ("80:32", "backlog-growing", "firing", "warn"),  # the urgent ticket: 10 open against 9
        ("80:32", "sla", "firing", "warn"),  # 30 minutes left
        ("80:52", "sla", "escalated", "critical"),  # 10 minutes left; breached at 81:02, no new alert
        ("81:07", "sla", "resolved", "critical"),  # most severe first
        ("81:07", "backlog-growing", "resolved", "warn"),
    ]
    assert 0 < history_rows < 7 * 24 * 40  # one row per helpdesk and group per evaluation, at most

"""A stored history for `backlog-watch replay` to look at: the demo's three simulated helpdesks living
``--days`` days on a simulated clock, the daemon polling and evaluating them every ``--every`` (its
alerts counted, not printed), into a fresh demo store in ``--data``.

    .venv/bin/python scripts/demo_history.py --days 14 --data demo-history
    .venv/bin/backlog-watch replay --config demo-history/backlog-watch.yaml --since 14d --until <the end printed>

The simulators keep the ordinary pace of a support desk (sim/activity.py's defaults), not the demo's
busy one, so two weeks make a believable backlog. Each helpdesk has its own clock (a manual clock moves
as its simulator plays events); all three and the daemon's are set to the same moment at each step.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from backlog_watch.app import assemble
from backlog_watch.config import load_config
from backlog_watch.delivery.dedup import Delivery, Notification
from backlog_watch.demo import DEMO_CONFIG, demo_env, fresh_store, write_commands_config
from backlog_watch.sim import Activity, FreshdeskSimulator, JiraSimulator, SimClock, ZendeskSimulator


class Counting:
    """The demo's console notifier, counting instead of printing (weeks of alerts are a lot of text)."""

    def __init__(self) -> None:
        self.name = "console"
        self.sent: Counter[str] = Counter()

    async def send(self, notification: Notification) -> Delivery:
        self.sent[f"{notification.alert.rule} {notification.reason.value}"] += 1
        return Delivery()


async def seed(days: int, every: timedelta, data: Path) -> datetime:
    """Run the history; return its last evaluation's moment."""
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=days)
    clocks = [SimClock(start) for _ in range(3)]
    activity = Activity()
    zendesk = ZendeskSimulator(seed=1, tickets=300, clock=clocks[0], activity=activity)
    freshdesk = FreshdeskSimulator(seed=2, tickets=300, clock=clocks[1], activity=activity)
    jira = JiraSimulator(seed=3, tickets=300, clock=clocks[2], activity=activity)
    sims = (zendesk, freshdesk, jira)
    for sim in sims:
        await sim.start()
    try:
        fresh_store(data)
        env = demo_env(zendesk, freshdesk, jira, data)
        config = load_config(DEMO_CONFIG, env=env)
        written = write_commands_config(DEMO_CONFIG, data, env)
        counting = Counting()
        now = start
        async with assemble(config, clock=lambda: now, notifiers={"console": counting}) as parts:
            while now < start + timedelta(days=days):
                for sim in sims:
                    sim.evolve(every)
                now += every
                for clock in clocks:
                    clock.set(now)
                code, _ = await parts.daemon.once()
                if code:
                    print(f"{now:%Y-%m-%d %H:%M}: a poll failed", file=sys.stderr)
        print(f"history: {days} days to {now.isoformat()} in {data} ({written} is its config)")
        for line, n in sorted(counting.sent.items()):
            print(f"  the live daemon sent: {n} x {line}")
        return now
    finally:
        for sim in sims:
            await sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--every", type=int, default=15, help="minutes between polls and evaluations")
    parser.add_argument("--data", default="demo-history")
    args = parser.parse_args()
    asyncio.run(seed(args.days, timedelta(minutes=args.every), Path(args.data)))


if __name__ == "__main__":
    main()

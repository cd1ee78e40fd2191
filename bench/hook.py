"""Change -> Slack with a Zendesk hook naming the ticket: seconds from the change to the message.

A Zendesk simulator and the Slack stand-in, each in a process of its own (harness.py), and a real
``backlog-watch run`` polling the helpdesk every 2m (the contract's rate) with one rule that fires
on an open ticket tagged ``hook-bench``. Once the first poll is done (nothing fires), a ticket is
tagged through the simulator's control URL and ``POST /hooks/zendesk`` names it as a Zendesk trigger
would (``{"ticket_id": N}``, the hook secret in ``X-Backlog-Watch-Token``); the clock runs until the
alert is in the Slack channel, for at most ``--cap`` seconds ("> cap" past that).

Zendesk's export hides its last minute, so a hook that only triggers a poll finds nothing and the
alert waits for a later scheduled poll. Must reach: <= 5 s.

Usage: python bench/hook.py [--cap 150] [--body ticket_id|ticket|ticket_ids]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import Simulators
from live import Daemon, report, wait_for

WITHIN = 5.0
CHANNEL = "hooks"
TAG = "hook-bench"
BODIES = {
    "ticket_id": lambda ticket: {"ticket_id": ticket},
    "ticket": lambda ticket: {"ticket": {"id": ticket}},
    "ticket_ids": lambda ticket: {"ticket_ids": [ticket]},
}


def config(helpdesk: dict[str, Any], slack: dict[str, str]) -> dict[str, Any]:
    return {
        "helpdesks": [{**helpdesk, "name": "zendesk", "poll_every": "2m"}],
        "notifiers": [{"name": "slack", "type": "slack", "channel": f"#{CHANNEL}", **slack}],
        "rules": [
            {
                "name": "hook-bench",
                "type": "threshold",
                "metric": "open_tickets",
                "where": {"tags": [TAG]},
                "warn_above": 0,
                "notify": ["slack"],
            }
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cap", type=float, default=150.0, help="seconds to wait for the message at most")
    parser.add_argument("--body", choices=sorted(BODIES), default="ticket_id", help="the hook's body shape")
    parser.add_argument("--quick", action="store_true", help="a smoke run: wait 20 s at most")
    args = parser.parse_args()
    if args.quick:
        args.cap = 20.0
    with (
        Simulators("zendesk", count=1, tickets=100) as zendesk,
        Simulators("slack") as slack,
        tempfile.TemporaryDirectory() as folder,
        Daemon(config(zendesk.helpdesks[0], slack.slack), Path(folder)) as daemon,
    ):
        messages = lambda: len(slack.call(0, "messages", CHANNEL))  # noqa: E731
        if not wait_for(lambda: daemon.polls().get("zendesk", 0) >= 1, 120):
            raise SystemExit("hook bench: the first poll did not finish within 120 s")
        quiet_before = messages() == 0
        ticket = min(zendesk.call(0, "open_ids"))
        zendesk.call(0, "update_ticket", ticket, tags=[TAG])
        changed = time.monotonic()
        status = daemon.hook("zendesk", BODIES[args.body](ticket))
        arrived = wait_for(lambda: messages() > 0, args.cap, step=0.05)
        latency = time.monotonic() - changed
    shown = f"{latency:.2f}s" if arrived else f"> {args.cap:g}s (cap)"
    print(f"hook: ticket {ticket} tagged, POST /hooks/zendesk {args.body} -> HTTP {status}")
    print(f"  change -> Slack: {shown} (must reach <= {WITHIN:g}s)")
    report(
        "hook",
        {"hook": (shown, arrived and quiet_before and latency <= WITHIN)},
        {
            "body": args.body,
            "hook_status": status,
            "latency_s": round(latency, 2) if arrived else None,
            "cap_s": args.cap,
        },
    )


if __name__ == "__main__":
    main()

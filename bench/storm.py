"""An alert storm: 300 alerts firing at once, paced at one Slack message per second, while polls go on.

One Zendesk simulator and the Slack stand-in, each in a process of its own (harness.py), and a real
``backlog-watch run`` polling every ``--poll-every`` seconds with one threshold rule grouped by tag:
300 open tickets with a tag each make 300 alerts in the first evaluation, i.e. 300 messages to one
channel, five minutes of sending at Slack's pace. Once the first message is in Slack, for ``--window``
seconds: the polls the daemon finished (/metrics) against the ones its schedule asked for, the
scheduler's "maximum number of running instances reached" warnings and the daemon's skipped-polls
counter (skipped = the largest);
then SIGTERM, mid-storm, and the seconds until the process is gone.

Must reach: 0 polls skipped while the storm is delivered; SIGTERM to exit within 5 s.

Usage: python bench/storm.py [--alerts 300] [--poll-every 5] [--window 60]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import Simulators
from live import Daemon, report, wait_for

EXIT_WITHIN = 5.0
CHANNEL = "storm"


def config(helpdesk: dict[str, Any], slack: dict[str, str], alerts: int, poll_every: float) -> dict[str, Any]:
    tags = [f"storm-{i}" for i in range(alerts)]
    return {
        "helpdesks": [{**helpdesk, "poll_every": f"{poll_every:g}s"}],
        "notifiers": [{"name": "slack", "type": "slack", "channel": f"#{CHANNEL}", **slack}],
        "rules": [
            {
                "name": "storm",
                "type": "threshold",
                "metric": "open_tickets",
                "where": {"tags": tags},
                "warn_above": 0,
                "group_by": ["helpdesk", "tag"],
                "notify": ["slack"],
            }
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--alerts", type=int, default=300)
    parser.add_argument("--poll-every", type=float, default=5.0, help="seconds between polls of the helpdesk")
    parser.add_argument("--window", type=float, default=60.0, help="seconds of storm observed before SIGTERM")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20-second window")
    args = parser.parse_args()
    if args.quick:
        args.window = 20.0
    with (
        Simulators("zendesk", count=1, tickets=10) as zendesk,
        Simulators("slack") as slack,
        tempfile.TemporaryDirectory() as folder,
    ):
        for i in range(args.alerts):
            zendesk.call(0, "create_ticket", tags=[f"storm-{i}"], status="open")
        zendesk.call(0, "advance", 120)  # past the export's hidden last minute
        messages = lambda: len(slack.call(0, "messages", CHANNEL))  # noqa: E731
        setup = config(zendesk.helpdesks[0], slack.slack, args.alerts, args.poll_every)
        with Daemon(setup, Path(folder)) as daemon:
            stormed = wait_for(lambda: messages() > 0, 120)
            polls, warnings, counted = sum(daemon.polls().values()), daemon.skip_warnings(), daemon.skipped()
            sent = messages()
            time.sleep(args.window)
            polled = sum(daemon.polls().values()) - polls
            warnings = daemon.skip_warnings() - warnings
            counted = daemon.skipped() - counted
            sent = messages() - sent
            exit_seconds = daemon.stop()
            exit_code = daemon.exit_code
    expected = math.floor(args.window / args.poll_every)
    skipped = max(expected - polled, warnings, counted, 0)
    exit_ok = exit_seconds is not None and exit_seconds <= EXIT_WITHIN and exit_code == 0
    print(f"storm: {args.alerts} alerts to one channel; the first message {'arrived' if stormed else 'never came'}")
    print(f"  during {args.window:g}s of storm: {sent} messages sent, {polled} polls of {expected} scheduled")
    print(f"  ({warnings} 'maximum number of running instances' warnings): {skipped} skipped (must reach 0)")
    shown = f"{exit_seconds:.1f}s" if exit_seconds is not None else "killed after 60s"
    print(f"  SIGTERM to exit: {shown}, exit code {exit_code} (must reach <= {EXIT_WITHIN:g}s, 0)")
    report(
        "storm",
        {
            "storm": (
                f"{skipped} skipped of {expected} in {args.window:g}s; exit {shown}",
                stormed and not skipped and exit_ok,
            )
        },
        {
            "alerts": args.alerts,
            "messages_in_window": sent,
            "polls": polled,
            "skip_warnings": warnings,
            "skipped_counter": counted,
            "exit_s": None if exit_seconds is None else round(exit_seconds, 2),
            "exit_code": exit_code,
        },
    )


if __name__ == "__main__":
    main()

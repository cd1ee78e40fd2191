"""An alert storm: 300 alerts firing at once, paced at one Slack message per second, while polls go on.

One Zendesk simulator and the Slack stand-in, each in a process of its own (harness.py), and a real
``backlog-watch run`` polling every ``--poll-every`` seconds with one threshold rule grouped by tag:
300 open tickets with a tag each make 300 alerts in the first evaluation, i.e. 300 messages to one
channel, five minutes of sending at Slack's pace. Once the first message is in Slack, for ``--window``
seconds, counted from the daemon's own /metrics: the scheduled polls that started (the poll start
delay histogram's count) and those the scheduler skipped because the previous one still ran (the
skipped-polls counter; the scheduler's "maximum number of running instances reached" warnings are a
lower bound of it, the daemon logging the first of each episode only). The runs due in the window are
those two together: a count of finished polls against floor(window / interval) would charge the
window's phase (a poll started inside it may finish after it) as a skip. The polls' mean duration in
the window says whether any waited for something. Then SIGTERM, mid-storm, and the seconds until
the process is gone.

The helpdesk keeps the product's defaults, Zendesk's export limit included (10 requests a minute, the
client paces itself under it): a ``poll_every`` shorter than that limit allows (6.1 s) is polled at
the limit's pace, the daemon says so once, and the interval used is printed. (Before it did, a 5 s
poll waited out the export's window twice a minute and the scheduler skipped the next one: the two
"skipped" the storm row showed, with no storm involved.)

Must reach: 0 polls skipped while the storm is delivered; SIGTERM to exit within 5 s.

Usage: python bench/storm.py [--alerts 300] [--poll-every 5] [--window 60]
"""

from __future__ import annotations

import argparse
import math
import re
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


def runs(daemon: Daemon) -> tuple[int, int, int, float]:
    """(scheduled polls started, skipped, polls finished, seconds the finished ones took) so far."""
    metrics = daemon.metrics()
    started = sum(metrics.get("backlog_watch_poll_start_delay_seconds_count", {}).values())
    finished = sum(metrics.get("backlog_watch_poll_duration_seconds_count", {}).values())
    busy = sum(metrics.get("backlog_watch_poll_duration_seconds_sum", {}).values())
    return int(started), daemon.skipped(), int(finished), busy


def polled_every(daemon: Daemon, poll_every: float) -> float:
    """The interval the daemon polls at: ``poll_every``, or the one it said its helpdesk's limit allows."""
    for entry in daemon.log():
        found = re.search(r"polling every ([0-9.]+)s", entry.get("message", ""))
        if found:
            return float(found.group(1))
    return poll_every


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
            before, warnings, sent = runs(daemon), daemon.skip_warnings(), messages()
            time.sleep(args.window)
            after = runs(daemon)
            warnings = daemon.skip_warnings() - warnings
            sent = messages() - sent
            interval = polled_every(daemon, args.poll_every)
            exit_seconds = daemon.stop()
            exit_code = daemon.exit_code
    started, counted, finished = after[0] - before[0], after[1] - before[1], after[2] - before[2]
    busy = after[3] - before[3]
    expected = started + counted  # the scheduler's runs due in the window, as the daemon counts them
    skipped = max(counted, warnings)
    mean_poll = busy / finished if finished else 0.0
    exit_ok = exit_seconds is not None and exit_seconds <= EXIT_WITHIN and exit_code == 0
    print(f"storm: {args.alerts} alerts to one channel; the first message {'arrived' if stormed else 'never came'}")
    print(
        f"  polled every {interval:g}s (poll_every {args.poll_every:g}s; floor(window / interval) ="
        f" {math.floor(args.window / interval)})"
    )
    print(
        f"  during {args.window:g}s of storm: {sent} messages sent, {started} polls started of {expected} due,"
        f" {finished} finished (mean {mean_poll * 1000:.0f} ms)"
    )
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
            "poll_interval_s": interval,
            "polls_due": expected,
            "polls_started": started,
            "polls_finished": finished,
            "poll_mean_ms": round(mean_poll * 1000, 1),
            "skip_warnings": warnings,
            "skipped_counter": counted,
            "exit_s": None if exit_seconds is None else round(exit_seconds, 2),
            "exit_code": exit_code,
        },
    )


if __name__ == "__main__":
    main()

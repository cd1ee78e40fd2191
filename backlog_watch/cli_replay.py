"""The commands that run rules over a backlog's past: ``test rules FILE...`` and ``replay``.

Both are built on backlog_watch/replay (its engine runs the daemon's own evaluation over a scratch
store); this module only parses their arguments and prints.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TextIO

from backlog_watch.errors import ConfigError

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def add_test_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    test = commands.add_parser("test", help="unit tests for rules: a declared backlog and the alerts expected")
    kinds = test.add_subparsers(dest="test_command", required=True, metavar="WHAT")
    rules = kinds.add_parser(
        "rules",
        help="run rule test files (YAML: tickets over time, the alerts expected at given moments); "
        "exit 1 on a mismatch, 2 on a malformed file",
    )
    rules.add_argument("files", nargs="+", metavar="FILE", help="rule test files (see the README)")
    rules.add_argument(
        "--config",
        "-c",
        dest="config",
        metavar="FILE",
        default=None,
        help="the config of a test file that names none (default: $BACKLOG_WATCH_CONFIG)",
    )


def cmd_test(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Every file is run, even after a failure; the exit code is the worst outcome."""
    from backlog_watch.replay.engine import quiet_lifecycle
    from backlog_watch.replay.rule_tests import load_test_file, run_test_file

    worst = EXIT_OK
    passed = 0
    for path in args.files:
        try:
            loaded = load_test_file(path, args.config)
        except ConfigError as exc:
            err.write("".join(f"{line}\n" for line in exc.problems))
            worst = EXIT_CONFIG
            continue
        with quiet_lifecycle():
            outcome = asyncio.run(run_test_file(loaded))
        if outcome.passed:
            passed += 1
            out.write(f"PASS {path}: {outcome.moments} moment(s), {outcome.alerts} alert(s) as expected\n")
            continue
        worst = max(worst, EXIT_FAILED)
        out.write(f"FAIL {path}: {len(outcome.failures)} of {outcome.moments} moment(s) differ (- expected, + got)\n")
        out.write("".join(f"{failure}\n" for failure in outcome.failures))
    out.write(f"{passed} of {len(args.files)} test file(s) passed\n")
    return worst


def add_replay_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = commands.add_parser(
        "replay",
        help="run the rules over the stored past, step by step, and count what they would have sent "
        "(nothing is sent, no alert changes)",
    )
    replay.add_argument(
        "--config", "-c", dest="config", metavar="FILE", help="the YAML config (default: $BACKLOG_WATCH_CONFIG)"
    )
    replay.add_argument("--since", default="14d", metavar="DURATION", help="how far back to start, e.g. 14d or 36h")
    replay.add_argument("--until", default=None, metavar="TIME", help="where to stop (default: now; ISO time, UTC)")
    replay.add_argument(
        "--candidate",
        metavar="FILE",
        default=None,
        help="a candidate config: its rules replayed over the same past, shown beside the current ones",
    )
    replay.add_argument("--format", choices=["text", "json"], default="text", help="how to print the summary")
    replay.add_argument("--messages", action="store_true", help="also print every message that would have been sent")
    replay.add_argument(
        "--step", default=None, metavar="DURATION", help="evaluate this often (default: the config's evaluate_every)"
    )


def cmd_replay(args: argparse.Namespace, out: TextIO) -> int:
    raise NotImplementedError

"""The commands that run rules over a backlog's past: ``test rules FILE...`` and ``replay``.

Both are built on backlog_watch/replay (its engine runs the daemon's own evaluation over a scratch
store); this module only parses their arguments and prints.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from backlog_watch.errors import ConfigError, StoreError

if TYPE_CHECKING:
    from backlog_watch.config.models import Config

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
SLOW_REPLAY = 5000
"""Evaluations past which replay says how to make it quicker (each is a whole daemon evaluation)."""


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
    replay.add_argument(
        "--since",
        default="14d",
        metavar="DURATION",
        help="where to start: how long before --until (14d, 36h) or an ISO time",
    )
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


def _moment(text: str, what: str) -> datetime:
    """An ISO time (UTC when it names no zone); a config error naming the option otherwise."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError([f'replay: {what} "{text}" is neither a duration (14d, 36h) nor an ISO time']) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _period(args: argparse.Namespace) -> tuple[datetime, datetime, timedelta | None]:
    from backlog_watch.durations import parse_duration

    until = _moment(args.until, "--until") if args.until else datetime.now(UTC).replace(microsecond=0)
    try:
        since = until - parse_duration(args.since)
    except ValueError:
        since = _moment(args.since, "--since")
    if since >= until:
        raise ConfigError([f"replay: --since ({since:%Y-%m-%d %H:%M}) must be before --until ({until:%Y-%m-%d %H:%M})"])
    try:
        step = parse_duration(args.step) if args.step else None
    except ValueError:
        raise ConfigError([f'replay: --step "{args.step}" is not a duration (use 1m, 15m, 1h)']) from None
    if step is not None and step <= timedelta(0):
        raise ConfigError(["replay: --step must be longer than 0s"])
    return since, until, step


def _load(path: str | None) -> Config:
    """The config, its secrets registered with the log scrubber (as every command's)."""
    from backlog_watch.config import load_config
    from backlog_watch.logs import register_secrets, secret_values

    if not path:
        raise ConfigError(["no config: pass --config FILE or set $BACKLOG_WATCH_CONFIG"])
    config = load_config(path)
    register_secrets(secret_values(config))
    return config


def cmd_replay(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Replay the current config (and the candidate) over the period, print the summary."""
    import json

    from backlog_watch.durations import format_duration
    from backlog_watch.replay.engine import quiet_lifecycle
    from backlog_watch.replay.replay import as_json, load_timeline, messages, replay, summarize
    from backlog_watch.store import open_store

    config = _load(args.config)
    candidate = _load(args.candidate) if args.candidate else None
    since, until, step = _period(args)
    if config.store.startswith("sqlite:///") and not Path(config.store.removeprefix("sqlite:///")).exists():
        raise StoreError(f"no data yet: no helpdesk has been polled into {config.store} (no such file)")
    store = open_store(config.store)
    try:
        if not store.any_poll_succeeded():
            raise StoreError(f"no data yet: no helpdesk has been polled into {config.store}")
        helpdesks = [h.name for h in config.helpdesks]
        if candidate is not None:
            helpdesks += [h.name for h in candidate.helpdesks if h.name not in helpdesks]
        timeline, exact_since = load_timeline(store, helpdesks, since, until)
        every = step or config.evaluate_every
        evaluations = int((until - since) / every) + 1
        if evaluations > SLOW_REPLAY:
            err.write(
                f"replay: {evaluations} evaluations per config (every {format_duration(every)}); --step 5m is quicker\n"
            )
        with quiet_lifecycle():
            runs = [asyncio.run(replay(config, store, timeline, since, until, step, "current"))]
            if candidate is not None:
                runs.append(asyncio.run(replay(candidate, store, timeline, since, until, step, "candidate")))
    finally:
        store.close()
    if args.format == "json":
        document = as_json(runs, exact_since)
        if args.messages:
            for run, shown in zip(runs, document["runs"], strict=True):
                shown["messages"] = [
                    {
                        "at": s.at.isoformat(),
                        "notifier": s.notifier,
                        "rule": s.rule,
                        "scope": s.scope,
                        "reason": s.reason.value,
                        "level": s.level,
                        "digest": s.digest,
                        "text": s.text,
                    }
                    for s in run.sent
                ]
        out.write(json.dumps(document, indent=2) + "\n")
        return EXIT_OK
    out.write(summarize(runs, exact_since=exact_since))
    if args.messages:
        for run in runs:
            out.write(f"\n{run.label}: the {run.notifications} message(s) that would have been sent\n\n")
            out.write(messages(run))
    return EXIT_OK

"""The command line: init | check | once [--dry-run] | run | alerts | report | healthcheck |
silence add|list|expire | store migrate | schema | test rules | replay | simulate | demo.

``--config`` goes before or after the command (``$BACKLOG_WATCH_CONFIG`` otherwise); every command's
``--help`` describes it and shows its defaults.

Exit codes: 0 done; 1 a helpdesk or a notifier failed (the rest still ran), or the store cannot be
read or written; 2 the config is invalid. A config error prints ``file:line: key.path: message`` lines
on stderr, a store error one line, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import getpass
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, TextIO

from backlog_watch import __version__
from backlog_watch.cli_help import HelpFormatter, describe
from backlog_watch.cli_replay import add_replay_parser, add_test_parser, cmd_replay, cmd_test
from backlog_watch.cli_store import add_store_parser, cmd_store
from backlog_watch.config import load_config
from backlog_watch.config.models import Config
from backlog_watch.errors import ConfigError, StoreError
from backlog_watch.init import add_init_parser, cmd_init
from backlog_watch.kpis import format_value
from backlog_watch.logs import register_secrets, secret_values, setup_logging

if TYPE_CHECKING:
    from backlog_watch.evaluation import Evaluation
    from backlog_watch.rules.base import RuleBase
    from backlog_watch.store import AsOf

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
CONFIG_ENV = "BACKLOG_WATCH_CONFIG"
SIMULATED = ("zendesk", "freshdesk", "jira", "slack", "teams", "pagerduty", "jsm", "webhook")

log = logging.getLogger("backlog_watch")


def _config_arg(parser: argparse.ArgumentParser, dest: str = "config") -> None:
    """``--config`` of a command, or of the program (``dest="global_config"``): resolved by
    resolve_config, so a subcommand's default never hides the one given before the command."""
    parser.add_argument(
        "--config",
        "-c",
        dest=dest,
        metavar="FILE",
        default=None,
        help=f"the YAML config (default: ${CONFIG_ENV})",
    )


def resolve_config(args: argparse.Namespace) -> None:
    """The config named after the command, else before it, else by $BACKLOG_WATCH_CONFIG."""
    args.config = getattr(args, "config", None) or args.global_config or os.environ.get(CONFIG_ENV)


def current_user() -> str:
    """Who runs the command, for `silence add --by`: the login name, else $USER."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment nor a passwd entry (a bare container)
        return os.environ.get("USER") or "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backlog-watch",
        description="Watch a support backlog; alert Slack and email before it is a crisis.",
        formatter_class=HelpFormatter,
    )
    _config_arg(parser, dest="global_config")
    parser.add_argument("--version", action="version", version=f"backlog-watch {__version__}")
    parser.add_argument(
        "--log-format",
        choices=["auto", "json", "text"],
        default="auto",
        help="log lines as JSON or text (default: text on a terminal, JSON otherwise)",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_init_parser(commands)

    check = commands.add_parser("check", help="validate a config and list what is not yet supported")
    _config_arg(check)
    once = commands.add_parser("once", help="poll every helpdesk once, evaluate, notify, exit")
    _config_arg(once)
    once.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be sent; send nothing and change nothing in the store (it polls "
        "into a temporary copy of the store, deleted on exit)",
    )
    _at_arg(once, "with --dry-run: evaluate every rule on the backlog as it was then (from the change log and "
            "the KPI history; nothing polled, nothing sent)")  # fmt: skip
    run = commands.add_parser("run", help="the daemon: poll, evaluate and notify until stopped")
    _config_arg(run)

    report = commands.add_parser("report", help="print the daily briefing or the weekly review from the stored data")
    _config_arg(report)
    report.add_argument("--kind", choices=["daily", "weekly"], default="daily", help="which report")
    report.add_argument("--format", choices=["text", "markdown", "json"], default="text", help="how to print it")
    report.add_argument("--chart", metavar="PNG", help="also write the report's chart to this file")
    report.add_argument(
        "--report",
        metavar="NAME",
        help="one of the config's reports: its kind (instead of --kind) and, with --send, its notifiers",
    )
    _at_arg(report, "the report as it would have been made then (from the change log and the KPI history)")
    report.add_argument(
        "--send",
        action="store_true",
        help="post the report to its configured notifiers now, e.g. to preview it in Slack (the config's "
        "only report, or the one --report names)",
    )
    health = commands.add_parser("healthcheck", help="exit 0 when the daemon's /healthz answers (the HEALTHCHECK)")
    _config_arg(health)

    simulate = commands.add_parser(
        "simulate", help="serve a simulated helpdesk (or the stand-in of Slack or a receiver) on loopback"
    )
    simulate.add_argument("helpdesk", choices=SIMULATED, help="what to simulate")
    simulate.add_argument("--port", type=int, default=8081, help="the port to listen on (0: any free port)")
    simulate.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    simulate.add_argument("--seed", type=int, default=1, help="the same seed gives the same backlog")
    simulate.add_argument("--tickets", type=int, default=300, help="size of the generated backlog")

    _alerts_parser(commands)
    _silence_parser(commands)
    add_store_parser(commands)
    add_test_parser(commands)
    add_replay_parser(commands)
    schema = commands.add_parser(
        "schema", help="print the config's JSON Schema (for editors: yaml-language-server, and CI linters)"
    )
    schema.add_argument(
        "--bundled-only",
        action="store_true",
        help="only the helpdesk, notifier and rule types this package ships, not installed plugins' "
        "(what config/backlog-watch.schema.json holds)",
    )

    demo = commands.add_parser("demo", help="simulators + daemon + console alerts, all on this machine")
    demo.add_argument("--data", default="demo-data", help="folder for the demo's SQLite store")
    demo.add_argument("--port", type=int, default=8080, help="the daemon's HTTP port")
    describe(parser)
    return parser


def _at_arg(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--at",
        metavar="TIME",
        help=f"{what}; TIME is ISO 8601 (2024-05-13T09:00, in the config's timezone unless it has an offset) "
        "or a time ago (3d ago, -3d)",
    )


def _moment(command: str, config: Config, text: str) -> datetime:
    """``--at``'s moment, or a one-line error (exit 2)."""
    from datetime import UTC, datetime

    from backlog_watch.durations import parse_moment

    try:
        return parse_moment(text, datetime.now(UTC), config.tz)
    except ValueError as exc:
        raise UsageError(f"{command}: --at {exc}") from None


class UsageError(Exception):
    """A command given options it cannot take together, or a bad value: one line, exit 2."""


def as_of_note(moment: datetime, as_of: AsOf, tz: tzinfo) -> str:
    """The line that says which moment the output is about, and whether it is a guess."""
    shown = f"{moment.astimezone(tz):%Y-%m-%d %H:%M} {tz}"
    if not as_of.approximate(moment):
        return f"as of {shown}: the backlog rebuilt from the change log\n"
    since = (
        f"the first recorded change, {as_of.exact_since.astimezone(tz):%Y-%m-%d %H:%M}"
        if as_of.exact_since is not None
        else "any recorded change"
    )
    return (
        f"as of {shown}: APPROXIMATE: before {since}; tickets' states then are guessed from their created and "
        "solved times\n"
    )


def _alerts_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    alerts = commands.add_parser("alerts", help="the alerts now: rule, scope, level, state, since, muted why")
    _config_arg(alerts)
    alerts.add_argument("--all", action="store_true", help="pending and resolved alerts too")
    alerts.add_argument("--json", action="store_true", help="JSON for scripts instead of the table")


def cmd_alerts(args: argparse.Namespace, out: TextIO) -> int:
    from backlog_watch.cli_output import list_alerts

    return list_alerts(_load(args.config), out, include_all=args.all, as_json=args.json)


def _silence_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    silence = commands.add_parser("silence", help="mute alerts that match, for a while (add | list | expire)")
    actions = silence.add_subparsers(dest="silence_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a silence")
    _config_arg(add)
    add.add_argument(
        "--matcher",
        "-m",
        action="append",
        required=True,
        metavar="KEY=VALUE",
        help="rule=NAME, helpdesk=NAME, group=NAME, level=warn, any label (repeat: all must match); "
        "also KEY!=VALUE and KEY=~REGEX",
    )
    add.add_argument("--for", dest="duration", required=True, metavar="DURATION", help="how long, e.g. 2h or 1d")
    add.add_argument("--by", help="who adds it (default: your user name)")
    add.add_argument("--comment", required=True, help="why")
    listing = actions.add_parser("list", help="list active silences (--all: expired ones too)")
    _config_arg(listing)
    listing.add_argument("--all", action="store_true", help="pending and expired silences too")
    expire = actions.add_parser("expire", help="end a silence now")
    _config_arg(expire)
    expire.add_argument("id", help="the silence's id (from `silence add` or `silence list`)")


def cmd_silence(args: argparse.Namespace, out: TextIO) -> int:
    """Silences live in the store, so a running daemon sees them at its next evaluation."""
    from datetime import UTC, datetime

    from backlog_watch.alerting.silences import Matcher, Silences
    from backlog_watch.durations import parse_duration
    from backlog_watch.store import open_store

    config = _load(args.config)
    now = datetime.now(UTC)
    store = open_store(config.store)
    try:
        silences = Silences(store)
        if args.silence_command == "add":
            try:
                matchers = [Matcher.parse(m) for m in args.matcher]
                duration = parse_duration(args.duration)
                silence = silences.add(
                    matchers,
                    ends_at=now + duration,
                    created_by=args.by or current_user(),
                    comment=args.comment,
                    now=now,
                )
            except ValueError as exc:  # a pydantic duration error is a ValueError too
                sys.stderr.write(f"silence add: {str(exc).splitlines()[-1] if exc.args else exc}\n")
                return EXIT_CONFIG
            out.write(f"{silence.id}\n")
            return EXIT_OK
        if args.silence_command == "expire":
            try:
                silence = silences.expire(args.id, now)
            except KeyError:
                sys.stderr.write(f'silence expire: no silence "{args.id}" (see `backlog-watch silence list --all`)\n')
                return EXIT_FAILED
            out.write(f"expired {silence.id}\n")
            return EXIT_OK
        shown = silences.all() if args.all else silences.active(now)
        for s in shown:
            state = "active" if s.is_active(now) else ("pending" if s.starts_at > now else "expired")
            out.write(
                f"{s.id}  {state:<7}  until {s.ends_at:%Y-%m-%d %H:%M} UTC  "
                f"{' '.join(str(m) for m in s.matchers)}  by {s.created_by}: {s.comment}\n"
            )
        if not shown:
            out.write("no silences\n")
        return EXIT_OK
    finally:
        store.close()


def _load(path: str | None) -> Config:
    """The config, its secrets registered with the log scrubber before anything can log them."""
    if not path:
        raise ConfigError([f"no config: pass --config FILE or set ${CONFIG_ENV}"])
    config = load_config(path)
    register_secrets(secret_values(config))
    return config


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    config = _load(args.config)
    rules = config.effective_rules()
    out.write(
        f"{args.config}: valid ({len(config.helpdesks)} helpdesk(s), {len(config.notifiers)} "
        f"notifier(s), {len(rules)} rule(s), {len(config.reports)} report(s))\n"
    )
    out.writelines(f"{args.config}: deprecated: {line}\n" for line in config.deprecations())
    missing = config.unsupported()
    if missing:
        out.write("not yet supported (`run` refuses to start on these):\n")
        out.writelines(f"  {line}\n" for line in missing)
    check_store(config.store)
    return EXIT_OK


def check_store(url: str) -> None:
    """An existing SQLite store must open and take a write (StoreError otherwise); a missing one is left
    for `run` to create, so `check` never leaves a file behind."""
    from pathlib import Path

    from backlog_watch.store import open_store

    if not url.startswith("sqlite:///") or not Path(url.removeprefix("sqlite:///")).exists():
        return
    store = open_store(url)
    try:
        store.probe_write()
    finally:
        store.close()


def throwaway_store(config: Config, folder: str) -> Config:
    """The config with its store replaced by a copy in ``folder``: a dry run starts from the real
    state (tickets, cursors, alerts) but everything it fetches or decides is thrown away with the copy."""
    from pathlib import Path

    from backlog_watch.store import copy_store

    copy = Path(folder) / "dry-run.db"
    copy_store(config.store, copy)
    return config.model_copy(update={"store": f"sqlite:///{copy.resolve()}"})


async def _once(config: Config, dry_run: bool, out: TextIO, at: datetime | None = None) -> int:
    import tempfile

    if not dry_run:
        return await _once_in(config, False, out)
    with tempfile.TemporaryDirectory(prefix="backlog-watch-dry-run-") as folder:
        scratch = throwaway_store(config, folder)
        if at is not None:
            as_of = _rewind(scratch, at)
            out.write(as_of_note(at, as_of, config.tz))
        return await _once_in(scratch, True, out, at)


def _rewind(scratch: Config, moment: datetime) -> AsOf:
    """The scratch copy made what the store held at ``moment`` (store/sqlite/store.py ``rewind``)."""
    from pathlib import Path

    from backlog_watch.store import rewind_copy

    copy = Path(scratch.store.removeprefix("sqlite:///"))
    if not copy.exists():
        raise StoreError(f"no data at {moment:%Y-%m-%d %H:%M} UTC: nothing has been polled into the store yet")
    return rewind_copy(copy, moment, [h.name for h in scratch.helpdesks])


async def _once_in(config: Config, dry_run: bool, out: TextIO, at: datetime | None = None) -> int:
    """Poll, evaluate, notify (or, dry, print what would be sent). ``at``: evaluate at that moment the
    store as it holds it (rewound), polling nothing."""
    from backlog_watch.app import assemble
    from backlog_watch.cli_output import once_summary
    from backlog_watch.daemon import utcnow
    from backlog_watch.delivery.notifiers.console import format_text

    async with assemble(config, dry_run=dry_run, clock=utcnow if at is None else lambda: at) as parts:
        # What is built by now (modules, config, clients) lives as long as the process: the collector
        # stops walking it, which a cold sync of 100k tickets otherwise pays for at every full collection.
        gc.freeze()
        if at is None:
            code, evaluation = await parts.daemon.once()  # a failed poll is logged once, by the daemon
        else:
            code, evaluation = 0, await parts.daemon.evaluate()
        if dry_run:
            out.write(dry_run_report(parts.daemon.rules, evaluation))
            for notifier, notification in evaluation.planned:
                out.write(f"\n[dry run] would send to {notifier} ({notification.reason}):\n")
                out.write(format_text(notification, config.tz) + "\n")
            for fp, why in evaluation.muted.items():
                out.write(f"\n[dry run] not sent: {evaluation.alerts[fp].rule}: {why}\n")
            if not evaluation.planned:
                out.write("\n[dry run] nothing to send\n")
        for notifier, notification, error in evaluation.result.failed:
            out.write(f"notifier {notifier}: {notification.alert.rule} not delivered: {error}\n")
        out.write(once_summary(evaluation, dry_run=dry_run))
        return code


def dry_run_report(rules: Sequence[RuleBase], evaluation: Evaluation) -> str:
    """Every rule's value in every scope, quiet ones too, and whether it would fire: to tune thresholds."""
    lines: list[str] = []
    snapshot = evaluation.snapshot
    for rule in rules:
        measures = list(rule.measure(snapshot, snapshot.now)) if snapshot is not None else []
        fires = any(m.level for m in measures)
        lines.append(f"rule {rule.name} ({rule.type}): {'fires' if fires else 'quiet'}")
        lines.extend(
            f"    {m.scope_text}: {format_value(m.value)} -> {m.level or 'quiet'} ({m.summary})" for m in measures
        )
        if not measures:
            lines.append("    (no scope: no ticket matches)")
    return "".join(f"{line}\n" for line in lines)


async def _simulate(args: argparse.Namespace) -> int:
    from backlog_watch import sim

    receivers = {
        "slack": sim.serve_slack,
        "teams": sim.serve_teams,
        "pagerduty": sim.serve_pagerduty,
        "jsm": sim.serve_jsm,
        "webhook": sim.serve_webhook,
    }
    if args.helpdesk in receivers:
        await receivers[args.helpdesk](args.port, host=args.host)
    elif args.helpdesk == "freshdesk":
        await sim.serve_freshdesk(args.port, host=args.host, seed=args.seed, tickets=args.tickets)
    elif args.helpdesk == "jira":
        await sim.serve_jira(args.port, host=args.host, seed=args.seed, tickets=args.tickets)
    else:
        await sim.serve_zendesk(args.port, host=args.host, seed=args.seed, tickets=args.tickets)
    return EXIT_OK


def cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    import tempfile
    from datetime import UTC
    from pathlib import Path

    from backlog_watch.reports import prepare
    from backlog_watch.reports.render import render
    from backlog_watch.store import open_store

    config = _load(args.config)
    if args.at is not None and args.send:
        raise UsageError("report: --at makes a report of the past to look at; it is not sent (drop --send)")
    at = _moment("report", config, args.at) if args.at is not None else None
    chosen = _chosen_report(config, args.report, args.send)
    kind = chosen.kind if chosen is not None else args.kind
    name = chosen.name if chosen is not None else None
    handle_hours = {h.name: h.handle_time.total_seconds() / 3600 for h in config.helpdesks}
    with tempfile.TemporaryDirectory(prefix="backlog-watch-report-at-") as folder:
        source, note = config.store, None
        if at is not None:  # the report of a scratch copy of the store, made what it held then
            scratch = throwaway_store(config, folder)
            if Path(scratch.store.removeprefix("sqlite:///")).exists():
                source, note = scratch.store, as_of_note(at, _rewind(scratch, at), config.tz)
        store = open_store(source)
        try:
            if not store.any_poll_succeeded():
                # An empty store would report "Open: 0" as confidently as a clean backlog does.
                sys.stderr.write(
                    f"report: no data yet: no helpdesk has been polled into {config.store} "
                    "(run `backlog-watch once` or `run` first)\n"
                )
                return EXIT_FAILED
            if note is not None:
                (sys.stderr if args.format == "json" else out).write(note)
            prepared = prepare(store, kind, at or datetime.now(UTC), config.tz, name, handle_hours)
        finally:
            store.close()
    if args.chart:
        Path(args.chart).write_bytes(prepared.chart_png)
    if chosen is not None and args.send:
        return _send_report(config, chosen, prepared, out)
    out.write(render(prepared.report, args.format))
    return EXIT_OK


if TYPE_CHECKING:
    from backlog_watch.config.models import ReportSettings
    from backlog_watch.reports import PreparedReport


def _chosen_report(config: Config, name: str | None, sending: bool) -> ReportSettings | None:
    """The report --report names, or with --send the config's only one; a config error otherwise."""
    where = f"{config.path or 'config'}: reports"
    names = ", ".join(r.name for r in config.reports) or "none configured"
    if name is not None:
        for settings in config.reports:
            if settings.name == name:
                return settings
        raise ConfigError([f'{where}: no report named "{name}" (reports: {names})'])
    if not sending:
        return None
    if len(config.reports) == 1:
        return config.reports[0]
    if not config.reports:
        raise ConfigError([f"{where}: --send posts a configured report, and none is (add one with notify:)"])
    raise ConfigError([f"{where}: --send: choose a report with --report NAME ({names})"])


def _send_report(config: Config, settings: ReportSettings, prepared: PreparedReport, out: TextIO) -> int:
    """Post once to the report's notifiers (no retry: a preview says at once whether it went)."""
    from backlog_watch.app import build_notifier
    from backlog_watch.reports import send

    notifiers = {s.name: build_notifier(s, config.tz) for s in config.notifiers if s.name in settings.notify}
    failed = asyncio.run(send(prepared, notifiers, settings.notify, attempts=1))
    for name in settings.notify:
        if name not in failed:
            out.write(f"report {settings.name} sent to {name}\n")
    for name in failed:
        sys.stderr.write(f"report {settings.name}: not sent to {name} (the log says why)\n")
    return EXIT_FAILED if failed else EXIT_OK


def cmd_healthcheck(args: argparse.Namespace) -> int:
    """GET /healthz on the configured listen address (loopback when it listens on every interface)."""
    import urllib.request

    host, port = "127.0.0.1", 8080
    with contextlib.suppress(ConfigError):
        config = _load(args.config)
        host, port = config.http.host, config.http.port
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    try:
        with urllib.request.urlopen(f"http://{shown}:{port}/healthz", timeout=4) as response:
            return EXIT_OK if response.status == 200 else EXIT_FAILED
    except OSError as exc:
        sys.stderr.write(f"healthcheck: http://{shown}:{port}/healthz: {exc}\n")
        return EXIT_FAILED


@contextlib.contextmanager
def collecting_seldom() -> Iterator[None]:
    """The cyclic garbage collector run seldom, for a cold sync: it parses a page of JSON and builds its
    tickets at a time, all freed by reference counting, and at the default threshold (700 allocations) a
    1000-ticket page set off ~70 young collections, each moving what was alive into the older
    generations: 13% of the CPU of a cold sync of 100k tickets. The thresholds are restored after."""
    thresholds = gc.get_threshold()
    gc.set_threshold(50_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def leaving(code: int) -> int:
    """After a daemon's clean stop, what it built is about to be torn down: frozen, the interpreter's last
    collection does not walk it (at 500 helpdesks that walk took 5 s after everything was closed, and
    Docker kills at 10 s after SIGTERM). Reference counting still frees it; atexit handlers still run."""
    gc.freeze()
    return code


def dispatch(args: argparse.Namespace, out: TextIO) -> int:
    if args.command == "init":
        return cmd_init(args, out)
    if args.command == "check":
        return cmd_check(args, out)
    if args.command == "once":
        if args.at is not None and not args.dry_run:
            raise UsageError("once: --at needs --dry-run (a past moment is looked at, never acted on)")
        config = _load(args.config)
        at = _moment("once", config, args.at) if args.at is not None else None
        with collecting_seldom():
            return asyncio.run(_once(config, args.dry_run, out, at))
    if args.command == "run":
        from backlog_watch.app import refuse_unsupported, run
        from backlog_watch.web.server import ListenError

        config = _load(args.config)
        refuse_unsupported(config)
        try:
            return leaving(asyncio.run(run(config)))
        except ListenError as exc:
            raise ConfigError([f"{config.path or 'config'}: http.listen: {exc} (change http.listen)"]) from None
    if args.command == "alerts":
        return cmd_alerts(args, out)
    if args.command == "report":
        return cmd_report(args, out)
    if args.command == "healthcheck":
        return cmd_healthcheck(args)
    if args.command == "silence":
        return cmd_silence(args, out)
    if args.command == "store":
        return cmd_store(args, out)
    if args.command == "test":
        return cmd_test(args, out, sys.stderr)
    if args.command == "replay":
        return cmd_replay(args, out, sys.stderr)
    if args.command == "schema":
        from backlog_watch.config.schema import schema_text

        out.write(schema_text(args.bundled_only))
        return EXIT_OK
    if args.command == "simulate":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_simulate(args))
        return EXIT_OK
    if args.command == "demo":
        from backlog_watch.demo import demo
        from backlog_watch.web.server import ListenError

        try:
            return asyncio.run(demo(data=args.data, port=args.port))
        except ListenError as exc:
            raise ConfigError(
                [f"demo: {exc} (choose another port: make demo PORT=9090, or backlog-watch demo --port 9090)"]
            ) from None
    raise AssertionError(args.command)  # argparse allows no other


def glue_relative_at(argv: Sequence[str]) -> list[str]:
    """``--at -3d`` as ``--at=-3d``: argparse takes a value starting with a dash for an option."""
    glued = list(argv)
    for i in range(len(glued) - 1, 0, -1):
        if glued[i - 1] == "--at" and glued[i].startswith("-") and glued[i][1:2].isdigit():
            glued[i - 1 : i + 1] = [f"--at={glued[i]}"]
    return glued


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(glue_relative_at(sys.argv[1:] if argv is None else argv))
    resolve_config(args)
    setup_logging(args.log_format, logging.DEBUG if args.verbose else logging.INFO)
    try:
        return dispatch(args, out or sys.stdout)
    except ConfigError as exc:
        sys.stderr.write("".join(f"{line}\n" for line in exc.problems))
        return EXIT_CONFIG
    except UsageError as exc:
        sys.stderr.write(f"{exc}\n")
        return EXIT_CONFIG
    except StoreError as exc:
        sys.stderr.write(f"backlog-watch {args.command}: {exc}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        # `backlog-watch once --dry-run | head`: the reader has gone, which is no error of ours; point
        # stdout at /dev/null so the interpreter's last flush does not raise again at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

"""The command line: check | once [--dry-run] | run | simulate | demo.

Exit codes: 0 done; 1 a helpdesk or a notifier failed (the rest still ran); 2 the config is invalid.
A config error prints ``file:line: key.path: message`` lines on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from backlog_watch import __version__
from backlog_watch.config import Config, load_config
from backlog_watch.errors import ConfigError
from backlog_watch.logs import setup_logging

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
CONFIG_ENV = "BACKLOG_WATCH_CONFIG"
SIMULATED = ("zendesk", "freshdesk", "jira", "slack")

log = logging.getLogger("backlog_watch")


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", metavar="FILE", default=os.environ.get(CONFIG_ENV),
                        help=f"the YAML config (default: ${CONFIG_ENV})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backlog-watch", description="Watch a support backlog; alert Slack and email before it is a crisis.")
    parser.add_argument("--version", action="version", version=f"backlog-watch {__version__}")
    parser.add_argument("--log-format", choices=["auto", "json", "text"], default="auto",
                        help="log lines as JSON or text (default: text on a terminal, JSON otherwise)")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser("check", help="validate a config and list what is not yet supported")
    _config_arg(check)
    once = commands.add_parser("once", help="poll every helpdesk once, evaluate, notify, exit")
    _config_arg(once)
    once.add_argument("--dry-run", action="store_true", help="print what would be sent; send and save nothing")
    run = commands.add_parser("run", help="the daemon: poll, evaluate and notify until stopped")
    _config_arg(run)

    simulate = commands.add_parser("simulate", help="serve a simulated helpdesk (or the Slack stand-in) on loopback")
    simulate.add_argument("helpdesk", choices=SIMULATED)
    simulate.add_argument("--port", type=int, default=8081)
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--seed", type=int, default=1)
    simulate.add_argument("--tickets", type=int, default=300, help="size of the generated backlog")

    demo = commands.add_parser("demo", help="simulators + daemon + console alerts, all on this machine")
    demo.add_argument("--data", default="demo-data", help="folder for the demo's SQLite store")
    demo.add_argument("--port", type=int, default=8080, help="the daemon's HTTP port")
    return parser


def _load(path: str | None) -> Config:
    if not path:
        raise ConfigError([f"no config: pass --config FILE or set ${CONFIG_ENV}"])
    return load_config(path)


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    config = _load(args.config)
    rules = config.effective_rules()
    out.write(f"{args.config}: valid ({len(config.helpdesks)} helpdesk(s), {len(config.notifiers)} "
              f"notifier(s), {len(rules)} rule(s), {len(config.reports)} report(s))\n")
    missing = config.unsupported()
    if missing:
        out.write("not yet supported (`run` refuses to start on these):\n")
        out.writelines(f"  {line}\n" for line in missing)
    return EXIT_OK


async def _once(config: Config, dry_run: bool, out: TextIO) -> int:
    from backlog_watch.app import assemble
    from backlog_watch.notifiers.console import format_text

    async with assemble(config, dry_run=dry_run) as parts:
        code, evaluation = await parts.daemon.once()
        for name in parts.connectors:
            status = parts.store.poll_status(name)
            if status.last_error and status.last_attempt != status.last_success:
                out.write(f"helpdesk {name}: poll failed: {status.last_error}\n")
        if dry_run:
            by_rule: dict[str, list[str]] = {}
            for finding in evaluation.findings:
                scope = ", ".join(f"{k}={v}" for k, v in finding.labels) or "all"
                by_rule.setdefault(finding.rule, []).append(
                    f"    {scope}: {finding.level} ({finding.summary})")
            for rule in parts.daemon.rules:
                lines = by_rule.get(rule.name)
                out.write(f"rule {rule.name}: " + ("fires\n" if lines else "quiet\n"))
                out.writelines(line + "\n" for line in lines or ())
            for notifier, notification in evaluation.planned:
                out.write(f"\n[dry run] would send to {notifier} ({notification.reason}):\n")
                out.write(format_text(notification) + "\n")
            if not evaluation.planned:
                out.write("\n[dry run] nothing to send\n")
        for notifier, notification, error in evaluation.result.failed:
            out.write(f"notifier {notifier}: {notification.alert.rule} not delivered: {error}\n")
        return code


async def _simulate(args: argparse.Namespace) -> int:
    from backlog_watch.simulate import serve_freshdesk, serve_jira, serve_slack, serve_zendesk

    if args.helpdesk == "slack":
        await serve_slack(args.port, host=args.host)
    elif args.helpdesk == "freshdesk":
        await serve_freshdesk(args.port, host=args.host, seed=args.seed, tickets=args.tickets)
    elif args.helpdesk == "jira":
        await serve_jira(args.port, host=args.host, seed=args.seed, tickets=args.tickets)
    else:
        await serve_zendesk(args.port, host=args.host, seed=args.seed, tickets=args.tickets)
    return EXIT_OK


def dispatch(args: argparse.Namespace, out: TextIO) -> int:
    if args.command == "check":
        return cmd_check(args, out)
    if args.command == "once":
        return asyncio.run(_once(_load(args.config), args.dry_run, out))
    if args.command == "run":
        from backlog_watch.app import refuse_unsupported, run

        config = _load(args.config)
        refuse_unsupported(config)
        return asyncio.run(run(config))
    if args.command == "simulate":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_simulate(args))
        return EXIT_OK
    if args.command == "demo":
        from backlog_watch.demo import demo

        return asyncio.run(demo(data=args.data, port=args.port))
    raise AssertionError(args.command)  # argparse allows no other


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_format, logging.DEBUG if args.verbose else logging.INFO)
    try:
        return dispatch(args, out or sys.stdout)
    except ConfigError as exc:
        sys.stderr.write("".join(f"{line}\n" for line in exc.problems))
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

"""`backlog-watch store migrate --from URL --to URL`: move a team's store, e.g. SQLite to PostgreSQL.

Everything is copied (store/transfer.py), so the daemon started on the new store neither refetches
the helpdesks nor re-alerts: the cursors, alert states and Slack threads come along. A target that
already holds data is refused unless ``--force`` (which empties it first); a source that does not
exist is refused rather than created. The URLs may say ``${PG_PASSWORD}``: the variable is read
here, so the password stays out of the shell history and the process list. It is never printed.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import TextIO

from backlog_watch.errors import ConfigError, StoreError
from backlog_watch.logs import register_secrets, secret_values
from backlog_watch.store.urls import redact_url

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def add_store_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    store = commands.add_parser("store", help="manage the store (migrate: copy it to another store)")
    actions = store.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    migrate = actions.add_parser("migrate", help="copy every ticket, cursor, alert, log entry, silence to a new store")
    migrate.add_argument(
        "--from", dest="source", required=True, metavar="URL", help="e.g. sqlite:///./backlog-watch.db"
    )
    migrate.add_argument(
        "--to", dest="target", required=True, metavar="URL", help="e.g. postgresql://bw:${PG_PASSWORD}@db/backlog"
    )
    migrate.add_argument("--force", action="store_true", help="replace what the target holds (its rows are deleted)")


def cmd_store(args: argparse.Namespace, out: TextIO) -> int:
    from backlog_watch.store import open_store
    from backlog_watch.store.transfer import transfer

    source, target = _expand(args.source, "--from"), _expand(args.target, "--to")
    register_secrets(secret_values([source, target]))
    if source == target:
        raise ConfigError(["store migrate: --from and --to name the same store"])
    if source.startswith("sqlite:///") and not Path(source.removeprefix("sqlite:///")).is_file():
        raise StoreError(f"no store at {redact_url(source)} (nothing to migrate)")
    origin = open_store(source)
    try:
        destination = open_store(target)
        try:
            copied = transfer(origin, destination, replace=args.force)
        finally:
            destination.close()
    finally:
        origin.close()
    out.write(f"store migrate: {redact_url(source)} -> {redact_url(target)}\n")
    out.writelines(f"  {table:<17} {count:>9}\n" for table, count in copied.items())
    return 0


def _expand(url: str, flag: str) -> str:
    """``${NAME}`` replaced by the variable's value; an unset or empty one is an error naming it."""
    missing = [name for name in _VARIABLE.findall(url) if not os.environ.get(name)]
    if missing:
        raise ConfigError([f"store migrate: {flag}: ${{{missing[0]}}} is not set"])
    return _VARIABLE.sub(lambda m: os.environ[m.group(1)], url)

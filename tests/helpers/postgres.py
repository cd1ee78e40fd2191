"""The real PostgreSQL of the tests: on loopback (trust auth, user postgres), started if it is down.

A test session works in a throwaway database of its own (a unique name, dropped at the end), so
several sessions on one server never meet; each test starts from an empty schema. When no server
answers and none can be started, the tests that need one FAIL with the reason: CI must not skip them.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

SERVER_ENV = "BACKLOG_WATCH_TEST_POSTGRES"
SERVER = os.environ.get(SERVER_ENV, "postgresql://postgres@127.0.0.1:5432/postgres")
"""The maintenance database of the server the tests use (``$BACKLOG_WATCH_TEST_POSTGRES`` overrides)."""


def start_command() -> list[str]:
    """Debian's way to start the machine's (newest) cluster; ``.ci/run`` runs the same before the tests."""
    found = [p.name for p in Path("/etc/postgresql").glob("*")] if Path("/etc/postgresql").is_dir() else []
    versions = sorted(found, key=lambda name: [int(part) for part in name.split(".") if part.isdigit()])
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1] if versions else "?", "main", "start"]


def ensure_running(server: str = SERVER, command: list[str] | None = None) -> None:
    """Connect to the server, starting it once if it does not answer; fail saying how otherwise."""
    try:
        psycopg.connect(server, connect_timeout=5).close()
        return
    except psycopg.OperationalError as first:
        reason = " ".join(str(first).split())
    command = command or start_command()
    try:
        started = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        reason += f"; `{' '.join(command)}` said: {(started.stderr or started.stdout).strip() or started.returncode}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        reason += f"; `{' '.join(command)}` failed: {exc}"
    try:  # pg_ctlcluster waits until the server accepts connections
        psycopg.connect(server, connect_timeout=5).close()
    except psycopg.OperationalError:
        pytest.fail(f"PostgreSQL is needed at {server} (${SERVER_ENV}) and is not running: {reason}", pytrace=False)


def database_url(name: str) -> str:
    parts = urlsplit(SERVER)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextmanager
def throwaway_database() -> Iterator[str]:
    """A new database (unique name) for the session; its URL; dropped at the end."""
    ensure_running()
    name = f"bw_test_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(SERVER, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(name)
    finally:
        with psycopg.connect(SERVER, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def empty_schema(url: str) -> None:
    """Drop everything a test left in the database: the next one starts from nothing."""
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("DROP SCHEMA public CASCADE")
        db.execute("CREATE SCHEMA public")


def lease_expiries(url: str, holder: str) -> dict[str, float]:
    """The database's expiry of each lease ``holder`` holds, as epoch seconds."""
    with psycopg.connect(url, autocommit=True) as db:
        rows = db.execute(
            "SELECT name, extract(epoch FROM expires_at) FROM leases WHERE holder = %s AND expires_at > now()",
            (holder,),
        ).fetchall()
    return {str(name): float(at) for name, at in rows}

"""The daemon on the shared store: `store: postgresql://...` against a simulator and the real PostgreSQL
(a throwaway database). It polls, alerts once, and shows the store's address only without its password."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest

from backlog_watch.app import assemble, daemon_hooks, web_state
from backlog_watch.sim import SimClock, ZendeskSimulator
from backlog_watch.web.server import WebServer
from tests.helpers.cli import cli
from tests.helpers.config import console, document, dump, parse, threshold, write, zendesk

PASSWORD = "shared-pw-8080"
REFUSE_POLLS = """
CREATE FUNCTION refuse() RETURNS trigger
AS $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$
LANGUAGE plpgsql;
CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON polls FOR EACH ROW EXECUTE FUNCTION refuse();
"""


@pytest.fixture
async def sim() -> AsyncIterator[ZendeskSimulator]:
    clock = SimClock()
    simulator = ZendeskSimulator(seed=5, tickets=150, clock=clock)
    await simulator.start()
    clock.advance(120)  # the export's one-minute rule
    yield simulator
    await simulator.stop()


def shared(url: str) -> str:
    """The store URL as a config writes it: the password read from ${PG_PASSWORD}."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}:${{PG_PASSWORD}}@{parts.hostname}:{parts.port}"))


def config_doc(sim: ZendeskSimulator, store: str, **sections: object) -> dict[str, object]:
    return {
        "store": store,
        **document(
            helpdesks=[zendesk(sim)],
            notifiers=[console()],
            notify=["console"],
            rules=[threshold(warn_above=10)],
            **sections,
        ),
    }


async def test_once_on_postgresql_polls_alerts_once_and_keeps_it(
    sim: ZendeskSimulator, pg_url: str, tmp_path: Path
) -> None:
    config = write(tmp_path / "shared.yaml", config_doc(sim, shared(pg_url)))
    env = {"PG_PASSWORD": PASSWORD}
    code, out, err = await cli("once", "--config", str(config), env=env)
    assert code == 0, err
    backlog = len(sim.open_ids())
    assert f"[WARN] backlog-size: {backlog} open (zendesk)" in out
    assert "once: 1 helpdesk polled (0 failed), 150 tickets changed, 1 alert firing: 1 sent" in out
    with psycopg.connect(pg_url) as db:
        assert db.execute(
            "SELECT count(*) FROM tickets WHERE status IN ('new','open','pending','on_hold')"
        ).fetchone() == (backlog,)
        assert db.execute("SELECT count(*) FROM notification_log").fetchone() == (1,)
    code, out, err = await cli("once", "--config", str(config), env=env)
    assert code == 0 and "[WARN] backlog-size" not in out  # the shared store remembers it was sent
    code, out, err = await cli("alerts", "--config", str(config), env=env)
    assert code == 0 and "backlog-size" in out
    assert PASSWORD not in out + err


async def test_a_dry_run_on_postgresql_works_on_a_copy_and_leaves_the_shared_store_as_it_was(
    sim: ZendeskSimulator, pg_url: str, tmp_path: Path
) -> None:
    config = write(tmp_path / "shared.yaml", config_doc(sim, shared(pg_url)))
    env = {"PG_PASSWORD": PASSWORD}
    code, out, err = await cli("once", "--dry-run", "--config", str(config), env=env)
    assert code == 0, err
    assert "rule backlog-size (threshold): fires" in out and "[dry run] would send to console" in out
    with psycopg.connect(pg_url) as db:  # not even migrated: the dry run read it and wrote nothing
        assert db.execute("SELECT to_regclass('tickets')").fetchone() == (None,)
    assert (await cli("once", "--config", str(config), env=env))[0] == 0
    code, out, err = await cli("once", "--dry-run", "--config", str(config), env=env)
    assert code == 0 and "[dry run] would send" not in out, err  # the copy holds the sent alert's log
    with psycopg.connect(pg_url) as db:
        assert db.execute("SELECT count(*) FROM notification_log").fetchone() == (1,)
    assert PASSWORD not in out + err


async def test_readyz_and_the_wallboard_show_a_failing_store_without_its_password(
    sim: ZendeskSimulator, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    doc = config_doc(sim, shared(pg_url), http={"listen": "127.0.0.1:0"})
    config = parse(dump(doc), "shared.yaml", env={"PG_PASSWORD": PASSWORD})
    assert PASSWORD in config.store  # the real URL reaches the store ...
    async with assemble(config) as parts:
        console_out = io.StringIO()
        parts.daemon.notifiers["console"]._stream = console_out  # type: ignore[attr-defined]
        hooks = daemon_hooks(parts.daemon)
        server = WebServer("127.0.0.1", 0, web_state(config, parts, hooks))
        url = await server.start()
        try:
            async with httpx.AsyncClient(base_url=url) as client:
                await parts.daemon.poll("zendesk", then_evaluate=False)
                ready = await client.get("/readyz")
                assert ready.status_code == 200 and ready.json()["store"] == "ok"
                with psycopg.connect(pg_url, autocommit=True) as db:  # the server now refuses to record a poll
                    db.execute(REFUSE_POLLS)
                await parts.daemon.poll_guarded("zendesk")  # as the scheduler runs it: reported, not raised
                failing = await client.get("/readyz")
                board = await client.get("/")
                backlog = await client.get("/api/backlog")
        finally:
            await hooks.close()
            await server.stop()
    assert failing.status_code == 503
    reason = failing.json()["store"]  # ... and is shown only without its password
    assert reason.startswith("the store at postgresql://postgres:***@127.0.0.1") and "cannot be" in reason
    assert all(PASSWORD not in r.text for r in (failing, board, backlog))
    assert "store-failing" in console_out.getvalue() and PASSWORD not in console_out.getvalue()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "cannot be written" in logged and PASSWORD not in logged

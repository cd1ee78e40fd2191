"""Who may read the board, over real loopback HTTP: bearer and basic auth, the open probes and hooks,
the public read-only board without subjects or names; and the config refusing a public listen with
nothing protecting it (file:line, exit 2 from `check`)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from backlog_watch.errors import ConfigError
from backlog_watch.sim import SimClock, ZendeskSimulator
from backlog_watch.web.hooks import TOKEN_HEADER
from tests.helpers.cli import cli
from tests.helpers.config import HOOK_SECRET, console, document, parse, threshold, web_config, write, zendesk
from tests.web.test_web import serving

TOKEN = "wall-token-0123456789abcdef"
PASSWORD = "wall-password-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


async def test_bearer_token_guards_board_api_and_metrics_but_not_probes_or_hooks(
    zendesk_sim: ZendeskSimulator, sim_clock: SimClock, tmp_path: Path
) -> None:
    config = web_config(zendesk_sim, tmp_path / "bw.db", auth={"bearer": TOKEN})
    async with serving(config, sim_clock) as (parts, client, hooks):
        await parts.daemon.once()
        for path in ("/", "/api/backlog", "/metrics"):
            denied = await client.get(path)
            assert denied.status_code == 401 and denied.headers["WWW-Authenticate"].startswith("Bearer")
            assert (
                await client.get(path, headers={"Authorization": "Bearer wrong-token-0123456789"})
            ).status_code == 401
            assert (await client.get(path, headers=BEARER)).status_code == 200, path
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code in (200, 503)
        hook = await client.post("/hooks/zendesk", headers={TOKEN_HEADER: HOOK_SECRET})
        assert hook.status_code == 202 and hooks.trigger.polls_started >= 1
        board = (await client.get("/api/backlog", headers=BEARER)).json()
        assert board["helpdesks"][0]["oldest"]["subject"]


async def test_basic_auth_asks_the_browser_and_checks_user_and_password(
    zendesk_sim: ZendeskSimulator, sim_clock: SimClock, tmp_path: Path
) -> None:
    config = web_config(zendesk_sim, tmp_path / "bw.db", auth={"basic": {"user": "wall", "password": PASSWORD}})
    async with serving(config, sim_clock) as (_, client, _):
        denied = await client.get("/")
        assert denied.status_code == 401 and denied.headers["WWW-Authenticate"].startswith("Basic")
        assert (await client.get("/", auth=("wall", "not-the-password-123"))).status_code == 401
        assert (await client.get("/", auth=("other", PASSWORD))).status_code == 401
        assert (await client.get("/", headers={"Authorization": "Basic !!not-base64"})).status_code == 401
        assert (await client.get("/", auth=("wall", PASSWORD))).status_code == 200
        assert (await client.get("/api/backlog", auth=httpx.BasicAuth("wall", PASSWORD))).status_code == 200


async def test_public_readonly_board_leaves_out_subjects_and_names_unless_authenticated(
    zendesk_sim: ZendeskSimulator, sim_clock: SimClock, tmp_path: Path
) -> None:
    config = web_config(zendesk_sim, tmp_path / "bw.db", warn_above=1, public_readonly=True, auth={"bearer": TOKEN})
    async with serving(config, sim_clock) as (parts, client, _):
        await parts.daemon.once()
        full = (await client.get("/api/backlog", headers=BEARER)).json()
        public = await client.get("/api/backlog")
        assert public.status_code == 200
        board = public.json()["helpdesks"][0]
        assert public.json()["redacted"] is True and "redacted" not in full
        assert board["open_tickets"] == full["helpdesks"][0]["open_tickets"] > 0 and board["oldest"]["age"]
        assert board["oldest"]["subject"] == "" and board["oldest"]["url"] == ""
        assert board["alerts"] and all(alert["summary"] == "" and alert["rule"] for alert in board["alerts"])
        subject = full["helpdesks"][0]["oldest"]["subject"]
        assert subject and full["helpdesks"][0]["alerts"][0]["summary"] and subject not in public.text
        assert (await client.get("/")).status_code == 200


def test_a_public_listen_without_auth_is_refused_with_its_line() -> None:
    text = (
        "helpdesks:\n  - {name: zendesk, type: zendesk, url: 'https://a.zendesk.com', email: a@b.c, token: t}\n"
        "rules: []\n"
        "http:\n"
        "  listen: 0.0.0.0:8080\n"
        "  auth:\n"
        "    bearer: ${BW_HTTP_TOKEN:-}\n"
    )
    with pytest.raises(ConfigError) as refused:
        parse(text, "public.yaml", env={"UNRELATED": "x"})
    [line] = refused.value.problems
    assert line.startswith("public.yaml:4: http:") and "http.auth.bearer" in line and "public_readonly" in line
    assert parse(text, env={"BW_HTTP_TOKEN": TOKEN}).http.auth.bearer is not None
    for mode in ("public_readonly", "allow_unauthenticated"):
        assert parse(text + f"  {mode}: true\n").http.exposed
    assert not parse(text.replace("0.0.0.0", "127.0.0.1")).http.auth.configured


def test_empty_hook_secret_means_hooks_off_and_a_short_one_is_still_refused() -> None:
    doc = document(
        helpdesks=[zendesk()], rules=[threshold(warn_above=1)], http={"hook_secret": "${BACKLOG_WATCH_HOOK_SECRET:-}"}
    )
    assert parse(doc).http.hook_secret is None
    assert parse(doc, env={"BACKLOG_WATCH_HOOK_SECRET": HOOK_SECRET}).http.hook_secret is not None
    with pytest.raises(ConfigError, match="at least 16 characters"):
        parse(doc, env={"BACKLOG_WATCH_HOOK_SECRET": "short"})
    with pytest.raises(ConfigError, match="set both user and password"):
        parse(
            document(helpdesks=[zendesk()], rules=[threshold(warn_above=1)], http={"auth": {"basic": {"user": "wall"}}})
        )


async def test_check_exits_2_naming_the_line_for_a_public_listen_without_auth(tmp_path: Path) -> None:
    doc = document(
        db=tmp_path / "bw.db",
        http={"listen": "0.0.0.0:8080"},
        helpdesks=[zendesk()],
        notifiers=[console()],
        notify=["console"],
        rules=[threshold(warn_above=1)],
    )
    path = write(tmp_path / "public.yaml", doc)
    code, out, err = await cli("check", "--config", str(path))
    assert code == 2 and "Traceback" not in err
    assert f"{path}:2: http:" in err and "http.auth.bearer" in err

"""docker-compose.ha.yml (issue 13): PostgreSQL plus two replicas of the image, each with its healthcheck,
checked without a Docker engine: the replicas share one store and the image's default config reads it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
REPLICAS = ("backlog-watch-1", "backlog-watch-2")


def compose() -> dict[str, Any]:
    return dict(YAML(typ="safe").load((ROOT / "docker-compose.ha.yml").read_text()))


def substituted(value: str, env: dict[str, str]) -> str:
    """Compose's ``${NAME:?message}`` / ``${NAME:-default}`` / ``${NAME}``, as it fills them from ``env``."""
    return re.sub(r"\$\{(\w+)(?::[?-][^}]*)?\}", lambda m: env[m.group(1)], value)


def test_postgresql_is_healthy_before_two_replicas_with_their_own_ids_start_on_loopback_ports() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", *REPLICAS}
    postgres = services["postgres"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"]) and "ports" not in postgres
    ids, ports = set(), set()
    for name in REPLICAS:
        replica = services[name]
        assert replica["depends_on"] == {"postgres": {"condition": "service_healthy"}}
        assert replica["healthcheck"]["test"] == ["CMD", "backlog-watch-entrypoint", "healthcheck"]
        ids.add(replica["environment"]["BACKLOG_WATCH_REPLICA"])
        [port] = replica["ports"]
        assert port.startswith("127.0.0.1:") and port.endswith(":8080")
        ports.add(port)
    assert len(ids) == len(ports) == 2


def test_both_replicas_read_the_one_postgresql_store_through_the_images_default_config() -> None:
    from backlog_watch.config.loader import load_config

    services = compose()["services"]
    env = {"BW_PG_PASSWORD": "pg-secret-0001", "BW_HELPDESK_URL": "https://acme.zendesk.com"}
    env |= {"BW_HELPDESK_EMAIL": "ops@acme.com", "BW_HELPDESK_TOKEN": "zd-0002", "BW_SLACK_CHANNEL": "#leads"}
    env |= {"SLACK_BOT_TOKEN": "xoxb-0003", "BW_HTTP_ALLOW_UNAUTHENTICATED": "true"}
    pg = services["postgres"]["environment"]
    stores = {substituted(services[name]["environment"]["BW_STORE"], env) for name in REPLICAS}
    [store] = stores
    url = urlsplit(store)
    assert (url.scheme, url.hostname, url.port, url.path) == ("postgresql", "postgres", 5432, f"/{pg['POSTGRES_DB']}")
    assert (url.username, url.password) == (pg["POSTGRES_USER"], env["BW_PG_PASSWORD"])
    assert substituted(pg["POSTGRES_PASSWORD"], env) == env["BW_PG_PASSWORD"]
    config = load_config(ROOT / "config" / "container-zendesk.yaml", env={**env, "BW_STORE": store})
    assert config.store == store and config.http.port == 8080
    assert "[postgres]" in (ROOT / "Dockerfile").read_text()  # the image has the PostgreSQL driver

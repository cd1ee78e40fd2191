"""The clients bench/sync.py times against ours, each run as a process of its own, from start to exit.

``python bench/clients.py CLIENT SETTINGS_JSON`` lists every ticket of the simulated helpdesk that
SETTINGS_JSON describes (the helpdesk block bench/harness.py prints) and prints how many it read:

- ``bare-zendesk``, ``bare-freshdesk``, ``bare-jira``: httpx and ``json.loads`` over the same pages as
  our connector (the floor: fetching and parsing, nothing else);
- ``zenpy``: zenpy's cursor-based incremental ticket export, every ticket built as a zenpy object;
- ``jira``: pycontribs ``jira``'s ``enhanced_search_issues`` over the same JQL and fields.

zenpy and jira are not dependencies of backlog-watch: bench/sync.py installs them in ``.bench-venv/``
and runs this file with that interpreter. Only the standard library and the client's own package are
imported, so each process pays for what that client needs and nothing more.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

FRESHDESK_WINDOW = 300
"""Freshdesk lists at most 300 pages of one query: the window restarts from the last updated_at seen."""


async def bare_zendesk(hd: dict[str, Any]) -> int:
    import httpx

    count, params = 0, {"start_time": "0", "per_page": "1000", "include": "slas"}
    async with httpx.AsyncClient(base_url=hd["url"], auth=(f"{hd['email']}/token", hd["token"])) as client:
        while True:
            body = json.loads((await client.get("/api/v2/incremental/tickets/cursor.json", params=params)).content)
            count += len(body["tickets"])
            if body["end_of_stream"]:
                return count
            params = {"cursor": body["after_cursor"], "per_page": "1000", "include": "slas"}


async def bare_freshdesk(hd: dict[str, Any]) -> int:
    import httpx

    count, since = 0, "2000-01-01T00:00:00Z"
    async with httpx.AsyncClient(base_url=hd["url"], auth=(hd["api_key"], "X")) as client:
        while True:
            url: str | None = "/api/v2/tickets"
            params: dict[str, Any] | None = {
                "updated_since": since,
                "order_by": "updated_at",
                "order_type": "asc",
                "per_page": 100,
                "include": "stats",
            }
            for _ in range(FRESHDESK_WINDOW):
                response = await client.get(url, params=params)  # type: ignore[arg-type]
                tickets = json.loads(response.content)
                count += len(tickets)
                url, params = response.links.get("next", {}).get("url"), None
                if url is None:
                    return count
                since = tickets[-1]["updated_at"]


JIRA_FIELDS = ["summary", "status", "priority", "assignee", "created", "updated", "resolutiondate", "labels"]


def _jira_fields(fields: list[dict[str, Any]]) -> list[str]:
    """The base fields and every custom field (the JSM SLA fields, the request type), as our connector asks."""
    return [*JIRA_FIELDS, "components", *(f["id"] for f in fields if f["id"].startswith("customfield_"))]


async def bare_jira(hd: dict[str, Any]) -> int:
    import httpx

    count = 0
    async with httpx.AsyncClient(base_url=hd["url"], auth=(hd["email"], hd["token"])) as client:
        fields = _jira_fields(json.loads((await client.get("/rest/api/3/field")).content))
        params: dict[str, Any] = {"jql": f"{hd['jql']} ORDER BY updated ASC", "fields": ",".join(fields)}
        params["maxResults"] = 100
        while True:
            body = json.loads((await client.get("/rest/api/3/search/jql", params=params)).content)
            count += len(body["issues"])
            if body.get("isLast", True):
                return count
            params["nextPageToken"] = body["nextPageToken"]


def zenpy(hd: dict[str, Any]) -> int:
    import os

    url = urlsplit(hd["url"])
    # zenpy builds https://{subdomain}.zendesk.com; its own overrides point it at the simulator.
    os.environ.update(ZENPY_FORCE_SCHEME=url.scheme, ZENPY_FORCE_NETLOC=url.netloc)
    from zenpy import Zenpy

    client = Zenpy(email=hd["email"], token=hd["token"], subdomain="sim")
    return sum(1 for _ in client.tickets.incremental(start_time=0, include="slas", per_page=1000))


def jira(hd: dict[str, Any]) -> int:
    from jira import JIRA

    client = JIRA(
        server=hd["url"],
        basic_auth=(hd["email"], hd["token"]),
        get_server_info=False,
        options={"rest_api_version": "3"},
    )
    client.deploymentType = "Cloud"  # what serverInfo (not simulated) would say; search/jql is Cloud-only there
    fields = _jira_fields(client.fields())
    issues = client.enhanced_search_issues(f"{hd['jql']} ORDER BY updated ASC", maxResults=0, fields=fields)
    return len(issues)


CLIENTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "bare-zendesk": bare_zendesk,
    "bare-freshdesk": bare_freshdesk,
    "bare-jira": bare_jira,
    "zenpy": zenpy,
    "jira": jira,
}

if __name__ == "__main__":
    listed = CLIENTS[sys.argv[1]](json.loads(sys.argv[2]))
    print(asyncio.run(listed) if asyncio.iscoroutine(listed) else listed)

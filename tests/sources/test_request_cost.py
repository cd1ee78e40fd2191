"""What one HTTP request to a helpdesk costs beyond the wire: no module lookups.

httpcore asks for ``sniffio`` four times a request (each lock it sets up); without the package it
searched every ``sys.path`` entry for it each time (33 us a failed import here: 130 us of CPU a
request, more on a slow or long ``sys.path``). backlog-watch depends on sniffio so it is imported once.
"""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

import pytest

from backlog_watch.app import http_client
from backlog_watch.sim import ZendeskSimulator


class Lookups(importlib.abc.MetaPathFinder):
    """Every module the import system is asked to find while installed; finds nothing itself."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> Any:
        self.names.append(fullname)
        return None


@pytest.fixture
def lookups() -> Iterator[Lookups]:
    finder = Lookups()
    sys.meta_path.insert(0, finder)
    try:
        yield finder
    finally:
        sys.meta_path.remove(finder)


async def test_requests_to_a_helpdesk_look_up_no_module(zendesk_sim: ZendeskSimulator, lookups: Lookups) -> None:
    auth = (f"{zendesk_sim.email}/token", zendesk_sim.token)
    async with http_client(zendesk_sim.url, 10) as client:
        first = await client.get("/api/v2/groups.json", auth=auth)  # warm: imports what it needs once
        warm = len(lookups.names)
        answers = [await client.get("/api/v2/groups.json", auth=auth) for _ in range(5)]
    assert first.status_code == 200 and all(a.status_code == 200 for a in answers)
    assert lookups.names[warm:] == []

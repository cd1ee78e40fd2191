"""The ACME queue connector passes backlog-watch's shipped conformance suite: the whole test module a
third-party connector needs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from acme_backlog_plugin.connector import STATES, URGENCIES
from acme_backlog_plugin.standin import AcmeStandIn

from backlog_watch import Priority
from backlog_watch.sources.testing import ConnectorConformance, Expected


class TestAcmeQueue(ConnectorConformance):
    kind = "acme_queue"
    settings = {"page_size": 7}  # small pages: the backlog crosses page boundaries
    bad_credentials = {"token": "not-the-acme-token"}
    min_tickets = 40

    def start_helpdesk(self, clock: Any) -> AcmeStandIn:
        return AcmeStandIn(clock, tickets=40)

    def truth(self, helpdesk: AcmeStandIn) -> Mapping[str, Expected]:
        return {
            str(number): Expected(
                STATES[raw["state"]],
                URGENCIES.get(raw["urgency"], Priority.NONE),
                datetime.fromisoformat(raw["opened"]),
                datetime.fromisoformat(raw["changed"]),
                raw["title"],
            )
            for number, raw in helpdesk.tickets.items()
        }

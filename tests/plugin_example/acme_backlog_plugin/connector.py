"""The ACME queue connector: the smallest complete backlog-watch connector.

The ACME queue API lists changes in order: ``GET /api/changes?after=<seq>&limit=<n>`` answers
``{"tickets": [...], "cursor": "<seq of the last one>", "more": true|false}``, each ticket stamped with
the global change number ``seq``. The cursor is that number, so a poll resumes exactly after the last
change stored: nothing lost, nothing read twice. Deleted tickets come back with ``state: "deleted"``.
Auth: ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr

from backlog_watch import (
    Cursor,
    HelpdeskSettings,
    HttpConnector,
    Page,
    PaginationError,
    Priority,
    Status,
    Ticket,
    json_object,
    paginate,
    utc_time,
)

CHANGES_PATH = "/api/changes"
STATES: Mapping[str, Status] = {
    "new": Status.NEW,
    "open": Status.OPEN,
    "waiting": Status.PENDING,
    "blocked": Status.ON_HOLD,
    "done": Status.SOLVED,
    "deleted": Status.DELETED,
}
URGENCIES: Mapping[str, Priority] = {
    "p1": Priority.URGENT,
    "p2": Priority.HIGH,
    "p3": Priority.NORMAL,
    "p4": Priority.LOW,
}


class AcmeQueueSettings(HelpdeskSettings):
    """An ACME queue block: the API token and the page size."""

    type: Literal["acme_queue"] = "acme_queue"
    token: SecretStr
    page_size: int = Field(default=100, ge=1, le=500)


class AcmeQueueConnector(HttpConnector):
    """The ACME queue through its ordered change feed."""

    kind: ClassVar[str] = "acme_queue"
    Settings: ClassVar[type[HelpdeskSettings]] = AcmeQueueSettings
    settings: AcmeQueueSettings

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.token.get_secret_value()}"}

    async def fetch(self, since: Cursor | None) -> AsyncIterator[Page]:
        """Yield the changes after ``since`` page by page; the shared paginator refuses a cursor twice."""

        async def page_at(token: str | None) -> tuple[Page, str | None]:
            params: dict[str, str | int] = {"after": token or "0", "limit": self.settings.page_size}
            body = json_object(await self.request("GET", CHANGES_PATH, params=params), self.helpdesk)
            records = body.get("tickets")
            if not isinstance(records, list) or not isinstance(body.get("cursor"), str):
                raise PaginationError("/api/changes did not answer {tickets: [...], cursor}", helpdesk=self.helpdesk)
            more = body.get("more") is True
            page = Page(records=records, cursor=body["cursor"] if records else None, done=not more)
            return page, body["cursor"] if more else None

        async for page in paginate(page_at, helpdesk=self.helpdesk, what="the change cursor", start=since):
            yield page

    def _ticket(self, raw: Mapping[str, Any]) -> Ticket:
        """One ACME ticket; ``HttpConnector.normalize`` turns a KeyError/ValueError into a MalformedRecord."""
        state = raw["state"]
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        status = self.settings.status_map.get(state, STATES[state])
        return Ticket(
            helpdesk=self.helpdesk,
            id=str(raw["id"]),
            subject=str(raw.get("title") or ""),
            status=status,
            priority=URGENCIES.get(raw.get("urgency") or "", Priority.NONE),
            assignee=raw.get("owner"),
            tags=tuple(raw.get("labels") or ()),
            created_at=utc_time(raw["opened"]),
            updated_at=utc_time(raw["changed"]),
            solved_at=utc_time(raw["changed"]) if status is Status.SOLVED else None,
            url=f"{self.settings.url}/tickets/{raw['id']}",
        )

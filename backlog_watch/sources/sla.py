"""Building the pending part of a ticket's Sla from a vendor's SLA clocks.

Vendors report several clocks per ticket (Zendesk's policy metrics, JSM's SLA fields), several of which
may feed one of our due dates; the rule reads the earliest. A ticket is paused only when a clock is paused
and none runs. That arithmetic is the same for every vendor, so it is written once.
"""

from __future__ import annotations

from datetime import datetime

from backlog_watch.models import Sla, SlaTarget
from backlog_watch.rows import SlaRow, SlaTargetRow

DUE_FIELDS = ("first_response_due", "next_reply_due", "resolution_due")


class PendingSla:
    """Collects the running and paused clocks of one open ticket, then answers its Sla."""

    def __init__(self) -> None:
        self.dues: dict[str, datetime] = {}
        self.breached = False
        self._paused = False
        self._running = False

    def paused(self, *, breached: bool = False) -> None:
        """A paused clock (it may have breached before it paused)."""
        self._paused = True
        self.breached = self.breached or breached

    def running(self, field: str | None, due: datetime | None, *, breached: bool = False) -> None:
        """A running clock that makes ``field`` (one of DUE_FIELDS, None: none of ours) due at ``due``;
        the earliest due of a field wins."""
        self._running = True
        self.breached = self.breached or breached
        if field is not None and due is not None:
            if field not in DUE_FIELDS:
                raise ValueError(f"{field!r} is not one of {DUE_FIELDS}")
            self.dues[field] = min(due, self.dues.get(field, due))

    def row(self, targets: tuple[SlaTargetRow, ...] = ()) -> SlaRow:
        """``sla`` as a row holds it (for ``stored_row``; once per synced ticket with an SLA)."""
        return SlaRow(
            first_response_due=self.dues.get("first_response_due"),
            next_reply_due=self.dues.get("next_reply_due"),
            resolution_due=self.dues.get("resolution_due"),
            breached=self.breached,
            paused=self._paused and not self._running,
            targets=targets,
        )

    def sla(self, targets: tuple[SlaTarget, ...] = ()) -> Sla:
        return self.row().model().model_copy(update={"targets": targets})

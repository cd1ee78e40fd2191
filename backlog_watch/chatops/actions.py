"""What a person can do to an alert from a chat: acknowledge, snooze, unsnooze, take the oldest ticket.

Transport-free: Slack (chatops/slack.py) turns clicks into these calls and posts the ``Outcome``. Each
action is recorded in the store (who, what, when, which alert) and applied only to the firing episode
the button belongs to: an alert that has resolved since, or fired again, is answered, not touched.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from backlog_watch.alerting.acknowledgements import ACKNOWLEDGE, Acknowledgement, standing
from backlog_watch.alerting.silences import Matcher, Silences
from backlog_watch.business_hours import BusinessCalendar
from backlog_watch.daemon import Daemon
from backlog_watch.delivery.pipeline import Due, acknowledgement_news
from backlog_watch.delivery.render import local_time
from backlog_watch.errors import AuthError, HelpdeskError
from backlog_watch.models import Alert, AlertState, Ticket
from backlog_watch.sources.connector import Assigns
from backlog_watch.store import ActionRecord

log = logging.getLogger(__name__)

SNOOZE, UNSNOOZE, TAKE = "snooze", "unsnooze", "take"
SNOOZE_FOR = {"1h": timedelta(hours=1), "4h": timedelta(hours=4)}
MORNING = "morning"
DEFAULT_MORNING = time(9, 0)
"""When "the next business morning" starts for a rule without a business calendar."""


@dataclass(frozen=True)
class AlertReference:
    """Which alert and which of its firing episodes a button was for (``fingerprint:episode``)."""

    fingerprint: str
    episode: datetime

    @classmethod
    def parse(cls, text: str) -> AlertReference:
        fingerprint, _, episode = text.rpartition(":")
        try:
            if not fingerprint:
                raise ValueError("no fingerprint")
            return cls(fingerprint, datetime.fromtimestamp(float(episode), UTC))
        except (ValueError, OverflowError, OSError):
            raise ValueError(f'"{text[:80]}" is not an alert reference') from None

    def matches(self, alert: Alert) -> bool:
        return alert.firing_since is not None and abs((alert.firing_since - self.episode).total_seconds()) < 0.001


Audience = Literal["thread", "clicker", "parent"]


@dataclass(frozen=True)
class Outcome:
    """What to tell, and to whom: the alert's ``thread`` (the team sees who did what), the ``clicker``
    alone (nothing was changed), or nobody because the ``parent`` message is edited by the pipeline."""

    audience: Audience
    text: str


class AlertActions:
    """Applies people's actions to the daemon's alerts, store and helpdesks."""

    def __init__(self, daemon: Daemon, calendars: Mapping[str, BusinessCalendar], tz: ZoneInfo) -> None:
        self.daemon = daemon
        self.calendars = calendars
        self.tz = tz

    def _gone(self, alerts: Mapping[str, Alert], reference: AlertReference) -> Outcome | None:
        """The polite answer when the button's episode is no longer firing, else None."""
        alert = alerts.get(reference.fingerprint)
        if alert is not None and alert.state is AlertState.FIRING and reference.matches(alert):
            return None
        if alert is not None and alert.resolved_at is not None and reference.matches(alert):
            when = local_time(alert.resolved_at, self.tz)
            return Outcome("clicker", f"This alert resolved at {when}: nothing to do, thank you.")
        if alert is not None and alert.state is AlertState.FIRING and alert.firing_since is not None:
            since = local_time(alert.firing_since, self.tz)
            return Outcome(
                "clicker",
                f"This message is about an earlier episode: the alert resolved and fired again at {since}. "
                "Nothing was changed; use the buttons on its newest message.",
            )
        return Outcome("clicker", "This alert is no longer firing (it resolved since): nothing was changed.")

    def _record(self, alert: Alert, action: str, actor: str, now: datetime, detail: str = "") -> None:
        assert alert.firing_since is not None
        self.daemon.store.add_action(
            ActionRecord(
                alert.fingerprint, alert.firing_since, action, actor, now, detail, alert.level, alert.ticket_count
            )
        )

    async def acknowledge(self, reference: AlertReference, actor: str) -> Outcome:
        """Stops repeats and escalation for this episode and tells the notifiers (the parent is edited)."""

        def apply(alerts: Mapping[str, Alert], now: datetime) -> tuple[Outcome, Due]:
            gone = self._gone(alerts, reference)
            if gone is not None:
                return gone, []
            alert = alerts[reference.fingerprint]
            held = standing(self.daemon.store.actions(reference.episode), alerts).get(alert.fingerprint)
            if held is not None:
                return Outcome("clicker", f"Already acknowledged by @{held.by}."), []
            self._record(alert, ACKNOWLEDGE, actor, now)
            rule = self.daemon.all_rules.get(alert.rule)
            ack = Acknowledgement(actor, now, alert.level, alert.ticket_count)
            due = acknowledgement_news(alert, rule, ack, self.daemon.outbox, now) if rule else []
            return Outcome("parent", f"Acknowledged by @{actor} at {now.astimezone(self.tz):%H:%M}"), due

        return await self.daemon.act(apply)

    async def snooze(self, reference: AlertReference, actor: str, choice: str) -> Outcome:
        """A silence on exactly this alert (every label of it), with the clicker as its creator."""

        def apply(alerts: Mapping[str, Alert], now: datetime) -> tuple[Outcome, Due]:
            gone = self._gone(alerts, reference)
            if gone is not None:
                return gone, []
            alert = alerts[reference.fingerprint]
            if choice not in (*SNOOZE_FOR, MORNING):
                return Outcome("clicker", f'"{choice}" is not a snooze this version knows: nothing was changed.'), []
            until = self.snooze_end(alert, choice, now)
            silence = Silences(self.daemon.store).add(
                exact_matchers(alert), ends_at=until, created_by=actor, comment="snoozed from Slack", now=now
            )
            shown = local_time(until, self.tz)
            self._record(alert, SNOOZE, actor, now, f"silence {silence.id[:8]} until {shown}")
            return Outcome("thread", f":zzz: Snoozed by @{actor} until {shown} (silence {silence.id[:8]})."), []

        return await self.daemon.act(apply)

    def snooze_end(self, alert: Alert, choice: str, now: datetime) -> datetime:
        """When a snooze ends: an hour or four from now, or the next business morning (``MORNING``)."""
        if choice in SNOOZE_FOR:
            return now + SNOOZE_FOR[choice]
        rule = self.daemon.all_rules.get(alert.rule)
        calendar = self.calendars.get(rule.business_hours) if rule and rule.business_hours else None
        return next_morning(calendar, now, self.tz)

    async def unsnooze(self, reference: AlertReference, actor: str) -> Outcome:
        """Ends every running silence on exactly this alert."""

        def apply(alerts: Mapping[str, Alert], now: datetime) -> tuple[Outcome, Due]:
            gone = self._gone(alerts, reference)
            if gone is not None:
                return gone, []
            alert = alerts[reference.fingerprint]
            silences = Silences(self.daemon.store)
            wanted = set(exact_matchers(alert))
            ended = [s for s in silences.active(now) if set(s.matchers) == wanted]
            if not ended:
                return Outcome("clicker", "This alert is not snoozed."), []
            for silence in ended:
                silences.expire(silence.id, now)
            self._record(alert, UNSNOOZE, actor, now, ", ".join(f"silence {s.id[:8]}" for s in ended))
            return Outcome("thread", f":bell: Unsnoozed by @{actor}."), []

        return await self.daemon.act(apply)

    async def take_oldest(self, reference: AlertReference, actor: str, email: str | None) -> Outcome:
        """Assigns the alert's oldest unassigned ticket to the clicker, in its helpdesk."""
        alerts = self.daemon.store.load_alerts()
        gone = self._gone(alerts, reference)
        if gone is not None:
            return gone
        alert = alerts[reference.fingerprint]
        ticket = oldest_unassigned(alert.tickets)
        if ticket is None:
            return Outcome("clicker", "Every ticket of this alert has an assignee already.")
        connector = self.daemon.connectors.get(ticket.helpdesk)
        if connector is None or not connector.settings.actions.assign or not isinstance(connector, Assigns):
            return Outcome(
                "clicker", f"Assigning tickets is not enabled for {ticket.helpdesk} (actions: {{assign: true}})."
            )
        if not email:
            return Outcome("clicker", "Your Slack profile shows no email, so no helpdesk agent can be matched to you.")
        try:
            agent = await connector.assign(ticket.id, email)
        except AuthError as exc:
            why = f"its credentials may not write (HTTP {exc.status})"
            return Outcome("thread", f":warning: {ticket.helpdesk} refused to assign #{ticket.id} to @{actor}: {why}.")
        except HelpdeskError as exc:  # the refusal is news for the thread, not a private matter
            return Outcome("thread", f":warning: {ticket.helpdesk} refused to assign #{ticket.id} to @{actor}: {exc}.")

        def apply(alerts: Mapping[str, Alert], now: datetime) -> tuple[Outcome, Due]:
            self._record(alerts.get(alert.fingerprint, alert), TAKE, actor, now, f"#{ticket.id} to {agent}")
            return Outcome("thread", f":raising_hand: #{ticket.id} ({ticket.subject}) is now assigned to {agent}."), []

        return await self.daemon.act(apply)


def exact_matchers(alert: Alert) -> tuple[Matcher, ...]:
    """Matchers that select this alert and no other: its rule and every label of its scope (not its
    level: a snoozed alert that turns critical stays snoozed, as its fingerprint stays the same)."""
    labels = {**alert.label_map, "rule": alert.rule}
    return tuple(Matcher(key, "=", value) for key, value in sorted(labels.items()))


def oldest_unassigned(tickets: tuple[Ticket, ...]) -> Ticket | None:
    return min((t for t in tickets if not t.is_assigned and t.is_open), key=lambda t: t.created_at, default=None)


def next_morning(calendar: BusinessCalendar | None, now: datetime, tz: ZoneInfo) -> datetime:
    """When the next business day opens after today (the calendar's), or 09:00 tomorrow in ``tz``."""
    if calendar is not None and not calendar.always_open:
        tomorrow = datetime.combine(now.astimezone(calendar.tz).date() + timedelta(days=1), time(), calendar.tz)
        for start, _ in calendar.windows(tomorrow, tomorrow + timedelta(days=30)):
            return start
    local = now.astimezone(tz)
    return datetime.combine(local.date() + timedelta(days=1), DEFAULT_MORNING, tz).astimezone(UTC)

"""Seeded, realistic Zendesk data: an account (groups, agents, requesters) and tickets shaped like the
recorded ones in ``shared/fixtures/zendesk`` (same keys, same order, same time format).

Everything random comes from the ``random.Random`` passed in, so a seed gives the same backlog again.
SLA ``policy_metrics`` are derived from a ticket's priority, status and times by ``sla_metrics``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from backlog_watch.sim.vocabulary import (
    AGENTS,
    CHANNELS,
    COMPANIES,
    FIRST_NAMES,
    LAST_NAMES,
    MONTHS,
    TOPICS,
    TYPES,
)

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
OPEN_STATUSES = frozenset({"new", "open", "pending", "hold"})
STATUSES = OPEN_STATUSES | {"solved", "closed", "deleted"}
PRIORITY_LADDER = ("low", "normal", "high", "urgent")
CLOSE_AFTER = timedelta(days=4)
"""Zendesk's default automation closes a ticket four days after it was solved."""

# (first reply, next reply, resolution) targets by priority; tickets without a priority have no policy.
SLA_TARGETS: Mapping[str, tuple[timedelta, timedelta, timedelta]] = {
    "urgent": (timedelta(hours=1), timedelta(hours=2), timedelta(hours=8)),
    "high": (timedelta(hours=4), timedelta(hours=8), timedelta(days=2)),
    "normal": (timedelta(hours=8), timedelta(days=1), timedelta(days=5)),
    "low": (timedelta(days=1), timedelta(days=2), timedelta(days=10)),
}


def zendesk_time(moment: datetime) -> str:
    """``2024-02-07T03:09:01Z``: how Zendesk writes every time."""
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def parse_time(value: Any) -> datetime | None:
    """A Zendesk time, or None when the value is not one (malformed tickets exist on purpose)."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def _weighted(rng: random.Random, choices: Sequence[tuple[Any, int]]) -> Any:
    values, weights = zip(*choices, strict=True)
    return rng.choices(values, weights=weights)[0]


def _zendesk_id(rng: random.Random) -> int:
    """A 13-digit id like the recorded account's (6130852536346)."""
    return rng.randrange(6_100_000_000_000, 6_400_000_000_000)


@dataclass
class Account:
    """The people and places tickets refer to: groups, agents, requesters, organizations."""

    subdomain: str
    groups: dict[int, dict[str, Any]] = field(default_factory=dict)
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    agents_by_group: dict[int, list[int]] = field(default_factory=dict)
    group_ids: dict[str, int] = field(default_factory=dict)
    requesters: list[int] = field(default_factory=list)
    organizations: list[int] = field(default_factory=list)
    status_ids: dict[str, int] = field(default_factory=dict)
    brand_id: int = 0
    ticket_form_id: int = 0

    @property
    def base(self) -> str:
        return f"https://{self.subdomain}.zendesk.com/api/v2"

    def agent_for(self, rng: random.Random, group_id: int | None) -> int:
        pool = self.agents_by_group.get(group_id or 0) or [a for ids in self.agents_by_group.values() for a in ids]
        return rng.choice(pool)


def _user(account: Account, user_id: int, name: str, role: str, created: str, org: int | None) -> dict[str, Any]:
    handle = name.lower().replace(" ", ".").replace("ü", "u")
    domain = f"{account.subdomain}.com" if role == "agent" else "example.org"
    return {
        "id": user_id,
        "url": f"{account.base}/users/{user_id}.json",
        "name": name,
        "email": f"{handle}@{domain}",
        "created_at": created,
        "updated_at": created,
        "time_zone": "Europe/London",
        "iana_time_zone": "Europe/London",
        "phone": None,
        "locale": "en-US",
        "locale_id": 1,
        "organization_id": org,
        "role": role,
        "verified": True,
        "active": True,
        "suspended": False,
        "tags": [],
    }


def make_account(rng: random.Random, subdomain: str, now: datetime) -> Account:
    """Three groups with their agents, a pool of requesters and organizations; ids as Zendesk's."""
    account = Account(subdomain=subdomain, brand_id=_zendesk_id(rng), ticket_form_id=_zendesk_id(rng))
    created = zendesk_time(now - timedelta(days=400))
    account.status_ids = {s: _zendesk_id(rng) for s in ("new", "open", "pending", "hold", "solved")}
    account.organizations = [_zendesk_id(rng) for _ in COMPANIES]
    for index, (group, names) in enumerate(AGENTS.items()):
        group_id = _zendesk_id(rng)
        account.group_ids[group] = group_id
        account.groups[group_id] = {
            "url": f"{account.base}/groups/{group_id}.json",
            "id": group_id,
            "is_public": True,
            "name": group,
            "description": f"{group} questions",
            "default": index == 0,
            "deleted": False,
            "created_at": created,
            "updated_at": created,
        }
        for name in names:
            agent_id = _zendesk_id(rng)
            account.users[agent_id] = _user(account, agent_id, name, "agent", created, None)
            account.agents_by_group.setdefault(group_id, []).append(agent_id)
    for _ in range(80):
        user_id = _zendesk_id(rng)
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        org = rng.choice(account.organizations) if rng.random() < 0.6 else None
        account.users[user_id] = _user(account, user_id, name, "end-user", created, org)
        account.requesters.append(user_id)
    return account


class TicketFactory:
    """Builds tickets for one account, from the seeded ``rng``."""

    def __init__(self, rng: random.Random, account: Account) -> None:
        self.rng = rng
        self.account = account

    def new_ticket(self, ticket_id: int, created_at: datetime, **fields: Any) -> dict[str, Any]:
        """A just-arrived ticket (status new, unassigned); ``fields`` override any key."""
        rng, account = self.rng, self.account
        topic = rng.choices(TOPICS, weights=[t.weight for t in TOPICS])[0]
        subject = rng.choice(topic.subjects).format(n=rng.randrange(10_000, 99_999), month=rng.choice(MONTHS))
        requester = rng.choice(account.requesters)
        person = account.users[requester]
        channel = _weighted(rng, CHANNELS)
        group_id = account.group_ids[topic.group] if rng.random() < 0.7 else None
        tags = list(topic.tags) + (["vip"] if rng.random() < 0.05 else [])
        stamp = zendesk_time(created_at)
        description = f"Hi,\n\n{subject}. Could you take a look?\n\nThanks,\n{person['name']}"
        ticket: dict[str, Any] = {
            "url": f"{account.base}/tickets/{ticket_id}.json",
            "id": ticket_id,
            "external_id": None,
            "via": self._via(channel, person),
            "created_at": stamp,
            "updated_at": stamp,
            "type": _weighted(rng, TYPES),
            "subject": subject,
            "raw_subject": subject,
            "description": description,
            "priority": _weighted(rng, topic.priorities),
            "status": "new",
            "recipient": f"support@{account.subdomain}.zendesk.com" if channel == "email" else None,
            "requester_id": requester,
            "submitter_id": requester
            if channel in ("email", "web", "chat", "mobile")
            else account.agent_for(rng, group_id),
            "assignee_id": None,
            "organization_id": person["organization_id"],
            "group_id": group_id,
            "collaborator_ids": [],
            "follower_ids": [],
            "email_cc_ids": [],
            "forum_topic_id": None,
            "problem_id": None,
            "has_incidents": False,
            "is_public": True,
            "due_at": None,
            "tags": tags,
            "custom_fields": [],
            "satisfaction_rating": None,
            "sharing_agreement_ids": [],
            "custom_status_id": account.status_ids["new"],
            "fields": [],
            "followup_ids": [],
            "ticket_form_id": account.ticket_form_id,
            "brand_id": account.brand_id,
            "allow_channelback": False,
            "allow_attachments": True,
            "from_messaging_channel": channel == "chat",
            "generated_timestamp": int(created_at.timestamp()),
        }
        ticket.update(fields)
        return ticket

    def _via(self, channel: str, person: Mapping[str, Any]) -> dict[str, Any]:
        if channel == "email":
            source = {
                "from": {"address": person["email"], "name": person["name"]},
                "to": {"name": "Support", "address": f"support@{self.account.subdomain}.zendesk.com"},
                "rel": None,
            }
        else:
            source = {"from": {}, "to": {}, "rel": None}
        return {"channel": channel, "source": source}

    def set_status(self, ticket: dict[str, Any], status: str) -> None:
        """Change the status, with the custom status and the assignee that status implies."""
        if status not in STATUSES:
            raise ValueError(f"{status!r} is not a Zendesk status (one of {', '.join(sorted(STATUSES))})")
        ticket["status"] = status
        if status != "deleted":
            category = "solved" if status == "closed" else status
            ticket["custom_status_id"] = self.account.status_ids[category]
        if (
            status not in ("new", "deleted")
            and ticket.get("assignee_id") is None
            and (status != "open" or self.rng.random() < 0.85)
        ):
            self.assign(ticket)

    def assign(self, ticket: dict[str, Any]) -> None:
        if ticket.get("group_id") is None:
            ticket["group_id"] = self.rng.choice(list(self.account.groups))
        ticket["assignee_id"] = self.account.agent_for(self.rng, ticket["group_id"])

    def history(self, count: int, now: datetime) -> list[dict[str, Any]]:
        """``count`` tickets created over the last 30 days, ids in creation order, every change older than
        two minutes (so the export returns them all at once)."""
        created = sorted(self._arrival(now) for _ in range(count))
        tickets = []
        for ticket_id, created_at in enumerate(created, start=1):
            ticket = self.new_ticket(ticket_id, created_at)
            self._age(ticket, created_at, now - timedelta(minutes=2))
            tickets.append(ticket)
        return tickets

    def _arrival(self, now: datetime) -> datetime:
        rng = self.rng
        band = rng.random()
        hours = rng.uniform(0.1, 72) if band < 0.45 else rng.uniform(72, 240) if band < 0.75 else rng.uniform(240, 700)
        moment = now - timedelta(hours=hours)
        if not 7 <= moment.hour < 19 and rng.random() < 0.6:  # most tickets arrive in office hours
            moved = moment.replace(hour=rng.randrange(8, 18))
            moment = moved if moved < now - timedelta(minutes=10) else moment
        return moment.replace(microsecond=0)

    def _age(self, ticket: dict[str, Any], created_at: datetime, latest: datetime) -> None:
        """Play a ticket's life from ``created_at`` to ``latest``: its status and last update."""
        rng = self.rng
        age_days = (latest - created_at).total_seconds() / 86400
        resolved = 0.25 if age_days < 1 else 0.45 if age_days < 3 else 0.6 if age_days < 7 else 0.8
        roll = rng.random()
        if roll < 0.03:
            status, updated = "deleted", created_at + (latest - created_at) * rng.random()
        elif roll < 0.03 + resolved:
            solved = min(latest, created_at + timedelta(hours=rng.uniform(0.05, min(age_days * 24, 120))))
            status, updated = "solved", solved
            if latest - solved > CLOSE_AFTER:
                status, updated = "closed", solved + CLOSE_AFTER
        else:
            weights = (40, 35, 18, 7) if age_days < 1 else (12, 48, 28, 12)
            status = rng.choices(("new", "open", "pending", "hold"), weights=weights)[0]
            updated = created_at if status == "new" else created_at + (latest - created_at) * rng.random()
        updated = max(created_at, min(latest, updated)).replace(microsecond=0)
        self.set_status(ticket, status)
        ticket["updated_at"] = zendesk_time(updated)
        ticket["generated_timestamp"] = int(updated.timestamp())


def sla_metrics(ticket: Mapping[str, Any], now: datetime) -> list[dict[str, Any]]:
    """The ``slas.policy_metrics`` Zendesk would show for ``ticket`` at ``now`` (empty without a policy)."""
    targets = SLA_TARGETS.get(ticket.get("priority"))  # type: ignore[arg-type]
    created, updated = parse_time(ticket.get("created_at")), parse_time(ticket.get("updated_at"))
    if targets is None or created is None or updated is None:
        return []
    first, next_reply, resolution = targets
    replied = _timed("first_reply_time", created + first, now, "achieved")
    match ticket.get("status"):
        case "new":
            return [
                _timed("first_reply_time", created + first, now),
                _timed("total_resolution_time", created + resolution, now),
            ]
        case "open":
            return [
                replied,
                _timed("next_reply_time", updated + next_reply, now),
                _timed("total_resolution_time", created + resolution, now),
            ]
        case "pending":
            return [replied, _stage("agent_work_time", "paused")]
        case "hold":
            return [replied, _timed("total_resolution_time", created + resolution, now)]
        case "solved" | "closed":
            # Achieved metrics keep their breach_at (as live answers show); the solve time says if it was met.
            return [replied, _timed("total_resolution_time", created + resolution, now, "achieved")]
    return []


def _stage(metric: str, stage: str) -> dict[str, Any]:
    return {"breach_at": None, "stage": stage, "metric": metric}


def _timed(metric: str, breach_at: datetime, now: datetime, stage: str = "active") -> dict[str, Any]:
    """A metric with its breach_at and the signed time from now to it, in the largest unit that keeps it
    readable (an achieved metric counts it too, so it is no verdict: Zendesk shows it that way)."""
    minutes = (breach_at - now).total_seconds() / 60
    unit, value = (
        ("minutes", minutes)
        if abs(minutes) < 60
        else ("hours", minutes / 60)
        if abs(minutes) < 2880
        else ("days", minutes / 1440)
    )
    # Floor below zero, so a target passed by seconds already reads as breached.
    left = math.floor(value) if value < 0 else int(value)
    return {"breach_at": zendesk_time(breach_at), "stage": stage, "metric": metric, unit: left}

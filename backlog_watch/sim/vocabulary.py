"""The words a simulated helpdesk is made of: groups and agents, customers, topics and their odds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

AGENTS: Mapping[str, tuple[str, ...]] = {
    "Billing": ("Maya Chen", "Tom Okafor", "Ines Duarte"),
    "Technical": ("Raj Patel", "Lena Vogel", "Sam Rivera", "Yuki Tanaka"),
    "Onboarding": ("Chloe Martin", "Omar Haddad"),
}
# fmt: off
FIRST_NAMES = (
    "Alex", "Jordan", "Priya", "Lucas", "Emma", "Noah", "Sofia", "Liam", "Aisha", "Mateo", "Hannah",
    "Kenji", "Zoe", "Daniel", "Fatima", "Oliver", "Mia", "Ethan", "Nora", "Leo",
)
LAST_NAMES = (
    "Smith", "Garcia", "Müller", "Kowalski", "Nguyen", "Brown", "Rossi", "Silva", "Khan", "Johnson",
    "Dubois", "Larsen", "Cohen", "Ivanova", "Murphy", "Sato",
)
COMPANIES = (
    "Northwind", "Globex", "Initech", "Umbrella Retail", "Stark Logistics", "Wayne Foods", "Hooli",
    "Vandelay Imports",
)
# fmt: on
CHANNELS = (("email", 40), ("web", 25), ("chat", 15), ("voice", 8), ("api", 7), ("mobile", 5))
TYPES = ((None, 15), ("question", 40), ("incident", 30), ("problem", 10), ("task", 5))
PRIORITIES = ((None, 35), ("normal", 35), ("high", 15), ("low", 10), ("urgent", 5))


@dataclass(frozen=True)
class Topic:
    """What a ticket is about: its group, subject templates, tags and how urgent it tends to be."""

    group: str
    subjects: tuple[str, ...]
    tags: tuple[str, ...]
    priorities: tuple[tuple[str | None, int], ...] = PRIORITIES
    weight: int = 10


TOPICS: tuple[Topic, ...] = (
    Topic("Billing", ("Refund request for order #{n}", "Please refund my last payment"), ("billing", "refund")),
    Topic(
        "Billing",
        ("Charged twice on invoice INV-{n}", "Invoice {month} shows the wrong amount"),
        ("billing", "invoice"),
    ),
    Topic(
        "Billing",
        ("Cannot update my credit card", "Payment declined at checkout"),
        ("billing", "payment"),
        weight=6,
    ),
    Topic(
        "Billing",
        ("Cancel my subscription", "Downgrade to the starter plan"),
        ("billing", "cancellation"),
        weight=4,
    ),
    Topic(
        "Technical",
        ("Cannot log in after password reset", "2FA code never arrives", "Locked out of my account"),
        ("login",),
        weight=12,
    ),
    Topic(
        "Technical",
        ("API returns 500 on /v1/orders", "CSV export truncates rows", "Search ignores filters"),
        ("bug",),
        weight=12,
    ),
    Topic(
        "Technical",
        ("Dashboard not loading - outage?", "Everything is down for our team", "Site unreachable"),
        ("outage",),
        priorities=(("urgent", 50), ("high", 40), ("normal", 10)),
        weight=4,
    ),
    Topic(
        "Technical",
        ("Webhook deliveries delayed by hours", "Slack integration stopped posting"),
        ("bug", "integrations"),
        weight=6,
    ),
    Topic(
        "Onboarding",
        ("Help setting up SSO with Okta", "SAML login loops back to the sign-in page"),
        ("onboarding", "sso"),
        weight=5,
    ),
    Topic(
        "Onboarding",
        ("How do I invite my team?", "How do I change the account owner?"),
        ("onboarding", "how-to"),
        priorities=((None, 50), ("low", 40), ("normal", 10)),
        weight=8,
    ),
    Topic(
        "Onboarding",
        ("Importing data from a spreadsheet fails", "Migrating from our old tool"),
        ("onboarding", "import"),
        weight=5,
    ),
)
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

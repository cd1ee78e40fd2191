"""Issue 13's chaos test: three replicas on one PostgreSQL store, killed (SIGKILL) and paused (SIGSTOP past
the lease TTL) at random while tickets change and alerts fire and resolve (tests/helpers/chaos.py).

At the end the store's open tickets equal the simulators', every alert episode reached Slack (its parent,
its resolved reply), no parent was posted twice for one episode unless a replica logged the re-send after
a crash (the documented window). The figures are printed (``-s``, or on failure).
``make chaos`` runs it with ``BACKLOG_WATCH_CHAOS_CYCLES=50``; ``make test`` runs 10 cycles.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.chaos import CHANNEL, Chaos, Episode, chaos_rule, check_slack
from tests.helpers.replicas import Cluster, Simulators, leases_supported

CYCLES = int(os.environ.get("BACKLOG_WATCH_CHAOS_CYCLES", "10"))
LEASE_TTL = 2.0
INTERACTIVE = {"transport": "http", "signing_secret": "chaos-signing-secret-0123456789"}
"""A Slack app answering on /slack/events: its parents carry the buttons, whose block id names the
alert episode (``fingerprint:episode``), which is how the checker tells the parents apart."""


@pytest.mark.chaos
@pytest.mark.slow
def test_three_replicas_killed_and_paused_lose_nothing_and_post_no_parent_twice(pg_url: str, tmp_path: Path) -> None:
    assert leases_supported(), "this backlog-watch has no cluster: section (leases, issue 13)"
    with Simulators("zendesk", count=3, tickets=40) as sims, Simulators("slack") as slack:
        notifier = {"name": "slack", "type": "slack", "channel": CHANNEL, **slack.slack, "interactive": INTERACTIVE}
        helpdesks = [{**h, "poll_every": "1s", "export_requests_per_minute": 600} for h in sims.helpdesks]
        with Cluster(
            pg_url,
            helpdesks,
            tmp_path,
            replicas=3,
            lease_ttl=LEASE_TTL,
            notifiers=[notifier],
            rules=[chaos_rule()],
            defaults={"notify": ["slack"], "repeat_every": "1d"},
            evaluate_every="2s",
        ) as cluster:
            figures = Chaos(cluster, sims, slack, seed=13).run(CYCLES)
    report = "\n".join(figures.lines())
    print(report)
    assert figures.cycles == CYCLES
    assert figures.episodes >= 1 and figures.resolved == figures.episodes, report
    assert not figures.open_mismatch, report
    assert not figures.lost, f"{report}\n{figures.lost}"
    assert figures.unexplained == 0, f"{report}\n{figures.duplicates}"
    assert figures.takeovers >= figures.held > 0, report  # each fault on a holder moved its leases elsewhere
    assert max(figures.gaps.values()) < 30, report  # polls go on (the export throttle once stalled them 50s)


# The checker itself, on what the Slack stand-in returns (``messages``): it must see what it is there to see.

EPISODE = Episode("zendesk-0", "c692de6703774ee6", 1796031573.404686, resolved=True)


def parent(reference: str, *, replies: tuple[str, ...] = (), resolved_edit: bool = True) -> dict[str, object]:
    """A parent as the stand-in keeps it: posted with the actions block, edited to its resolved version."""
    posted = [{"type": "header"}, {"type": "actions", "block_id": f"backlog_watch.alert:{reference}"}]
    edits = [["firing", posted]] if resolved_edit else []
    return {
        "text": "chaos-backlog",
        "blocks": [{"type": "header"}] if resolved_edit else posted,
        "edits": edits,
        "replies": [{"text": text} for text in replies],
    }


def test_the_checker_finds_each_episodes_parent_and_resolved_reply_in_the_posted_version() -> None:
    check = check_slack([parent(EPISODE.reference, replies=(":white_check_mark: Resolved: 0 open",))], [EPISODE])
    assert (check.parents, check.lost, check.duplicates, check.strays) == (1, [], {}, [])


def test_the_checker_counts_a_parent_posted_twice_for_one_episode_and_a_lost_one() -> None:
    other = Episode("zendesk-1", "d00d", 1796031600.5)
    told = parent(EPISODE.reference, replies=(":white_check_mark: Resolved",))
    check = check_slack([told, parent(EPISODE.reference, resolved_edit=False)], [EPISODE, other])
    assert check.duplicates == {EPISODE.reference: 1}
    assert check.lost == ["zendesk-1 fired at 1796031600.500: no parent in Slack"]


def test_the_checker_calls_a_resolution_never_replied_lost_and_a_parent_of_no_episode_a_stray() -> None:
    check = check_slack([parent(EPISODE.reference, replies=("More tickets",)), parent("beef:1.000000")], [EPISODE])
    assert check.lost == ["zendesk-0 fired at 1796031573.405: resolved, not told in Slack"]
    assert check.strays == ["beef:1.000000"]

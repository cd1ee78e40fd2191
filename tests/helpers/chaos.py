"""The chaos run of issue 13: replicas killed and paused while tickets change and alerts fire and resolve.

``Chaos(cluster, sims, slack, seed=...).run(cycles)`` plays ``cycles`` cycles; each one:

1. changes tickets in some of the simulated helpdesks (each one with odds 1/2, at least one): it raises
   (three new ``chaos`` tickets) or clears (solves them) each one's ``chaos-backlog`` alert, adds noise
   (a ticket created, one solved), then moves the simulators' clocks past Zendesk's one-minute export
   rule so the change can be polled;
2. picks a random replica (or, one time in two, the evaluator once a notification is in the outbox: a
   crash between a send and its record) and kills it (SIGKILL) or pauses it (SIGSTOP, ``pause_for``
   seconds: past the lease TTL); waits until /readyz of the others says they took everything it held;
3. waits until the store shows the change (the alert firing, with its episode, or resolved);
4. restarts the killed replica, or resumes (SIGCONT) the paused one, and waits until it listens again.

Every wait is on a condition (readyz leases, store rows) with a deadline; the pause is the fault's own
duration. A thread samples the ``polls`` table meanwhile: the longest gap without a successful poll per
helpdesk. ``finish()`` waits for the cluster to catch up (every change polled, the outbox empty) and
``verdict()`` compares three truths: the store's open tickets with the simulators', each alert episode the
run caused with the Slack stand-in's messages (``check_slack``), duplicates with the replicas' logs.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg

from tests.helpers.replicas import Cluster, Replica, Simulators, wait_for

RULE = "chaos-backlog"
TAG = "chaos"
RAISE = 3
"""Chaos tickets that make an alert fire (the rule warns above RAISE - 1)."""
CHANNEL = "#support"
ACTIONS_BLOCK = "backlog_watch.alert:"
"""The Slack notifier's actions block id prefix: the parent of an alert episode carries ``fingerprint:episode``."""
RESOLVED_REPLY = ":white_check_mark:"
EXPORT_DELAY = 61
"""Seconds the simulators' clocks move after a change: Zendesk exports nothing of the last minute."""


def chaos_rule() -> dict[str, Any]:
    """The alert the run raises and clears: open ``chaos`` tickets per helpdesk, warning at ``RAISE``."""
    return {
        "name": RULE,
        "type": "threshold",
        "metric": "open_tickets",
        "where": {"tags": [TAG]},
        "warn_above": RAISE - 1,
        "group_by": ["helpdesk"],
    }


@dataclass
class Episode:
    """One firing of one helpdesk's chaos alert, as the store showed it."""

    helpdesk: str
    fingerprint: str
    firing_since: float
    resolved: bool = False

    @property
    def reference(self) -> str:
        """As the Slack parent's actions block names it (delivery/notifiers/slack.py ``alert_reference``)."""
        return f"{self.fingerprint}:{self.firing_since:.6f}"


@dataclass
class SlackCheck:
    """What the Slack stand-in received, against the episodes: lost ones, parents posted more than once."""

    parents: int = 0
    lost: list[str] = field(default_factory=list)
    """Episodes with no parent message, or resolved with no resolved reply in their thread."""
    duplicates: dict[str, int] = field(default_factory=dict)
    """reference -> extra parents posted for it (1 for a parent posted twice)."""
    strays: list[str] = field(default_factory=list)
    """Parents of no episode the run saw (another rule's alert, or an episode the run did not cause)."""


def reference_of(message: dict[str, Any]) -> str | None:
    """The ``fingerprint:episode`` a parent message was posted for: its actions block id, in the blocks it
    was posted with (a resolved parent is edited to a version without buttons). Only a notifier with an
    ``interactive`` app posts buttons: the chaos config gives it one."""
    versions = [blocks for _, blocks in message.get("edits", [])] + [message.get("blocks", [])]
    for blocks in versions:
        for block in blocks:
            block_id = str(block.get("block_id", ""))
            if block.get("type") == "actions" and block_id.startswith(ACTIONS_BLOCK):
                return block_id.removeprefix(ACTIONS_BLOCK)
    return None


def check_slack(messages: list[dict[str, Any]], episodes: list[Episode]) -> SlackCheck:
    """Every episode has its parent (and, resolved, a resolved reply); no reference has two parents."""
    check = SlackCheck(parents=len(messages))
    by_reference: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for message in messages:
        reference = reference_of(message)
        by_reference[reference or f"(no reference) {message.get('text', '')[:60]}"].append(message)
    check.duplicates = {ref: len(posted) - 1 for ref, posted in by_reference.items() if len(posted) > 1}
    known = {episode.reference for episode in episodes}
    check.strays = sorted(ref for ref in by_reference if ref not in known)
    for episode in episodes:
        posted = by_reference.get(episode.reference, [])
        if not posted:
            check.lost.append(f"{episode.helpdesk} fired at {episode.firing_since:.3f}: no parent in Slack")
            continue
        replies = [reply for parent in posted for reply in parent.get("replies", [])]
        if episode.resolved and not any(str(r.get("text", "")).startswith(RESOLVED_REPLY) for r in replies):
            check.lost.append(f"{episode.helpdesk} fired at {episode.firing_since:.3f}: resolved, not told in Slack")
    return check


def explained(fingerprint: str, log: list[tuple[str, dict[str, Any]]]) -> bool:
    """A duplicate is explained when a replica logged the re-send (a WARNING naming the alert's fingerprint):
    the crash between a send and its record, the documented window."""
    return any(entry.get("level") == "WARNING" and fingerprint in str(entry.get("message", "")) for _, entry in log)


class GapSampler(threading.Thread):
    """Reads ``polls.last_success`` every ``step`` seconds: the longest gap without a successful poll."""

    def __init__(self, store_url: str, names: list[str], step: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.store_url, self.names, self.step = store_url, names, step
        self.seen: dict[str, list[float]] = {name: [] for name in names}
        self.started_at = time.time()
        self.stopped_at: float | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.store_url, autocommit=True) as db:
            while not self._halt.is_set():
                for name, at in db.execute("SELECT helpdesk, last_success FROM polls").fetchall():
                    seen = self.seen.get(str(name))
                    if seen is not None and at is not None and (not seen or float(at) > seen[-1]):
                        seen.append(float(at))
                self._halt.wait(self.step)

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.stopped_at = time.time()

    def longest_gaps(self) -> dict[str, float]:
        """helpdesk -> the longest time between two successful polls (or from the start / to the end)."""
        end = self.stopped_at or time.time()
        gaps = {}
        for name, seen in self.seen.items():
            points = [self.started_at, *(at for at in seen if at > self.started_at), end]
            gaps[name] = max(b - a for a, b in zip(points, points[1:], strict=False))
        return gaps


@dataclass
class Figures:
    cycles: int = 0
    kills: int = 0
    pauses: int = 0
    held: int = 0
    """Faults that struck a replica holding a lease: each must end in a takeover."""
    mid_delivery: int = 0
    """Faults that struck the evaluator while the outbox held a notification."""
    takeovers: int = 0
    """Leases acquired during the run (``lease acquired`` log lines after the start): each a lease changing hands."""
    episodes: int = 0
    resolved: int = 0
    lost: list[str] = field(default_factory=list)
    duplicates: dict[str, int] = field(default_factory=dict)
    explained: int = 0
    unexplained: int = 0
    strays: list[str] = field(default_factory=list)
    gaps: dict[str, float] = field(default_factory=dict)
    open_mismatch: dict[str, str] = field(default_factory=dict)
    """helpdesk -> what differs between the store's open tickets and the simulator's."""
    seconds: float = 0.0

    def lines(self) -> list[str]:
        gaps = ", ".join(f"{name} {gap:.1f}s" for name, gap in sorted(self.gaps.items()))
        return [
            f"chaos: {self.cycles} cycles ({self.kills} SIGKILL, {self.pauses} SIGSTOP) in {self.seconds:.0f}s",
            f"  takeovers (leases acquired during the run): {self.takeovers}; faults on a lease holder:"
            f" {self.held}, on the evaluator while delivering: {self.mid_delivery}",
            f"  alert episodes: {self.episodes} fired, {self.resolved} resolved; lost: {len(self.lost)}",
            f"  duplicate parents: {sum(self.duplicates.values())} ({self.explained} explained by a logged"
            f" re-send after a crash, {self.unexplained} unexplained)",
            f"  longest gap without a poll: {gaps}",
            f"  open tickets, store vs simulators: {'equal' if not self.open_mismatch else self.open_mismatch}",
        ]


class Chaos:
    """Drives the cluster, the simulators (``sims``, one per helpdesk) and reads the Slack stand-in."""

    def __init__(
        self,
        cluster: Cluster,
        sims: Simulators,
        slack: Simulators,
        *,
        seed: int = 13,
        pause_for: float | None = None,
        settle_timeout: float = 60,
    ) -> None:
        self.cluster, self.sims, self.slack = cluster, sims, slack
        self.rng = random.Random(seed)
        ttl = cluster.lease_ttl or 2.0
        self.pause_for = pause_for if pause_for is not None else ttl * 1.5
        self.settle_timeout = settle_timeout
        self.names = cluster.names
        self.chaos_ids: dict[int, list[int]] = {i: [] for i in range(len(self.names))}
        self.episodes: list[Episode] = []
        self.figures = Figures()
        self.sampler = GapSampler(cluster.store_url, self.names)
        self._acquired_before = 0

    # -- the tickets ---------------------------------------------------------------------------------

    def toggle(self, i: int) -> bool:
        """Raise or clear helpdesk ``i``'s chaos alert; whether it is now meant to fire."""
        if self.chaos_ids[i]:
            for key in self.chaos_ids[i]:
                self.sims.call(i, "solve_ticket", key)
            self.chaos_ids[i] = []
            return False
        self.chaos_ids[i] = [int(self.sims.call(i, "create_ticket", tags=[TAG])["id"]) for _ in range(RAISE)]
        return True

    def noise(self, i: int) -> None:
        """A ticket created and an open one solved: the open counts move outside the chaos tickets too."""
        self.sims.call(i, "create_ticket")
        candidates = sorted(set(self.sims.call(i, "open_ids")) - set(self.chaos_ids[i]))
        if candidates:
            self.sims.call(i, "solve_ticket", self.rng.choice(candidates))

    def publish(self) -> None:
        """Move every simulator's clock past the export's one-minute rule: the changes can be polled."""
        for i in range(len(self.names)):
            self.sims.call(i, "advance", EXPORT_DELAY)

    # -- the alerts ------------------------------------------------------------------------------------

    def chaos_alert(self, name: str) -> dict[str, Any] | None:
        for alert in self.cluster.alerts(RULE):
            if ["helpdesk", name] in alert["labels"]:
                return alert
        return None

    def settle(self, i: int, firing: bool) -> None:
        """Wait until the store shows helpdesk ``i``'s alert firing (a new episode) or resolved."""
        name = self.names[i]

        def shown() -> bool:
            alert = self.chaos_alert(name)
            if firing:
                return alert is not None and alert["state"] == "firing" and alert["firing_since"] is not None
            return alert is None or alert["state"] != "firing"

        if not wait_for(shown, self.settle_timeout):
            raise AssertionError(
                f"the store did not show {name}'s {RULE} {'firing' if firing else 'resolved'} within "
                f"{self.settle_timeout:g}s; {self.cluster.replicas}; last alert: {self.chaos_alert(name)}"
            )
        alert = self.chaos_alert(name)
        if firing:
            assert alert is not None
            self.episodes.append(Episode(name, alert["fingerprint"], float(alert["firing_since"])))
        else:
            for episode in self.episodes:
                if episode.helpdesk == name:
                    episode.resolved = True

    # -- the faults ------------------------------------------------------------------------------------

    def held_by(self, replica: Replica) -> list[str]:
        """What /readyz of the running replicas says ``replica`` still holds."""
        return [what for what, holder in self.cluster.holders().items() if holder == replica.id]

    def taken_over(self, replica: Replica) -> bool:
        """Everything has a holder again, and none of it is ``replica``."""
        held = self.cluster.holders()
        return all(holder is not None and holder != replica.id for holder in held.values())

    def fault(self, victim: Replica, kill: bool) -> None:
        if kill:
            victim.kill()
            self.figures.kills += 1
        else:
            victim.pause()
            self.figures.pauses += 1
            time.sleep(self.pause_for)  # the fault itself: paused past the lease TTL (not a synchronisation)
        if self.cluster.leases and not wait_for(lambda: self.taken_over(victim), self.settle_timeout):
            raise AssertionError(
                f"{victim.id}'s leases were not taken over within {self.settle_timeout:g}s"
                f" ({'killed' if kill else 'paused'}); {self.cluster.replicas}; /readyz:"
                f" {self._readyz()}\n{self.cluster.activity()}"
            )

    def _readyz(self) -> str:
        try:
            return str(self.cluster.readyz().get("leases"))
        except httpx.TransportError as exc:
            return f"no answer ({exc})"

    def recover(self, victim: Replica, killed: bool) -> None:
        if killed:
            victim.start()
            victim.wait_listening()
        else:
            victim.resume()

    def acquired(self) -> int:
        return sum("lease acquired" in str(entry.get("message", "")) for _, entry in self.cluster.log())

    # -- the run ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Wait until the cluster has polled every helpdesk (and, with leases, shared them out)."""
        if not wait_for(lambda: set(self.cluster.last_polls()) >= set(self.names), 120):
            raise AssertionError(f"not every helpdesk was polled within 120s: {self.cluster.last_polls()}")
        if self.cluster.leases and not wait_for(lambda: None not in self.cluster.holders().values(), 60):
            raise AssertionError(f"the leases were not shared out: {self.cluster.holders()}")
        self._acquired_before = self.acquired()
        self.sampler.start()

    def cycle(self) -> None:
        count = len(self.names)
        changed = [i for i in range(count) if self.rng.random() < 0.5] or [self.rng.randrange(count)]
        firing = {i: self.toggle(i) for i in changed}
        self.noise(self.rng.randrange(count))
        self.publish()
        victim = self.rng.choice(self.cluster.replicas)
        kill = self.rng.random() < 0.5
        if self.cluster.leases and self.rng.random() < 0.5:
            # Strike the evaluator while a notification is on its way (queued, claimed or being sent):
            # the crash window between a send and its record, if the timing falls in it.
            evaluator = self.cluster.holders()["evaluator"]
            victim = next((r for r in self.cluster.replicas if r.id == evaluator), victim)
            self.figures.mid_delivery += wait_for(lambda: self.cluster.outbox() > 0, 10, step=0.02)
        if self.cluster.leases and self.held_by(victim):
            self.figures.held += 1
        self.fault(victim, kill)
        if not self.cluster.running():  # alone, a replica catches up once back; else the others carry on
            self.recover(victim, kill)
        for i, fires in firing.items():
            self.settle(i, fires)
        if not victim.alive or victim.paused:
            self.recover(victim, kill)
        self.figures.cycles += 1

    def run(self, cycles: int) -> Figures:
        started = time.monotonic()
        self.start()
        try:
            for _ in range(cycles):
                self.cycle()
        finally:
            self.sampler.stop()
        self.finish()
        self.figures.seconds = time.monotonic() - started
        return self.figures

    def finish(self, timeout: float = 90) -> None:
        """Clear every alert still firing, then wait for the cluster to catch up: the store's open tickets
        equal the simulators', the outbox empty; then compare Slack and the episodes."""
        for i in range(len(self.names)):
            if self.chaos_ids[i]:
                self.toggle(i)
        self.publish()
        for i in range(len(self.names)):
            self.settle(i, False)
        truth = {name: {str(key) for key in self.sims.call(i, "open_ids")} for i, name in enumerate(self.names)}
        wait_for(lambda: all(self.cluster.open_ids(name) == ids for name, ids in truth.items()), timeout)
        wait_for(lambda: self.cluster.outbox() == 0 and self._slack_told(), timeout)
        for name, ids in truth.items():
            stored = self.cluster.open_ids(name)
            if stored != ids:
                self.figures.open_mismatch[name] = (
                    f"store {len(stored)} open, simulator {len(ids)}: missing {sorted(ids - stored)[:5]},"
                    f" extra {sorted(stored - ids)[:5]}"
                )
        self.verdict()

    def messages(self) -> list[dict[str, Any]]:
        return list(self.slack.call(0, "messages", CHANNEL))

    def _slack_told(self) -> bool:
        return not check_slack(self.messages(), self.episodes).lost

    def verdict(self) -> None:
        check = check_slack(self.messages(), self.episodes)
        log = self.cluster.log()
        fingerprints = Counter(ref.split(":")[0] for ref in check.duplicates for _ in range(check.duplicates[ref]))
        for fingerprint, extra in fingerprints.items():
            if explained(fingerprint, log):
                self.figures.explained += extra
            else:
                self.figures.unexplained += extra
        self.figures.episodes = len(self.episodes)
        self.figures.resolved = sum(e.resolved for e in self.episodes)
        self.figures.lost = check.lost
        self.figures.duplicates = check.duplicates
        self.figures.strays = check.strays
        self.figures.gaps = self.sampler.longest_gaps()
        if self.cluster.leases:
            self.figures.takeovers = self.acquired() - self._acquired_before

"""The daemon: APScheduler runs each helpdesk's poll (never two at once) and the periodic evaluation.

poll(helpdesk): sync from the stored cursor -> record the poll -> when the poll changed something (it
stored tickets, or an outage began or ended), request an evaluation. Requests coalesce into one
evaluation per tick across helpdesks (debounce.py); an idle poll requests none, and the periodic
evaluation (``evaluate_every``) covers what time alone changes (aging, SLA due, ``for:``, outages
lasting). The scheduled poll never waits for the evaluation it asked for, so a slow one skips no poll.
apply_hook(helpdesk, ids): the tickets a hook names, read directly and stored with the cursor
unchanged -> the same evaluation request.
evaluate(): under the evaluation lock, snapshot of the store at now -> rules -> advance alerts -> mute
-> plan -> enqueue (delivery/pipeline.py); then, outside the lock, the deliverer sends what is due. In
``run`` the deliverer is a long-lived task woken by each evaluation, so a storm of paced messages never
holds up a poll or the next evaluation; ``once`` and a direct ``evaluate()`` wait for its round.
Shutdown (SIGTERM/SIGINT), all within ``SHUTDOWN_GRACE``: stop scheduling, cancel syncs between pages
(each page is committed with its cursor in one transaction, so nothing is half-written), cut a running
evaluation at once (in its worker thread: it stops between rules and skips its writes, or finishes them
if begun; the next start evaluates again), let the deliverer finish the send in flight and claim
nothing more, then give the leases up.
Replicas (cluster.py): a poll runs only on the replica holding its helpdesk's lease, and evaluation and
delivery only on the evaluator; each runs fenced by its lease (store/leases.py), so a replica that lost
it writes nothing (``LeaseLost``, logged, not a store failure). A hook for a helpdesk another replica
holds is forwarded to it, as is the evaluation a non-evaluator's poll calls for. A lease taken starts
its work at once: a poll of the helpdesk, an evaluation and a delivery round for the evaluator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, TypeVar

from backlog_watch.alerting.acknowledgements import earliest_episode, review
from backlog_watch.alerting.alerts import advance
from backlog_watch.alerting.policy import DeliveryPolicy, log_muted
from backlog_watch.alerting.silences import Silences
from backlog_watch.business_hours import BusinessCalendar
from backlog_watch.cluster import EVALUATOR, Leases, SoloLeases, default_replica_id, helpdesk_lease
from backlog_watch.debounce import DEFAULT_WINDOW, Debouncer
from backlog_watch.delivery.dedup import DispatchResult
from backlog_watch.delivery.notifiers.base import Notifier
from backlog_watch.delivery.outbox import Outbox
from backlog_watch.delivery.pipeline import Deliverer, Due, enqueue, mute, plan_due
from backlog_watch.delivery.store_failing import StoreWatch
from backlog_watch.errors import AuthError, HelpdeskError, LeaseLost, StoreError
from backlog_watch.evaluation import Evaluation, log_transitions, measure_rules
from backlog_watch.kpis import kpis_by_scope
from backlog_watch.models import Alert, Snapshot
from backlog_watch.rules.backlog import RuleBase
from backlog_watch.sources.connector import Connector, SyncResult, read_named, sync
from backlog_watch.store import Store
from backlog_watch.store.codec import AlertBodies
from backlog_watch.store.history import History
from backlog_watch.store.leases import ForwardedRequest, fenced

if TYPE_CHECKING:  # APScheduler is imported by start(): `once` schedules nothing
    from apscheduler.events import JobSubmissionEvent
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.base import BaseTrigger

    from backlog_watch.web.exporter import Instruments

log = logging.getLogger(__name__)
T = TypeVar("T")


SHUTDOWN_GRACE = 4.0
"""Seconds everything running at SIGTERM may take, all at once: the jobs and the send in flight. What
follows (closing clients and the web server) is quick, so the process exits within 5 s."""
HISTORY_SPACING = timedelta(minutes=1)
"""The KPI history is recorded by an evaluation at most this often (by the daemon's clock): it keeps
the last value of each 5 minutes, and an evaluator evaluating every few seconds rewrote every scope's
row (and recomputed every KPI of every helpdesk and group) each time."""
DELIVERY_GRACE = 3.0
"""Seconds of that the send in flight may take (a paced Slack message waits at most 1 s)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class Daemon:
    """Wires the store, connectors, rules and notifiers; owns no business logic of its own."""

    def __init__(
        self,
        store: Store,
        connectors: Mapping[str, Connector],
        rules: list[RuleBase],
        notifiers: Mapping[str, Notifier],
        *,
        evaluate_every: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
        dry_run: bool = False,
        policy: DeliveryPolicy | None = None,
        calendars: Mapping[str, BusinessCalendar] | None = None,
        handle_hours: Mapping[str, float] | None = None,
        evaluation_window: float = DEFAULT_WINDOW,
        leases: Leases | None = None,
        timezone: tzinfo = UTC,
    ) -> None:
        self.store = store
        self.leases: Leases = leases or SoloLeases(default_replica_id(), list(connectors))
        """What this replica holds (cluster.py): solo holds everything."""
        self.connectors = dict(connectors)
        self.rules = rules
        self.rules_by_name = {r.name: r for r in rules}
        self.notifiers = dict(notifiers)
        self.evaluate_every = evaluate_every
        self.clock = clock
        self.dry_run = dry_run
        self.policy = policy or DeliveryPolicy()
        self.outbox = Outbox(store, replica=self.leases.replica)
        self.calendars = dict(calendars or {})
        self.handle_hours = dict(handle_hours or {})
        self.timezone = timezone
        """The config's time zone: the week's hours of seasonal rules without a calendar (snapshot())."""
        self.history = History(store)
        self.stopped: set[str] = set()
        self._poll_locks = {name: asyncio.Lock() for name in self.connectors}
        self._eval_lock = asyncio.Lock()
        self._cut: threading.Event | None = None
        """The running evaluation's cut: set by a shutdown, it stops that evaluation before its writes."""
        self._syncing: set[asyncio.Task[SyncResult]] = set()
        self._jobs: set[asyncio.Task[object]] = set()
        self._stopping = asyncio.Event()
        self.scheduler: AsyncIOScheduler | None = None
        self.instruments: Instruments | None = None
        """Prometheus counters (exporter.py), set by app.assemble; None in bare tests."""
        self._cron_jobs: list[tuple[str, BaseTrigger, Callable[[], Awaitable[object]]]] = []
        self._skipped_runs = SkippedRunsFilter()
        self.store_watch = StoreWatch(self.notifiers, clock)
        self.deliverer = Deliverer(self.outbox, self.notifiers, lambda: self.all_rules, self.policy.quiet_hours)
        self.delivery_grace = DELIVERY_GRACE
        self._debouncer: Debouncer[None] = Debouncer(self._evaluate_on_change, self._polling, evaluation_window)
        self._wake_deliverer = asyncio.Event()
        self._delivering: asyncio.Task[None] | None = None
        self._keeping: asyncio.Task[None] | None = None
        self._listening: asyncio.Task[None] | None = None
        self._nudged = asyncio.Event()
        """Set when the keeper should tick now: work was forwarded, or the daemon stops."""
        self._poll_every: dict[str, float] = {}
        self._scheduled: set[str] = set()
        """Helpdesks with a poll job: those this replica holds (``_schedule_polls``)."""
        self.keeper_late_max = 0.0
        """The most seconds a tick of the lease keeper started after its due time (the loop held up)."""
        self.hook_receiver: Callable[[str, Sequence[str]], object] | None = None
        """What a hook does here (web/hooks.py ``Hooks.receive``, set by app.daemon_hooks): a hook
        another replica forwarded is received as if it had come here."""
        self._delivery_token: int | None = None
        self.evaluations = 0
        """Evaluations run (dry ones too): what debouncing and idle polls save shows here."""
        self.skipped_polls: dict[str, int] = {}
        """helpdesk -> scheduled polls skipped because the previous one still ran (the goal is none)."""
        self._history_at: datetime | None = None
        """When this daemon last recorded the KPI history (``HISTORY_SPACING``)."""
        self._saved_alerts: tuple[int | None, dict[str, Alert]] | None = None
        """(the evaluator's fencing token, the alerts it saved last): what the alerts table holds while the
        token is the same. The evaluator is the table's one writer and each of its writes is fenced, so
        only a new term (a token another replica's term came between) or a failed save makes it read the
        table again (``_stored_alerts``); an evaluation of a thousand helpdesks no longer reads and decodes
        every alert, nor encodes the unchanged ones to save them."""
        self.tickets_stored: dict[str, int] = {}
        """helpdesk -> tickets its last successful poll stored (`once` sums them in its summary)."""

    # -- polling -----------------------------------------------------------------------------------

    async def poll(self, name: str, *, then_evaluate: bool = True) -> bool:
        """Poll one helpdesk; True when it succeeded. With ``then_evaluate``, a poll that changed something
        waits for the evaluation that covers it (a hook's poll: the alert is out when this returns)."""
        ok, evaluation = await self._poll(name, then_evaluate)
        if evaluation is not None:
            await asyncio.shield(evaluation)  # shared: cancelling this poll leaves it running
        return ok

    async def _poll(self, name: str, evaluate: bool) -> tuple[bool, asyncio.Task[None] | None]:
        """Poll, and with ``evaluate`` request an evaluation when the poll changed something. A poll
        already running for the helpdesk is not doubled."""
        lock = self._poll_locks[name]
        if lock.locked() or name in self.stopped or self._stopping.is_set():
            return name not in self.stopped, None
        if not self.leases.holds(helpdesk_lease(name)):
            return True, None  # another replica polls it
        self._track_job()
        async with lock:
            started = time.monotonic()
            with fenced(self.leases.fence(helpdesk_lease(name))):
                ok, changed = await self._sync_one(name)
            if self.instruments is not None:
                self.instruments.polled(name, time.monotonic() - started, ok)
        if evaluate and changed and not self._stopping.is_set():
            return ok, self.request_evaluation()
        return ok, None

    async def apply_hook(self, name: str, ids: Sequence[str]) -> bool:
        """Read the tickets a hook names, store them (the cursor stays) and evaluate at once; True when
        the read succeeded. It takes no poll lock: a scheduled poll goes on beside it."""
        if name in self.stopped or self._stopping.is_set():
            return False
        if not self.leases.holds(helpdesk_lease(name)):
            self.leases.forward(ForwardedRequest("poll", name, tuple(ids)))
            log.debug("hook: forwarded to the replica polling it: %s", ", ".join(ids), extra={"helpdesk": name})
            return True
        self._track_job()
        try:
            with fenced(self.leases.fence(helpdesk_lease(name))):
                result = await read_named(self.connectors[name], self.store, ids)
        except HelpdeskError as exc:
            log.warning(
                "hook: reading tickets %s failed (the polls will see them): %s",
                ", ".join(ids),
                exc,
                extra={"helpdesk": name},
            )
            return False
        log.debug("hook: %d ticket(s) read: %s", result.stored, ", ".join(ids), extra={"helpdesk": name})
        if result.stored and not self._stopping.is_set():
            await asyncio.shield(self.request_evaluation())  # shared, as a poll's
        return True

    def _polling(self) -> bool:
        return any(lock.locked() for lock in self._poll_locks.values())

    async def _sync_one(self, name: str) -> tuple[bool, bool]:
        """(succeeded, changed): changed when tickets were stored, the helpdesk's health changed (an outage
        beginning or ending, an auth failure) or it is the first success since start. Nothing else needs
        evaluating: what time alone changes is the periodic evaluation's."""
        connector = self.connectors[name]
        before = self.store.poll_status(name)
        started = self.clock()
        task = asyncio.create_task(sync(connector, self.store))
        self._syncing.add(task)
        try:
            result = await task
        except asyncio.CancelledError:
            if self._stopping.is_set():
                return False, False
            raise
        except AuthError as exc:
            self.store.record_poll(name, self.clock(), error=str(exc), auth_failed=True, started=started)
            self.stopped.add(name)
            if self.scheduler is not None and self.scheduler.get_job(f"poll:{name}"):
                self.scheduler.remove_job(f"poll:{name}")
            log.error("%s", exc, extra={"helpdesk": name})  # the error says polling stops; once is enough
            return False, True
        except HelpdeskError as exc:
            # The daemon owns a helpdesk's failure state: the one place an outage is logged, on change only.
            status = self.store.record_poll(name, self.clock(), error=str(exc), started=started)
            if status.failures == 1:
                log.warning("poll failed: %s", exc, extra={"helpdesk": name})
            return False, status.failures == 1
        finally:
            self._syncing.discard(task)
        self.store.record_poll(name, self.clock(), skipped=result.skipped)
        first = name not in self.tickets_stored  # this process's first: time passed while it was not running
        self.tickets_stored[name] = result.stored
        self._skipped_runs.forget(f"poll:{name}")
        if before.failures:
            log.info("%s: poll recovered after %d failure(s)", name, before.failures, extra={"helpdesk": name})
        log.debug(
            "%s: %d page(s), %d ticket(s) stored, %d skipped",
            name,
            result.pages,
            result.stored,
            result.skipped,
            extra={"helpdesk": name},
        )
        return True, first or result.stored > 0 or before.failures > 0

    # -- evaluation --------------------------------------------------------------------------------

    @property
    def all_rules(self) -> dict[str, RuleBase]:
        """The configured rules and the policy's own (helpdesk-down), by name."""
        return {**self.rules_by_name, **self.policy.rules}

    async def evaluate(self, *, deliver: bool = True) -> Evaluation:
        """Evaluate every rule on the stored data at now and queue what is due; then, with ``deliver``
        and outside the evaluation lock, send it and return what was sent in ``result``."""
        evaluation = await self.assess()
        if deliver and not self.dry_run:
            evaluation.result = await self.deliver()
            evaluation.result.muted = evaluation.muted
        return evaluation

    def request_evaluation(self) -> asyncio.Task[None]:
        """The coalesced evaluation that will see the data stored so far (one per tick, debounce.py)."""
        task = self._debouncer.request()
        if task not in self._jobs:
            self._jobs.add(task)
            task.add_done_callback(self._jobs.discard)
        return task

    async def _evaluate_on_change(self) -> None:
        """The debounced evaluation: the deliverer task sends, or (not started) this does. Guarded: the
        task runs on its own, nobody may be awaiting it. On a replica that is not the evaluator, the
        evaluator is asked (through the store) to evaluate."""
        if not self.leases.holds(EVALUATOR):
            await self.guarded(self._forward(ForwardedRequest("evaluate", "")))
            return
        if self._delivering is None:
            await self.guarded(self.evaluate())
            return
        await self.guarded(self.assess())
        self._wake_deliverer.set()

    async def assess(self) -> Evaluation:
        """Snapshot -> rules -> advance -> mute -> plan -> enqueue, under the evaluation lock. Synchronous
        work (nothing here sleeps or sends), run in a worker thread: with hundreds of helpdesks it takes
        seconds, during which the event loop still answers /metrics, keeps the leases and goes on polling.
        Only the evaluator evaluates (``LeaseLost`` elsewhere), its writes fenced by its lease (the thread
        runs in a copy of this context, the fence with it). A shutdown cuts the running evaluation at once
        (``_cut``): it stops between rules and skips its writes if it has not begun them, else finishes
        them; one cancelled is cut the same way, the cancellation raised once its thread is done. One
        that gets the lock once the daemon is stopping is cut before it measures anything."""
        fence = self.leases.fence(EVALUATOR)
        if not self.leases.holds(EVALUATOR):
            raise LeaseLost(f"replica {self.leases.replica} is not the evaluator", lease=EVALUATOR)
        async with self._eval_lock:
            cut = threading.Event()
            if self._stopping.is_set():  # it waited for the lock while the stop came: it starts nothing
                cut.set()
            with fenced(fence):  # the task (and its thread) copies the context as it is now
                running = asyncio.ensure_future(asyncio.to_thread(self._assess, cut))
            self._cut = cut
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                cut.set()
                with contextlib.suppress(Exception):
                    await running
                raise
            finally:
                self._cut = None

    def _assess(self, cut: threading.Event) -> Evaluation:
        """The evaluation itself, under the lock and inside the evaluator's fence."""
        self.evaluations += 1
        if self.instruments is not None:
            self.instruments.evaluated()
        now = self.clock()
        statuses = list(self.store.poll_statuses(self.connectors).values())
        polled = [s.helpdesk for s in statuses if s.last_success is not None]
        snapshot = self.snapshot(now, polled)
        token = self._fence_token()
        previous = self._stored_alerts(token)
        findings, readings = measure_rules(self.rules, snapshot, now, previous, cut)
        if cut.is_set():  # cancelled (shutdown) while measuring: nothing of it is written
            return Evaluation(alerts=dict(previous), findings=findings, snapshot=snapshot)
        findings += self.policy.findings(statuses, now)
        rules = self.all_rules
        keep = {name: rule.keep_firing_for for name, rule in rules.items()}
        alerts = advance(previous, findings, now, list(rules), readings, keep)
        data_as_of = {s.helpdesk: s.last_success for s in statuses}
        alerts, muted = mute(alerts, rules, self.policy, Silences(self.store).active(now), now)
        acknowledged, cleared = review(self.store.actions(earliest_episode(alerts, now)), alerts, now)
        due = plan_due(alerts, rules, self.outbox, now, data_as_of, muted, acknowledged)
        evaluation = Evaluation(alerts=alerts, findings=findings, planned=due, muted=muted, snapshot=snapshot)
        if self.dry_run or cut.is_set():  # cancelled (shutdown): cut before the writes
            return evaluation
        self._saved_alerts = None  # until this save is known to have committed
        bodies = AlertBodies()  # each alert encoded once, for its row and for the outbox rows telling of it
        self.store.save_alerts(alerts, previous, bodies)
        self._saved_alerts = (token, alerts)
        for unacknowledged in cleared:
            self.store.add_action(unacknowledged)
        log_transitions(previous, alerts)
        log_muted(previous, alerts)
        last = self._history_at
        if last is None or not timedelta(0) <= now - last < HISTORY_SPACING:
            self.history.record(now, kpis_by_scope(snapshot, now))
            self._history_at = now
        enqueue(self.outbox, due, now, bodies)
        return evaluation

    def _fence_token(self) -> int | None:
        fence = self.leases.fence(EVALUATOR)
        return fence.token if fence is not None else None

    def _stored_alerts(self, token: int | None) -> dict[str, Alert]:
        """The alerts table: as this evaluator saved it last in the same term, else read."""
        if self._saved_alerts is not None and self._saved_alerts[0] == token:
            return self._saved_alerts[1]
        self._saved_alerts = None
        return self.store.load_alerts()

    async def act(self, apply: Callable[[Mapping[str, Alert], datetime], tuple[T, Due]]) -> T:
        """Apply a person's action (acknowledge, snooze...) to the stored alerts under the evaluation lock,
        queue the news it makes, and have it delivered; ``apply`` returns its answer and that news. Any
        replica may take the click: one that is not the evaluator appends its news (never folding it
        into a row the evaluator may be sending) and asks the evaluator to deliver."""
        evaluator = self.leases.holds(EVALUATOR)
        async with self._eval_lock:
            now = self.clock()
            answer, due = apply(self.store.load_alerts(), now)
            if due and not self.dry_run:
                with fenced(self.leases.fence(EVALUATOR)):
                    self.outbox.enqueue(due, now, fold=evaluator)
        if due and not self.dry_run:
            if not evaluator:  # queued here; the evaluator sends it at its next round
                self.leases.forward(ForwardedRequest("evaluate", ""))
            elif self._delivering is None:
                await self.deliver()
            else:
                self._wake_deliverer.set()
        return answer

    async def deliver(self) -> DispatchResult:
        """One round of the deliverer: every row due now, sent and recorded or rescheduled. Only the
        evaluator delivers, fenced by its lease; a new term of it starts with no claim of an old one."""
        fence = self.leases.fence(EVALUATOR)
        if not self.leases.holds(EVALUATOR):
            return DispatchResult()
        token = fence.token if fence is not None else None
        if token != self._delivery_token:
            self.outbox.forget_claims()
            self._delivery_token = token
        with fenced(fence):
            result = await self.deliverer.deliver(self.clock())
        if self.instruments is not None:
            self.instruments.delivered([n for n, _ in result.sent], [n for n, _, _ in result.failed])
            self.instruments.redelivered(len(result.redelivered))
        return result

    async def _deliver_forever(self) -> None:
        """The deliverer task of ``run``: a round each time an evaluation queued something."""
        while not self.deliverer.stopping:
            await self._wake_deliverer.wait()
            self._wake_deliverer.clear()
            if not self.deliverer.stopping:
                await self.guarded(self.deliver())

    def snapshot(self, now: datetime, helpdesks: list[str]) -> Snapshot:
        """The stored data at now, with what the rules need besides tickets (history, calendars)."""
        solved_window = max([timedelta(days=7), *(r.needs_solved() for r in self.rules)])
        snapshot = self.store.snapshot(now, helpdesks, solved_window)
        days = max([0, *(r.history_days() for r in self.rules)])
        history = self.history.daily_view(now, days) if days else None
        return replace(
            snapshot, calendars=self.calendars, handle_hours=self.handle_hours, history=history, timezone=self.timezone
        )

    # -- running -----------------------------------------------------------------------------------

    async def once(self) -> tuple[int, Evaluation]:
        """Poll every helpdesk once, evaluate, notify; exit code 1 when anything failed."""
        results = await asyncio.gather(*(self.poll(n, then_evaluate=False) for n in self.connectors))
        evaluation = await self.evaluate()
        evaluation.polled = {
            name: self.tickets_stored.get(name, 0) if ok else None
            for name, ok in zip(self.connectors, results, strict=True)
        }
        failed = not all(results) or bool(evaluation.result.failed)
        return (1 if failed else 0), evaluation

    def _track_job(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._jobs.add(task)
            task.add_done_callback(self._jobs.discard)

    async def _evaluate_job(self) -> None:
        """The periodic evaluation (time-driven rules), shared with a change-driven one due at the same tick."""
        if not self._stopping.is_set() and self.leases.holds(EVALUATOR):
            try:
                await asyncio.shield(self.request_evaluation())
            except asyncio.CancelledError:
                if not self._stopping.is_set():
                    raise
                # a shutdown cancels the job: shutdown() cuts and awaits the evaluation itself, and the
                # scheduler would log the cancellation as a failed job, with a traceback, at every stop

    async def poll_guarded(self, name: str) -> None:
        """A poll outside the scheduler's own (a hook's): a failing store is reported like a scheduled one's.
        A helpdesk another replica holds is asked of it."""
        if not self.leases.holds(helpdesk_lease(name)):
            await self.guarded(self._forward(ForwardedRequest("poll", name)))
            return
        await self.guarded(self.poll(name))

    async def _forward(self, request: ForwardedRequest) -> None:
        self.leases.forward(request)

    async def _poll_job(self, name: str) -> None:
        """The scheduler's poll: it asks for an evaluation but never waits for it, so none delays the next poll."""
        if self.instruments is not None and self.leases.holds(helpdesk_lease(name)):
            self.instruments.poll_started(self._lateness(name))
        await self.guarded(self._poll(name, evaluate=True))

    def _lateness(self, name: str) -> float:
        """Seconds since this scheduled poll was due: starting it moved the job's next run one interval on
        (after coalesced misses, from the last one missed)."""
        from apscheduler.triggers.interval import IntervalTrigger

        job = self.scheduler.get_job(f"poll:{name}") if self.scheduler is not None else None
        if job is None or job.next_run_time is None or not isinstance(job.trigger, IntervalTrigger):
            return 0.0
        due: datetime = job.next_run_time - job.trigger.interval
        return max(0.0, (datetime.now(UTC) - due).total_seconds())

    async def guarded(self, job: Awaitable[T]) -> T | None:
        """Run a scheduled job of `run`: a failing store is reported (once per change), not raised, so the
        daemon goes on and tells when the store works again. The job's result; None when the store failed."""
        try:
            result = await job
        except LeaseLost as exc:  # another replica does this work now: nothing was written
            log.info("%s", exc)
            self.leases.lost(exc.lease, exc.token)
            return None
        except StoreError as exc:
            await self.store_watch.failed(exc)
            return None
        if self.store.failing is None:
            await self.store_watch.recovered()
        return result

    async def wait_poll_idle(self, name: str) -> None:
        """Return once no poll of ``name`` is running (a hook's poll must start after one in flight)."""
        async with self._poll_locks[name]:
            pass

    def add_cron_job(self, job_id: str, trigger: BaseTrigger, job: Callable[[], Awaitable[object]]) -> None:
        """A job on a cron trigger (the reports); scheduled with the rest by start()."""
        self._cron_jobs.append((job_id, trigger, job))

    async def _cron_job(self, job: Callable[[], Awaitable[object]]) -> None:
        """A report: sent by the evaluator only, so replicas send it once."""
        if not self._stopping.is_set() and self.leases.holds(EVALUATOR):
            self._track_job()
            await job()

    # -- leases ------------------------------------------------------------------------------------

    async def _keep_leases(self, interval: float) -> None:
        """Every ``interval``: renew and rebalance the leases, start the work of those taken, and take
        the work forwarded here. Whenever another replica forwards work (``_nudged``), only that work is
        taken: every forward wakes every replica, and a whole tick each time (renewing every lease
        held, reading every holder) made a busy cluster's lease work grow with its polls times its
        replicas."""
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            self._nudged.clear()
            await self.guarded(self.lease_tick())
            due = loop.time() + interval
            while not self._stopping.is_set() and (left := due - loop.time()) > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._nudged.wait(), left)
                if not self._nudged.is_set() or self._stopping.is_set():
                    break
                self._nudged.clear()
                await self.guarded(self._take_forwarded())
            late = loop.time() - due
            self.keeper_late_max = max(self.keeper_late_max, late)
            if late > interval:  # the renewing thread kept the leases meanwhile
                log.warning("the lease keeper ran %.1fs late: the event loop was held up", late)

    async def lease_tick(self) -> None:
        """One turn of the lease keeper (``run`` calls it every third of the TTL)."""
        changes = self.leases.tick(busy=lambda name: self._poll_locks[name].locked())
        if self.instruments is not None:
            self.instruments.leases(
                self.leases.held("helpdesk"),
                self.leases.held("evaluator"),
                sum(1 for c in changes.acquired if c.takeover),
            )
        evaluate = False
        for claim in changes.acquired:
            if claim.lease == EVALUATOR:
                evaluate = True
            elif (name := claim.lease.removeprefix("helpdesk:")) in self.connectors:
                self._spawn(self._poll_job(name))
        self._schedule_polls()
        if self._start_forwarded() or evaluate:
            self._spawn(self._evaluate_job())

    async def _take_forwarded(self) -> None:
        """Take the work forwarded here since the last tick (between the ticks, when nudged)."""
        if self._start_forwarded():
            self._spawn(self._evaluate_job())

    def _start_forwarded(self) -> bool:
        """Start the work other replicas forwarded here; True when an evaluation was asked for."""
        evaluate = False
        for request in self.leases.take_requests():
            if request.kind == "evaluate":
                evaluate = True
            elif request.helpdesk not in self.connectors:
                continue
            elif self.hook_receiver is not None:  # as if the hook had come here: reads, polls, follow-ups
                self.hook_receiver(request.helpdesk, request.ticket_ids)
            elif request.ticket_ids:
                self._spawn(self.guarded(self.apply_hook(request.helpdesk, request.ticket_ids)))
            else:
                self._spawn(self.poll_guarded(request.helpdesk))
        return evaluate

    async def settled(self) -> None:
        """Return once the jobs started so far (polls, evaluations, forwarded work) have finished."""
        while pending := [t for t in self._jobs if t is not asyncio.current_task()]:
            await asyncio.gather(*pending, return_exceptions=True)

    def _spawn(self, job: Awaitable[object]) -> None:
        """Run a job on its own, tracked for shutdown."""

        async def run() -> None:
            await job

        task = asyncio.ensure_future(run())
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    def start(self, poll_every: Mapping[str, float]) -> None:
        """Schedule the polls of the helpdesks held (first one now; others as their leases are taken) and
        the periodic evaluation; keep the leases (renewed from a thread between the ticks)."""
        from apscheduler.events import EVENT_JOB_MAX_INSTANCES
        from apscheduler.schedulers.asyncio import AsyncIOScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        self._delivering = asyncio.create_task(self._deliver_forever(), name="deliverer")
        if self.leases.interval is not None:
            self.leases.start_renewing()
            self._keeping = asyncio.create_task(self._keep_leases(self.leases.interval), name="leases")
            self._listening = asyncio.create_task(self.leases.listen(self._nudged.set), name="forwarded-work")
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        logging.getLogger("apscheduler.scheduler").addFilter(self._skipped_runs)
        self.scheduler.add_listener(self._skipped, EVENT_JOB_MAX_INSTANCES)
        self._poll_every = {name: self._feasible(name, seconds) for name, seconds in poll_every.items()}
        self._schedule_polls(first=datetime.now(UTC))
        self.scheduler.add_job(
            self._evaluate_job,
            IntervalTrigger(seconds=self.evaluate_every),
            id="evaluate",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        for job_id, trigger, job in self._cron_jobs:
            self.scheduler.add_job(
                self._cron_job, trigger, args=[job], id=job_id, max_instances=1, coalesce=True, misfire_grace_time=3600
            )
        self.scheduler.start()

    def _feasible(self, name: str, seconds: float) -> float:
        """The poll interval of ``name``: ``seconds``, or the fewest its helpdesk's own rate limit allows
        (``poll_floor``, e.g. Zendesk's export at 10 requests a minute: 6.1 s). Polls scheduled closer
        would each wait for that limit past the next one's due time, and the scheduler skip every
        other one: they are scheduled at the pace they can keep, and the config's is said to be too short."""
        floor = getattr(self.connectors.get(name), "poll_floor", None)
        least = float(floor()) if callable(floor) else 0.0
        if seconds >= least:
            return seconds
        log.warning(
            "poll_every %gs is shorter than its rate limit allows (each poll asks the change stream at least once): "
            "polling every %.1fs",
            seconds,
            least,
            extra={"helpdesk": name},
        )
        return least

    def _schedule_polls(self, first: datetime | None = None) -> None:
        """A poll job for each helpdesk this replica holds, none for the others: a replica's scheduler
        costs what it holds. A job added at the start runs at ``first`` (now); one added on acquiring a
        lease runs an interval on, as the tick polls the helpdesk at once."""
        from apscheduler.triggers.interval import IntervalTrigger

        if self.scheduler is None:
            return
        now = datetime.now(UTC)
        for name, seconds in self._poll_every.items():
            job_id = f"poll:{name}"
            wanted = name not in self.stopped and self.leases.holds(helpdesk_lease(name))
            if wanted and name not in self._scheduled:
                self.scheduler.add_job(
                    self._poll_job,
                    IntervalTrigger(seconds=seconds),
                    args=[name],
                    id=job_id,
                    max_instances=1,
                    coalesce=True,
                    next_run_time=first or now + timedelta(seconds=seconds),
                    misfire_grace_time=None,
                    replace_existing=True,
                )
                self._scheduled.add(name)
            elif not wanted and name in self._scheduled:
                self._scheduled.discard(name)
                if self.scheduler.get_job(job_id) is not None:
                    self.scheduler.remove_job(job_id)

    def _skipped(self, event: JobSubmissionEvent) -> None:
        """A run the scheduler skipped because the previous one still ran: counted, for /metrics."""
        if event.job_id.startswith("poll:"):
            helpdesk = event.job_id.removeprefix("poll:")
            self.skipped_polls[helpdesk] = self.skipped_polls.get(helpdesk, 0) + 1
            if self.instruments is not None:
                self.instruments.poll_skipped(helpdesk)

    def request_stop(self) -> None:
        self._stopping.set()

    async def wait_stopped(self) -> None:
        await self._stopping.wait()

    async def shutdown(self) -> None:
        """Stop scheduling, cancel syncs between pages; the running jobs and the send in flight get
        ``SHUTDOWN_GRACE`` seconds together, then what is left is cancelled."""
        self._stopping.set()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        logging.getLogger("apscheduler.scheduler").removeFilter(self._skipped_runs)
        self._debouncer.cancel()
        if self._cut is not None:  # the running evaluation stops between rules, or before its writes
            self._cut.set()
        self.deliverer.stopping = True
        for sync_task in list(self._syncing):
            sync_task.cancel()
        pending = [t for t in self._jobs if t is not asyncio.current_task()]
        keeping, self._keeping = self._keeping, None
        if keeping is not None:
            self._nudged.set()
            pending.append(keeping)  # it ends at the stop flag
        listening, self._listening = self._listening, None
        if listening is not None:
            listening.cancel()
            await asyncio.gather(listening, return_exceptions=True)
        await asyncio.gather(
            _finish(pending, SHUTDOWN_GRACE), self._stop_deliverer(min(self.delivery_grace, SHUTDOWN_GRACE))
        )
        self.leases.stop_renewing()
        try:
            self.leases.leave()  # the others take over at their next tick, not after the TTL
        except StoreError as exc:
            log.warning("the leases could not be released (they expire on their own): %s", exc)

    async def _stop_deliverer(self, grace: float) -> None:
        """The send in flight may finish (within ``grace``); nothing more is claimed. A row cut off
        mid-send stays in the outbox and goes out after the restart."""
        task, self._delivering = self._delivering, None
        if task is None:
            return
        self._wake_deliverer.set()
        await _finish([task], grace)


async def _finish(tasks: Collection[asyncio.Task[Any]], grace: float) -> None:
    """Let ``tasks`` finish within ``grace`` seconds, then cancel the rest and wait for them to unwind."""
    if not tasks:
        return
    _, late = await asyncio.wait(tasks, timeout=grace)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)


class SkippedRunsFilter(logging.Filter):
    """APScheduler warns at every interval that a job still running was skipped: during an outage that
    is one line per poll interval saying nothing new. Pass it once per job until that job succeeds."""

    def __init__(self) -> None:
        super().__init__()
        self._said: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if "maximum number of running instances reached" not in str(record.msg) or not record.args:
            return True
        job = record.args[0] if isinstance(record.args, tuple) else None
        job_id = str(getattr(job, "id", job))
        if job_id in self._said:
            return False
        self._said.add(job_id)
        return True

    def forget(self, job_id: str) -> None:
        """The job succeeded: the next skip starts a new episode and is said again."""
        self._said.discard(job_id)


def install_signal_handlers(daemon: Daemon) -> None:
    """SIGTERM and SIGINT ask the daemon to stop cleanly (the container's PID 1 gets SIGTERM)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, daemon.request_stop)

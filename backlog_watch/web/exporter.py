"""/metrics in the Prometheus exposition format (prometheus_client).

Two kinds of series. What the daemon does (poll durations, poll errors, polls skipped, evaluations,
notifications and reports sent or failed, hooks received) is counted as it happens, in
``Instruments``. What the store knows is read at scrape time by ``StoreCollector``: the backlog KPIs
per helpdesk and per group as the last evaluation stored them in the history (so a scrape loads no
ticket, however large the backlog), the last successful poll, the alerts firing and those muted
(silenced, inhibited, quiet hours). A scrape shows the stored state, even after a restart.
Each daemon has its own registry: nothing global, so tests and reloads start from clean counters.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client import Gauge as PromGauge
from prometheus_client import Histogram as PromHistogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from backlog_watch.kpis import METRICS, NO_GROUP
from backlog_watch.models import MUTE_REASONS, AlertState
from backlog_watch.store import Store

PREFIX = "backlog_watch"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
POLL_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
DELAY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Instruments:
    """Counters and histograms the daemon updates as things happen."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.poll_duration = PromHistogram(
            f"{PREFIX}_poll_duration_seconds",
            "Duration of one helpdesk poll",
            ["helpdesk"],
            registry=registry,
            buckets=POLL_BUCKETS,
        )
        self.poll_errors = PromCounter(f"{PREFIX}_poll_errors", "Polls that failed", ["helpdesk"], registry=registry)
        self.polls_skipped = PromCounter(
            f"{PREFIX}_polls_skipped",
            "Scheduled polls skipped because the previous one still ran",
            ["helpdesk"],
            registry=registry,
        )
        self.evaluations = PromCounter(
            f"{PREFIX}_evaluations", "Evaluations run (on change, coalesced per tick, and periodic)", registry=registry
        )
        self.notifications_sent = PromCounter(
            f"{PREFIX}_notifications_sent", "Notifications delivered", ["notifier"], registry=registry
        )
        self.notifications_failed = PromCounter(
            f"{PREFIX}_notifications_failed", "Notifications that failed", ["notifier"], registry=registry
        )
        self.reports_sent = PromCounter(
            f"{PREFIX}_reports_sent", "Reports delivered", ["report", "notifier"], registry=registry
        )
        self.reports_failed = PromCounter(
            f"{PREFIX}_reports_failed", "Reports that failed", ["report", "notifier"], registry=registry
        )
        self.hooks = PromCounter(f"{PREFIX}_hooks_received", "Webhook calls accepted", ["helpdesk"], registry=registry)
        self.leases_held = PromGauge(
            f"{PREFIX}_leases_held", "Leases this replica holds (helpdesks it polls; 1 if it is the evaluator)",
            ["kind"], registry=registry,
        )  # fmt: skip
        self.lease_takeovers = PromCounter(
            f"{PREFIX}_lease_takeovers", "Leases this replica took over from another replica", registry=registry
        )
        self.redeliveries = PromCounter(
            f"{PREFIX}_redeliveries",
            "Notifications sent again because an earlier send was claimed and never recorded (the crash window)",
            registry=registry,
        )
        self.poll_delay = PromHistogram(
            f"{PREFIX}_poll_start_delay_seconds",
            "How late this replica started its scheduled polls after their due time (bench/scale.py's p95)",
            registry=registry,
            buckets=DELAY_BUCKETS,
        )

    def polled(self, helpdesk: str, seconds: float, ok: bool) -> None:
        self.poll_duration.labels(helpdesk).observe(seconds)
        if not ok:
            self.poll_errors.labels(helpdesk).inc()
        else:
            self.poll_errors.labels(helpdesk)  # the series exists at 0 from the first poll
        self.polls_skipped.labels(helpdesk)

    def leases(self, helpdesks: int, evaluator: int, takeovers: int) -> None:
        self.leases_held.labels("helpdesk").set(helpdesks)
        self.leases_held.labels("evaluator").set(evaluator)
        self.lease_takeovers.inc(takeovers)

    def redelivered(self, count: int) -> None:
        self.redeliveries.inc(count)

    def poll_started(self, delay: float) -> None:
        self.poll_delay.observe(delay)

    def poll_skipped(self, helpdesk: str) -> None:
        self.polls_skipped.labels(helpdesk).inc()

    def evaluated(self) -> None:
        self.evaluations.inc()

    def delivered(self, sent: Iterable[str], failed: Iterable[str]) -> None:
        for name in sent:
            self.notifications_sent.labels(name).inc()
        for name in failed:
            self.notifications_failed.labels(name).inc()


class StoreCollector(Collector):
    """The stored state as gauges, computed at each scrape."""

    def __init__(self, store: Store, helpdesks: Sequence[str], clock: Callable[[], datetime]) -> None:
        self.store = store
        self.read = store.read_model()
        self.helpdesks = list(helpdesks)
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        yield from self._kpis(now)
        yield from self._polls()
        yield from self._alerts()

    def _kpis(self, now: datetime) -> Iterator[Metric]:
        """The KPIs as the last evaluation stored them in the history (a scrape loads no ticket)."""
        latest = self.read.latest_kpis(now)
        helpdesks = {dict(scope)["helpdesk"]: point for scope, point in latest.items() if len(scope) == 1}
        groups = [(dict(scope), point) for scope, point in sorted(latest.items()) if len(scope) == 2]
        evaluated = GaugeMetricFamily(
            f"{PREFIX}_kpis_timestamp_seconds",
            "When the KPIs below were computed (the last evaluation, Unix time)",
            labels=["helpdesk"],
        )
        for name, (at, _) in sorted(helpdesks.items()):
            evaluated.add_metric([name], at.timestamp())
        yield evaluated
        for metric in METRICS:
            total = GaugeMetricFamily(f"{PREFIX}_{metric}", f"{metric} per helpdesk", labels=["helpdesk"])
            per_group = GaugeMetricFamily(
                f"{PREFIX}_group_{metric}", f"{metric} per helpdesk and group", labels=["helpdesk", "group"]
            )
            for name, (_, values) in sorted(helpdesks.items()):
                if metric in values:
                    total.add_metric([name], values[metric])
            for labels, (_, values) in groups:
                if metric in values:
                    per_group.add_metric([labels["helpdesk"], labels.get("group", NO_GROUP)], values[metric])
            yield total
            yield per_group

    def _polls(self) -> Iterator[Metric]:
        success = GaugeMetricFamily(
            f"{PREFIX}_last_success_timestamp_seconds",
            "When the helpdesk was last polled successfully (Unix time)",
            labels=["helpdesk"],
        )
        failures = GaugeMetricFamily(
            f"{PREFIX}_poll_consecutive_failures", "Failed polls since the last success", labels=["helpdesk"]
        )
        up = GaugeMetricFamily(f"{PREFIX}_helpdesk_up", "1 when the last poll succeeded", labels=["helpdesk"])
        for helpdesk, status in self.read.poll_statuses(self.helpdesks).items():
            if status.last_success is not None:
                success.add_metric([helpdesk], status.last_success.timestamp())
            failures.add_metric([helpdesk], status.failures)
            up.add_metric([helpdesk], 1 if status.last_success is not None and status.failures == 0 else 0)
        yield from (success, failures, up)

    def _alerts(self) -> Iterator[Metric]:
        firing = GaugeMetricFamily(f"{PREFIX}_alerts_firing", "Alerts firing now", labels=["rule", "level"])
        alerts = [a for a in self.store.load_alerts().values() if a.state is AlertState.FIRING]
        counts = Counter((a.rule, a.level) for a in alerts)
        for (rule, level), n in sorted(counts.items()):
            firing.add_metric([rule, level], n)
        yield firing
        muted = GaugeMetricFamily(f"{PREFIX}_alerts_muted", "Alerts firing but not notified, by why", labels=["reason"])
        reasons = Counter(a.muted.reason for a in alerts if a.muted is not None)
        for reason in MUTE_REASONS:
            muted.add_metric([reason], reasons[reason])
        yield muted


def make_registry(
    store: Store, helpdesks: Sequence[str], clock: Callable[[], datetime]
) -> tuple[CollectorRegistry, Instruments]:
    registry = CollectorRegistry()
    registry.register(StoreCollector(store, helpdesks, clock))
    return registry, Instruments(registry)


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)

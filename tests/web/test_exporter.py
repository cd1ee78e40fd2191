"""/metrics as a table: every metric family the exporter writes, its type, and each label set with its
value, parsed back with prometheus_client's own parser over a store on disk in a known state."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from backlog_watch.kpis import METRICS, kpis_by_scope
from backlog_watch.models import Alert, AlertState, Muted, Status, fingerprint, labels_of
from backlog_watch.store.history import History
from backlog_watch.store.sqlite import SqliteStore
from backlog_watch.web.exporter import PREFIX, exposition, make_registry
from tests.factories import NOW, snapshot_of, ticket

EVALUATED = NOW - timedelta(minutes=1)
TICKETS = [
    ticket(group="Billing", age=timedelta(hours=5)),
    ticket(group="Billing", assignee=None),
    ticket(group=None, status=Status.PENDING),
]
KPIS = kpis_by_scope(snapshot_of(EVALUATED, ["zendesk", "jira"], TICKETS), EVALUATED)
ZD, JIRA = (("helpdesk", "zendesk"),), (("helpdesk", "jira"),)
BILLING, NO_GROUP = (("group", "Billing"), ("helpdesk", "zendesk")), (("group", "(none)"), ("helpdesk", "zendesk"))

LabelSet = tuple[tuple[str, str], ...]


def _alert(rule: str, level: str, state: AlertState, muted: Muted | None = None) -> Alert:
    labels = labels_of({"helpdesk": "zendesk"})
    return Alert(
        fingerprint(rule, labels), rule, labels, state, level, 1.0, 0.0, f"{rule} is off", (), 1,  # type: ignore[arg-type]
        NOW - timedelta(hours=1), NOW - timedelta(hours=1), muted=muted,
    )  # fmt: skip


@pytest.fixture(scope="module")
def families(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[str, list[Sample]]]]:
    """The scrape of a store where zendesk polls fine and jira fails, two alerts fire (one silenced)
    and one is resolved, and the daemon has counted polls (a jira one skipped), two evaluations,
    notifications, a report and a hook, and holds two helpdesk leases and the evaluator's (one taken
    over), redelivered one notification and started two polls late (0.02 s and 3 s)."""
    store = SqliteStore(tmp_path_factory.mktemp("exporter") / "bw.db")
    store.record_poll("zendesk", NOW - timedelta(minutes=2))
    store.record_poll("jira", NOW - timedelta(minutes=2), error="502 Bad Gateway")
    History(store).record(EVALUATED, KPIS)
    alerts = [
        _alert("backlog-size", "critical", AlertState.FIRING),
        _alert("unassigned", "warn", AlertState.FIRING, Muted("silenced", "by 1a2b3c4d (alice: triage)")),
        _alert("old-tickets", "warn", AlertState.RESOLVED),
    ]
    store.save_alerts({a.fingerprint: a for a in alerts})
    registry, instruments = make_registry(store, ["zendesk", "jira"], lambda: NOW)
    instruments.polled("zendesk", 0.3, ok=True)
    instruments.polled("jira", 12.0, ok=False)
    instruments.delivered(sent=["console"], failed=["slack"])
    instruments.reports_sent.labels("daily", "email").inc()
    instruments.hooks.labels("zendesk").inc()
    instruments.poll_skipped("jira")
    instruments.evaluated()
    instruments.evaluated()
    instruments.leases(helpdesks=2, evaluator=1, takeovers=1)
    instruments.redelivered(1)
    instruments.poll_started(0.02)
    instruments.poll_started(3.0)
    text = exposition(registry).decode()
    yield {f.name: (f.type, f.samples) for f in text_string_to_metric_families(text)}
    store.close()


def _values(samples: list[Sample], name: str) -> dict[LabelSet, float]:
    return {tuple(sorted(s.labels.items())): s.value for s in samples if s.name == name}


def _kpi_rows() -> list[tuple[str, str, str, dict[LabelSet, float]]]:
    rows = []
    for metric in METRICS:
        per_helpdesk: dict[LabelSet, float] = {scope: KPIS[scope][metric] for scope in (ZD, JIRA)}
        per_group: dict[LabelSet, float] = {scope: KPIS[scope][metric] for scope in (BILLING, NO_GROUP)}
        rows.append((f"{PREFIX}_{metric}", "gauge", f"{PREFIX}_{metric}", per_helpdesk))
        rows.append((f"{PREFIX}_group_{metric}", "gauge", f"{PREFIX}_group_{metric}", per_group))
    return rows


def _firing(rule: str, level: str) -> LabelSet:
    return (("level", level), ("rule", rule))


TABLE: list[tuple[str, str, str, dict[LabelSet, float]]] = [
    # (family, type, the sample read, {label set: value})
    (f"{PREFIX}_kpis_timestamp_seconds", "gauge", f"{PREFIX}_kpis_timestamp_seconds",
     {ZD: EVALUATED.timestamp(), JIRA: EVALUATED.timestamp()}),
    *_kpi_rows(),
    (f"{PREFIX}_last_success_timestamp_seconds", "gauge", f"{PREFIX}_last_success_timestamp_seconds",
     {ZD: (NOW - timedelta(minutes=2)).timestamp()}),  # jira never succeeded: no sample
    (f"{PREFIX}_poll_consecutive_failures", "gauge", f"{PREFIX}_poll_consecutive_failures", {ZD: 0, JIRA: 1}),
    (f"{PREFIX}_helpdesk_up", "gauge", f"{PREFIX}_helpdesk_up", {ZD: 1, JIRA: 0}),
    (f"{PREFIX}_alerts_firing", "gauge", f"{PREFIX}_alerts_firing",
     {_firing("backlog-size", "critical"): 1, _firing("unassigned", "warn"): 1}),  # the resolved one is not
    (f"{PREFIX}_alerts_muted", "gauge", f"{PREFIX}_alerts_muted",
     {(("reason", "silenced"),): 1, (("reason", "inhibited"),): 0, (("reason", "quiet_hours"),): 0,
      (("reason", "time_interval"),): 0}),
    (f"{PREFIX}_poll_duration_seconds", "histogram", f"{PREFIX}_poll_duration_seconds_count", {ZD: 1, JIRA: 1}),
    (f"{PREFIX}_poll_errors", "counter", f"{PREFIX}_poll_errors_total", {ZD: 0, JIRA: 1}),
    (f"{PREFIX}_polls_skipped", "counter", f"{PREFIX}_polls_skipped_total", {ZD: 0, JIRA: 1}),
    (f"{PREFIX}_evaluations", "counter", f"{PREFIX}_evaluations_total", {(): 2}),
    (f"{PREFIX}_notifications_sent", "counter", f"{PREFIX}_notifications_sent_total", {(("notifier", "console"),): 1}),
    (f"{PREFIX}_notifications_failed", "counter", f"{PREFIX}_notifications_failed_total",
     {(("notifier", "slack"),): 1}),
    (f"{PREFIX}_reports_sent", "counter", f"{PREFIX}_reports_sent_total",
     {(("notifier", "email"), ("report", "daily")): 1}),
    (f"{PREFIX}_reports_failed", "counter", f"{PREFIX}_reports_failed_total", {}),
    (f"{PREFIX}_hooks_received", "counter", f"{PREFIX}_hooks_received_total", {ZD: 1}),
    (f"{PREFIX}_leases_held", "gauge", f"{PREFIX}_leases_held",
     {(("kind", "helpdesk"),): 2, (("kind", "evaluator"),): 1}),
    (f"{PREFIX}_lease_takeovers", "counter", f"{PREFIX}_lease_takeovers_total", {(): 1}),
    (f"{PREFIX}_redeliveries", "counter", f"{PREFIX}_redeliveries_total", {(): 1}),
    (f"{PREFIX}_poll_start_delay_seconds", "histogram", f"{PREFIX}_poll_start_delay_seconds_sum", {(): 3.02}),
]  # fmt: skip


@pytest.mark.parametrize(("family", "kind", "sample", "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_each_family_has_its_type_label_sets_and_values(
    families: dict[str, tuple[str, list[Sample]]], family: str, kind: str, sample: str, expected: dict[LabelSet, float]
) -> None:
    assert family in families, f"{family} is not exposed"
    found_kind, samples = families[family]
    assert found_kind == kind
    found = _values(samples, sample)
    assert found.keys() == expected.keys()
    for labels, value in expected.items():
        assert found[labels] == value or (math.isinf(value) and math.isinf(found[labels])), labels


def test_the_table_covers_every_family_exposed(families: dict[str, tuple[str, list[Sample]]]) -> None:
    """Nothing exposed escapes the table; the text format adds a ``_created`` gauge per counted series."""
    created = {f"{family}_created": expected for family, kind, _, expected in TABLE if kind != "gauge" and expected}
    assert set(families) == {row[0] for row in TABLE} | set(created)
    for name, expected in created.items():
        assert families[name][0] == "gauge" and _values(families[name][1], name).keys() == expected.keys()


def test_the_histogram_buckets_count_the_poll_durations(families: dict[str, tuple[str, list[Sample]]]) -> None:
    _, samples = families[f"{PREFIX}_poll_duration_seconds"]
    buckets = {
        (s.labels["helpdesk"], s.labels["le"]): s.value for s in samples if s.name.endswith("_bucket")
    }  # cumulative
    assert buckets[("zendesk", "0.25")] == 0 and buckets[("zendesk", "0.5")] == 1
    assert buckets[("jira", "10.0")] == 0 and buckets[("jira", "30.0")] == 1 and buckets[("jira", "+Inf")] == 1
    assert _values(samples, f"{PREFIX}_poll_duration_seconds_sum") == {ZD: 0.3, JIRA: 12.0}

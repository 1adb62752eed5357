"""The per-queue families of /metrics, written by durable_queue/monitoring/text.py, are
the text prometheus_client writes from the same numbers as metric families."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.utils import floatToGoString

from durable_queue.monitoring.metrics import (
    COUNTERS,
    DATABASE_UP_HELP,
    GAUGES,
    KEY_CLAIMED_HELP,
    LISTENER_HELP,
    MAX_CONCURRENCY_HELP,
    PREFIX,
    queue_families,
)
from durable_queue.monitoring.store import QueueGauges
from durable_queue.monitoring.text import number


class Reference:
    """The families as prometheus_client metric families (what metrics.py yielded)."""

    def __init__(self, queues: list[QueueGauges], database_up: bool, listener: bool) -> None:
        self.queues, self.database_up, self.listener = queues, database_up, listener

    def collect(self):
        for suffix, field, help_text in GAUGES:
            family = GaugeMetricFamily(f"{PREFIX}_{suffix}", help_text, labels=["queue"])
            for q in self.queues:
                family.add_metric([q.queue_name], getattr(q, field) or 0)
            yield family
        family = GaugeMetricFamily(
            f"{PREFIX}_max_concurrency", MAX_CONCURRENCY_HELP, labels=["queue"]
        )
        for q in self.queues:
            if q.max_concurrency is not None:
                family.add_metric([q.queue_name], q.max_concurrency)
        yield family
        family = GaugeMetricFamily(
            f"{PREFIX}_key_claimed_runs", KEY_CLAIMED_HELP, labels=["queue", "key"]
        )
        for q in self.queues:
            for key, claimed in q.busiest_keys:
                family.add_metric([q.queue_name, key], claimed)
        yield family
        for suffix, field, help_text in COUNTERS:
            family = CounterMetricFamily(f"{PREFIX}_{suffix}", help_text, labels=["queue"])
            for q in self.queues:
                family.add_metric([q.queue_name], getattr(q, field))
            yield family
        yield GaugeMetricFamily(
            f"{PREFIX}_database_up", DATABASE_UP_HELP, value=1 if self.database_up else 0
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_listener_connected", LISTENER_HELP, value=1 if self.listener else 0
        )


def reference_text(queues: list[QueueGauges], database_up: bool, listener: bool) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Reference(queues, database_up, listener))
    return generate_latest(registry).decode()


def gauges(name: str, n: int, age: float | None) -> QueueGauges:
    return QueueGauges(
        queue_name=name, pending=n, scheduled=n // 3, claimed=7, sleeping=0,
        oldest_pending_age_seconds=age, tasks_created=n * 1000, runs_completed=n * 999,
        runs_failed=12_345_678, runs_expired=0, runs_retried=-1 if n == 5 else 1,
        max_concurrency=None if n == 0 else min(n, 1_000_000), paused=n == 5,
        held_back=n // 7,
        busiest_keys=() if n == 0 else (
            (f"key-{n}", 3), ('k "q" \\ \n\nnl', 2), ("ünï ✓", 1)
        ),
    )  # fmt: skip


QUEUES = [
    gauges("plain", 0, None),
    gauges('quote " back \\ slash \\n and\nnewline', 5, 0.25),
    gauges("ünïcode ✓", 999_999, 123456.789),
    gauges("big", 1_000_000, 1e-7),
    gauges("huge", 10**17, 3e21),
]


@pytest.mark.parametrize("database_up,listener", [(True, True), (False, False)])
def test_the_text_is_prometheus_clients(database_up: bool, listener: bool) -> None:
    for queues in ([], QUEUES):
        expected = reference_text(queues, database_up, listener)
        assert queue_families(queues, database_up, listener) == expected


@pytest.mark.parametrize(
    "value",
    [0, 1, -1, 999_999, 1_000_000, 1_234_567, -(10**15) + 1, -(10**15), 10**20, 0.5, 1e-7,
     1234567.5, float("inf"), float("-inf"), float("nan"), True, False],
)  # fmt: skip
def test_numbers_are_written_as_prometheus_client_writes_them(value: float) -> None:
    assert number(value) == floatToGoString(value)

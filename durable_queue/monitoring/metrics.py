"""Prometheus metrics of one server process, on a registry of its own (one per app).

Per-queue gauges and counters are read from the database, one statement per
scrape cached for a second (`QueueSnapshot`), so every process answers the same
numbers: the counters are the totals that the sampler counts from the rows
themselves (monotonic, shared by every process, surviving restarts; they trail
the rows by the sample interval plus a settle time). The schedule families come
from the same snapshot (a second statement): sums over the schedules rows per queue,
so deleting a schedule lowers them (Prometheus reads a reset). The HTTP, claim-wake
and schedule-lateness histograms and `listener_connected` are this process's own:
sum them across processes in Prometheus.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from durable_queue.errors import Unavailable
from durable_queue.monitoring.store import (
    BUSIEST_KEYS,
    MonitoringStore,
    QueueGauges,
    ScheduleTotals,
)
from durable_queue.monitoring.text import escape_label_value, family

PREFIX = "durable_queue"
SNAPSHOT_SECONDS = 1.0

# (metric suffix, QueueGauges field, help)
GAUGES = (
    ("pending_runs", "pending", "Pending runs, due or not."),
    ("scheduled_runs", "scheduled", "Pending runs not yet due (run_at, retry backoff)."),
    ("claimed_runs", "claimed", "Runs claimed by a worker."),
    ("sleeping_runs", "sleeping", "Runs sleeping on an event wait."),
    (
        "oldest_pending_run_age_seconds",
        "oldest_pending_age_seconds",
        "Seconds since the oldest due pending run became available (0 when none is due).",
    ),
    (
        "held_back_runs",
        "held_back",
        "Due pending runs a claim cannot take now: the queue is paused or at its concurrency "
        "limit, or their key is at its limit (rate limits are not counted).",
    ),
    ("paused", "paused", "1 while the queue is paused (it hands out no runs), else 0."),
)
# Only for the queues that have a limit.
MAX_CONCURRENCY_HELP = (
    "The queue's concurrency limit: runs claimed at once, fleet-wide (compare with "
    "claimed_runs); absent when the queue has none."
)
# Only for each queue's BUSIEST_KEYS keys with claimed runs: at most that many per queue.
KEY_CLAIMED_HELP = (
    f"Claimed runs of a concurrency key, for the {BUSIEST_KEYS} keys of each queue with the most "
    "(keys outside them, or with none claimed, have no series)."
)
COUNTERS = (
    ("tasks_created", "tasks_created", "Tasks created."),
    ("runs_completed", "runs_completed", "Runs completed."),
    ("runs_failed", "runs_failed", "Runs failed by their worker (explicit fail)."),
    ("runs_expired", "runs_expired", "Runs whose claim expired."),
    ("runs_retried", "runs_retried", "Retry runs created (attempt 2 and later)."),
)
# Sums over the schedules rows of each queue (ScheduleTotals field, help).
SCHEDULE_COUNTERS = (
    (
        "schedule_fires",
        "fires",
        "Tasks made by the queue's schedules (slots fired, triggers, backfills), summed over "
        "the schedules that exist: deleting a schedule lowers it (read as a counter reset).",
    ),
    (
        "schedule_missed_slots",
        "missed",
        "Due slots of the queue's schedules that did not fire (outside the catch-up window or "
        "its policy), summed over the schedules that exist: deleting one lowers it.",
    ),
    (
        "schedule_skipped_slots",
        "skipped",
        "Slots of the queue's schedules skipped by their overlap policy, summed over the "
        "schedules that exist: deleting one lowers it.",
    ),
)
SCHEDULES_HELP = (
    "Schedules of the queue by state: paused, or active (not paused; one past its end_at "
    "that fires no more is still active)."
)
SCHEDULE_STATES = ("active", "paused")
DATABASE_UP_HELP = (
    "1 when this process's last per-queue query was answered, else 0 (no per-queue numbers then)."
)
LISTENER_HELP = "1 while this process's LISTEN connection (long-poll wake-ups) is up, else 0."
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
WAKE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
# slot to task creation: a few ms on time, up to the 10-s grace, a catch-up's minutes in +Inf
LATENESS_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
)  # fmt: skip


class QueueSnapshot:
    """The per-queue numbers (gauges and totals by one statement, schedule totals by a
    second on the same connection), fetched at most once per `max_age` seconds;
    concurrent callers share one fetch. While the database cannot answer there are no
    per-queue numbers (rather than stale ones) and `database_up` is False, so a scrape
    still reports this process's own metrics."""

    def __init__(self, store: MonitoringStore, max_age: float = SNAPSHOT_SECONDS) -> None:
        self.store = store
        self.max_age = max_age
        self.queues: list[QueueGauges] = []
        self.schedules: list[ScheduleTotals] = []
        self.database_up = True
        self._taken_at = -float("inf")
        self._lock = asyncio.Lock()

    async def get(self) -> list[QueueGauges]:
        async with self._lock:
            if time.monotonic() - self._taken_at >= self.max_age:
                try:
                    self.queues, self.schedules = await self.store.snapshot()
                    self.database_up = True
                except Unavailable:
                    self.queues, self.schedules, self.database_up = [], [], False
                self._taken_at = time.monotonic()
            return self.queues


def queue_families(queues: list[QueueGauges], database_up: bool, listener_connected: bool) -> str:
    """The per-queue families of a snapshot, then `database_up` and `listener_connected`,
    as prometheus_client would write them from metric families (durable_queue/monitoring/
    text.py says why they are written here)."""
    labels = [f'{{queue="{escape_label_value(q.queue_name)}"}}' for q in queues]
    parts = [
        family(
            f"{PREFIX}_{suffix}",
            "gauge",
            help_text,
            zip(labels, [getattr(q, field) or 0 for q in queues], strict=True),
        )
        for suffix, field, help_text in GAUGES
    ]
    parts.append(
        family(
            f"{PREFIX}_max_concurrency",
            "gauge",
            MAX_CONCURRENCY_HELP,
            [
                (label, q.max_concurrency)
                for label, q in zip(labels, queues, strict=True)
                if q.max_concurrency is not None
            ],
        )
    )
    parts.append(
        family(
            f"{PREFIX}_key_claimed_runs",
            "gauge",
            KEY_CLAIMED_HELP,
            [
                # labels in name order, as prometheus_client writes them
                (f'{{key="{escape_label_value(key)}",{label[1:]}', claimed)
                for label, q in zip(labels, queues, strict=True)
                for key, claimed in q.busiest_keys
            ],
        )
    )
    parts += [
        family(
            f"{PREFIX}_{suffix}_total",
            "counter",
            help_text,
            zip(labels, [getattr(q, field) for q in queues], strict=True),
        )
        for suffix, field, help_text in COUNTERS
    ]
    parts.append(family(f"{PREFIX}_database_up", "gauge", DATABASE_UP_HELP, [("", database_up)]))
    parts.append(
        family(f"{PREFIX}_listener_connected", "gauge", LISTENER_HELP, [("", listener_connected)])
    )
    return "".join(parts)


def schedule_families(schedules: list[ScheduleTotals]) -> str:
    """The schedule families: the counters of each queue with schedules, then the number
    of its schedules by state (labels in name order, as prometheus_client writes them)."""
    labels = [f'{{queue="{escape_label_value(s.queue_name)}"}}' for s in schedules]
    parts = [
        family(
            f"{PREFIX}_{suffix}_total",
            "counter",
            help_text,
            zip(labels, [getattr(s, field) for s in schedules], strict=True),
        )
        for suffix, field, help_text in SCHEDULE_COUNTERS
    ]
    parts.append(
        family(
            f"{PREFIX}_schedules",
            "gauge",
            SCHEDULES_HELP,
            [
                (f'{label[:-1]},state="{state}"}}', getattr(s, state))
                for label, s in zip(labels, schedules, strict=True)
                for state in SCHEDULE_STATES
            ],
        )
    )
    return "".join(parts)


class Metrics:
    """The metrics of one app: database-derived families (from the snapshot) and this
    process's histograms (on a registry of its own)."""

    def __init__(self, store: MonitoringStore, listener_connected: Callable[[], bool]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.snapshot = QueueSnapshot(store)
        self.listener_connected = listener_connected
        self.http_duration = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "HTTP request duration by method, route template and status (this process).",
            ["method", "route", "status"],
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self.claim_wake = Histogram(
            f"{PREFIX}_claim_wake_seconds",
            "Seconds from a sleeping long-poll claim being woken to its claim answering "
            "with runs (this process).",
            buckets=WAKE_BUCKETS,
            registry=self.registry,
        )
        self.schedule_lateness = Histogram(
            f"{PREFIX}_schedule_lateness_seconds",
            "Seconds from a schedule's slot to its task's creation, for the slots this "
            "process's scheduler fired (this process).",
            buckets=LATENESS_BUCKETS,
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The text exposition: the snapshot's families (the schedules' last), then the
        histograms."""
        text = queue_families(
            self.snapshot.queues, self.snapshot.database_up, self.listener_connected()
        ) + schedule_families(self.snapshot.schedules)
        return text.encode() + generate_latest(self.registry)

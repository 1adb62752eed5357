"""The scheduler: fires the slots of schedules (docs/schedules.md), in one elected process.

Every server runs the loop; the holder of the scheduler's advisory lock fires. A pass
reads the due schedules (index schedules_due, earliest first, in batches), plans each
one's fires on the database's clock (`schedule_plan`), and fires the plans in one
statement per batch; then it fires buffered slots whose last task has finished, and
arms its timer for the earliest next slot. A notification (a schedule created or
changed, a schedule's task finished) or a listener reconnect wakes it early, so it never
polls the schedules: with nothing due, a pass reads one row of the index.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import aiopg

from durable_queue.db import queries
from durable_queue.elected import ElectedLoop
from durable_queue.schedule_plan import FirePlan, plan_fires
from durable_queue.schedule_store import ScheduleStore, calendar_of_row

log = logging.getLogger("durable_queue.scheduler")
SCHEDULER_APPLICATION_NAME = "durable-queue-scheduler"
MAX_BATCHES_PER_PASS = 20  # due schedules a pass fires: this many batches, the rest next pass
# The longest the timer sleeps: the lock connection is checked at least this often.
MAX_SLEEP_SECONDS = 30.0
# Wake this much after the next slot: the database's now() is then past it.
TIMER_MARGIN_SECONDS = 0.001


class Scheduler(ElectedLoop):
    """The scheduler of one server process."""

    job = "scheduler"
    role = "scheduler"
    application_name = SCHEDULER_APPLICATION_NAME
    log = log

    def __init__(
        self,
        pool: aiopg.Pool,
        dsn: str,
        *,
        standby_interval: float,
        grace_seconds: float,
        batch_size: int = 500,
    ) -> None:
        super().__init__(dsn, interval=standby_interval)
        self.store = ScheduleStore(pool)
        self.grace_seconds = grace_seconds
        self.batch_size = batch_size
        # called with each fired slot's lateness in seconds (the /metrics histogram)
        self.lateness_observers: list[Callable[[float], None]] = []

    async def try_lock(self, conn: aiopg.Connection) -> bool:
        return bool(await queries.try_lock_scheduler(conn))

    async def one_pass(self) -> float | None:
        """Fire what is due; the seconds until the next slot (None: no slot is ahead)."""
        await self.fire_due()
        await self.store.release_buffered(self.batch_size)
        return await self.store.seconds_until_next_slot()

    def seconds_to_next_pass(self, outcome: object) -> float:
        if not isinstance(outcome, float | int):
            return MAX_SLEEP_SECONDS
        return min(max(float(outcome), 0.0) + TIMER_MARGIN_SECONDS, MAX_SLEEP_SECONDS)

    async def fire_due(self) -> int:
        """Fire the due schedules' slots, in batches; how many tasks were made."""
        made = 0
        for _ in range(MAX_BATCHES_PER_PASS):
            rows = await self.store.due(self.batch_size)
            if not rows:
                break
            plans = []
            for row in rows:
                try:
                    plans.append((row, self._plan(row)))
                except Exception as exc:  # e.g. a time zone this machine's tzdata lacks
                    log.exception("schedule cannot be planned", extra={"id": str(row["id"])})
                    await self.store.pause(row["id"], f"paused: its calendar failed ({exc})")
            for result in await self.store.fire(plans):
                made += result["fired"]
                for seconds in result["lateness"] or ():
                    for observe in self.lateness_observers:
                        observe(seconds)
            missed = sum(plan.missed for _, plan in plans)
            if missed:
                log.warning("schedules missed slots", extra={"missed": missed})
            if len(rows) < self.batch_size:
                break
        return made

    def _plan(self, row: dict) -> FirePlan:
        return plan_fires(
            calendar_of_row(row),
            row["next_fire_at"],
            row["database_now"],
            grace=self.grace_seconds,
            catchup=row["catchup"],
            catchup_window_seconds=row["catchup_window_seconds"],
        )

"""A schedule declared beside its task: a report every morning at 07:00 in Amsterdam.

    durable-queue serve                    # in another terminal
    python examples/nightly_report.py      # --server URL

The worker declares the schedule with its handler (`@worker.task(..., schedule=
Schedule(cron="0 7 * * *", timezone="Europe/Amsterdam"))`) and creates or updates it on
the server when it starts, before its first claim. Every slot then makes one task,
whichever of your servers holds the scheduler and however many workers declare it;
the handler reads its slot from `ctx.scheduled_for` (UTC) and reports on that day.

So that you need not wait for 07:00, the script shows the next fire times, triggers
the schedule once (a task now, as if a slot had come), waits for the report, and
deletes the schedule at the end (a real deployment keeps it: the worker re-declares
it at every start). The same by hand, while a worker runs:

    curl -s 'localhost:8080/api/v1/schedules/examples-nightly-report?preview=3'
    curl -s -X POST localhost:8080/api/v1/schedules/examples-nightly-report/trigger
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
from typing import Any
from zoneinfo import ZoneInfo

from durable_queue_client import (
    Conflict,
    DurableClient,
    NotFound,
    Schedule,
    ScheduleInfo,
    TaskContext,
    Worker,
    wait_for_task,
)

QUEUE = "examples-nightly-report"
SCHEDULE = "examples-nightly-report"
ZONE = "Europe/Amsterdam"


async def count_orders(day: dt.date) -> int:
    """Stands in for the query a real report would run."""
    return 40 + day.toordinal() % 7


def make_worker(client: DurableClient) -> Worker:
    worker = Worker(client, QUEUE, concurrency=2, claim_timeout=30)

    @worker.task("report", schedule=Schedule(name=SCHEDULE, cron="0 7 * * *", timezone=ZONE))
    async def report(ctx: TaskContext, params: dict[str, Any]) -> dict[str, Any]:
        # The slot this task is for (UTC); a task created by hand has none: use now.
        slot = ctx.scheduled_for or dt.datetime.now(dt.UTC)
        day = slot.astimezone(ZoneInfo(ZONE)).date()
        orders = await ctx.step("count", lambda: count_orders(day))  # checkpointed
        return {"day": day.isoformat(), "orders": orders, "schedule": ctx.schedule_name}

    return worker


async def declared(client: DurableClient, running: asyncio.Task[None]) -> ScheduleInfo:
    """The schedule once the starting worker has upserted it."""
    while True:
        if running.done():
            running.result()  # the worker ended: raise its error (a bad cron, say)
            raise RuntimeError("the worker stopped before declaring its schedule")
        with contextlib.suppress(NotFound):
            return await client.get_schedule(SCHEDULE, preview=3)
        await asyncio.sleep(0.1)


async def main(server: str) -> None:
    async with DurableClient(server) as client:
        with contextlib.suppress(Conflict):
            await client.create_queue(QUEUE)
        with contextlib.suppress(NotFound):  # left by an interrupted run
            await client.delete_schedule(SCHEDULE)
        worker = make_worker(client)
        running = asyncio.create_task(worker.run())
        try:
            schedule = await declared(client, running)
            print(f"schedule {schedule.name}: {schedule.cron} in {schedule.timezone}")
            local = [
                t.astimezone(ZoneInfo(ZONE)).strftime("%a %d %b %H:%M %Z")
                for t in schedule.upcoming or []
            ]
            print("next fire times:", ", ".join(local))
            triggered = await client.trigger_schedule(SCHEDULE)
            print(
                f"triggered: task {triggered.task_id} for slot {triggered.scheduled_for.isoformat()}"
            )
            detail = await wait_for_task(client, triggered.task_id)
            print(f"{detail.status}: {detail.result}")
            after = await client.get_schedule(SCHEDULE)
            print(f"last task {after.last_task_id}: {after.last_task_status}")
        finally:
            worker.stop()
            await running
            with contextlib.suppress(NotFound):
                await client.delete_schedule(SCHEDULE)
        print("deleted the schedule (a real deployment keeps it)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--server", default=os.environ.get("DURABLE_SERVER", "http://localhost:8080")
    )
    asyncio.run(main(parser.parse_args().server))

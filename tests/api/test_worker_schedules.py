"""Schedules declared in the worker SDK, against the real server: two workers starting
together with the same declaration leave exactly one schedule; a task the schedule makes
(here by its trigger endpoint, rather than waiting for a clock) reaches the handler with
`ctx.schedule_name` and `ctx.scheduled_for`; a declaration the server refuses ends
`run()` before any claim; a task made by hand has no slot."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from durable_queue_client import (
    DurableClient,
    Schedule,
    TaskContext,
    ValidationError,
    Worker,
)

from tests.helpers import eventually
from tests.worker_fixtures import finished, running

YEARLY = Schedule(cron="0 0 1 1 *", timezone="Europe/Amsterdam", params={"kind": "yearly"})


@pytest.fixture
async def dq(server_url: str) -> AsyncIterator[DurableClient]:
    async with DurableClient(server_url, retries=0) as client:
        yield client


def report_worker(client: DurableClient, seen: list[dict[str, Any]]) -> Worker:
    worker = Worker(client, "reports", long_poll_seconds=2)

    @worker.task("report", schedule=YEARLY)
    async def report(ctx: TaskContext, params: Any) -> dict[str, Any]:
        slot = ctx.scheduled_for
        seen.append({"schedule": ctx.schedule_name, "slot": slot, "params": params})
        return {"slot": slot.isoformat() if slot else None}

    return worker


def test_the_declaration_is_registered_with_the_handler(dq: DurableClient) -> None:
    worker = report_worker(dq, [])
    [(name, definition)] = worker.schedules.items()
    assert name == "report"
    assert (definition.queue, definition.task_name, definition.cron) == (
        "reports",
        "report",
        "0 0 1 1 *",
    )

    async def handler(ctx: TaskContext, params: Any) -> None:
        return None

    with pytest.raises(ValueError, match="schedule named 'report' is already declared"):
        worker.register("other", handler, schedule=Schedule(name="report", interval_seconds=5))
    assert "other" not in worker.handlers  # a refused registration leaves nothing behind


async def test_two_workers_leave_one_schedule_and_its_task_reaches_the_handler(
    dq: DurableClient, server_url: str
) -> None:
    seen: list[dict[str, Any]] = []
    # each worker with a client of its own, as two processes would have
    async with (
        DurableClient(server_url, retries=0) as one,
        DurableClient(server_url, retries=0) as two,
    ):
        first, second = report_worker(one, seen), report_worker(two, seen)
        runs = [asyncio.create_task(w.run(handle_signals=False)) for w in (first, second)]
        try:

            def claiming() -> bool:
                for run in runs:
                    if run.done():
                        run.result()  # a failed start fails the test with its error
                return first.claiming and second.claiming

            # both have upserted: it comes before the first claim
            await eventually(claiming, what="both workers to claim")
            page = await dq.list_schedules()
            assert [s.name for s in page.schedules] == ["report"]
            [schedule] = page.schedules
            assert (schedule.queue, schedule.task_name, schedule.timezone) == (
                "reports",
                "report",
                "Europe/Amsterdam",
            )

            triggered = await dq.trigger_schedule("report")
            detail = await finished(dq, triggered.task_id)
        finally:
            for worker in (first, second):
                worker.stop(now=True)
            await asyncio.gather(*runs)
    assert detail.status == "completed"
    assert seen == [
        {"schedule": "report", "slot": triggered.scheduled_for, "params": {"kind": "yearly"}}
    ]
    assert isinstance(seen[0]["slot"], dt.datetime) and seen[0]["slot"].tzinfo is not None
    assert detail.result == {"slot": triggered.scheduled_for.isoformat()}
    assert (await dq.get_schedule("report")).last_task_status == "completed"


async def test_a_task_made_by_hand_has_no_slot(dq: DurableClient) -> None:
    seen: list[dict[str, Any]] = []
    worker = report_worker(dq, seen)
    async with running(worker):
        created = await dq.create_task("reports", "report", params={"kind": "manual"})
        await finished(dq, created.task_id)
    assert seen == [{"schedule": None, "slot": None, "params": {"kind": "manual"}}]


async def test_a_refused_declaration_ends_run_before_any_claim(dq: DurableClient) -> None:
    worker = Worker(dq, "reports", long_poll_seconds=2)

    @worker.task("broken", schedule=Schedule(cron="99 * * * *"))
    async def broken(ctx: TaskContext, params: Any) -> None:
        raise AssertionError("never claimed")

    await dq.create_queue("reports")
    await dq.create_task("reports", "broken")
    with pytest.raises(ValidationError, match="cron"):
        await asyncio.wait_for(worker.run(handle_signals=False), timeout=10)
    assert not worker.claiming
    assert (await dq.get_queue_stats("reports")).claimed_runs == 0
    assert (await dq.list_schedules()).schedules == []

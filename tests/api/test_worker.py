"""The worker SDK (durable_queue_client.worker) against the real server and PostgreSQL:
steps, event waits, durable sleeps, failures and retries, concurrency, graceful stop,
heartbeats and claim tokens. Workers run in the test's event loop; synchronisation polls
observable state (task and run status, in-flight counts) with a deadline."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from durable_queue_client import (
    DurableClient,
    RetryStrategy,
    TaskContext,
    WaitTimeout,
    Worker,
    wait_for_task,
)
from durable_queue_client.worker import describe_error

from tests.helpers import eventually
from tests.worker_fixtures import TokenLog, finished, running, token_recorder

NO_DELAY = RetryStrategy(kind="fixed", base_seconds=0)


@pytest.fixture
async def dq(server_url: str) -> AsyncIterator[DurableClient]:
    async with DurableClient(server_url, retries=0) as client:
        yield client


def worker_of(dq: DurableClient, queue: str = "w", **options: Any) -> Worker:
    options.setdefault("long_poll_seconds", 2)
    return Worker(dq, queue, **options)


async def run_statuses(dq: DurableClient, task_id: str) -> list[tuple[int, str]]:
    page = await dq.list_runs(task_id=task_id)
    return sorted((run.attempt, run.status) for run in page.runs)


# -- completing and failing ---------------------------------------------------------------


async def test_return_value_completes_the_run(dq: DurableClient) -> None:
    worker = worker_of(dq)
    seen: list[tuple[str, int, dict[str, str]]] = []

    @worker.task()
    async def double(ctx: TaskContext, params: dict[str, int]) -> dict[str, int]:
        seen.append((ctx.task_name, ctx.attempt, ctx.headers))
        assert ctx.params == params
        return {"twice": params["n"] * 2}

    async with running(worker):
        created = [
            await dq.create_task("w", "double", params={"n": n}, headers={"k": "v"})
            for n in range(3)
        ]
        details = [await finished(dq, c.task_id) for c in created]
    assert [(d.status, d.result) for d in details] == [
        ("completed", {"twice": 0}),
        ("completed", {"twice": 2}),
        ("completed", {"twice": 4}),
    ]
    assert seen == [("double", 1, {"k": "v"})] * 3
    assert await wait_for_task(dq, created[0].task_id) == details[0]


async def test_exception_fails_with_type_message_and_traceback_and_retries(
    dq: DurableClient,
) -> None:
    worker = worker_of(dq)
    errors: list[BaseException] = []
    worker.on_error = lambda ctx, exc: errors.append(exc)

    @worker.task()
    async def flaky(ctx: TaskContext, params: Any) -> str:
        if ctx.attempt == 1:
            raise RuntimeError("boom on the first attempt")
        return f"ok on attempt {ctx.attempt}"

    async with running(worker):
        retried = await dq.create_task("w", "flaky", max_attempts=2, retry_strategy=NO_DELAY)
        detail = await finished(dq, retried.task_id)
    assert (detail.status, detail.result) == ("completed", "ok on attempt 2")
    first, second = sorted(detail.runs, key=lambda run: run.attempt)
    assert (first.status, second.status) == ("failed", "completed")
    assert first.error is not None
    assert first.error.startswith("RuntimeError: boom on the first attempt\nTraceback")
    assert "Traceback (most recent call last)" in first.error
    assert "in flaky" in first.error
    assert [type(e) for e in errors] == [RuntimeError]


async def test_backoff_applies_to_the_retry(dq: DurableClient) -> None:
    """A retry an hour away is not claimed by the running worker: it waits, scheduled."""
    worker = worker_of(dq)

    @worker.task()
    async def always_fails(ctx: TaskContext, params: Any) -> None:
        raise ValueError("nope")

    hour = RetryStrategy(kind="fixed", base_seconds=3600)
    async with running(worker):
        created = await dq.create_task("w", "always_fails", max_attempts=3, retry_strategy=hour)

        async def scheduled_retry() -> bool:
            return await run_statuses(dq, created.task_id) == [(1, "failed"), (2, "pending")]

        await eventually(scheduled_retry, what="the retry to be scheduled")
        stats = await dq.get_queue_stats("w")
        assert (stats.scheduled_runs, stats.claimed_runs) == (1, 0)
    detail = await dq.get_task(created.task_id)
    assert detail.status == "pending"


async def test_last_failure_fails_the_task(dq: DurableClient) -> None:
    worker = worker_of(dq)

    @worker.task()
    async def always_fails(ctx: TaskContext, params: Any) -> None:
        raise KeyError("missing")

    async with running(worker):
        created = await dq.create_task("w", "always_fails")
        detail = await finished(dq, created.task_id)
    assert detail.status == "failed"
    assert detail.error is not None and detail.error.startswith("KeyError: 'missing'")


async def test_unknown_task_name_fails_clearly(dq: DurableClient) -> None:
    worker = worker_of(dq)
    errors: list[BaseException] = []
    worker.on_error = lambda ctx, exc: errors.append(exc)

    @worker.task()
    async def known(ctx: TaskContext, params: Any) -> None:
        return None

    async with running(worker):
        created = await dq.create_task("w", "mystery")
        detail = await finished(dq, created.task_id)
    assert detail.status == "failed"
    assert detail.error is not None
    assert detail.error.startswith(
        "durable_queue_client.worker.UnknownTask: unknown task name 'mystery': "
        "this worker handles known"
    )
    assert [type(e).__name__ for e in errors] == ["UnknownTask"]


async def test_non_json_results_fail_clearly(dq: DurableClient) -> None:
    worker = worker_of(dq)

    @worker.task()
    async def bad_step(ctx: TaskContext, params: Any) -> None:
        await ctx.step("set", lambda: {1, 2})

    @worker.task()
    async def bad_result(ctx: TaskContext, params: Any) -> object:
        return object()

    async with running(worker):
        step = await dq.create_task("w", "bad_step")
        result = await dq.create_task("w", "bad_result")
        step_detail = await finished(dq, step.task_id)
        result_detail = await finished(dq, result.task_id)
    assert step_detail.error is not None and result_detail.error is not None
    assert step_detail.error.startswith(
        "durable_queue_client.context.StepValueError: step 'set' returned a value that is "
        "not JSON (set)"
    )
    assert step_detail.checkpoints == []
    assert result_detail.error.startswith(
        "durable_queue_client.context.StepValueError: the result of 'bad_result' is not JSON"
    )


def test_describe_error_keeps_the_head_and_the_traceback_tail() -> None:
    try:
        raise OSError("x" * 40_000)
    except OSError as exc:
        text = describe_error(exc)
    assert len(text) <= 1024  # the server's limit
    head, trace = text.split("\n", 1)
    assert head.startswith("OSError: xxx") and head.endswith("...")
    assert trace.startswith("Traceback (most recent call last):\n")
    assert "test_describe_error_keeps_the_head_and_the_traceback_tail" in trace


def test_worker_options_are_checked(dq: DurableClient) -> None:
    for bad in (
        {"concurrency": 0},
        {"claim_timeout": 0},
        {"claim_timeout": 1.5},
        {"long_poll_seconds": 31},
        {"grace_period": -1},
    ):
        with pytest.raises(ValueError):
            Worker(dq, "w", **bad)  # type: ignore[arg-type]
    worker = Worker(dq, "w")
    with pytest.raises(TypeError, match="async function"):
        worker.register("sync", lambda ctx, params: None)  # type: ignore[arg-type,return-value]

    @worker.task("one")
    async def one(ctx: TaskContext, params: Any) -> None:
        return None

    with pytest.raises(ValueError, match="already registered"):
        worker.register("one", one)


# -- steps ------------------------------------------------------------------------------


async def test_steps_run_once_across_retries(dq: DurableClient) -> None:
    """A step that finished is not run again by the retry; its value is the checkpoint's
    (JSON as read back: a tuple becomes a list); repeated names count up."""
    worker = worker_of(dq)
    calls: Counter[str] = Counter()
    seen: list[Any] = []

    def effect(name: str, value: Any) -> Any:
        calls[name] += 1
        return value

    async def async_effect(name: str) -> str:
        calls[name] += 1
        return name.upper()

    @worker.task()
    async def pipeline(ctx: TaskContext, params: Any) -> list[Any]:
        a = await ctx.step("a", lambda: effect("a", (1, 2)))
        b = await ctx.step("b", lambda: async_effect("b"))
        pages = [await ctx.step("page", lambda i=i: effect(f"page{i}", i)) for i in range(2)]
        seen.append((a, b, pages))
        if ctx.attempt == 1:
            raise RuntimeError("crash after the steps")
        c = await ctx.step("c", lambda: effect("c", None))
        return [a, b, pages, c]

    async with running(worker):
        created = await dq.create_task("w", "pipeline", max_attempts=2, retry_strategy=NO_DELAY)
        detail = await finished(dq, created.task_id)
    assert (detail.status, detail.result) == ("completed", [[1, 2], "B", [0, 1], None])
    assert calls == {"a": 1, "b": 1, "page0": 1, "page1": 1, "c": 1}
    assert seen == [([1, 2], "B", [0, 1])] * 2
    assert sorted(detail.checkpoints) == ["a", "b", "c", "page", "page#2"]


# -- events -----------------------------------------------------------------------------


async def test_await_event_resolves_at_once_when_emitted_before(dq: DurableClient) -> None:
    worker = worker_of(dq)
    executions: list[int] = []

    @worker.task()
    async def approval(ctx: TaskContext, params: Any) -> Any:
        executions.append(ctx.attempt)
        return await ctx.await_event(f"ok:{params['key']}", timeout=60)

    await dq.emit_event("ok:early", {"by": "alice"})
    async with running(worker):
        created = await dq.create_task("w", "approval", params={"key": "early"})
        detail = await finished(dq, created.task_id)
    assert (detail.status, detail.result) == ("completed", {"by": "alice"})
    assert executions == [1]


async def test_await_event_suspends_then_resumes_without_repeating_steps(
    dq: DurableClient,
) -> None:
    worker = worker_of(dq)
    calls: Counter[str] = Counter()
    executions: list[str] = []

    def charge() -> dict[str, int]:
        calls["charge"] += 1
        return {"charged": 10}

    @worker.task()
    async def order(ctx: TaskContext, params: Any) -> Any:
        executions.append(ctx.run_id)
        charged = await ctx.step("charge", charge)
        approval = await ctx.await_event(f"approved:{ctx.task_id}", timeout=3600)
        return {"charge": charged, "approval": approval}

    async with running(worker):
        created = await dq.create_task("w", "order")

        async def sleeping() -> bool:
            return await run_statuses(dq, created.task_id) == [(1, "sleeping")]

        await eventually(sleeping, what="the run to sleep on the event")
        assert worker.in_flight == 0
        await dq.emit_event(f"approved:{created.task_id}", "yes")
        detail = await finished(dq, created.task_id)
    assert (detail.status, detail.result) == (
        "completed",
        {"charge": {"charged": 10}, "approval": "yes"},
    )
    assert calls == {"charge": 1}
    assert executions == [created.run_id, created.run_id]  # the same run, twice
    assert await run_statuses(dq, created.task_id) == [(1, "completed")]


async def test_await_event_timeout_raises_wait_timeout_in_the_handler(
    dq: DurableClient,
) -> None:
    worker = worker_of(dq)

    @worker.task()
    async def impatient(ctx: TaskContext, params: Any) -> str:
        try:
            await ctx.await_event("never", timeout=1)
        except WaitTimeout:
            return "gave up"
        return "got it"

    @worker.task()
    async def uncaught(ctx: TaskContext, params: Any) -> Any:
        return await ctx.await_event("never-either", timeout=1)

    async with running(worker):
        caught = await dq.create_task("w", "impatient")
        failed = await dq.create_task("w", "uncaught")
        caught_detail = await finished(dq, caught.task_id)
        failed_detail = await finished(dq, failed.task_id)
    assert (caught_detail.status, caught_detail.result) == ("completed", "gave up")
    assert failed_detail.status == "failed"
    assert failed_detail.error is not None
    assert failed_detail.error.startswith("durable_queue_client.errors.WaitTimeout: 408")


# -- sleeps -----------------------------------------------------------------------------


async def test_sleep_for_releases_the_claim_and_resumes_after_it(dq: DurableClient) -> None:
    worker = worker_of(dq)
    calls: Counter[str] = Counter()
    executions: list[int] = []

    def before() -> str:
        calls["before"] += 1
        return "done"

    @worker.task()
    async def nap(ctx: TaskContext, params: Any) -> str:
        executions.append(ctx.attempt)
        await ctx.step("before", before)
        await ctx.sleep_for("nap", 2)
        calls["after"] += 1
        return "awake"

    async with running(worker):
        created = await dq.create_task("w", "nap")
        detail = await finished(dq, created.task_id)
    assert (detail.status, detail.result) == ("completed", "awake")
    assert calls == {"before": 1, "after": 1}
    assert executions == [1, 1]  # suspended once, resumed once, on the same run
    assert sorted(detail.checkpoints) == ["before", "sleep:nap"]
    assert [run.status for run in detail.runs] == ["completed"]


async def test_sleep_until_a_past_time_does_not_suspend(dq: DurableClient) -> None:
    import datetime as dt

    worker = worker_of(dq)
    executions: list[int] = []

    @worker.task()
    async def late(ctx: TaskContext, params: Any) -> str:
        executions.append(ctx.attempt)
        await ctx.sleep_until("past", dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        with pytest.raises(ValueError, match="time zone"):
            await ctx.sleep_until("naive", dt.datetime(2000, 1, 1))
        return "on time"

    async with running(worker):
        created = await dq.create_task("w", "late")
        detail = await finished(dq, created.task_id)
    assert (detail.status, detail.result, executions) == ("completed", "on time", [1])


# -- concurrency and stopping -----------------------------------------------------------


async def test_concurrency_limit_is_respected(dq: DurableClient) -> None:
    worker = worker_of(dq, concurrency=3)
    gate = asyncio.Event()
    now_running = 0
    most = 0

    @worker.task()
    async def hold(ctx: TaskContext, params: Any) -> None:
        nonlocal now_running, most
        now_running += 1
        most = max(most, now_running)
        await gate.wait()
        now_running -= 1

    async with running(worker):
        created = [await dq.create_task("w", "hold") for _ in range(8)]
        await eventually(lambda: now_running == 3, what="three handlers running")
        stats = await dq.get_queue_stats("w")
        assert (stats.claimed_runs, stats.pending_runs) == (3, 5)
        assert worker.in_flight == 3
        gate.set()
        details = [await finished(dq, c.task_id) for c in created]
    assert {d.status for d in details} == {"completed"}
    assert most == 3


async def test_graceful_stop_releases_runs_without_spending_attempts(
    dq: DurableClient,
) -> None:
    worker = worker_of(dq, grace_period=0)
    started = asyncio.Event()

    @worker.task()
    async def stuck(ctx: TaskContext, params: Any) -> None:
        started.set()
        await asyncio.Event().wait()

    await dq.create_queue("w")
    created = await dq.create_task("w", "stuck", max_attempts=1)
    task = asyncio.create_task(worker.run(handle_signals=False))
    await started.wait()
    worker.stop()
    await task
    assert await run_statuses(dq, created.task_id) == [(1, "pending")]
    assert (await dq.get_queue_stats("w")).pending_runs == 1

    finisher = worker_of(dq)

    @finisher.task()
    async def stuck(ctx: TaskContext, params: Any) -> str:  # noqa: F811 - the new version
        return f"attempt {ctx.attempt} of run {ctx.run_id}"

    async with running(finisher):
        detail = await finished(dq, created.task_id)
    assert (detail.status, detail.result) == ("completed", f"attempt 1 of run {created.run_id}")
    assert len(detail.runs) == 1


async def test_cancelling_run_releases_the_in_flight_runs(dq: DurableClient) -> None:
    worker = worker_of(dq, grace_period=60)
    started = asyncio.Event()

    @worker.task()
    async def stuck(ctx: TaskContext, params: Any) -> None:
        started.set()
        await asyncio.Event().wait()

    await dq.create_queue("w")
    created = await dq.create_task("w", "stuck")
    task = asyncio.create_task(worker.run(handle_signals=False))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await run_statuses(dq, created.task_id) == [(1, "pending")]
    assert (worker.in_flight, worker.claiming) == (0, False)


async def test_graceful_stop_lets_in_flight_handlers_finish(dq: DurableClient) -> None:
    worker = worker_of(dq, grace_period=60)
    started = asyncio.Event()
    gate = asyncio.Event()

    @worker.task()
    async def slow(ctx: TaskContext, params: Any) -> str:
        started.set()
        await gate.wait()
        return "finished while stopping"

    await dq.create_queue("w")
    created = await dq.create_task("w", "slow")
    task = asyncio.create_task(worker.run(handle_signals=False))
    await started.wait()
    worker.stop()
    await eventually(lambda: not worker.claiming, what="the worker to stop claiming")
    assert worker.in_flight == 1 and not task.done()  # draining
    late = await dq.create_task("w", "slow")  # not claimed: the worker stopped claiming
    gate.set()
    await task
    detail = await dq.get_task(created.task_id)
    assert (detail.status, detail.result) == ("completed", "finished while stopping")
    assert await run_statuses(dq, late.task_id) == [(1, "pending")]


async def test_run_needs_handlers_and_creates_its_queue(dq: DurableClient) -> None:
    worker = worker_of(dq, queue="made-by-worker")
    with pytest.raises(RuntimeError, match="no handlers"):
        await worker.run(handle_signals=False)

    @worker.task()
    async def noop(ctx: TaskContext, params: Any) -> None:
        return None

    task = asyncio.create_task(worker.run(handle_signals=False))

    async def queue_exists() -> bool:
        return "made-by-worker" in [q.name for q in await dq.list_queues()]

    await eventually(queue_exists, what="the worker to create its queue")
    created = await dq.create_task("made-by-worker", "noop")
    assert (await finished(dq, created.task_id)).status == "completed"
    worker.stop()
    await task


# -- heartbeats and lost claims ---------------------------------------------------------


async def test_heartbeats_keep_a_long_step_claimed(
    aiohttp_server: Any, app: web.Application
) -> None:
    seen = TokenLog()
    app.middlewares.insert(0, token_recorder(seen))  # outermost: reads the body first
    server = await aiohttp_server(app)
    async with DurableClient(str(server.make_url("")).rstrip("/"), retries=0) as dq:
        worker = worker_of(dq, claim_timeout=3)

        def beats() -> int:
            return seen.count("heartbeat")

        @worker.task()
        async def long_step(ctx: TaskContext, params: Any) -> int:
            # the step outlives the 3 s claim twice over: only heartbeats keep it
            await ctx.step("wait", lambda: eventually(lambda: beats() >= 3, what="3 beats"))
            return ctx.attempt

        async with running(worker):
            created = await dq.create_task("w", "long_step")
            detail = await finished(dq, created.task_id)
        assert (detail.status, detail.result) == ("completed", 1)
        assert len(detail.runs) == 1


async def test_a_canceled_task_stops_its_handler(
    dq: DurableClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="durable_queue_client.worker")
    worker = worker_of(dq, claim_timeout=3)
    started = asyncio.Event()

    @worker.task()
    async def forever(ctx: TaskContext, params: Any) -> None:
        started.set()
        await asyncio.Event().wait()

    async with running(worker):
        created = await dq.create_task("w", "forever")
        await started.wait()
        await dq.cancel_task(created.task_id)
        await eventually(lambda: worker.in_flight == 0, what="the handler to be stopped")
    events = [getattr(r, "durable", {}).get("event") for r in caplog.records]
    assert "claim_lost" in events
    assert (await dq.get_task(created.task_id)).status == "canceled"


async def test_run_logs_are_structured(dq: DurableClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="durable_queue_client.worker")
    worker = worker_of(dq)

    @worker.task()
    async def noop(ctx: TaskContext, params: Any) -> None:
        return None

    async with running(worker):
        created = await dq.create_task("w", "noop")
        await finished(dq, created.task_id)
    [done] = [r for r in caplog.records if getattr(r, "durable", {}).get("event") == "completed"]
    fields = done.durable  # type: ignore[attr-defined]
    assert fields["task_id"] == created.task_id
    assert fields["run_id"] == created.run_id
    assert (fields["queue"], fields["task_name"], fields["attempt"]) == ("w", "noop", 1)
    assert fields["duration_ms"] >= 0
    assert created.run_id in done.getMessage()


# -- claim tokens -----------------------------------------------------------------------


async def test_claim_token_is_sent_back_on_every_call_of_the_run(
    aiohttp_server: Any, app: web.Application
) -> None:
    seen = TokenLog()
    app.middlewares.insert(0, token_recorder(seen))  # outermost: reads the body first
    server = await aiohttp_server(app)
    async with DurableClient(str(server.make_url("")).rstrip("/"), retries=0) as dq:
        worker = worker_of(dq)

        @worker.task()
        async def tokened(ctx: TaskContext, params: Any) -> str:
            await ctx.step("s", lambda: 1)
            await ctx.heartbeat()
            await ctx.await_event("tok", timeout=60)
            if ctx.attempt == 1:
                raise RuntimeError("retry me")
            return "done"

        await dq.emit_event("tok", None)
        async with running(worker):
            created = await dq.create_task("w", "tokened", max_attempts=2, retry_strategy=NO_DELAY)
            detail = await finished(dq, created.task_id)
    assert detail.status == "completed"
    assert len(seen.issued) == 2  # two runs, each claimed once
    assert (seen.count("checkpoint"), seen.count("fail"), seen.count("complete")) == (1, 1, 1)
    assert seen.count("wait-for-event") == 2 and seen.count("heartbeat") >= 2
    for action, run_id, token in seen.calls:
        assert token in seen.issued[run_id], (action, run_id, token)

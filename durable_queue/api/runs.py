"""Run endpoints: list, complete, batch complete, fail, schedule, wait-for-event, heartbeat."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import (
    docs,
    match_info_schema,
    querystring_schema,
    request_schema,
    response_schema,
)

from durable_queue import commands, wire
from durable_queue.api import schemas
from durable_queue.api.claim_rule import holder_call
from durable_queue.api.claim_rule import schedule_run as schedule_as_required
from durable_queue.api.keys import STORE
from durable_queue.api.response_schemas import response_schema_of
from durable_queue.api.responses import json_response
from durable_queue.api.validation import BODY, PATH, QUERY
from durable_queue.jsonvalue import JSON_NULL

TAG = ["runs"]
CONFLICT = (
    "the run does not hold a claim (finished, expired, canceled or not claimed), or "
    "claim_token was given and is not the run's current one, or none was given while "
    "DURABLE_REQUIRE_CLAIM_TOKENS is on"
)
REPEAT = (
    ". A call repeated with the claim_token it committed under (its answer was lost) "
    "answers 200 with its first answer instead"
)
# The 409 of a holder call (heartbeat, wait-for-event; complete and fail say the repeat).
holder_conflict = response_schema(schemas.ErrorSchema, 409, description=CONFLICT)
outcome_conflict = response_schema(schemas.ErrorSchema, 409, description=CONFLICT + REPEAT)


@docs(tags=TAG, summary="List runs, newest first (cursor pagination)")
@querystring_schema(schemas.ListRunsQuerySchema)
@response_schema(response_schema_of(wire.RunList), 200)
async def list_runs(request: web.Request) -> web.Response:
    page = await request.app[STORE].list_runs(**request[QUERY])
    return json_response(wire.RunList(page.items, page.next_cursor))


@docs(tags=TAG, summary="Complete a claimed run (the body may be empty)")
@match_info_schema(schemas.RunPathSchema)
@request_schema(schemas.CompleteRunSchema)
@response_schema(response_schema_of(wire.RunCompleted), 200)
@outcome_conflict
@holder_call
async def complete_run(request: web.Request) -> web.Response:
    body: commands.RunResult = request[BODY]
    completed = await request.app[STORE].complete_run(
        request[PATH]["run_id"], body.result, claim_token=body.claim_token
    )
    return json_response(completed)


@docs(
    tags=TAG,
    summary="Complete 1 to 1,000 claimed runs, each fenced on its own",
    description=(
        "Answered in input order: `completed`, or `conflict` / `not_found` with an `error` "
        "(that item changed nothing). An item with a `claim_token` that is not its run's "
        "current one is a `conflict`; one repeating, with its `claim_token`, a complete "
        "that committed is `completed` again. The runs that may complete are completed "
        "together. With DURABLE_REQUIRE_CLAIM_TOKENS on, an item without a `claim_token` "
        "makes the whole batch a 409."
    ),
)
@request_schema(schemas.CompleteRunsSchema)
@response_schema(response_schema_of(wire.RunCompletionResults), 200)
@response_schema(
    schemas.ErrorSchema,
    409,
    description="an item has no claim_token while DURABLE_REQUIRE_CLAIM_TOKENS is on",
)
@holder_call
async def complete_runs(request: web.Request) -> web.Response:
    batch: commands.RunsToComplete = request[BODY]
    outcomes = await request.app[STORE].complete_runs(batch.items())
    return json_response(wire.RunCompletionResults.of(outcomes))


@docs(tags=TAG, summary="Fail a claimed run; a retry is scheduled while attempts remain")
@match_info_schema(schemas.RunPathSchema)
@request_schema(schemas.FailRunSchema)
@response_schema(response_schema_of(wire.RunFailed), 200)
@outcome_conflict
@holder_call
async def fail_run(request: web.Request) -> web.Response:
    body: commands.RunFailure = request[BODY]
    failed = await request.app[STORE].fail_run(
        request[PATH]["run_id"], body.error, claim_token=body.claim_token
    )
    return json_response(failed)


@docs(tags=TAG, summary="Move a pending run, or release a claimed run until run_at")
@match_info_schema(schemas.RunPathSchema)
@request_schema(schemas.ScheduleRunSchema)
@response_schema(response_schema_of(wire.RunScheduled), 200)
@response_schema(
    schemas.ErrorSchema,
    409,
    description=(
        "the run is sleeping or finished, or claim_token was given and the run is not "
        "claimed under it, or it is claimed and none was given while "
        "DURABLE_REQUIRE_CLAIM_TOKENS is on"
    ),
)
async def schedule_run(request: web.Request) -> web.Response:
    scheduled = await schedule_as_required(request, request[PATH]["run_id"], request[BODY])
    return json_response(scheduled)


@docs(
    tags=TAG,
    summary="Wait for an event: 200 resolved, 202 sleeping (claim released), 408 timed out",
)
@match_info_schema(schemas.RunPathSchema)
@request_schema(schemas.WaitForEventSchema)
@response_schema(
    response_schema_of(wire.WaitAnswer), 200, description="resolved: the event's payload"
)
@response_schema(
    response_schema_of(wire.WaitAnswer),
    202,
    description="the run sleeps until the event or the timeout",
)
@response_schema(response_schema_of(wire.WaitTimedOut), 408, description="the wait timed out")
@holder_conflict
@holder_call
async def wait_for_event(request: web.Request) -> web.Response:
    wait: commands.EventWait = request[BODY]
    outcome = await request.app[STORE].wait_for_event(
        request[PATH]["run_id"], **commands.as_arguments(wait)
    )
    if outcome.status == "resolved":
        payload = JSON_NULL if outcome.payload is None else outcome.payload
        return json_response(wire.WaitAnswer("resolved", payload=payload))
    if outcome.status == "sleeping":
        return json_response(
            wire.WaitAnswer("sleeping", message=f"waiting for event: {wait.event_name}"), 202
        )
    message = f"timed out waiting for event: {wait.event_name}"
    return json_response(wire.WaitTimedOut(message, message, "timeout", "WAIT_TIMEOUT"), 408)


@docs(
    tags=TAG,
    summary="Wait for tasks to finish (a join): completed, timeout, or the run sleeps",
    description=(
        "completed (or timeout, when this join's timeout passed) with every task's outcome "
        "in input order; sleeping: the claim is released, and the run is claimable again "
        "when the last task finishes or the timeout passes; the next claim repeats the "
        "call and is answered at once (docs/composition.md)."
    ),
)
@match_info_schema(schemas.RunPathSchema)
@request_schema(schemas.WaitForTasksSchema)
@response_schema(response_schema_of(wire.TasksJoined), 200)
@response_schema(schemas.ErrorSchema, 400, description="a task id that names no task")
@holder_conflict
@holder_call
async def wait_for_tasks(request: web.Request) -> web.Response:
    wait: commands.TasksWait = request[BODY]
    joined = await request.app[STORE].composition.wait_for_tasks(
        request[PATH]["run_id"], wait.task_ids, wait.timeout_seconds, wait.claim_token
    )
    return json_response(joined)


@docs(tags=TAG, summary="Extend a live claim to now + extend_by seconds")
@match_info_schema(schemas.RunPathSchema)
@request_schema(schemas.HeartbeatSchema)
@response_schema(response_schema_of(wire.ClaimExtended), 200)
@holder_conflict
@holder_call
async def heartbeat(request: web.Request) -> web.Response:
    body: commands.ClaimExtension = request[BODY]
    extended = await request.app[STORE].heartbeat(
        request[PATH]["run_id"], body.extend_by, claim_token=body.claim_token
    )
    return json_response(extended)

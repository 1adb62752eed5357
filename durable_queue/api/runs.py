"""Run endpoints: list, complete, fail, schedule, wait-for-event."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, request_schema, response_schema

from durable_queue.api import parsing
from durable_queue.api.keys import STORE
from durable_queue.api.responses import json_response, page_response
from durable_queue.api.schemas import (
    CompleteRunSchema,
    ErrorSchema,
    FailRunResponseSchema,
    FailRunSchema,
    HeartbeatResponseSchema,
    HeartbeatSchema,
    ListRunsQuerySchema,
    RunListSchema,
    RunStatusSchema,
    ScheduleRunResponseSchema,
    ScheduleRunSchema,
    WaitForEventResponseSchema,
    WaitForEventSchema,
)

TAG = ["runs"]
CONFLICT = "the run does not hold a claim (finished, expired, canceled or not claimed)"


@docs(tags=TAG, summary="List runs, newest first (cursor pagination)")
@querystring_schema(ListRunsQuerySchema)
@response_schema(RunListSchema, 200)
async def list_runs(request: web.Request) -> web.Response:
    filters = parsing.query(request, ListRunsQuerySchema())
    page = await request.app[STORE].list_runs(**filters)
    return page_response("runs", page)


@docs(tags=TAG, summary="Complete a claimed run (the body may be empty)")
@request_schema(CompleteRunSchema)
@response_schema(RunStatusSchema, 200)
@response_schema(ErrorSchema, 404)
@response_schema(ErrorSchema, 409, description=CONFLICT)
async def complete_run(request: web.Request) -> web.Response:
    run_id = parsing.path_uuid(request, "run_id")
    data = await parsing.body(request, CompleteRunSchema(), allow_empty=True)
    outcome = await request.app[STORE].complete_run(run_id, data.get("result"))
    return json_response(outcome)


@docs(tags=TAG, summary="Fail a claimed run; a retry is scheduled while attempts remain")
@request_schema(FailRunSchema)
@response_schema(FailRunResponseSchema, 200)
@response_schema(ErrorSchema, 404)
@response_schema(ErrorSchema, 409, description=CONFLICT)
async def fail_run(request: web.Request) -> web.Response:
    run_id = parsing.path_uuid(request, "run_id")
    data = await parsing.body(request, FailRunSchema())
    return json_response(await request.app[STORE].fail_run(run_id, data["error"]))


@docs(tags=TAG, summary="Move a pending run, or release a claimed run until run_at")
@request_schema(ScheduleRunSchema)
@response_schema(ScheduleRunResponseSchema, 200)
@response_schema(ErrorSchema, 404)
@response_schema(ErrorSchema, 409, description="the run is sleeping or finished")
async def schedule_run(request: web.Request) -> web.Response:
    run_id = parsing.path_uuid(request, "run_id")
    data = await parsing.body(request, ScheduleRunSchema())
    return json_response(await request.app[STORE].schedule_run(run_id, data["run_at"]))


@docs(
    tags=TAG,
    summary="Wait for an event: 200 resolved, 202 sleeping (claim released), 408 timed out",
)
@request_schema(WaitForEventSchema)
@response_schema(WaitForEventResponseSchema, 200, description="resolved: the event's payload")
@response_schema(
    WaitForEventResponseSchema, 202, description="the run sleeps until the event or the timeout"
)
@response_schema(WaitForEventResponseSchema, 408, description="the wait timed out")
@response_schema(ErrorSchema, 404)
@response_schema(ErrorSchema, 409, description=CONFLICT)
async def wait_for_event(request: web.Request) -> web.Response:
    run_id = parsing.path_uuid(request, "run_id")
    data = await parsing.body(request, WaitForEventSchema())
    outcome = await request.app[STORE].wait_for_event(
        run_id,
        task_id=data["task_id"],
        event_name=data["event_name"],
        step_name=data["step_name"],
        timeout_seconds=data["timeout_seconds"],
    )
    event = data["event_name"]
    if outcome.status == "resolved":
        return json_response({"status": "resolved", "payload": outcome.payload})
    if outcome.status == "sleeping":
        return json_response({"status": "sleeping", "message": f"waiting for event: {event}"}, 202)
    message = f"timed out waiting for event: {event}"
    return json_response(
        {"status": "timeout", "message": message, "error": message, "code": "WAIT_TIMEOUT"}, 408
    )


@docs(tags=TAG, summary="Extend a live claim to now + extend_by seconds")
@request_schema(HeartbeatSchema)
@response_schema(HeartbeatResponseSchema, 200)
@response_schema(ErrorSchema, 404)
@response_schema(ErrorSchema, 409, description=CONFLICT)
async def heartbeat(request: web.Request) -> web.Response:
    run_id = parsing.path_uuid(request, "run_id")
    data = await parsing.body(request, HeartbeatSchema())
    return json_response(await request.app[STORE].heartbeat(run_id, data["extend_by"]))

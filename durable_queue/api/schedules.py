"""Schedule endpoints: create, list, get (with a preview), update, delete, trigger,
backfill (docs/schedules.md)."""

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
from durable_queue.api.keys import STORE
from durable_queue.api.response_schemas import response_schema_of
from durable_queue.api.responses import json_response
from durable_queue.api.validation import BODY, PATH, QUERY

TAG = ["schedules"]


@docs(
    tags=TAG,
    summary="Create a schedule: a task on a cron expression or an interval",
    description=(
        "Exactly one of `cron` and `interval_seconds`. The first slot is the first after "
        "now. A name in use is 409; an unknown queue 404 (docs/schedules.md)."
    ),
)
@request_schema(schemas.CreateScheduleSchema)
@response_schema(response_schema_of(wire.Schedule), 201)
@response_schema(schemas.ErrorSchema, 404, description="no such queue")
@response_schema(schemas.ErrorSchema, 409, description="a schedule with this name exists")
async def create_schedule(request: web.Request) -> web.Response:
    new: commands.NewSchedule = request[BODY]
    schedule = await request.app[STORE].schedules.create(new)
    return json_response(schedule, status=201)


@docs(tags=TAG, summary="List schedules by name, of one queue with `queue`")
@querystring_schema(schemas.ListSchedulesQuerySchema)
@response_schema(response_schema_of(wire.ScheduleList), 200)
async def list_schedules(request: web.Request) -> web.Response:
    query = request[QUERY]
    page = await request.app[STORE].schedules.list(
        query.get("queue"), query.get("cursor"), query["limit"]
    )
    return json_response(page)


@docs(
    tags=TAG,
    summary="A schedule with its state; with ?preview=N, its next N fire times",
)
@match_info_schema(schemas.SchedulePathSchema)
@querystring_schema(schemas.GetScheduleQuerySchema)
@response_schema(response_schema_of(wire.Schedule), 200)
@response_schema(schemas.ErrorSchema, 404, description="no such schedule")
async def get_schedule(request: web.Request) -> web.Response:
    schedule = await request.app[STORE].schedules.get(
        request[PATH]["schedule_name"], request[QUERY].get("preview")
    )
    return json_response(schedule)


@docs(
    tags=TAG,
    summary="Change any of a schedule's fields, pause or resume it",
    description=(
        "Only the fields given change; null restores a field's default. When the calendar "
        "(cron, interval_seconds, timezone, start_at, end_at) changes, or the schedule "
        "resumes, the next slot is the first after now: slots passed while paused do not fire."
    ),
)
@match_info_schema(schemas.SchedulePathSchema)
@request_schema(schemas.PatchScheduleSchema)
@response_schema(response_schema_of(wire.Schedule), 200)
@response_schema(schemas.ErrorSchema, 404, description="no such schedule, or no such queue")
async def update_schedule(request: web.Request) -> web.Response:
    patch: commands.SchedulePatch = request[BODY]
    schedule = await request.app[STORE].schedules.update(request[PATH]["schedule_name"], patch)
    return json_response(schedule)


@docs(tags=TAG, summary="Delete a schedule: no slot fires after; its tasks stay")
@match_info_schema(schemas.SchedulePathSchema)
@response_schema(schemas.ErrorSchema, 404, description="no such schedule")
async def delete_schedule(request: web.Request) -> web.Response:
    await request.app[STORE].schedules.delete(request[PATH]["schedule_name"])
    return web.Response(status=204)


@docs(
    tags=TAG,
    summary="Fire a schedule once now",
    description=(
        "Whatever its overlap policy, also while paused; the slot is the database's now, and "
        "the task becomes the schedule's last task."
    ),
)
@match_info_schema(schemas.SchedulePathSchema)
@response_schema(response_schema_of(wire.ScheduleTriggered), 201)
@response_schema(schemas.ErrorSchema, 404, description="no such schedule, or its queue is gone")
async def trigger_schedule(request: web.Request) -> web.Response:
    fired = await request.app[STORE].schedules.trigger(request[PATH]["schedule_name"])
    return json_response(fired, status=201)


@docs(
    tags=TAG,
    summary="Fire every slot of a time range once, under the overlap policy",
    description=(
        "The slots of the schedule's calendar from `from` to `to` (inclusive; start_at and "
        "end_at do not apply), oldest first, at most 1,000. A slot that has a task already "
        "is not fired again."
    ),
)
@match_info_schema(schemas.SchedulePathSchema)
@request_schema(schemas.BackfillScheduleSchema)
@response_schema(response_schema_of(wire.BackfillResult), 200)
@response_schema(schemas.ErrorSchema, 404, description="no such schedule, or its queue is gone")
async def backfill_schedule(request: web.Request) -> web.Response:
    backfill: commands.Backfill = request[BODY]
    result = await request.app[STORE].schedules.backfill(request[PATH]["schedule_name"], backfill)
    return json_response(result)

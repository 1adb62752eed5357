"""Queue endpoints: create, list, get, update (settings), delete, stats."""

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

TAG = ["queues"]


@docs(tags=TAG, summary="List queues")
@response_schema(response_schema_of(wire.QueueList), 200)
async def list_queues(request: web.Request) -> web.Response:
    queues = await request.app[STORE].list_queues()
    return json_response(wire.QueueList([wire.QueueSummary.of(q) for q in queues]))


@docs(
    tags=TAG,
    summary="Create a queue, with its cleanup policy and flow-control settings",
    description=(
        "Every setting is optional: no concurrency or rate limit, not paused, the default "
        "cleanup policy (docs/flow-control.md)."
    ),
)
@request_schema(schemas.CreateQueueSchema)
@response_schema(response_schema_of(wire.QueueSummary), 201)
@response_schema(schemas.ErrorSchema, 409, description="a queue with this name exists")
async def create_queue(request: web.Request) -> web.Response:
    new: commands.NewQueue = request[BODY]
    queue = await request.app[STORE].create_queue(
        new.name, new.cleanup.task_ttl_seconds, new.cleanup.event_ttl_seconds, new.flow
    )
    return json_response(wire.QueueSummary.of(queue), status=201)


@docs(tags=TAG, summary="A queue with its cleanup policy and flow-control settings")
@match_info_schema(schemas.QueuePathSchema)
@response_schema(response_schema_of(wire.QueueSummary), 200)
@response_schema(schemas.ErrorSchema, 404, description="no such queue")
async def get_queue(request: web.Request) -> web.Response:
    queue = await request.app[STORE].get_queue(request[PATH]["queue_name"])
    return json_response(wire.QueueSummary.of(queue))


@docs(
    tags=TAG,
    summary="Change any of a queue's settings (flow control, cleanup policy)",
    description=(
        "Only the settings given change. `null` clears a limit, sets `paused` to false, and "
        "restores a ttl's default (259,200 seconds); `cleanup: null` restores both. "
        "The next claim applies the new settings; a resumed queue wakes its long polls."
    ),
)
@match_info_schema(schemas.QueuePathSchema)
@request_schema(schemas.PatchQueueSchema)
@response_schema(response_schema_of(wire.QueueSummary), 200)
@response_schema(schemas.ErrorSchema, 404, description="no such queue")
async def update_queue(request: web.Request) -> web.Response:
    patch: commands.QueuePatch = request[BODY]
    queue = await request.app[STORE].update_queue(request[PATH]["queue_name"], patch)
    return json_response(wire.QueueSummary.of(queue))


@docs(
    tags=TAG,
    summary="Delete a queue with its tasks (409 while tasks are unfinished, unless force=true)",
)
@match_info_schema(schemas.QueuePathSchema)
@querystring_schema(schemas.DeleteQueueQuerySchema)
@response_schema(schemas.ErrorSchema, 409)
async def delete_queue(request: web.Request) -> web.Response:
    await request.app[STORE].delete_queue(request[PATH]["queue_name"], **request[QUERY])
    return web.Response(status=204)


@docs(
    tags=TAG,
    summary="Run and task counts of a queue, its consumer lag, and the runs its limits hold back",
)
@match_info_schema(schemas.QueuePathSchema)
@response_schema(response_schema_of(wire.QueueStats), 200)
async def queue_stats(request: web.Request) -> web.Response:
    return json_response(await request.app[STORE].queue_stats(request[PATH]["queue_name"]))

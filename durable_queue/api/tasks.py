"""Task endpoints: create, batch create, claim, list, get, change priority, cancel."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import (
    docs,
    match_info_schema,
    querystring_schema,
    request_schema,
    response_schema,
)

from durable_queue import commands, long_poll, wire
from durable_queue.api import schemas
from durable_queue.api.keys import CLAIM_WAKE_OBSERVER, LISTENER, STORE
from durable_queue.api.response_schemas import response_schema_of
from durable_queue.api.responses import json_response, json_text_response
from durable_queue.api.validation import BODY, PATH, QUERY
from durable_queue.result_waits import await_result

TAG = ["tasks"]


@docs(tags=TAG, summary="Create a task (its first run is pending at run_at, or now)")
@match_info_schema(schemas.QueuePathSchema)
@request_schema(schemas.CreateTaskSchema)
@response_schema(response_schema_of(wire.CreatedTask), 201)
@response_schema(
    response_schema_of(wire.CreatedTask),
    200,
    description="idempotency key seen before: the first task's ids",
)
@response_schema(schemas.ErrorSchema, 404, description="queue or workflow run not found")
async def create_task(request: web.Request) -> web.Response:
    created, is_new = await request.app[STORE].create_task(
        request[PATH]["queue_name"], request[BODY]
    )
    return json_response(created, status=201 if is_new else 200)


@docs(
    tags=TAG,
    summary="Create 1 to 1,000 tasks in one transaction: all are created, or none",
    description=(
        "Answered in input order. `created` is false where the item's idempotency_key "
        "already named a task, also one created by an earlier item of the same batch; "
        "its ids are returned. A bad item is a 400 naming it (`tasks[3].task_name`)."
    ),
)
@match_info_schema(schemas.QueuePathSchema)
@request_schema(schemas.CreateTasksSchema)
@response_schema(response_schema_of(wire.CreatedTasks), 200)
@response_schema(
    schemas.ErrorSchema, 404, description="queue or workflow run not found; nothing created"
)
async def create_tasks(request: web.Request) -> web.Response:
    batch: commands.NewTasks = request[BODY]
    answer = await request.app[STORE].create_tasks(request[PATH]["queue_name"], batch.tasks)
    return json_text_response(answer)


@docs(tags=TAG, summary="Claim up to `limit` due tasks of a queue")
@match_info_schema(schemas.QueuePathSchema)
@request_schema(schemas.ClaimSchema)
@response_schema(response_schema_of(wire.ClaimedTasks), 200)
async def claim_tasks(request: web.Request) -> web.Response:
    wanted: commands.ClaimRequest = request[BODY]
    store = request.app[STORE]
    claimed = await long_poll.claim(
        store,
        request.app[LISTENER].waiters,
        request[PATH]["queue_name"],
        wanted.limit,
        wanted.claim_timeout,
        wanted.long_poll_seconds,
        on_wake=request.app.get(CLAIM_WAKE_OBSERVER),
    )
    try:
        return json_response(wire.ClaimedTasks(claimed))
    except Exception:  # the runs' claim committed, but no worker will hear of it
        await store.release_claims(claimed)
        raise


@docs(tags=TAG, summary="List tasks, newest first (cursor pagination)")
@querystring_schema(schemas.ListTasksQuerySchema)
@response_schema(response_schema_of(wire.TaskList), 200)
async def list_tasks(request: web.Request) -> web.Response:
    page = await request.app[STORE].list_tasks(**request[QUERY])
    return json_response(wire.TaskList(page.items, page.next_cursor))


@docs(tags=TAG, summary="One task with its runs, result or error, and checkpoint step names")
@match_info_schema(schemas.TaskPathSchema)
@response_schema(response_schema_of(wire.TaskDetail), 200)
async def get_task(request: web.Request) -> web.Response:
    return json_response(await request.app[STORE].get_task(request[PATH]["task_id"]))


@docs(
    tags=TAG,
    summary="A task's outcome, waiting up to wait_seconds (0-60) for it to finish",
    description=(
        "status completed, failed or canceled with its result or error; pending when the "
        "wait ends first. The wait holds no database connection and is woken when the "
        "task finishes (docs/composition.md)."
    ),
)
@match_info_schema(schemas.TaskPathSchema)
@querystring_schema(schemas.TaskResultQuerySchema)
@response_schema(response_schema_of(wire.TaskResult), 200)
@response_schema(schemas.ErrorSchema, 404, description="no such task")
@response_schema(schemas.ErrorSchema, 503, description="the server holds its limit of waits")
async def task_result(request: web.Request) -> web.Response:
    result = await await_result(
        request.app[STORE].composition,
        request.app[LISTENER].result_waiters,
        request[PATH]["task_id"],
        request[QUERY]["wait_seconds"],
    )
    return json_response(result)


@docs(
    tags=TAG,
    summary="Change an unfinished task's priority",
    description=(
        "Its pending and sleeping runs take the new priority (a claimed run keeps its claim; "
        "a retry takes the task's priority)."
    ),
)
@match_info_schema(schemas.TaskPathSchema)
@request_schema(schemas.PatchTaskSchema)
@response_schema(response_schema_of(wire.TaskDetail), 200)
@response_schema(schemas.ErrorSchema, 404, description="no such task")
@response_schema(
    schemas.ErrorSchema, 409, description="the task is finished (completed, failed or canceled)"
)
async def update_task(request: web.Request) -> web.Response:
    patch: commands.TaskPatch = request[BODY]
    task = await request.app[STORE].set_task_priority(request[PATH]["task_id"], patch.priority)
    return json_response(task)


@docs(tags=TAG, summary="Cancel a pending task; its holder's next call gets 409")
@match_info_schema(schemas.TaskPathSchema)
@response_schema(response_schema_of(wire.TaskCanceled), 200)
@response_schema(schemas.ErrorSchema, 409, description="the task is already finished")
async def cancel_task(request: web.Request) -> web.Response:
    return json_response(await request.app[STORE].cancel_task(request[PATH]["task_id"]))

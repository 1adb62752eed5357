"""Task endpoints: create, claim, list."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, request_schema, response_schema

from durable_queue import long_poll
from durable_queue.api import parsing
from durable_queue.api.keys import LISTENER, STORE
from durable_queue.api.queues import queue_name
from durable_queue.api.responses import json_response, page_response
from durable_queue.api.schemas import (
    ClaimResponseSchema,
    ClaimSchema,
    CreateTaskResponseSchema,
    CreateTaskSchema,
    ErrorSchema,
    ListTasksQuerySchema,
    TaskCanceledSchema,
    TaskDetailSchema,
    TaskListSchema,
)
from durable_queue.records import NewTask

TAG = ["tasks"]


@docs(tags=TAG, summary="Create a task (its first run is pending at run_at, or now)")
@request_schema(CreateTaskSchema)
@response_schema(CreateTaskResponseSchema, 201)
@response_schema(
    CreateTaskResponseSchema, 200, description="idempotency key seen before: the first task's ids"
)
@response_schema(ErrorSchema, 404, description="queue or workflow run not found")
async def create_task(request: web.Request) -> web.Response:
    name = queue_name(request)
    data = await parsing.body(request, CreateTaskSchema())
    new = NewTask(
        task_name=data["task_name"],
        params=data.get("params"),
        headers=data.get("headers"),
        retry_strategy=data.get("retry_strategy"),
        max_attempts=data.get("max_attempts") or 1,
        start_timeout=data.get("start_timeout") or 0,
        execution_timeout=data.get("execution_timeout") or 0,
        workflow_run_id=data.get("workflow_run_id"),
        idempotency_key=data.get("idempotency_key"),
        run_at=data.get("run_at"),
    )
    created, is_new = await request.app[STORE].create_task(name, new)
    return json_response(created, status=201 if is_new else 200)


@docs(tags=TAG, summary="Claim up to `limit` due tasks of a queue")
@request_schema(ClaimSchema)
@response_schema(ClaimResponseSchema, 200)
@response_schema(ErrorSchema, 404)
async def claim_tasks(request: web.Request) -> web.Response:
    name = queue_name(request)
    data = await parsing.body(request, ClaimSchema())
    claimed = await long_poll.claim(
        request.app[STORE],
        request.app[LISTENER].waiters,
        name,
        data["limit"],
        data["claim_timeout"],
        data.get("long_poll_seconds") or 0,
    )
    return json_response({"tasks": claimed})


@docs(tags=TAG, summary="List tasks, newest first (cursor pagination)")
@querystring_schema(ListTasksQuerySchema)
@response_schema(TaskListSchema, 200)
async def list_tasks(request: web.Request) -> web.Response:
    filters = parsing.query(request, ListTasksQuerySchema())
    page = await request.app[STORE].list_tasks(**filters)
    return page_response("tasks", page)


@docs(tags=TAG, summary="One task with its runs, result or error, and checkpoint step names")
@response_schema(TaskDetailSchema, 200)
@response_schema(ErrorSchema, 404)
async def get_task(request: web.Request) -> web.Response:
    task_id = parsing.path_uuid(request, "task_id")
    return json_response(await request.app[STORE].get_task(task_id))


@docs(tags=TAG, summary="Cancel a pending task; its holder's next call gets 409")
@response_schema(TaskCanceledSchema, 200)
@response_schema(ErrorSchema, 404)
@response_schema(ErrorSchema, 409, description="the task is already finished")
async def cancel_task(request: web.Request) -> web.Response:
    task_id = parsing.path_uuid(request, "task_id")
    return json_response(await request.app[STORE].cancel_task(task_id))

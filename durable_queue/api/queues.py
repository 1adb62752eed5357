"""Queue endpoints: create, list, delete, stats."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, request_schema, response_schema

from durable_queue.api import parsing
from durable_queue.api.keys import STORE
from durable_queue.api.responses import json_response
from durable_queue.api.schemas import (
    CreateQueueSchema,
    DeleteQueueQuerySchema,
    ErrorSchema,
    QueueListSchema,
    QueueStatsSchema,
    QueueSummarySchema,
    validate_queue_name,
)
from durable_queue.errors import ValidationError
from durable_queue.records import QueueSummary

TAG = ["queues"]


def queue_name(request: web.Request) -> str:
    """The `{queue_name}` path segment, validated."""
    name = request.match_info["queue_name"]
    try:
        validate_queue_name(name)
    except Exception as exc:
        raise ValidationError(f"queue_name {exc.args[0] if exc.args else 'is invalid'}") from exc
    return name


@docs(tags=TAG, summary="List queues")
@response_schema(QueueListSchema, 200)
async def list_queues(request: web.Request) -> web.Response:
    queues = await request.app[STORE].list_queues()
    return json_response({"queues": [QueueSummary.of(q) for q in queues]})


@docs(tags=TAG, summary="Create a queue")
@request_schema(CreateQueueSchema)
@response_schema(QueueSummarySchema, 201)
@response_schema(ErrorSchema, 409, description="a queue with this name exists")
async def create_queue(request: web.Request) -> web.Response:
    data = await parsing.body(request, CreateQueueSchema())
    cleanup = data.get("cleanup") or {}
    queue = await request.app[STORE].create_queue(
        data["name"], cleanup.get("task_ttl_seconds"), cleanup.get("event_ttl_seconds")
    )
    return json_response(QueueSummary.of(queue), status=201)


@docs(
    tags=TAG,
    summary="Delete a queue with its tasks (409 while tasks are unfinished, unless force=true)",
)
@querystring_schema(DeleteQueueQuerySchema)
@response_schema(ErrorSchema, 404)
@response_schema(ErrorSchema, 409)
async def delete_queue(request: web.Request) -> web.Response:
    name = queue_name(request)
    options = parsing.query(request, DeleteQueueQuerySchema())
    await request.app[STORE].delete_queue(name, force=options["force"])
    return web.Response(status=204)


@docs(tags=TAG, summary="Run and task counts of a queue, and its consumer lag")
@response_schema(QueueStatsSchema, 200)
@response_schema(ErrorSchema, 404)
async def queue_stats(request: web.Request) -> web.Response:
    stats = await request.app[STORE].queue_stats(queue_name(request))
    return json_response(stats)

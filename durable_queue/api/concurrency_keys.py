"""Concurrency key endpoints of a queue: list the keys, set and remove a key's override.

(Not to be confused with api/keys.py, the aiohttp application's keys.)
"""

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

TAG = ["concurrency keys"]


@docs(
    tags=TAG,
    summary="List a queue's concurrency keys, in text order (cursor pagination)",
    description=(
        "The keys with pending or claimed runs, or an override: each with its runs claimed "
        "now, its pending runs, and the limits that apply to it."
    ),
)
@match_info_schema(schemas.QueuePathSchema)
@querystring_schema(schemas.ListKeysQuerySchema)
@response_schema(response_schema_of(wire.ConcurrencyKeyList), 200)
@response_schema(schemas.ErrorSchema, 404, description="no such queue")
async def list_keys(request: web.Request) -> web.Response:
    query = request[QUERY]
    keys = await request.app[STORE].list_keys(
        request[PATH]["queue_name"], query.get("cursor"), query["limit"]
    )
    return json_response(keys)


@docs(
    tags=TAG,
    summary="Set a concurrency key's override: its own limits, in place of the queue's key defaults",
    description=(
        "Replaces the key's override as a whole: a limit absent or null is the queue's "
        "default (key_concurrency, key_rate_limit). The next claim applies it."
    ),
)
@match_info_schema(schemas.KeyPathSchema)
@request_schema(schemas.KeyOverrideSchema)
@response_schema(response_schema_of(wire.ConcurrencyKey), 200)
@response_schema(schemas.ErrorSchema, 404, description="no such queue")
async def put_key_override(request: web.Request) -> web.Response:
    path = request[PATH]
    override: commands.KeyOverride = request[BODY]
    key = await request.app[STORE].put_key_override(path["queue_name"], path["key"], override)
    return json_response(key)


@docs(tags=TAG, summary="Remove a concurrency key's override: the queue's key defaults apply")
@match_info_schema(schemas.KeyPathSchema)
@response_schema(schemas.ErrorSchema, 404, description="no such queue, or the key has no override")
async def delete_key_override(request: web.Request) -> web.Response:
    path = request[PATH]
    await request.app[STORE].delete_key_override(path["queue_name"], path["key"])
    return web.Response(status=204)

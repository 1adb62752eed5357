"""Checkpoint endpoints: put, get and list the stored state of a task's steps."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs, match_info_schema, request_schema, response_schema

from durable_queue import commands, wire
from durable_queue.api import schemas
from durable_queue.api.claim_rule import holder_call
from durable_queue.api.keys import STORE
from durable_queue.api.response_schemas import response_schema_of
from durable_queue.api.responses import json_response
from durable_queue.api.validation import BODY, PATH

TAG = ["checkpoints"]


@docs(tags=TAG, summary="Store a step's state; owner_run must hold the task's live claim")
@match_info_schema(schemas.CheckpointPathSchema)
@request_schema(schemas.PutCheckpointSchema)
@response_schema(response_schema_of(wire.CheckpointSaved), 200)
@response_schema(schemas.ErrorSchema, 404, description="task or run not found")
@response_schema(
    schemas.ErrorSchema,
    409,
    description=(
        "owner_run is not a run of this task holding a claim (under claim_token, when "
        "given), or no claim_token was given while DURABLE_REQUIRE_CLAIM_TOKENS is on"
    ),
)
@holder_call
async def put_checkpoint(request: web.Request) -> web.Response:
    saved = await request.app[STORE].put_checkpoint(
        **request[PATH], **commands.as_arguments(request[BODY])
    )
    return json_response(saved)


@docs(tags=TAG, summary="Read a step's stored state")
@match_info_schema(schemas.CheckpointPathSchema)
@response_schema(response_schema_of(wire.Checkpoint), 200)
async def get_checkpoint(request: web.Request) -> web.Response:
    return json_response(await request.app[STORE].get_checkpoint(**request[PATH]))


@docs(tags=TAG, summary="Every checkpoint of a task")
@match_info_schema(schemas.TaskPathSchema)
@response_schema(response_schema_of(wire.CheckpointList), 200)
async def list_checkpoints(request: web.Request) -> web.Response:
    entries = await request.app[STORE].list_checkpoints(request[PATH]["task_id"])
    return json_response(wire.CheckpointList(entries))

"""Checkpoint endpoints: put and get the state of one step of a task."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs, request_schema, response_schema

from durable_queue.api import parsing
from durable_queue.api.keys import STORE
from durable_queue.api.responses import json_response
from durable_queue.api.schemas import (
    MAX_NAME_LENGTH,
    CheckpointListSchema,
    CheckpointSavedSchema,
    CheckpointSchema,
    ErrorSchema,
    PutCheckpointSchema,
)
from durable_queue.errors import ValidationError

TAG = ["checkpoints"]


def _step_name(request: web.Request) -> str:
    step = request.match_info["step_name"]
    if not 1 <= len(step) <= MAX_NAME_LENGTH:
        raise ValidationError(f"step_name must be 1 to {MAX_NAME_LENGTH} characters long")
    return step


@docs(tags=TAG, summary="Store a step's state; owner_run must hold the task's live claim")
@request_schema(PutCheckpointSchema)
@response_schema(CheckpointSavedSchema, 200)
@response_schema(ErrorSchema, 404, description="task or run not found")
@response_schema(
    ErrorSchema, 409, description="owner_run is not a run of this task holding a claim"
)
async def put_checkpoint(request: web.Request) -> web.Response:
    task_id = parsing.path_uuid(request, "task_id")
    step = _step_name(request)
    data = await parsing.body(request, PutCheckpointSchema())
    saved = await request.app[STORE].put_checkpoint(
        task_id,
        step,
        state=data["state"],
        owner_run=data["owner_run"],
        extend_claim_by=data.get("extend_claim_by"),
    )
    return json_response(saved)


@docs(tags=TAG, summary="Read a step's stored state")
@response_schema(CheckpointSchema, 200)
@response_schema(ErrorSchema, 404)
async def get_checkpoint(request: web.Request) -> web.Response:
    task_id = parsing.path_uuid(request, "task_id")
    checkpoint = await request.app[STORE].get_checkpoint(task_id, _step_name(request))
    return json_response(checkpoint)


@docs(tags=TAG, summary="Every checkpoint of a task")
@response_schema(CheckpointListSchema, 200)
@response_schema(ErrorSchema, 404)
async def list_checkpoints(request: web.Request) -> web.Response:
    task_id = parsing.path_uuid(request, "task_id")
    return json_response({"checkpoints": await request.app[STORE].list_checkpoints(task_id)})

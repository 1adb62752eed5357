"""Workflow run endpoints: create, patch, get, list."""

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

TAG = ["workflow runs"]


@docs(tags=TAG, summary="Create a workflow run (groups tasks)")
@request_schema(schemas.CreateWorkflowRunSchema)
@response_schema(response_schema_of(wire.WorkflowRunCreated), 201)
async def create_workflow_run(request: web.Request) -> web.Response:
    created = await request.app[STORE].create_workflow_run(**commands.as_arguments(request[BODY]))
    return json_response(created, status=201)


@docs(tags=TAG, summary="Change a workflow run's status, result or times (any subset)")
@match_info_schema(schemas.WorkflowRunPathSchema)
@request_schema(schemas.PatchWorkflowRunSchema)
@response_schema(response_schema_of(wire.WorkflowRunUpdated), 200)
async def update_workflow_run(request: web.Request) -> web.Response:
    store = request.app[STORE]
    updated = await store.update_workflow_run(request[PATH]["workflow_run_id"], request[BODY])
    return json_response(updated)


@docs(tags=TAG, summary="One workflow run with its tasks and task counts by status")
@match_info_schema(schemas.WorkflowRunPathSchema)
@response_schema(response_schema_of(wire.WorkflowRunDetail), 200)
async def get_workflow_run(request: web.Request) -> web.Response:
    return json_response(await request.app[STORE].get_workflow_run(**request[PATH]))


@docs(tags=TAG, summary="List workflow runs, newest first (cursor pagination)")
@querystring_schema(schemas.ListWorkflowRunsQuerySchema)
@response_schema(response_schema_of(wire.WorkflowRunList), 200)
async def list_workflow_runs(request: web.Request) -> web.Response:
    page = await request.app[STORE].list_workflow_runs(**request[QUERY])
    return json_response(wire.WorkflowRunList(page.items, page.next_cursor))

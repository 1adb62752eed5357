"""Workflow run endpoints: create and patch."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, request_schema, response_schema

from durable_queue.api import parsing
from durable_queue.api.keys import STORE
from durable_queue.api.responses import json_response, page_response
from durable_queue.api.schemas import (
    CreateWorkflowRunSchema,
    ErrorSchema,
    ListWorkflowRunsQuerySchema,
    PatchWorkflowRunSchema,
    WorkflowRunCreatedSchema,
    WorkflowRunDetailSchema,
    WorkflowRunListSchema,
    WorkflowRunUpdatedSchema,
)
from durable_queue.records import WorkflowRunPatch

TAG = ["workflow runs"]


@docs(tags=TAG, summary="Create a workflow run (groups tasks)")
@request_schema(CreateWorkflowRunSchema)
@response_schema(WorkflowRunCreatedSchema, 201)
async def create_workflow_run(request: web.Request) -> web.Response:
    data = await parsing.body(request, CreateWorkflowRunSchema())
    created = await request.app[STORE].create_workflow_run(
        data["workflow_name"],
        workflow_version=data.get("workflow_version"),
        inputs=data.get("inputs"),
        created_by=data.get("created_by"),
        tags=data.get("tags"),
    )
    return json_response(created, status=201)


@docs(tags=TAG, summary="Change a workflow run's status, result or times (any subset)")
@request_schema(PatchWorkflowRunSchema)
@response_schema(WorkflowRunUpdatedSchema, 200)
@response_schema(ErrorSchema, 404)
async def update_workflow_run(request: web.Request) -> web.Response:
    workflow_run_id = parsing.path_uuid(request, "workflow_run_id")
    data = await parsing.body(request, PatchWorkflowRunSchema(), allow_empty=True)
    patch = WorkflowRunPatch(
        status=data.get("status"),
        result=data.get("result"),
        started_at=data.get("started_at"),
        completed_at=data.get("completed_at"),
    )
    updated = await request.app[STORE].update_workflow_run(workflow_run_id, patch)
    return json_response(updated)


@docs(tags=TAG, summary="One workflow run with its tasks and task counts by status")
@response_schema(WorkflowRunDetailSchema, 200)
@response_schema(ErrorSchema, 404)
async def get_workflow_run(request: web.Request) -> web.Response:
    workflow_run_id = parsing.path_uuid(request, "workflow_run_id")
    return json_response(await request.app[STORE].get_workflow_run(workflow_run_id))


@docs(tags=TAG, summary="List workflow runs, newest first (cursor pagination)")
@querystring_schema(ListWorkflowRunsQuerySchema)
@response_schema(WorkflowRunListSchema, 200)
async def list_workflow_runs(request: web.Request) -> web.Response:
    filters = parsing.query(request, ListWorkflowRunsQuerySchema())
    return page_response("workflow_runs", await request.app[STORE].list_workflow_runs(**filters))

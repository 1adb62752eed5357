"""The one route table, by path."""

from __future__ import annotations

from aiohttp import web

from durable_queue.api import (
    checkpoints,
    concurrency_keys,
    events,
    health,
    queues,
    runs,
    schedules,
    tasks,
    workflow_runs,
)
from durable_queue.api.openapi import DOCS_URL

API = "/api/v1"


async def redirect_to_docs(request: web.Request) -> web.StreamResponse:
    """`GET /`: a person who opens the server's address lands on the API docs."""
    raise web.HTTPFound(DOCS_URL)


# Path under /api/v1 → method → handler, by resource.
QUEUE_ROUTES = {
    "/queues": {"GET": queues.list_queues, "POST": queues.create_queue},
    "/queues/{queue_name}": {
        "GET": queues.get_queue,
        "PATCH": queues.update_queue,
        "DELETE": queues.delete_queue,
    },
    "/queues/{queue_name}/stats": {"GET": queues.queue_stats},
    "/queues/{queue_name}/keys": {"GET": concurrency_keys.list_keys},
    "/queues/{queue_name}/keys/{key}": {
        "PUT": concurrency_keys.put_key_override,
        "DELETE": concurrency_keys.delete_key_override,
    },
    "/queues/{queue_name}/tasks": {"POST": tasks.create_task},
    "/queues/{queue_name}/tasks/batch": {"POST": tasks.create_tasks},
    "/queues/{queue_name}/tasks/claim": {"POST": tasks.claim_tasks},
}
TASK_ROUTES = {
    "/tasks": {"GET": tasks.list_tasks},
    "/tasks/{task_id}": {"GET": tasks.get_task, "PATCH": tasks.update_task},
    "/tasks/{task_id}/cancel": {"POST": tasks.cancel_task},
    "/tasks/{task_id}/result": {"GET": tasks.task_result},
    "/tasks/{task_id}/checkpoints": {"GET": checkpoints.list_checkpoints},
    "/tasks/{task_id}/checkpoints/{step_name}": {
        "PUT": checkpoints.put_checkpoint,
        "GET": checkpoints.get_checkpoint,
    },
}
RUN_ROUTES = {
    "/runs": {"GET": runs.list_runs},
    "/runs/complete": {"POST": runs.complete_runs},
    "/runs/{run_id}/complete": {"POST": runs.complete_run},
    "/runs/{run_id}/fail": {"POST": runs.fail_run},
    "/runs/{run_id}/schedule": {"POST": runs.schedule_run},
    "/runs/{run_id}/wait-for-event": {"POST": runs.wait_for_event},
    "/runs/{run_id}/wait-for-tasks": {"POST": runs.wait_for_tasks},
    "/runs/{run_id}/heartbeat": {"POST": runs.heartbeat},
}
EVENT_AND_WORKFLOW_ROUTES = {
    "/events": {"POST": events.emit_event},
    "/workflow-runs": {
        "POST": workflow_runs.create_workflow_run,
        "GET": workflow_runs.list_workflow_runs,
    },
    "/workflow-runs/{workflow_run_id}": {
        "GET": workflow_runs.get_workflow_run,
        "PATCH": workflow_runs.update_workflow_run,
    },
}
SCHEDULE_ROUTES = {
    "/schedules": {"GET": schedules.list_schedules, "POST": schedules.create_schedule},
    "/schedules/{schedule_name}": {
        "GET": schedules.get_schedule,
        "PATCH": schedules.update_schedule,
        "DELETE": schedules.delete_schedule,
    },
    "/schedules/{schedule_name}/trigger": {"POST": schedules.trigger_schedule},
    "/schedules/{schedule_name}/backfill": {"POST": schedules.backfill_schedule},
}
API_ROUTES = {
    **QUEUE_ROUTES,
    **TASK_ROUTES,
    **RUN_ROUTES,
    **EVENT_AND_WORKFLOW_ROUTES,
    **SCHEDULE_ROUTES,
}
OTHER_ROUTES = {
    "/": {"GET": redirect_to_docs},
    "/healthz": {"GET": health.healthz},
    "/readyz": {"GET": health.readyz},
}


def add_routes(app: web.Application) -> None:
    """Every route; the OpenAPI document is generated from them."""
    routes = {**{f"{API}{path}": methods for path, methods in API_ROUTES.items()}, **OTHER_ROUTES}
    app.add_routes(
        [
            web.route(method, path, handler)  # a GET answers HEAD too, as with web.get
            for path, methods in routes.items()
            for method, handler in methods.items()
        ]
    )

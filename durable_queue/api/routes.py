"""The one route table."""

from __future__ import annotations

from aiohttp import web

from durable_queue.api import checkpoints, events, health, queues, runs, tasks, workflow_runs
from durable_queue.api.openapi import DOCS_URL

API = "/api/v1"


async def redirect_to_docs(request: web.Request) -> web.StreamResponse:
    """`GET /`: a person who opens the server's address lands on the API docs."""
    raise web.HTTPFound(DOCS_URL)


def add_routes(app: web.Application) -> None:
    app.add_routes(
        [
            web.get(f"{API}/queues", queues.list_queues),
            web.post(f"{API}/queues", queues.create_queue),
            web.delete(f"{API}/queues/{{queue_name}}", queues.delete_queue),
            web.get(f"{API}/queues/{{queue_name}}/stats", queues.queue_stats),
            web.post(f"{API}/queues/{{queue_name}}/tasks", tasks.create_task),
            web.post(f"{API}/queues/{{queue_name}}/tasks/claim", tasks.claim_tasks),
            web.get(f"{API}/tasks", tasks.list_tasks),
            web.get(f"{API}/tasks/{{task_id}}", tasks.get_task),
            web.post(f"{API}/tasks/{{task_id}}/cancel", tasks.cancel_task),
            web.get(f"{API}/tasks/{{task_id}}/checkpoints", checkpoints.list_checkpoints),
            web.put(
                f"{API}/tasks/{{task_id}}/checkpoints/{{step_name}}", checkpoints.put_checkpoint
            ),
            web.get(
                f"{API}/tasks/{{task_id}}/checkpoints/{{step_name}}", checkpoints.get_checkpoint
            ),
            web.get(f"{API}/runs", runs.list_runs),
            web.post(f"{API}/runs/{{run_id}}/complete", runs.complete_run),
            web.post(f"{API}/runs/{{run_id}}/fail", runs.fail_run),
            web.post(f"{API}/runs/{{run_id}}/schedule", runs.schedule_run),
            web.post(f"{API}/runs/{{run_id}}/wait-for-event", runs.wait_for_event),
            web.post(f"{API}/runs/{{run_id}}/heartbeat", runs.heartbeat),
            web.post(f"{API}/events", events.emit_event),
            web.post(f"{API}/workflow-runs", workflow_runs.create_workflow_run),
            web.get(f"{API}/workflow-runs", workflow_runs.list_workflow_runs),
            web.get(f"{API}/workflow-runs/{{workflow_run_id}}", workflow_runs.get_workflow_run),
            web.patch(
                f"{API}/workflow-runs/{{workflow_run_id}}", workflow_runs.update_workflow_run
            ),
            web.get("/", redirect_to_docs),
            web.get("/healthz", health.healthz),
            web.get("/readyz", health.readyz),
        ]
    )

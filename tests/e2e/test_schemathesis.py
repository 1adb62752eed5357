"""schemathesis against the served OpenAPI document: every answer is documented (status and
body shape) and none is a server error, for valid and invalid inputs alike.

The server runs in a thread of its own (schemathesis calls it synchronously), the way
`durable-queue serve` runs it, on a database of its own. Hypothesis is derandomized and
bounded, so a run is repeatable and takes a few minutes at most.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from durable_queue.app import create_app
from durable_queue.config import Settings
from durable_queue.server import DurableAppRunner
from tests import pg

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]


class ThreadedServer:
    """The app served by `DurableAppRunner` on a free local port, in its own event loop."""

    def __init__(self, app: web.Application) -> None:
        self.loop = asyncio.new_event_loop()
        self.runner = DurableAppRunner(app, access_log=None, handler_cancellation=True)
        self.thread = threading.Thread(target=self.loop.run_forever, name="schemathesis-server")
        self.thread.start()
        self.url = self._run(self._start())

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    async def _start(self) -> str:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        try:
            self._run(self.runner.cleanup())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=60)
            self.loop.close()


def seed(url: str) -> dict[str, str]:
    """Resources that exist, so that cases reach past 404 to the success answers."""
    api = f"{url}/api/v1"

    def post(path: str, body: dict, method: str = "POST") -> dict:
        response = requests.request(method, f"{api}{path}", json=body, timeout=30)
        assert response.status_code in (200, 201), response.text
        return response.json()

    post("/queues", {"name": "seeded"})
    workflow = post("/workflow-runs", {"workflow_name": "seeded"})
    post("/queues/seeded/tasks", {"task_name": "seeded", "max_attempts": 3})
    [claimed] = post("/queues/seeded/tasks/claim", {"limit": 1, "claim_timeout": 3600})["tasks"]
    checkpoint = {"state": {"n": 1}, "owner_run": claimed["run_id"]}
    post(f"/tasks/{claimed['task_id']}/checkpoints/step", checkpoint, method="PUT")
    return {
        "queue_name": "seeded",
        "task_id": claimed["task_id"],
        "run_id": claimed["run_id"],
        "workflow_run_id": workflow["workflow_run_id"],
        "step_name": "step",
    }


@pytest.fixture(scope="module")
def live_url(postgres: pg.TestPostgres) -> Iterator[str]:
    name, url = postgres.new_database()
    server = ThreadedServer(create_app(Settings(database_url=url)))
    try:
        yield server.url
    finally:
        server.close()
        postgres.drop_database(name)


@pytest.fixture(scope="module")
def api_schema(live_url: str) -> schemathesis.BaseSchema:
    loaded = schemathesis.openapi.from_url(f"{live_url}/api/v1/openapi.json")
    existing = seed(live_url)

    @loaded.hook
    def flatmap_path_parameters(context, path_parameters: dict) -> st.SearchStrategy:
        """Each path parameter stays as generated or becomes an existing resource's (never for
        DELETE, which would take the seeded queue and its task away from every later case)."""
        if not path_parameters or context.operation.method.upper() == "DELETE":
            return st.just(path_parameters)
        return st.fixed_dictionaries(
            {
                key: st.sampled_from([value, existing[key]]) if key in existing else st.just(value)
                for key, value in path_parameters.items()
            }
        )

    @loaded.hook
    def map_body(context, body):
        """Valid long polls on the seeded queue wait 1 second, not up to 30."""
        poll = body.get("long_poll_seconds") if isinstance(body, dict) else None
        if type(poll) is int and 1 < poll <= 30:
            body = {**body, "long_poll_seconds": 1}
        return body

    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_documented_and_none_is_a_server_error(case, live_url):
    case.call_and_validate(base_url=live_url, checks=CHECKS, timeout=60)

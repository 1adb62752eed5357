"""The client's retries after an unknown outcome: a fake server "commits" each request and
then answers 503 to the first attempt, as a server whose database session died after the
commit does. A create is retried with the key of its first attempt (one is made when the
caller gives none), so the retry finds what the first made; a complete or fail is retried
only with a claim_token, and a batch complete only when every item has one."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from aiohttp import web
from durable_queue_client import DurableClient, Unavailable
from durable_queue_client.models import CreateTaskRequest, RunCompletion

RUN = "01890000-0000-7000-8000-000000000001"


class FakeServer:
    """Stores tasks by idempotency key (a repeat answers 200 with the same task) and
    answers 503 to the first `failures` requests, after storing what they carried."""

    def __init__(self, failures: int = 1) -> None:
        self.failures = failures
        self.bodies: list[tuple[str, Any]] = []
        self.tasks: dict[str, str] = {}  # idempotency key -> task id

    def _create(self, item: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        key = item.get("idempotency_key")
        created = key is None or key not in self.tasks
        task_id = str(uuid.uuid4()) if created else self.tasks[key]
        if key is not None:
            self.tasks[key] = task_id
        return {"task_id": task_id, "run_id": RUN, "created": created}, created

    async def handle(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        self.bodies.append((request.path, body))
        if request.path.endswith("/tasks/batch"):
            answer: Any = {"tasks": [self._create(item)[0] for item in body["tasks"]]}
            status = 201
        elif request.path.endswith("/tasks"):
            answer, created = self._create(body)
            del answer["created"]
            status = 201 if created else 200
        elif request.path == "/api/v1/runs/complete":
            answer = {
                "runs": [{"run_id": r["run_id"], "status": "completed"} for r in body["runs"]]
            }
            status = 200
        elif request.path.endswith("/fail"):
            answer, status = {"run_id": RUN, "status": "failed", "attempt": 1}, 200
        else:
            answer, status = {"run_id": RUN, "status": "completed"}, 200
        if self.failures > 0:  # stored above; the answer is lost
            self.failures -= 1
            return web.json_response(
                {"error": "database unavailable", "code": "UNAVAILABLE"}, status=503
            )
        return web.json_response(answer, status=status)


@pytest.fixture
async def fake(aiohttp_server: Any) -> tuple[str, FakeServer]:
    server = FakeServer()
    app = web.Application()
    app.router.add_post("/api/v1/{tail:.*}", server.handle)
    running = await aiohttp_server(app)
    return str(running.make_url("")).rstrip("/"), server


def client(url: str) -> DurableClient:
    return DurableClient(url, retries=2, backoff=0)


async def test_a_create_without_a_key_is_retried_with_the_key_of_its_first_attempt(fake):
    url, server = fake
    async with client(url) as dq:
        created = await dq.create_task("q", "job")
    [(_, first), (_, retry)] = server.bodies
    assert first["idempotency_key"] == retry["idempotency_key"]
    assert len(server.tasks) == 1  # the retry found the task the first attempt made
    assert created.task_id == server.tasks[first["idempotency_key"]]


async def test_each_create_gets_its_own_key_and_a_given_key_is_kept(fake):
    url, server = fake
    server.failures = 0
    async with client(url) as dq:
        await dq.create_task("q", "a")
        await dq.create_task("q", "b")
        await dq.create_task("q", "c", idempotency_key="mine")
        await dq.create_task("q", "d", idempotency_key="")
    keys = [body["idempotency_key"] for _, body in server.bodies]
    assert len(set(keys[:2])) == 2 and keys[2:] == ["mine", ""]


async def test_a_batch_create_is_retried_with_the_same_key_per_item(fake):
    url, server = fake
    tasks = [
        CreateTaskRequest(task_name="a"),
        CreateTaskRequest(task_name="b", idempotency_key="k"),
    ]
    async with client(url) as dq:
        results = await dq.create_tasks("q", tasks)
    [(_, first), (_, retry)] = server.bodies
    keys = [item["idempotency_key"] for item in first["tasks"]]
    assert keys == [item["idempotency_key"] for item in retry["tasks"]]
    assert keys[1] == "k" and keys[0] != "k"
    assert len(server.tasks) == 2
    assert [r.created for r in results] == [False, False]  # made by the lost first attempt
    assert [r.task_id for r in results] == [server.tasks[key] for key in keys]


async def test_complete_and_fail_are_retried_only_with_a_claim_token(fake):
    url, server = fake
    async with client(url) as dq:
        await dq.complete_run(RUN, 1, claim_token="t")
        server.failures = 1
        await dq.fail_run(RUN, "boom", claim_token="t")
        server.failures = 1
        await dq.complete_runs([RunCompletion(run_id=RUN, claim_token="t")])
        assert len(server.bodies) == 6  # each sent twice
        for call in (
            lambda: dq.complete_run(RUN, 1),
            lambda: dq.fail_run(RUN, "boom"),
            lambda: dq.complete_runs(
                [RunCompletion(run_id=RUN, claim_token="t"), RunCompletion(run_id=RUN)]
            ),
        ):
            server.failures = 1
            with pytest.raises(Unavailable):
                await call()
    assert len(server.bodies) == 9  # without a token (on every item): sent once

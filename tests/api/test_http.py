"""Cross-cutting HTTP behaviour: malformed bodies, size limit, unknown routes, docs, probes."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from durable_queue.api.keys import LISTENER
from durable_queue.app import create_app
from durable_queue.config import Settings
from tests.helpers import API, call, error, eventually, make_queue


@pytest.mark.parametrize(
    "data",
    [b"{not json", b"[1, 2]", b'"text"', b"42", b"null", b"", b"\xff\xfe"],
)
async def test_bodies_that_are_not_json_objects_are_400(client, data):
    message = await error(
        client,
        "POST",
        "/queues",
        400,
        "VALIDATION_ERROR",
        data=data,
        headers={"Content-Type": "application/json"},
    )
    assert "body" in message
    assert await call(client, "GET", "/queues", 200) == {"queues": []}


async def test_body_over_limit_is_413(aiohttp_client, database_url):
    client = await aiohttp_client(
        create_app(Settings(database_url=database_url, max_body_bytes=1000))
    )
    big = {"task_name": "x", "params": "a" * 2000}
    await make_queue(client, "q")
    await error(client, "POST", "/queues/q/tasks", 413, "PAYLOAD_TOO_LARGE", json=big)
    assert (await call(client, "GET", "/tasks", 200))["tasks"] == []


async def test_unknown_path_is_json_404(client):
    await error(client, "GET", "/nothing-here", 404, "NOT_FOUND")


async def test_wrong_method_is_json_405_naming_the_allowed_ones(client):
    body = await call(client, "PUT", "/queues", 405)
    assert body["code"] == "METHOD_NOT_ALLOWED"
    resp = await client.put("/api/v1/queues")
    assert set(resp.headers["Allow"].split(",")) >= {"GET", "POST"}


async def test_healthz_and_readyz(client):
    resp = await client.get("/healthz")
    assert resp.status == 200
    resp = await client.get("/readyz")
    assert resp.status == 200
    assert (await resp.json())["database"] == "ok"


async def test_openapi_document_declares_the_claim_body_required(client):
    doc = await call(client, "GET", "/openapi.json", 200)
    claim = doc["paths"]["/api/v1/queues/{queue_name}/tasks/claim"]["post"]
    assert claim["requestBody"]["required"] is True
    assert "claim_timeout" in doc["components"]["schemas"]["Claim"]["properties"]


async def test_docs_serve_swagger_ui_from_this_server(client):
    resp = await client.get("/docs")
    assert resp.status == 200
    html = await resp.text()
    assert "swagger-ui" in html
    assert "http://" not in html and "https://" not in html  # no CDN: everything is local
    assert "/api/v1/openapi.json" in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        assert f"/docs/static/{asset}" in html
        resp = await client.get(f"/docs/static/{asset}")
        assert resp.status == 200, asset


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/queues/q/tasks/claim", {"limit": 1, "claim_timeout": 10**30}, "claim_timeout"),
        ("/queues/q/tasks/claim", {"limit": True, "claim_timeout": 5}, "limit must be an integer"),
        ("/queues/q/tasks", {"task_name": "x", "max_attempts": 2**31}, "max_attempts"),
        ("/queues/q/tasks", {"task_name": "x", "execution_timeout": 2**40}, "execution_timeout"),
        ("/queues/q/tasks", {"task_name": "x\u0000y"}, "task_name must not contain NUL"),
        (
            "/queues/q/tasks",
            {"task_name": "x", "params": {"k": "\u0000"}},
            "params.k must not contain NUL",
        ),
        (
            "/queues",
            {"name": "q2", "cleanup": {"task_ttl_seconds": 2**31}},
            "cleanup.task_ttl_seconds",
        ),
    ],
)
async def test_out_of_range_values_are_400_not_500(client, path, body, message):
    await make_queue(client, "q")
    got = await error(client, "POST", path, 400, "VALIDATION_ERROR", json=body)
    assert got.startswith(message), got
    assert (await call(client, "GET", "/tasks", 200))["tasks"] == []


@pytest.mark.parametrize(
    "raw",
    [
        b'{"task_name": "x", "params": NaN}',
        b'{"task_name": "x", "params": Infinity}',
        b"[" * 100000,
    ],
)
async def test_non_json_numbers_and_deep_nesting_are_400(client, raw):
    await make_queue(client, "q")
    await error(client, "POST", "/queues/q/tasks", 400, "VALIDATION_ERROR", data=raw)


@pytest.mark.parametrize(
    "when", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z"]
)
async def test_timestamps_outside_the_window_are_400(client, when):
    await make_queue(client, "q")
    got = await error(
        client,
        "POST",
        "/queues/q/tasks",
        400,
        "VALIDATION_ERROR",
        json={"task_name": "x", "run_at": when},
    )
    assert got.startswith("run_at must be between")
    assert (await call(client, "GET", "/tasks", 200))["tasks"] == []


async def test_indexed_names_longer_than_1024_characters_are_400(client):
    await make_queue(client, "q")
    long = "n" * 6000
    got = await error(client, "POST", "/events", 400, "VALIDATION_ERROR", json={"event_name": long})
    assert got.startswith("event_name must be 1 to 1024 characters long")
    await error(
        client, "POST", "/workflow-runs", 400, "VALIDATION_ERROR", json={"workflow_name": long}
    )
    body = {"task_name": "x", "idempotency_key": long}
    assert (
        await error(client, "POST", "/queues/q/tasks", 400, "VALIDATION_ERROR", json=body)
    ).startswith("idempotency_key")
    created = await call(client, "POST", "/queues/q/tasks", 201, json={"task_name": "x"})
    [task] = (
        await call(
            client, "POST", "/queues/q/tasks/claim", 200, json={"limit": 1, "claim_timeout": 60}
        )
    )["tasks"]
    put = {"state": 1, "owner_run": task["run_id"]}
    got = await error(
        client,
        "PUT",
        f"/tasks/{created['task_id']}/checkpoints/{'s' * 2000}",
        400,
        "VALIDATION_ERROR",
        json=put,
    )
    assert got.startswith("step_name")
    wait = {"event_name": "e", "timeout_seconds": 5, "task_id": task["task_id"], "step_name": long}
    await error(
        client, "POST", f"/runs/{task['run_id']}/wait-for-event", 400, "VALIDATION_ERROR", json=wait
    )


async def test_deeply_nested_json_value_is_400_or_stored_never_500(client):
    await make_queue(client, "q")
    for depth in (300, 900):
        raw = b'{"task_name": "x", "params": ' + b"[" * depth + b"]" * depth + b"}"
        resp = await client.post("/api/v1/queues/q/tasks", data=raw)
        assert resp.status in (201, 400), await resp.text()


async def test_claim_limit_above_1000_is_served_up_to_1000(client):
    await make_queue(client, "q")
    await call(client, "POST", "/queues/q/tasks", 201, json={"task_name": "x"})
    body = await call(
        client, "POST", "/queues/q/tasks/claim", 200, json={"limit": 5000, "claim_timeout": 60}
    )
    assert len(body["tasks"]) == 1


@pytest.mark.parametrize("name", [".", "..", "q\n", "a/b", ""])
async def test_queue_names_a_url_cannot_reach_are_refused(client, name):
    got = await error(client, "POST", "/queues", 400, "VALIDATION_ERROR", json={"name": name})
    assert got.startswith("name must be 1-128 characters"), got
    assert await call(client, "GET", "/queues", 200) == {"queues": []}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (rb'{"task_name": "\ud800"}', "task_name must not contain unpaired surrogates"),
        (
            rb'{"task_name": "x", "params": {"a": ["ok", "\udfff"]}}',
            "params.a[1] must not contain unpaired surrogates",
        ),
        (
            rb'{"task_name": "x", "headers": {"\uDBFF": "v"}}',
            "a key of headers must not contain unpaired surrogates",
        ),
        (
            rb'{"task_name": "x", "idempotency_key": "\u0000"}',
            "idempotency_key must not contain NUL",
        ),
    ],
)
async def test_strings_postgresql_cannot_store_are_400_naming_the_field(client, raw, message):
    await make_queue(client, "q")
    got = await error(client, "POST", "/queues/q/tasks", 400, "VALIDATION_ERROR", data=raw)
    assert got.startswith(message), got
    assert (await call(client, "GET", "/tasks", 200))["tasks"] == []


async def test_a_surrogate_pair_is_one_character_and_accepted(client):
    await make_queue(client, "q")
    raw = rb'{"task_name": "smile \ud83d\ude00"}'
    created = await call(client, "POST", "/queues/q/tasks", 201, data=raw)
    detail = await call(client, "GET", f"/tasks/{created['task_id']}", 200)
    assert detail["task_name"] == "smile \U0001f600"


async def test_a_nul_in_the_query_string_is_400_naming_the_parameter(client):
    got = await error(
        client, "GET", "/tasks", 400, "VALIDATION_ERROR", params={"task_name": "a\x00"}
    )
    assert got.startswith("task_name must not contain NUL"), got


async def test_path_ids_are_validated_before_anything_else(client):
    got = await error(client, "POST", "/runs/nope/fail", 400, "VALIDATION_ERROR", data=b"{not json")
    assert got == "run_id must be a valid UUID"
    got = await error(client, "GET", "/workflow-runs/12", 400, "VALIDATION_ERROR")
    assert got == "workflow_run_id must be a valid UUID"
    got = await error(client, "GET", "/queues/a%20b/stats", 400, "VALIDATION_ERROR")
    assert got.startswith("queue_name must be")


async def test_bodies_are_json_whatever_their_content_type(client):
    body = b'{"name": "q"}'
    for content_type in ("application/x-www-form-urlencoded", "text/plain"):
        await call(
            client, "POST", "/queues", 201, data=body, headers={"Content-Type": content_type}
        )
        await call(client, "DELETE", "/queues/q", 204)


async def test_root_redirects_to_the_docs(client):
    resp = await client.get("/", allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "/docs"


async def test_a_client_that_leaves_a_long_poll_is_logged_as_499(server_url, app):
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    access = logging.getLogger("durable_queue.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    claim_path = f"{API}/queues/q/tasks/claim"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{server_url}{API}/queues", json={"name": "q"}) as resp:
                assert resp.status == 201

            async def long_poll() -> None:
                body = {"limit": 1, "claim_timeout": 60, "long_poll_seconds": 30}
                async with session.post(f"{server_url}{claim_path}", json=body) as resp:
                    await resp.read()

            pending = asyncio.create_task(long_poll())
            await eventually(_waiting(app), deadline_seconds=20)
            pending.cancel()  # the client goes away mid-poll: its connection closes
            with pytest.raises(asyncio.CancelledError):
                await pending

        async def logged() -> list[int]:
            return [r.status for r in records if getattr(r, "path", None) == claim_path]

        assert await eventually(logged) == [499]
    finally:
        access.removeHandler(handler)


def _waiting(app):
    async def check() -> bool:
        return len(app[LISTENER].waiters) == 1

    return check

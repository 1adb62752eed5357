"""The OpenAPI document: every route in it, every status each operation can answer, typed
path parameters, and the committed openapi.json equal to the served one.

Refresh the committed copy with `UPDATE_OPENAPI=1 python3 -m pytest tests/api/test_openapi.py`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from aiohttp import web

from durable_queue.api.openapi import openapi_document, setup_openapi
from durable_queue.api.routes import add_routes
from durable_queue.api.wire_fields import QUEUE_NAME_PATTERN
from tests.helpers import call

OPENAPI_FILE = Path(__file__).resolve().parents[2] / "openapi.json"
ERROR_REF = {"$ref": "#/components/schemas/Error"}


def operations(doc: dict) -> list[tuple[str, str, dict]]:
    return [
        (method, path, op) for path, item in doc["paths"].items() for method, op in item.items()
    ]


@pytest.fixture
async def served(client) -> dict:
    resp = await client.get("/api/v1/openapi.json")
    assert resp.status == 200
    return await resp.json()


async def test_committed_openapi_document_matches_the_served_one(served):
    if os.environ.get("UPDATE_OPENAPI") == "1":
        OPENAPI_FILE.write_text(json.dumps(served, indent=2, sort_keys=True) + "\n")
    committed = json.loads(OPENAPI_FILE.read_text())
    assert committed == served, (
        "openapi.json is stale: run `UPDATE_OPENAPI=1 python3 -m pytest tests/api/test_openapi.py`"
    )


async def test_document_lists_every_api_route(served, app):
    assert served["openapi"].startswith("3.")
    documented = {(method, path) for method, path, _ in operations(served)}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method == "HEAD" or path == "/api/v1/openapi.json":
            continue
        if path and path.startswith("/api/v1/"):
            assert (route.method.lower(), path) in documented, (route.method, path)


async def test_every_api_operation_lists_its_common_error_statuses(served):
    for method, path, op in operations(served):
        if not path.startswith("/api/v1/"):
            continue
        responses = op["responses"]
        has_path_params = "{" in path
        has_input = bool(op.get("parameters")) or "requestBody" in op
        expected = {"503"}
        expected |= {"400"} if has_input else set()
        expected |= {"404"} if has_path_params else set()
        expected |= {"413"} if "requestBody" in op else set()
        assert expected <= set(responses), (method, path, sorted(responses))
        assert any(code.startswith("2") for code in responses), (method, path)
        for code in expected:
            assert responses[code]["content"]["application/json"]["schema"] == ERROR_REF
            assert responses[code]["description"] not in ("", "OK"), (method, path, code)
        assert "401" not in responses  # no auth configured


async def test_delete_queue_documents_204_and_its_conflict(served):
    responses = served["paths"]["/api/v1/queues/{queue_name}"]["delete"]["responses"]
    assert responses["204"] == {"description": "No Content"}
    assert responses["409"]["content"]["application/json"]["schema"] == ERROR_REF


async def test_path_parameters_are_typed(served):
    seen = set()
    for _, path, op in operations(served):
        for parameter in op.get("parameters", []):
            if parameter["in"] != "path":
                continue
            assert parameter["required"] is True
            name, schema = parameter["name"], parameter["schema"]
            seen.add(name)
            if name.endswith("_id"):
                assert schema["format"] == "uuid", (path, name)
            elif name in ("queue_name", "schedule_name"):  # a schedule is named like a queue
                assert schema["pattern"] == QUEUE_NAME_PATTERN
            else:
                assert schema.get("maxLength"), (path, name)
        assert {p["name"] for p in op.get("parameters", []) if p["in"] == "path"} == set(
            re.findall(r"{(\w+)}", path)
        )
    assert {"queue_name", "task_id", "run_id", "workflow_run_id", "step_name"} <= seen
    assert "schedule_name" in seen


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("q", True),
        ("a.b-c_D9", True),
        ("x" * 128, True),
        (".x", True),
        ("...", True),
        ("x" * 129, False),
        ("", False),
        ("a b", False),
        ("a/b", False),
        ("é", False),
        (".", False),
        ("..", False),
    ],
)
def test_queue_name_pattern(name, valid):
    # JSON Schema patterns are ECMA-262 searches; Python's re.search agrees on these.
    assert bool(re.search(QUEUE_NAME_PATTERN, name)) is valid


@pytest.mark.parametrize("name", ["q.1", ".x", "..."])
async def test_names_the_pattern_accepts_are_accepted_by_the_server(client, name):
    await call(client, "POST", "/queues", 201, json={"name": name})
    await call(client, "GET", f"/queues/{name}/stats", 200)


@pytest.mark.parametrize("name", [".", "..", "q\n"])
async def test_names_the_pattern_refuses_are_refused_by_the_server(client, name):
    body = await call(client, "POST", "/queues", 400, json={"name": name})
    assert body["code"] == "VALIDATION_ERROR"
    assert "name" in body["error"]


def test_bearer_auth_documents_the_scheme_and_401_on_api_operations():
    app = web.Application()
    add_routes(app)
    setup_openapi(app, bearer_auth=True)
    doc = openapi_document(app)
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }
    for method, path, op in operations(doc):
        if path.startswith("/api/v1/"):
            assert op["security"] == [{"bearerAuth": []}], (method, path)
            assert op["responses"]["401"]["content"]["application/json"]["schema"] == ERROR_REF
        else:
            assert "security" not in op and "401" not in op["responses"], (method, path)

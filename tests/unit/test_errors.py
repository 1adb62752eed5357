"""The domain-error → HTTP table and the error middleware, on a tiny app (no database)."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest
from aiohttp import web

from durable_queue import errors
from durable_queue.api.middleware import error_middleware
from durable_queue.api.responses import ERROR_STATUS, status_of

API_DIR = Path(__file__).resolve().parents[2] / "durable_queue" / "api"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (errors.ValidationError("x is required"), (400, "VALIDATION_ERROR")),
        (errors.NotFound("no"), (404, "NOT_FOUND")),
        (errors.Conflict("no"), (409, "CONFLICT")),
        (errors.PayloadTooLarge("big"), (413, "PAYLOAD_TOO_LARGE")),
        (errors.Unavailable(), (503, "UNAVAILABLE")),
        (errors.DurableError(), (500, "INTERNAL_ERROR")),
    ],
)
def test_each_domain_error_has_its_status_and_code(error, expected):
    assert status_of(error) == expected


def test_a_subclass_answers_as_its_nearest_listed_class():
    class QueueMissing(errors.NotFound):
        pass

    assert status_of(QueueMissing("q")) == (404, "NOT_FOUND")


def test_every_domain_error_is_in_the_table():
    declared = {
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.DurableError)
    }
    assert declared - {errors.DurableError} == set(ERROR_STATUS)


def test_domain_errors_carry_no_http_numbers():
    for cls in ERROR_STATUS:
        assert not hasattr(cls, "status") and not hasattr(cls, "code"), cls


def test_the_api_layer_does_not_import_the_driver():
    for path in API_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] == "psycopg2" for n in names), path


def _raising(exc: BaseException):
    async def handler(request: web.Request) -> web.Response:
        raise exc

    return handler


@pytest.fixture
async def tiny(aiohttp_client):
    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/value-error", _raising(ValueError("bug")))
    app.router.add_get("/not-found", _raising(errors.NotFound("task t not found")))
    app.router.add_get("/unavailable", _raising(errors.Unavailable()))
    return await aiohttp_client(app)


async def test_an_unexpected_value_error_is_a_logged_500(tiny, caplog):
    with caplog.at_level(logging.ERROR, logger="durable_queue.api"):
        resp = await tiny.get("/value-error")
    assert resp.status == 500
    assert await resp.json() == {"error": "internal server error", "code": "INTERNAL_ERROR"}
    [record] = [r for r in caplog.records if r.name == "durable_queue.api"]
    assert record.exc_info and record.exc_info[0] is ValueError


async def test_domain_errors_render_the_envelope(tiny):
    resp = await tiny.get("/not-found")
    assert (resp.status, await resp.json()) == (
        404,
        {"error": "task t not found", "code": "NOT_FOUND"},
    )
    resp = await tiny.get("/unavailable")
    assert (resp.status, await resp.json()) == (
        503,
        {"error": "database unavailable", "code": "UNAVAILABLE"},
    )


async def test_aiohttp_errors_render_the_envelope(tiny):
    resp = await tiny.get("/nothing")
    assert (resp.status, (await resp.json())["code"]) == (404, "NOT_FOUND")
    resp = await tiny.post("/not-found")
    assert (resp.status, (await resp.json())["code"]) == (405, "METHOD_NOT_ALLOWED")

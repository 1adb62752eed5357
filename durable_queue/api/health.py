"""Liveness and readiness probes."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs, response_schema

from durable_queue.api.keys import STORE
from durable_queue.api.responses import json_response
from durable_queue.api.schemas import HealthSchema
from durable_queue.errors import DurableError

TAG = ["health"]


@docs(tags=TAG, summary="200 while the process runs")
@response_schema(HealthSchema, 200)
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@docs(tags=TAG, summary="200 when the database answers, else 503")
@response_schema(HealthSchema, 200)
@response_schema(HealthSchema, 503)
async def readyz(request: web.Request) -> web.Response:
    try:
        await request.app[STORE].ping()
    except DurableError:
        return json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    return json_response({"status": "ok", "database": "ok"})

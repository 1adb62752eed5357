"""Liveness and readiness probes."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs, response_schema

from durable_queue.api.keys import LISTENER, MAINTENANCE, STORE
from durable_queue.api.response_schemas import response_schema_of
from durable_queue.api.responses import json_response
from durable_queue.errors import DurableError
from durable_queue.wire import Health, Readiness

TAG = ["health"]

# How long /readyz waits for a dropped listener to reconnect before answering 503.
LISTENER_WAIT_SECONDS = 2.0


@docs(tags=TAG, summary="200 while the process runs")
@response_schema(response_schema_of(Health), 200)
async def healthz(request: web.Request) -> web.Response:
    return json_response(Health("ok"))


@docs(tags=TAG, summary="200 when the database answers and the listener is connected, else 503")
@response_schema(response_schema_of(Readiness), 200)
@response_schema(response_schema_of(Readiness), 503)
async def readyz(request: web.Request) -> web.Response:
    sweeper = request.app.get(MAINTENANCE)
    maintenance = "active" if sweeper is not None and sweeper.active else "standby"
    database = "ok"
    try:
        await request.app[STORE].ping()
    except DurableError:
        database = "unreachable"
    listener = request.app[LISTENER]
    # A probe retries a dropped listener now rather than after its backoff.
    listening = listener.connected or (
        database == "ok" and await listener.wait_connected(LISTENER_WAIT_SECONDS)
    )
    ready = database == "ok" and listening
    readiness = Readiness(
        status="ok" if ready else "unavailable",
        database=database,
        listener="ok" if listening else "down",
        maintenance=maintenance,
    )
    return json_response(readiness, status=200 if ready else 503)

"""Event endpoint: emit an event, waking every run that waits for its name."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs, request_schema, response_schema

from durable_queue.api import parsing
from durable_queue.api.keys import STORE
from durable_queue.api.responses import json_response
from durable_queue.api.schemas import EmitEventSchema, EventCreatedSchema


@docs(tags=["events"], summary="Emit an event; pending waits on its name resolve at once")
@request_schema(EmitEventSchema)
@response_schema(EventCreatedSchema, 201)
async def emit_event(request: web.Request) -> web.Response:
    data = await parsing.body(request, EmitEventSchema())
    created = await request.app[STORE].emit_event(data["event_name"], data.get("payload"))
    return json_response(created, status=201)

"""Event endpoint: emit an event, waking every run that waits for its name."""

from __future__ import annotations

from aiohttp import web
from aiohttp_apispec import docs, request_schema, response_schema

from durable_queue import commands, wire
from durable_queue.api import schemas
from durable_queue.api.keys import STORE
from durable_queue.api.response_schemas import response_schema_of
from durable_queue.api.responses import json_response
from durable_queue.api.validation import BODY


@docs(tags=["events"], summary="Emit an event; pending waits on its name resolve at once")
@request_schema(schemas.EmitEventSchema)
@response_schema(response_schema_of(wire.EventCreated), 201)
async def emit_event(request: web.Request) -> web.Response:
    event: commands.NewEvent = request[BODY]
    created = await request.app[STORE].emit_event(event.event_name, event.payload)
    return json_response(created, status=201)

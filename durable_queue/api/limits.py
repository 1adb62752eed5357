"""Per-request limits: a body must arrive within the read timeout and fit the size limit, and
a long poll refused for lack of room says when to come back.

The request head is bounded by aiohttp itself: its `keepalive_timeout` (set from
DURABLE_READ_TIMEOUT by the app) closes a connection that has not delivered a complete
request head that long after it opened or after its previous answer, however slowly it
trickles bytes. Once the head is in, aiohttp waits for the body as long as the handler
does; so this middleware reads the body up front (aiohttp keeps it for the handler's own
`read()`), with a deadline, and refuses a declared Content-Length over the limit before
reading a byte of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from durable_queue.api.responses import error_body_response, error_response
from durable_queue.errors import PayloadTooLarge
from durable_queue.long_poll import TooManyWaiters

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


def request_limits(read_timeout: float) -> Middleware:
    """The limits middleware; `read_timeout` seconds for the whole body to arrive."""

    @web.middleware
    async def limits(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.body_exists and request.match_info.http_exception is None:
            limit = request.client_max_size
            if limit and request.content_length is not None and request.content_length > limit:
                response = error_response(
                    PayloadTooLarge("request body is larger than the configured limit")
                )
                response.force_close()  # the body is not read: the connection cannot be reused
                return response
            try:
                # asyncio.timeout, not wait_for: no task is created per request
                async with asyncio.timeout(read_timeout):
                    await request.read()
            except TimeoutError:
                message = f"request body not received within {read_timeout:g} s"
                response = error_body_response(408, "REQUEST_TIMEOUT", message)
                response.force_close()
                return response
        try:
            return await handler(request)
        except TooManyWaiters as exc:
            response = error_response(exc)
            response.headers["Retry-After"] = str(exc.retry_after_seconds)
            return response

    return limits

"""The runner that serves the app, with the HTTP parser's own errors in our `{error, code}` envelope.

A request aiohttp cannot parse (a request line or header over `max_line_size` /
`max_field_size`, a NUL or other forbidden byte in a header, a bad method...) never
reaches the application: no route, no middleware, no `on_response_prepare` signal runs
for it (the request it builds has no match_info). aiohttp answers it itself in
`RequestHandler.handle_error` with a text/plain 400 and logs it at ERROR with a
traceback. aiohttp offers no public hook for that response (aio-libs/aiohttp#3287 is
still open), and `Application(handler_args=...)` can only pass constructor arguments to
`RequestHandler` (limits, a logger), not change what it sends.

So the least intrusive hook is the one aiohttp itself calls: `handle_error`, overridden in
a `RequestHandler` subclass. Getting aiohttp to build that subclass takes a `web.Server`
whose `__call__` (the protocol factory) returns it, and an `AppRunner` whose
`_make_server` (BaseRunner's one abstract factory) returns that server. Everything else
(app startup and cleanup, handler_args, sites, shutdown) stays aiohttp's own. Use
`DurableAppRunner` wherever `web.AppRunner` would be used.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from durable_queue.api.responses import error_response
from durable_queue.errors import ValidationError

log = logging.getLogger("durable_queue.http")


def _reason(exc: HttpProcessingError) -> str:
    """The parser's message without the echo of the offending bytes."""
    if isinstance(exc, LineTooLong):
        return f"the request line or a header is longer than {exc.args[1]} bytes"
    first = (exc.message or "").strip().splitlines()
    return first[0].rstrip(":").strip() if first and first[0].strip() else "bad request"


class JsonErrorRequestHandler(RequestHandler):
    """A connection handler that answers unparseable requests with a JSON 400, logged on one
    line without a traceback; every other error is aiohttp's own handling."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError) or request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)
        reason = _reason(exc)
        log.info("malformed HTTP request", extra={"remote": request.remote, "reason": reason})
        response = error_response(ValidationError(f"malformed HTTP request: {reason}"))
        response.force_close()
        return response


class JsonErrorServer(web.Server):
    """`web.Server` whose connections are `JsonErrorRequestHandler`s."""

    def __call__(self) -> RequestHandler:
        return JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class DurableAppRunner(web.AppRunner):
    """`web.AppRunner` serving through `JsonErrorServer` (same arguments, same lifecycle)."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()  # app startup, handler_args, request factory
        return JsonErrorServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **server._kwargs,
        )

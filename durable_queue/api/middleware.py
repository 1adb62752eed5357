"""The one error middleware (errors → `{error, code}`) and the JSON access log (one line per
request, built in one call: see `logs.access_line`)."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from durable_queue.api.responses import INTERNAL_ERROR, error_body_response, error_response
from durable_queue.errors import DurableError
from durable_queue.logs import ACCESS_LOGGER, access_line

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
access_log = logging.getLogger(ACCESS_LOGGER)
log = logging.getLogger("durable_queue.api")
_PID = str(os.getpid())  # the app is built in the process that serves it (no fork after)

# nginx's "client closed request": the client went away before the answer.
CLIENT_CLOSED_REQUEST = 499
# Which server process answered (`serve --workers N` runs several on one port).
PID_HEADER = "X-Durable-Pid"


def _http_error_response(exc: web.HTTPException) -> web.Response:
    """aiohttp's own errors (no route, wrong method, body too large) in our envelope."""
    if isinstance(exc, web.HTTPNotFound):
        return error_body_response(404, "NOT_FOUND", "no such endpoint")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        message = f"method {exc.method} is not allowed here"
        response = error_body_response(405, "METHOD_NOT_ALLOWED", message)
        response.headers["Allow"] = ",".join(sorted(exc.allowed_methods))
        return response
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        message = "request body is larger than the configured limit"
        return error_body_response(413, "PAYLOAD_TOO_LARGE", message)
    code = "VALIDATION_ERROR" if exc.status < 500 else INTERNAL_ERROR[1]
    return error_body_response(exc.status, code, exc.reason or "request failed")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DurableError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _http_error_response(exc)
    except ConnectionResetError:
        raise  # the client is gone: nobody to answer; logged as 499
    except Exception:
        log.exception("unhandled error", extra={"method": request.method, "path": request.path})
        return error_body_response(*INTERNAL_ERROR, "internal server error")


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        if not response.prepared:
            response.headers[PID_HEADER] = _PID
        return response
    except (asyncio.CancelledError, ConnectionResetError):
        status = CLIENT_CLOSED_REQUEST
        raise
    finally:
        if access_log.isEnabledFor(logging.INFO):
            fields = {
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            }
            access_log.info(access_line(fields), extra=fields)

"""The one error middleware (domain errors → `{error, code}`) and the JSON access log."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import psycopg2
from aiohttp import web

from durable_queue.api.responses import error_response
from durable_queue.db import CONNECTION_ERRORS
from durable_queue.errors import (
    DurableError,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    ValidationError,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
access_log = logging.getLogger("durable_queue.access")
log = logging.getLogger("durable_queue.api")


def _from_http_exception(exc: web.HTTPException) -> DurableError:
    if isinstance(exc, web.HTTPNotFound):
        return NotFound("no such endpoint")
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return PayloadTooLarge("request body is larger than the configured limit")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        error = DurableError(f"method {exc.method} is not allowed here")
        error.status, error.code = 405, "METHOD_NOT_ALLOWED"
        return error
    error = DurableError(exc.reason or "request failed")
    error.status = exc.status
    error.code = "VALIDATION_ERROR" if 400 <= exc.status < 500 else "INTERNAL_ERROR"
    return error


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DurableError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(_from_http_exception(exc))
    except psycopg2.DataError:
        # A value PostgreSQL refuses (out of range, bad encoding): the input's fault, and the
        # transaction was rolled back, so nothing changed.
        log.warning("value refused by the database", extra={"path": request.path})
        return error_response(ValidationError("a value in the request is out of range or invalid"))
    except CONNECTION_ERRORS:
        log.warning("database unavailable", extra={"path": request.path})
        return error_response(Unavailable())
    except (UnicodeDecodeError, ValueError) as exc:
        return error_response(ValidationError(f"malformed request: {exc}"))
    except Exception:
        log.exception("unhandled error", extra={"method": request.method, "path": request.path})
        return error_response(DurableError())


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        access_log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )

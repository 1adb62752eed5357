"""The HTTP duration histogram: the outermost middleware, so it sees every answer's final
status (errors rendered, 401s, 404s of unknown paths) and its full time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from durable_queue.monitoring.keys import METRICS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CLIENT_CLOSED_REQUEST = 499
UNMATCHED = "unmatched"  # one label for every path no route serves (bounded cardinality)
# Any other method token a client sends is counted as OTHER, so labels stay bounded.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_label(request: web.Request) -> str:
    """The route template (/api/v1/tasks/{task_id}), never the raw path."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


@web.middleware
async def http_metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except (asyncio.CancelledError, ConnectionResetError):
        status = CLIENT_CLOSED_REQUEST
        raise
    finally:
        metrics = request.app.get(METRICS)
        if metrics is not None:
            method = request.method if request.method in METHODS else "OTHER"
            metrics.http_duration.labels(method, route_label(request), str(status)).observe(
                time.perf_counter() - started
            )

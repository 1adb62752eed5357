"""Monitoring: Prometheus metrics at /metrics, the dashboard at /ui, and the history
sampler that feeds the dashboard's charts and the metrics' counters.

`setup_monitoring(app)` wires it all into the app (after the database context, whose
pool it uses); `http_metrics_middleware` goes first in the app's middleware list.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib import resources

import aiohttp_jinja2
import jinja2
from aiohttp import web

from durable_queue.api.keys import CLAIM_WAKE_OBSERVER, LISTENER, SCHEDULER, SETTINGS, STORE
from durable_queue.monitoring import views
from durable_queue.monitoring.keys import METRICS, MONITORING_STORE, SAMPLER
from durable_queue.monitoring.metrics import Metrics
from durable_queue.monitoring.middleware import http_metrics_middleware
from durable_queue.monitoring.sampler import Sampler
from durable_queue.monitoring.store import MonitoringStore

__all__ = ["http_metrics_middleware", "setup_monitoring"]

# The classic text format every Prometheus version reads (our names need no escaping).
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
UI_ROUTES = {
    "/ui": views.overview,
    "/ui/queues/{queue_name}": views.queue,
    "/ui/tasks": views.tasks,
    "/ui/tasks/{task_id}": views.task,
    "/ui/workflow-runs": views.workflow_runs,
    "/ui/workflow-runs/{workflow_run_id}": views.workflow_run,
    "/ui/events": views.events,
    "/ui/schedules": views.schedules,
    "/ui/schedules/{schedule_name}": views.schedule,
}
STYLESHEET_URL = "/ui/style.css"
STYLESHEET = (resources.files("durable_queue.monitoring") / "templates" / "style.css").read_text()


async def stylesheet(request: web.Request) -> web.Response:
    """`GET /ui/style.css`: the dashboard's styles, a file of their own so that the pages'
    Content-Security-Policy allows no inline style."""
    return web.Response(text=STYLESHEET, content_type="text/css")


async def metrics_endpoint(request: web.Request) -> web.Response:
    """`GET /metrics`: the Prometheus text exposition (per-queue numbers at most 1 s old)."""
    metrics = request.app[METRICS]
    await metrics.snapshot.get()
    return web.Response(body=metrics.render(), headers={"Content-Type": TEXT_FORMAT})


def setup_monitoring(app: web.Application) -> None:
    """Add /metrics, /ui and the sampler to `app`; call after the database context is added."""
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("durable_queue.monitoring", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(
        json=views.pretty_json,
        timestamp=views.timestamp,
        seconds=views.seconds,
        rate=views.rate,
        zoned=views.zoned,
        calendar=views.calendar,
        segment=views.segment,
    )
    app.cleanup_ctx.append(_monitoring)
    app.router.add_get("/metrics", metrics_endpoint)
    app.router.add_get(STYLESHEET_URL, stylesheet)
    for path, handler in UI_ROUTES.items():
        app.router.add_get(path, handler)


async def _monitoring(app: web.Application) -> AsyncIterator[None]:
    store = MonitoringStore(app[STORE].pool)
    app[MONITORING_STORE] = store
    app[METRICS] = Metrics(store, lambda: LISTENER in app and app[LISTENER].connected)
    app[CLAIM_WAKE_OBSERVER] = app[METRICS].claim_wake.observe
    # the scheduler of this process reports each slot's lateness to the histogram
    # (its context runs before this one: durable_queue/app.py adds it first)
    observers = app[SCHEDULER].lateness_observers if SCHEDULER in app else []
    observe_lateness = app[METRICS].schedule_lateness.observe
    observers.append(observe_lateness)
    sampler = Sampler(store, app[SETTINGS].database_url)
    app[SAMPLER] = sampler
    try:
        async with sampler.running():
            yield
    finally:
        observers.remove(observe_lateness)

"""The aiohttp application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from durable_queue.api.auth import bearer_auth
from durable_queue.api.body_budget import BODY_BUDGET, BodyBudget, body_budget, drop_read_body
from durable_queue.api.browser_guard import browser_guard
from durable_queue.api.keys import LISTENER, MAINTENANCE, SCHEDULER, SETTINGS, STORE
from durable_queue.api.limits import request_limits
from durable_queue.api.middleware import access_log_middleware, error_middleware
from durable_queue.api.openapi import setup_openapi
from durable_queue.api.routes import add_routes
from durable_queue.api.security_headers import setup_security_headers
from durable_queue.api.validation import validation_middleware
from durable_queue.config import Settings
from durable_queue.db import create_pool
from durable_queue.listener import Listener
from durable_queue.maintenance import Maintenance
from durable_queue.monitoring import http_metrics_middleware, setup_monitoring
from durable_queue.result_waits import ResultWaiters
from durable_queue.scheduler import Scheduler
from durable_queue.store import Store
from durable_queue.waiters import Waiters


def create_app(settings: Settings) -> web.Application:
    """Build the app for `settings.database_url` (already migrated); the pool opens and closes
    with the app."""
    if not settings.database_url:
        raise ValueError("settings.database_url must be set (start the embedded database first)")
    budget = BodyBudget(settings.max_inflight_body_bytes)
    middlewares = [
        http_metrics_middleware,  # outermost: every answer's final status and time
        access_log_middleware,
        error_middleware,
        browser_guard(settings.host, settings.allowed_hosts, settings.allowed_origins),
        bearer_auth(settings.api_tokens, settings.host),  # None: no tokens, no auth layer
        body_budget(budget, settings.max_body_bytes),  # before the body is read
        request_limits(settings.read_timeout),
        validation_middleware,
        drop_read_body,  # the body is loaded: its bytes are not needed by the handler
    ]
    app = web.Application(
        middlewares=[middleware for middleware in middlewares if middleware is not None],
        # aiohttp closes a connection idle, or without a complete request head, this long.
        handler_args={"keepalive_timeout": settings.read_timeout},
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[BODY_BUDGET] = budget

    async def database(app: web.Application) -> AsyncIterator[None]:
        pool = await create_pool(
            settings.database_url, minsize=settings.pool_min_size, maxsize=settings.pool_max_size
        )
        app[STORE] = Store(pool)
        try:
            yield
        finally:
            pool.close()
            await pool.wait_closed()

    async def listener(app: web.Application) -> AsyncIterator[None]:
        waiters = Waiters(max_waiters=settings.max_waiters)
        app[LISTENER] = Listener(
            settings.database_url, waiters, probe_seconds=max(settings.listener_probe_seconds, 1)
        )
        app[LISTENER].result_waiters = ResultWaiters(max_waiters=settings.max_waiters)
        await app[LISTENER].start()
        try:
            yield
        finally:
            waiters.close()
            app[LISTENER].result_waiters.close()
            await app[LISTENER].stop()

    async def answer_waiters(app: web.Application) -> None:
        # on_shutdown runs before aiohttp waits for open requests: long polls answer at once.
        if LISTENER in app:
            app[LISTENER].waiters.close()
            if app[LISTENER].result_waiters is not None:
                app[LISTENER].result_waiters.close()

    async def maintenance(app: web.Application) -> AsyncIterator[None]:
        sweeper = Maintenance(
            app[STORE].pool,
            settings.database_url,
            interval=settings.maintenance_interval,
            max_claim_expiries=settings.max_claim_expiries,
        )
        app[MAINTENANCE] = sweeper
        async with sweeper.running():
            yield

    async def scheduler(app: web.Application) -> AsyncIterator[None]:
        schedules = Scheduler(
            app[STORE].pool,
            settings.database_url,
            standby_interval=settings.maintenance_interval,
            grace_seconds=settings.schedule_grace_seconds,
        )
        app[SCHEDULER] = schedules
        app[LISTENER].on_schedules.append(schedules.wake)
        async with schedules.running():
            yield

    app.cleanup_ctx.append(database)
    app.cleanup_ctx.append(listener)
    app.on_shutdown.append(answer_waiters)
    app.cleanup_ctx.append(maintenance)
    app.cleanup_ctx.append(scheduler)
    add_routes(app)
    setup_monitoring(app)  # /metrics, /ui and the history sampler
    setup_openapi(app, bearer_auth=bool(settings.api_tokens))
    setup_security_headers(app)
    return app

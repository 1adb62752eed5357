"""`durable-queue serve` and `durable-queue migrate`."""

from __future__ import annotations

import logging
import sys

import asyncclick as click
from aiohttp import web

from durable_queue.app import create_app
from durable_queue.config import Settings
from durable_queue.db import CONNECTION_ERRORS
from durable_queue.embedded import start_embedded_postgres
from durable_queue.errors import ValidationError
from durable_queue.logs import configure_logging
from durable_queue.migrate import apply_migrations

log = logging.getLogger("durable_queue")


def _settings(**overrides: object) -> Settings:
    try:
        settings = Settings.from_env(**overrides)
    except ValidationError as exc:
        raise click.ClickException(exc.message) from exc
    configure_logging(settings.log_level)
    if settings.database_url:
        return settings
    try:
        url = start_embedded_postgres(settings.data_dir)
    except Exception as exc:  # pgserver reports setup problems with assorted exceptions
        log.error("cannot start the embedded postgres", extra={"reason": str(exc)})
        sys.exit(1)
    return Settings.from_env(database_url=url, **overrides)


async def _migrate_or_exit(settings: Settings) -> None:
    try:
        await apply_migrations(settings.database_url)
    except CONNECTION_ERRORS as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.error("cannot connect to the database", extra={"reason": reason})
        sys.exit(1)


@click.group()
def main() -> None:
    """durable-queue: a durable task queue over HTTP, backed by PostgreSQL.

    With DATABASE_URL unset, an embedded PostgreSQL keeps its data in
    DURABLE_DATA_DIR (default ./.durable-queue).
    """


@main.command()
@click.option("--host", default=None, help="Address to bind (env DURABLE_HOST, default 0.0.0.0).")
@click.option(
    "--port", type=int, default=None, help="Port to listen on (env DURABLE_PORT, default 8080)."
)
async def serve(host: str | None, port: int | None) -> None:
    """Apply pending migrations, then serve the HTTP API.

    Example: DURABLE_PORT=9000 durable-queue serve
    """
    settings = _settings(host=host, port=port)
    await _migrate_or_exit(settings)
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    try:
        await site.start()
    except OSError as exc:
        log.error(
            "cannot listen",
            extra={"host": settings.host, "port": settings.port, "reason": str(exc)},
        )
        await runner.cleanup()
        sys.exit(1)
    log.info("serving", extra={"host": settings.host, "port": settings.port, "docs": "/docs"})
    try:
        await _wait_forever()
    finally:
        await runner.cleanup()


async def _wait_forever() -> None:
    import asyncio
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")


@main.command()
async def migrate() -> None:
    """Apply pending database migrations and exit.

    Example: DATABASE_URL=postgresql://user:pw@db/durable durable-queue migrate
    """
    settings = _settings()
    await _migrate_or_exit(settings)
    log.info("database is up to date")


if __name__ == "__main__":
    main()

"""`durable-queue serve` and `durable-queue migrate`."""

from __future__ import annotations

import logging
import sys

import asyncclick as click
from aiohttp import web

from durable_queue.app import create_app
from durable_queue.config import Settings, default_data_dir
from durable_queue.db import CONNECTION_ERRORS
from durable_queue.embedded import start_embedded_postgres
from durable_queue.errors import ValidationError
from durable_queue.logs import configure_logging
from durable_queue.migrate import apply_migrations
from durable_queue.server import DurableAppRunner

log = logging.getLogger("durable_queue")


def _settings(**overrides: object) -> tuple[Settings, str | None]:
    """The settings, with DATABASE_URL pointing at the embedded PostgreSQL when it is unset;
    and the embedded database's data directory (None when DATABASE_URL is set)."""
    try:
        settings = Settings.from_env(**overrides)
    except ValidationError as exc:
        raise click.ClickException(exc.message) from exc
    configure_logging(settings.log_level)
    if settings.database_url:
        return settings, None
    try:
        url = start_embedded_postgres(settings.data_dir)
    except Exception as exc:  # pgserver reports setup problems with assorted exceptions
        log.error(
            "cannot start the embedded postgres",
            extra={"data_dir": settings.data_dir, "reason": str(exc)},
        )
        sys.exit(1)
    return Settings.from_env(database_url=url, **overrides), settings.data_dir


async def _migrate_or_exit(settings: Settings) -> None:
    try:
        await apply_migrations(settings.database_url)
    except CONNECTION_ERRORS as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.error("cannot connect to the database", extra={"reason": reason})
        sys.exit(1)


data_dir_option = click.option(
    "--data-dir",
    metavar="DIR",
    default=None,
    help="Data directory of the embedded PostgreSQL, used when DATABASE_URL is unset "
    f"(env DURABLE_DATA_DIR, default {default_data_dir()}).",
)


@click.group()
@click.version_option(package_name="durable-queue", prog_name="durable-queue")
def main() -> None:
    """durable-queue: a durable task queue over HTTP, backed by PostgreSQL.

    With DATABASE_URL unset, an embedded PostgreSQL keeps its data in DURABLE_DATA_DIR
    (default: the user's data directory, whatever the working directory).
    """


@main.command()
@click.option("--host", default=None, help="Address to bind (env DURABLE_HOST, default 0.0.0.0).")
@click.option(
    "--port", type=int, default=None, help="Port to listen on (env DURABLE_PORT, default 8080)."
)
@data_dir_option
async def serve(host: str | None, port: int | None, data_dir: str | None) -> None:
    """Apply pending migrations, then serve the HTTP API.

    Example: DURABLE_PORT=9000 durable-queue serve
    """
    settings, embedded_dir = _settings(host=host, port=port, data_dir=data_dir)
    await _migrate_or_exit(settings)
    app = create_app(settings)
    runner = DurableAppRunner(app, access_log=None, handler_cancellation=True)
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
    database = {"data_dir": embedded_dir} if embedded_dir else {"database": "DATABASE_URL"}
    log.info(
        "serving",
        extra={"host": settings.host, "port": settings.port, "docs": "/docs", **database},
    )
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
@data_dir_option
async def migrate(data_dir: str | None) -> None:
    """Apply pending database migrations and exit.

    Example: DATABASE_URL=postgresql://user:pw@db/durable durable-queue migrate
    """
    settings, _ = _settings(data_dir=data_dir)
    await _migrate_or_exit(settings)
    log.info("database is up to date")


if __name__ == "__main__":
    main()

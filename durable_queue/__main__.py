"""`durable-queue serve` and `durable-queue migrate`."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys

import asyncclick as click
from aiohttp import web

from durable_queue.api.browser_guard import answered_hosts
from durable_queue.app import create_app
from durable_queue.config import Settings, default_data_dir
from durable_queue.db import CONNECTION_ERRORS
from durable_queue.embedded import start_embedded_postgres
from durable_queue.errors import ValidationError
from durable_queue.eventloop import loop_name
from durable_queue.eventloop import run as run_on_loop
from durable_queue.logs import configure_logging
from durable_queue.migrate import apply_migrations
from durable_queue.server import DurableAppRunner
from durable_queue.supervisor import READY, supervise

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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="durable-queue", prog_name="durable-queue")
def main() -> None:
    """durable-queue: a durable task queue over HTTP, backed by PostgreSQL.

    With DATABASE_URL unset, an embedded PostgreSQL keeps its data in DURABLE_DATA_DIR
    (default: the user's data directory, whatever the working directory).
    """


@main.command()
@click.option("--host", default=None, help="Address to bind (env DURABLE_HOST, default 127.0.0.1).")
@click.option(
    "--port", type=int, default=None, help="Port to listen on (env DURABLE_PORT, default 8080)."
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Server processes sharing the port, one per core is the usual choice "
    "(env DURABLE_WORKERS, default 1).",
)
@data_dir_option
async def serve(
    host: str | None, port: int | None, workers: int | None, data_dir: str | None
) -> None:
    """Apply pending migrations, then serve the HTTP API.

    Example: DURABLE_PORT=9000 durable-queue serve --workers 2
    """
    settings, embedded_dir = _settings(host=host, port=port, data_dir=data_dir, workers=workers)
    await _migrate_or_exit(settings)
    database = {"data_dir": embedded_dir} if embedded_dir else {"database": "DATABASE_URL"}
    if settings.workers == 1:
        await _serve(settings, database)
        return
    if not hasattr(socket, "SO_REUSEPORT"):
        raise click.ClickException("--workers above 1 needs SO_REUSEPORT, absent on this system")
    if settings.port == 0:
        raise click.ClickException("--workers above 1 needs a fixed --port, not 0")
    log.info(
        "starting server workers",
        extra={"workers": settings.workers, "auth": _auth(settings), **database},
    )
    code = await supervise(settings)
    if code:
        sys.exit(code)


@main.command("serve-worker", hidden=True)
@click.option("--host", required=True)
@click.option("--port", type=int, required=True)
async def serve_worker(host: str, port: int) -> None:
    """One process of `serve --workers N`, started by it (DATABASE_URL set, migrated): binds
    with SO_REUSEPORT, prints READY once it listens, stops on SIGTERM or when its stdin
    (the parent) closes."""
    if not os.environ.get("DATABASE_URL"):
        raise click.ClickException("serve-worker is started by `durable-queue serve --workers N`")
    settings, _ = _settings(host=host, port=port)
    await _serve(settings, {"database": "DATABASE_URL"}, worker=True)


async def _serve(settings: Settings, database: dict[str, str], *, worker: bool = False) -> None:
    """Serve the app on settings.host:port until SIGTERM/SIGINT (or, for a worker, until its
    parent goes away)."""
    stop = _stop_on_signals()  # before the READY/serving line: a SIGTERM right after it stops
    app = create_app(settings)
    runner = DurableAppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, reuse_port=worker or None)
    try:
        await site.start()
    except OSError as exc:
        log.error(
            "cannot listen",
            extra={"host": settings.host, "port": settings.port, "reason": str(exc)},
        )
        await runner.cleanup()
        sys.exit(1)
    if worker:
        sys.stdout.buffer.write(READY + b"\n")
        sys.stdout.flush()
        log.info("server worker ready", extra={"pid": os.getpid(), "loop": loop_name()})
    else:
        log.info(
            "serving",
            extra={
                "host": settings.host,
                "port": settings.port,
                "docs": "/docs",
                "loop": loop_name(),
                "auth": _auth(settings),
                "hosts": answered_hosts(settings.host, settings.allowed_hosts),
                **database,
            },
        )
    try:
        await _wait_for_stop(stop, watch_stdin=worker)
    finally:
        await runner.cleanup()


def _auth(settings: Settings) -> str:
    """The startup log's `auth` field: "on" when API tokens are configured (every request
    but the probes and /docs needs one), "off" when anyone who reaches the port may call."""
    return "on" if settings.api_tokens else "off"


def _stop_on_signals() -> asyncio.Event:
    """An event SIGINT and SIGTERM set (instead of ending the process at once)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _wait_for_stop(stop: asyncio.Event, *, watch_stdin: bool) -> None:
    watcher = asyncio.create_task(_stdin_closed(stop)) if watch_stdin else None
    await stop.wait()
    if watcher is not None:
        watcher.cancel()
    log.info("shutting down")


async def _stdin_closed(stop: asyncio.Event) -> None:
    """Set `stop` when stdin reaches EOF: the parent of a server worker is gone."""
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    await reader.read()
    stop.set()


@main.command()
@data_dir_option
async def migrate(data_dir: str | None) -> None:
    """Apply pending database migrations and exit.

    Example: DATABASE_URL=postgresql://user:pw@db/durable durable-queue migrate
    """
    settings, _ = _settings(data_dir=data_dir)
    await _migrate_or_exit(settings)
    log.info("database is up to date")


def run() -> None:
    """The `durable-queue` command: `main` on uvloop where it is installed (durable_queue.
    eventloop; the `serving` log line names the loop)."""
    run_on_loop(main.main())


if __name__ == "__main__":
    run()

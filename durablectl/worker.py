"""`durablectl worker MODULE:ATTR`: run a `Worker` defined in the user's code.

ATTR names a `Worker`, or a function returning one: called with a `DurableClient` built
from --server/--token when it takes an argument, else with none (it may be async). The
current directory is importable, as for `python -m`. SIGINT/SIGTERM stop gracefully;
a second one releases in-flight runs at once. Logs go to stderr, one line per event,
with the run's fields as key=value.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import sys
from typing import Any

import asyncclick as click
from durable_queue_client import DurableClient, Worker

LOGGERS = ("durable_queue_client",)
FIELDS = (
    "queue",
    "task_name",
    "task_id",
    "run_id",
    "attempt",
    "event",
    "duration_ms",
    "error",
    "loop",
)


class FieldsFormatter(logging.Formatter):
    """`time level message key=value ...`: the record's `durable` fields appended."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "durable", None)
        if not isinstance(fields, dict):
            return line
        pairs = [f"{key}={_quote(fields[key])}" for key in FIELDS if key in fields]
        return f"{line} {' '.join(pairs)}" if pairs else line


def _quote(value: Any) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "=\n'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        FieldsFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S%z")
    )
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(level.upper())
        logger.addHandler(handler)


def resolve_target(target: str) -> Any:
    """The object `MODULE:ATTR` names (ATTR may be dotted); usage errors name the part."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise click.BadParameter(f"{target!r} is not MODULE:ATTR (e.g. myapp.tasks:worker)")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise click.BadParameter(f"cannot import {module_name!r}: {exc}") from None
        raise
    found: Any = module
    for part in attr.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise click.BadParameter(f"{module_name!r} has no attribute {attr!r}") from None
    return found


async def build_worker(found: Any, client: DurableClient, target: str) -> Worker:
    """`found` itself when it is a Worker, else what calling it returns."""
    if not isinstance(found, Worker) and callable(found):
        wants_client = any(
            p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            for p in inspect.signature(found).parameters.values()
        )
        found = found(client) if wants_client else found()
        if inspect.isawaitable(found):
            found = await found
    if not isinstance(found, Worker):
        raise click.BadParameter(
            f"{target} is a {type(found).__name__}, not a Worker or a function returning one"
        )
    return found


@click.command(
    "worker",
    help="Run the Worker that MODULE:ATTR names (a Worker, or a function returning one, "
    "given a client of --server when it takes an argument).\n\n\b\nExample:\n"
    "  durablectl --server http://localhost:8080 worker myapp.tasks:worker --concurrency 16",
)
@click.argument("target", metavar="MODULE:ATTR")
@click.option(
    "--concurrency", "-c", type=click.IntRange(min=1), help="Handlers at once (overrides it)."
)
@click.option(
    "--grace-period",
    type=click.FloatRange(min=0),
    help="Seconds in-flight runs get to finish on SIGINT/SIGTERM before they are released.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
@click.pass_obj
async def worker(
    state: Any,
    target: str,
    concurrency: int | None,
    grace_period: float | None,
    log_level: str,
) -> None:
    found = resolve_target(target)
    configure_logging(log_level)
    client = state.client()
    built = await build_worker(found, client, target)
    if concurrency is not None:
        built.concurrency = concurrency
    if grace_period is not None:
        built.grace_period = grace_period
    try:
        await built.run(handle_signals=True)
    finally:
        await built.client.close()
        await client.close()

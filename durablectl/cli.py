"""`durablectl`: manage queues, tasks, runs, events, checkpoints, workflow runs and
schedules of a durable-queue server from the shell. Commands only call `DurableClient`.

Exit codes: 0 success; 1 the server answered with an error (`error: 404 NOT_FOUND: ...`
on stderr); 2 the server could not be reached, or the command line is wrong (a usage
error: missing option, invalid JSON in --params/--payload/--result/--state/--inputs, a
bad time, limit or rate), caught before any request is sent; 130 interrupted with Ctrl-C.
`tasks wait` also exits 1 when the task failed or was canceled, and 3 when it is still
pending at --timeout.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import io
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncclick as click
import attrs
from durable_queue_client import (
    CleanupPolicy,
    ConnectionFailed,
    DurableClient,
    DurableError,
    RetryStrategy,
    Unauthorized,
    follow_cursor,
    to_dict,
)

from durable_queue.eventloop import run as run_on_loop
from durablectl.batch import TaskFileError, batches, read_tasks
from durablectl.config import load_config, resolve_server, save_config
from durablectl.flow import (
    LIMIT,
    MAX_KEY_LENGTH,
    MAX_PRIORITY,
    MIN_PRIORITY,
    RATE,
    TTL,
    Setting,
)
from durablectl.options import JSON, TIME, JSONArg, doc, json_value
from durablectl.output import render
from durablectl.schedules import schedules as schedules_group
from durablectl.worker import worker as worker_command

# -- parameter types --------------------------------------------------------------------


class KeyValueType(click.ParamType[tuple[str, str]]):
    """KEY=VALUE."""

    name = "KEY=VALUE"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, str]:
        if isinstance(value, tuple):
            return value
        key, sep, val = str(value).partition("=")
        if not sep or not key:
            self.fail(f"{value!r} is not KEY=VALUE", param, ctx)
        return key, val


KEY_VALUE = KeyValueType()


# -- state, output, errors --------------------------------------------------------------


@attrs.define
class State:
    server_flag: str | None
    token: str | None
    output: str

    @property
    def server(self) -> str:
        return resolve_server(self.server_flag)[0]

    def client(self) -> DurableClient:
        return DurableClient(self.server, token=self.token)

    def emit(self, data: Any) -> None:
        click.echo(render(to_dict(data), self.output))


class RootGroup(click.Group):
    """Turns client errors into one line on stderr and the documented exit code."""

    async def invoke(self, ctx: click.Context) -> Any:
        try:
            return await super().invoke(ctx)
        except ConnectionFailed as exc:
            click.echo(f"error: {exc}", err=True)
            raise click.exceptions.Exit(2) from None
        except Unauthorized as exc:
            click.echo(f"error: {exc} ({token_hint(ctx)})", err=True)
            raise click.exceptions.Exit(1) from None
        except DurableError as exc:
            click.echo(f"error: {exc}", err=True)
            raise click.exceptions.Exit(1) from None


def token_hint(ctx: click.Context) -> str:
    """What to do about a 401: pass a token, or check the one given."""
    if getattr(ctx.obj, "token", None):
        return "the server refused the token of --token/DURABLE_TOKEN"
    return "this server needs a token: pass --token TOKEN or set DURABLE_TOKEN"


async def call(state: State, action: Callable[[DurableClient], Awaitable[Any]]) -> None:
    """Run one client call and print its result."""
    async with state.client() as client:
        state.emit(await action(client))


# -- listings ---------------------------------------------------------------------------

PageFetch = Callable[[DurableClient, str | None, int], Awaitable[Any]]


@attrs.frozen
class Paging:
    """The --cursor, --limit and --all options of a listing command."""

    cursor: str | None
    limit: int
    all_pages: bool

    async def emit(self, state: State, key: str, fetch: PageFetch) -> None:
        """Print one page (`fetch(client, cursor, limit)`), or with --all every item from
        --cursor on under `key` (the page's field holding the items)."""
        async with state.client() as client:
            if not self.all_pages:
                state.emit(await fetch(client, self.cursor, self.limit))
                return
            pages = follow_cursor(
                lambda cursor: fetch(client, cursor, self.limit),
                lambda page: list(getattr(page, key)),
                self.cursor,
            )
            state.emit({key: to_dict([item async for item in pages])})


def paged(noun: str) -> Callable[[Callable[..., Awaitable[None]]], Callable[..., Any]]:
    """Add --cursor, --limit and --all to a listing command, handed to it as `paging`."""

    def decorate(command: Callable[..., Awaitable[None]]) -> Callable[..., Any]:
        @functools.wraps(command)
        async def with_paging(
            *args: Any, cursor: str | None, limit: int, all_pages: bool, **kwargs: Any
        ) -> None:
            await command(*args, paging=Paging(cursor, limit, all_pages), **kwargs)

        options = [
            click.option("--cursor", help="Cursor from the previous page's next_cursor."),
            click.option(
                "--limit", type=int, default=50, show_default=True, help=f"{noun} per page."
            ),
            click.option(
                "--all", "all_pages", is_flag=True, help="Follow next_cursor through every page."
            ),
        ]
        decorated: Callable[..., Any] = with_paging
        for option in reversed(options):
            decorated = option(decorated)
        return decorated

    return decorate


# -- root -------------------------------------------------------------------------------


@click.group(
    "durablectl",
    cls=RootGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    help=doc(
        "Command line of a durable-queue server.",
        "durablectl --server http://localhost:8080 queues stats demo",
    ),
)
@click.version_option(package_name="durable-queue", prog_name="durablectl")
@click.option(
    "--server",
    "-s",
    envvar="DURABLE_SERVER",
    metavar="URL",
    help="Server base URL [env DURABLE_SERVER; then the config file's server; "
    "then http://localhost:8080].",
)
@click.option("--token", envvar="DURABLE_TOKEN", help="Bearer token [env DURABLE_TOKEN].")
@click.option(
    "--output",
    "-o",
    type=click.Choice(["json", "table"]),
    default="json",
    show_default=True,
    help="json (2-space indented) or table (for humans).",
)
@click.pass_context
async def cli(ctx: click.Context, server: str | None, token: str | None, output: str) -> None:
    ctx.obj = State(server_flag=server, token=token, output=output)


# -- config -----------------------------------------------------------------------------


@cli.group(help=doc("Manage the CLI configuration file.", "durablectl config get-server"))
def config() -> None:
    pass


@config.command(
    "set-server",
    help=doc(
        "Set the default server URL (in ~/.durablectl/config.json or $DURABLECTL_CONFIG).",
        "durablectl config set-server http://queue.internal:8080",
    ),
)
@click.argument("url")
async def config_set_server(url: str) -> None:
    data = load_config()
    data["server"] = url
    save_config(data)
    click.echo(f"Server set to {url}")


@config.command(
    "get-server",
    help=doc(
        "Show the server URL commands will use (flag, env, config file or default).",
        "durablectl config get-server",
    ),
)
@click.pass_obj
async def config_get_server(state: State) -> None:
    server, source = resolve_server(state.server_flag)
    click.echo(f"{server} (default)" if source == "default" else server)


# -- queues -----------------------------------------------------------------------------


@cli.group(help=doc("Manage queues.", "durablectl queues list"))
def queues() -> None:
    pass


# The flow-control options of `queues create` and `queues update` (docs/flow-control.md).
FLOW_HELP = {
    "max_concurrency": "Runs of the queue claimed at once, fleet-wide (1-1000000; none: no limit).",
    "key_concurrency": (
        "Claimed runs at once per concurrency key, unless the key has an override "
        "(1-1000000; none: no limit)."
    ),
    "rate_limit": (
        "Claims per period for the queue, as N/SECONDS (50/1, 50/s, 600/1m, 1000/1h; "
        "burst N; none: no limit)."
    ),
    "key_rate_limit": "Claims per period per concurrency key, as N/SECONDS (none: no limit).",
}


def flow_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--max-concurrency, --key-concurrency, --rate-limit and --key-rate-limit."""
    options = [
        click.option(
            "--max-concurrency", type=LIMIT, metavar="N|none", help=FLOW_HELP["max_concurrency"]
        ),
        click.option(
            "--key-concurrency", type=LIMIT, metavar="N|none", help=FLOW_HELP["key_concurrency"]
        ),
        click.option(
            "--rate-limit", type=RATE, metavar="N/SECONDS|none", help=FLOW_HELP["rate_limit"]
        ),
        click.option(
            "--key-rate-limit",
            type=RATE,
            metavar="N/SECONDS|none",
            help=FLOW_HELP["key_rate_limit"],
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def given(settings: dict[str, Setting | None]) -> dict[str, Any]:
    """The options given on the command line, by name, with their values (None: clear)."""
    return {name: setting.value for name, setting in settings.items() if setting is not None}


@queues.command(
    "create",
    help=doc(
        "Create a queue, optionally with its flow-control limits.",
        "durablectl queues create --name demo --max-concurrency 25 --key-concurrency 2",
    ),
)
@click.option("--name", required=True, help="Queue name (letters, digits, - _ .).")
@click.option("--task-ttl", type=int, help="Delete finished tasks after S seconds (0 = never).")
@click.option("--event-ttl", type=int, help="Delete events after S seconds (0 = never).")
@flow_options
@click.option("--paused", is_flag=True, help="Create it paused: no runs are handed out.")
@click.pass_obj
async def queues_create(
    state: State,
    name: str,
    task_ttl: int | None,
    event_ttl: int | None,
    max_concurrency: Setting | None,
    key_concurrency: Setting | None,
    rate_limit: Setting | None,
    key_rate_limit: Setting | None,
    paused: bool,
) -> None:
    cleanup = None
    if task_ttl is not None or event_ttl is not None:
        cleanup = CleanupPolicy(task_ttl_seconds=task_ttl, event_ttl_seconds=event_ttl)
    flow = given(
        {
            "max_concurrency": max_concurrency,
            "key_concurrency": key_concurrency,
            "rate_limit": rate_limit,
            "key_rate_limit": key_rate_limit,
        }
    )
    await call(
        state,
        lambda c: c.create_queue(name, cleanup=cleanup, paused=paused or None, **flow),
    )


@queues.command(
    "get",
    help=doc("Show a queue with its settings and limits.", "durablectl -o table queues get demo"),
)
@click.argument("queue")
@click.pass_obj
async def queues_get(state: State, queue: str) -> None:
    await call(state, lambda c: c.get_queue(queue))


@queues.command(
    "update",
    help=doc(
        "Change a queue's limits, pause state or cleanup ttls; options not given keep their "
        "value, `none` clears a limit and `default` restores a ttl's default. The change "
        "applies to the next claim.",
        "durablectl queues update demo --max-concurrency none --rate-limit 50/1 --pause",
    ),
)
@click.argument("queue")
@flow_options
@click.option(
    "--pause/--resume",
    "paused",
    default=None,
    help="Pause (hand out no runs; creates are still accepted) or resume the queue.",
)
@click.option(
    "--task-ttl",
    type=TTL,
    metavar="SECONDS|default",
    help="Delete finished tasks after S seconds (0 = never; default: the server's).",
)
@click.option(
    "--event-ttl",
    type=TTL,
    metavar="SECONDS|default",
    help="Delete events after S seconds (0 = never; default: the server's).",
)
@click.pass_obj
async def queues_update(
    state: State,
    queue: str,
    max_concurrency: Setting | None,
    key_concurrency: Setting | None,
    rate_limit: Setting | None,
    key_rate_limit: Setting | None,
    paused: bool | None,
    task_ttl: Setting | None,
    event_ttl: Setting | None,
) -> None:
    changes = given(
        {
            "max_concurrency": max_concurrency,
            "key_concurrency": key_concurrency,
            "rate_limit": rate_limit,
            "key_rate_limit": key_rate_limit,
            "task_ttl_seconds": task_ttl,
            "event_ttl_seconds": event_ttl,
        }
    )
    if paused is not None:
        changes["paused"] = paused
    if not changes:
        raise click.UsageError("nothing to change: give at least one option (see --help)")
    await call(state, lambda c: c.update_queue(queue, **changes))


@queues.command(
    "pause",
    help=doc(
        "Pause a queue: no runs are handed out (creates are still accepted) until resumed.",
        "durablectl queues pause demo",
    ),
)
@click.argument("queue")
@click.pass_obj
async def queues_pause(state: State, queue: str) -> None:
    await call(state, lambda c: c.pause_queue(queue))


@queues.command(
    "resume",
    help=doc("Resume a paused queue (sleeping long polls wake).", "durablectl queues resume demo"),
)
@click.argument("queue")
@click.pass_obj
async def queues_resume(state: State, queue: str) -> None:
    await call(state, lambda c: c.resume_queue(queue))


@queues.command("list", help=doc("List all queues.", "durablectl -o table queues list"))
@click.pass_obj
async def queues_list(state: State) -> None:
    async with state.client() as client:
        state.emit({"queues": to_dict(await client.list_queues())})


@queues.command(
    "delete",
    help=doc(
        "Delete a queue and its tasks (refused while tasks are unfinished, unless --force).",
        "durablectl queues delete demo --force",
    ),
)
@click.argument("queue")
@click.option("--force", is_flag=True, help="Delete even while tasks are unfinished.")
@click.pass_obj
async def queues_delete(state: State, queue: str, force: bool) -> None:
    async with state.client() as client:
        await client.delete_queue(queue, force=force)
    click.echo("deleted")


@queues.command(
    "stats",
    help=doc(
        "Show a queue's run counts and consumer lag (--watch to repeat).",
        "durablectl queues stats demo --watch --interval 5",
    ),
)
@click.argument("queue")
@click.option("--watch", "-w", is_flag=True, help="Print again every --interval seconds.")
@click.option(
    "--interval", type=click.FloatRange(min=0), default=2.0, show_default=True, help="Seconds."
)
@click.option(
    "--count",
    type=click.IntRange(min=0),
    default=0,
    help="With --watch: stop after N samples (0 = until interrupted).",
)
@click.pass_obj
async def queues_stats(state: State, queue: str, watch: bool, interval: float, count: int) -> None:
    async with state.client() as client:
        samples = 0
        while True:
            stats = await client.get_queue_stats(queue)
            samples += 1
            if watch and state.output == "table":
                now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
                click.echo(f"-- {now}")
            state.emit(stats)
            if not watch or (count and samples >= count):
                return
            await asyncio.sleep(interval)


# -- concurrency keys -------------------------------------------------------------------


@cli.group(
    help=doc(
        "List a queue's concurrency keys and set or remove a key's own limits (its override). "
        "A key that starts with - goes after --.",
        "durablectl -o table keys list demo",
    )
)
def keys() -> None:
    pass


@keys.command(
    "list",
    help=doc(
        "List a queue's concurrency keys with pending or claimed runs or an override, in text "
        "order, with their in-flight and pending counts and the limits that apply.",
        "durablectl -o table keys list demo --all",
    ),
)
@click.argument("queue")
@paged("Keys")
@click.pass_obj
async def keys_list(state: State, queue: str, paging: Paging) -> None:
    await paging.emit(
        state,
        "keys",
        lambda c, cursor, limit: c.list_keys(queue, cursor=cursor, limit=limit),
    )


@keys.command(
    "set",
    help=doc(
        "Set a key's override, in place of the queue's key defaults (--key-concurrency, "
        "--key-rate-limit). It replaces the key's earlier override: a limit not given (or "
        "none) falls back to the queue's default.",
        "durablectl keys set demo tenant-42 --max-concurrency 10 --rate-limit 100/1m",
    ),
)
@click.argument("queue")
@click.argument("key")
@click.option(
    "--max-concurrency",
    type=LIMIT,
    metavar="N|none",
    help="Claimed runs of the key at once (1-1000000; none: the queue's default).",
)
@click.option(
    "--rate-limit",
    type=RATE,
    metavar="N/SECONDS|none",
    help="Claims of the key per period, as N/SECONDS (50/1, 600/1m; none: the queue's default).",
)
@click.pass_obj
async def keys_set(
    state: State,
    queue: str,
    key: str,
    max_concurrency: Setting | None,
    rate_limit: Setting | None,
) -> None:
    check_key(key)
    if max_concurrency is None and rate_limit is None:
        raise click.UsageError(
            "give --max-concurrency and/or --rate-limit (keys delete removes an override)"
        )
    limits = given({"max_concurrency": max_concurrency, "rate_limit": rate_limit})
    await call(state, lambda c: c.set_key(queue, key, **limits))


@keys.command(
    "delete",
    help=doc(
        "Remove a key's override: the queue's key defaults apply to it again.",
        "durablectl keys delete demo tenant-42",
    ),
)
@click.argument("queue")
@click.argument("key")
@click.pass_obj
async def keys_delete(state: State, queue: str, key: str) -> None:
    check_key(key)
    async with state.client() as client:
        await client.delete_key(queue, key)
    click.echo("deleted")


def check_key(key: str) -> None:
    """A concurrency key is 1 to 255 characters (refused before the request)."""
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise click.BadParameter(
            f"a concurrency key is 1 to {MAX_KEY_LENGTH} characters, not {len(key)}",
            param_hint="KEY",
        )


# -- tasks ------------------------------------------------------------------------------


@cli.group(help=doc("Create, claim, list, inspect and cancel tasks.", "durablectl tasks list"))
def tasks() -> None:
    pass


@tasks.command(
    "create",
    help=doc(
        "Create a task on a queue (alias: spawn), or with --from-file every task of a JSON-lines "
        "file (one object per line, the fields of a single create), sent 1,000 at a time.",
        'durablectl tasks create --queue demo --name send --params \'{"to": "a@b.c"}\'',
    ),
)
@click.option("--queue", required=True, help="Queue name.")
@click.option("--name", help="Task name (required without --from-file).")
@click.option(
    "--from-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON-lines file of tasks; the other task options are then refused.",
)
@click.option("--params", type=JSON, help="Task params as JSON.")
@click.option("--max-attempts", type=int, help="Maximum attempts (server default 1).")
@click.option(
    "--retry-delay",
    type=float,
    help="Base retry delay in seconds (default 1 when retries are set).",
)
@click.option(
    "--retry-strategy",
    type=click.Choice(["fixed", "exponential"]),
    help="Retry delay strategy (default fixed).",
)
@click.option("--run-at", type=TIME, help="Not claimable before this time.")
@click.option("--idempotency-key", help="A repeat with the same key creates nothing.")
@click.option("--workflow-run-id", help="Workflow run the task belongs to.")
@click.option(
    "--priority",
    type=click.IntRange(MIN_PRIORITY, MAX_PRIORITY),
    help="-1000 to 1000; higher is claimed first (server default 0).",
)
@click.option(
    "--concurrency-key",
    help="The key whose limits and fair share the task takes (1-255 characters).",
)
@click.option(
    "--parent",
    "parent_task_id",
    metavar="TASK_ID",
    help="Make it a child of this task (its workflow run, priority and key unless given).",
)
@click.option(
    "--parent-close",
    type=click.Choice(["cancel", "abandon"]),
    help="With --parent: cancel it when the parent fails or is canceled (default), or not.",
)
@click.pass_obj
async def tasks_create(
    state: State,
    queue: str,
    name: str | None,
    from_file: Path | None,
    params: JSONArg | None,
    max_attempts: int | None,
    retry_delay: float | None,
    retry_strategy: str | None,
    run_at: dt.datetime | None,
    idempotency_key: str | None,
    workflow_run_id: str | None,
    priority: int | None,
    concurrency_key: str | None,
    parent_task_id: str | None,
    parent_close: str | None,
) -> None:
    if from_file is not None:
        single = (name, params, max_attempts, retry_delay, retry_strategy, run_at)
        flow = (priority, concurrency_key, parent_task_id, parent_close)
        if any(v is not None for v in (*single, idempotency_key, workflow_run_id, *flow)):
            raise click.UsageError("--from-file takes every task field from the file")
        await create_from_file(state, queue, from_file)
        return
    if name is None:
        raise click.UsageError("give --name, or --from-file")
    if parent_close is not None and parent_task_id is None:
        raise click.UsageError("--parent-close goes with --parent")
    if concurrency_key is not None and not 1 <= len(concurrency_key) <= MAX_KEY_LENGTH:
        raise click.BadParameter(
            f"a concurrency key is 1 to {MAX_KEY_LENGTH} characters, not {len(concurrency_key)}",
            param_hint="'--concurrency-key'",
        )
    strategy = None
    if retry_delay is not None or retry_strategy is not None or (max_attempts or 1) > 1:
        strategy = RetryStrategy(
            kind=retry_strategy or "fixed",
            base_seconds=1.0 if retry_delay is None else retry_delay,
        )
    await call(
        state,
        lambda c: c.create_task(
            queue,
            name,
            params=json_value(params),
            max_attempts=max_attempts,
            retry_strategy=strategy,
            run_at=run_at,
            idempotency_key=idempotency_key,
            workflow_run_id=workflow_run_id,
            priority=priority,
            concurrency_key=concurrency_key,
            parent_task_id=parent_task_id,
            parent_close=parent_close,
        ),
    )


async def create_from_file(state: State, queue: str, path: Path) -> None:
    """Every task of `path`, checked in full before the first batch is sent; prints the
    results in file order. A progress bar (on stderr) only when stderr is a terminal."""
    try:
        items = read_tasks(path)
    except (TaskFileError, OSError, UnicodeDecodeError) as exc:
        raise click.UsageError(str(exc)) from None
    created: list[Any] = []
    show = sys.stderr.isatty()
    with click.progressbar(
        length=len(items), label="creating tasks", file=sys.stderr if show else io.StringIO()
    ) as bar:
        async with state.client() as client:
            for batch in batches(items):
                created.extend(await client.create_tasks(queue, batch))
                bar.update(len(batch))
    state.emit({"tasks": to_dict(created)})


tasks.add_command(
    click.Command(
        "spawn",
        callback=tasks_create.callback,
        params=tasks_create.params,
        help=doc(
            "Create a task on a queue (the original CLI's name for `tasks create`).",
            "durablectl tasks spawn --queue demo --name send",
        ),
    )
)


@tasks.command(
    "claim",
    help=doc(
        "Claim due tasks from a queue (their runs are yours until the claim timeout).",
        "durablectl tasks claim --queue demo --limit 10 --timeout 60 --poll 30",
    ),
)
@click.option("--queue", required=True, help="Queue name.")
@click.option("--limit", type=int, default=1, show_default=True, help="Max tasks to claim.")
@click.option(
    "--timeout",
    "claim_timeout",
    type=int,
    default=30,
    show_default=True,
    help="Claim timeout in seconds.",
)
@click.option(
    "--poll", type=int, default=0, show_default=True, help="Long-poll seconds, 1-30 (0: don't)."
)
@click.pass_obj
async def tasks_claim(state: State, queue: str, limit: int, claim_timeout: int, poll: int) -> None:
    async with state.client() as client:
        claimed = await client.claim_tasks(
            queue,
            limit=limit,
            claim_timeout=claim_timeout,
            long_poll_seconds=poll if poll > 0 else None,
        )
        state.emit({"tasks": to_dict(claimed)})


@tasks.command(
    "list",
    help=doc(
        "List tasks, newest first (one page, or --all pages).",
        "durablectl tasks list --queue demo --status pending --limit 20",
    ),
)
@click.option("--queue", help="Filter by queue name.")
@click.option("--status", help="Filter by status (pending, completed, failed, canceled).")
@click.option("--name", help="Filter by task name.")
@click.option("--parent", "parent_task_id", metavar="TASK_ID", help="The children of this task.")
@paged("Tasks")
@click.pass_obj
async def tasks_list(
    state: State,
    queue: str | None,
    status: str | None,
    name: str | None,
    parent_task_id: str | None,
    paging: Paging,
) -> None:
    await paging.emit(
        state,
        "tasks",
        lambda c, cursor, limit: c.list_tasks(
            queue_name=queue,
            status=status,
            task_name=name,
            parent_task_id=parent_task_id,
            cursor=cursor,
            limit=limit,
        ),
    )


@tasks.command(
    "get",
    help=doc("Show a task with its runs and checkpoints.", "durablectl tasks get <task_id>"),
)
@click.argument("task_id")
@click.pass_obj
async def tasks_get(state: State, task_id: str) -> None:
    await call(state, lambda c: c.get_task(task_id))


# `tasks wait`'s exit code by the task's status (3: still pending when --timeout passed)
WAIT_EXIT: dict[str, int] = {"completed": 0, "failed": 1, "canceled": 1, "pending": 3}


@tasks.command(
    "wait",
    help=doc(
        "Wait for a task to finish and print its outcome (status, result or error); exit 0 "
        "completed, 1 failed or canceled, 3 still pending at --timeout.",
        "durablectl tasks wait <task_id> --timeout 30",
    ),
)
@click.argument("task_id")
@click.option(
    "--timeout",
    "limit",
    type=click.FloatRange(min=0),
    help="Give up after S seconds (0: ask once; default: wait as long as it takes).",
)
@click.pass_obj
async def tasks_wait(state: State, task_id: str, limit: float | None) -> None:
    async with state.client() as client:
        answer = await client.wait_for_result(task_id, limit)
    state.emit(answer)
    code = WAIT_EXIT.get(answer.status, 1)
    if code:
        raise click.exceptions.Exit(code)


@tasks.command(
    "set-priority",
    help=doc(
        "Change an unfinished task's priority (its pending and sleeping runs take it).",
        "durablectl tasks set-priority <task_id> --priority 10",
    ),
)
@click.argument("task_id")
@click.option(
    "--priority",
    type=click.IntRange(MIN_PRIORITY, MAX_PRIORITY),
    required=True,
    help="-1000 to 1000; higher is claimed first.",
)
@click.pass_obj
async def tasks_set_priority(state: State, task_id: str, priority: int) -> None:
    await call(state, lambda c: c.set_task_priority(task_id, priority))


@tasks.command(
    "cancel", help=doc("Cancel an unfinished task.", "durablectl tasks cancel <task_id>")
)
@click.argument("task_id")
@click.pass_obj
async def tasks_cancel(state: State, task_id: str) -> None:
    await call(state, lambda c: c.cancel_task(task_id))


# -- runs -------------------------------------------------------------------------------


@cli.group(help=doc("List, complete, fail, schedule and extend runs.", "durablectl runs list"))
def runs() -> None:
    pass


@runs.command(
    "list",
    help=doc(
        "List runs, newest first (one page, or --all pages).",
        "durablectl runs list --task <task_id>",
    ),
)
@click.option("--task", help="Filter by task ID.")
@click.option(
    "--status", help="Filter by status (pending, claimed, completed, failed, sleeping, canceled)."
)
@paged("Runs")
@click.pass_obj
async def runs_list(state: State, task: str | None, status: str | None, paging: Paging) -> None:
    await paging.emit(
        state,
        "runs",
        lambda c, cursor, limit: c.list_runs(
            task_id=task, status=status, cursor=cursor, limit=limit
        ),
    )


CLAIM_TOKEN_HELP = (
    "The claim_token the claim answered (tasks claim): the call is refused (409) once that "
    "claim has ended, even if the run was claimed again."
)
claim_token_option = click.option("--claim-token", help=CLAIM_TOKEN_HELP)


@runs.command(
    "complete",
    help=doc(
        "Complete a claimed run.", "durablectl runs complete <run_id> --result '{\"ok\": true}'"
    ),
)
@click.argument("run_id")
@click.option("--result", type=JSON, help="Result as JSON.")
@claim_token_option
@click.pass_obj
async def runs_complete(
    state: State, run_id: str, result: JSONArg | None, claim_token: str | None
) -> None:
    await call(state, lambda c: c.complete_run(run_id, json_value(result), claim_token=claim_token))


@runs.command(
    "fail",
    help=doc(
        "Fail a claimed run (a retry is scheduled while attempts remain).",
        "durablectl runs fail <run_id> --error 'upstream timed out'",
    ),
)
@click.argument("run_id")
@click.option("--error", required=True, help="Why the run failed.")
@claim_token_option
@click.pass_obj
async def runs_fail(state: State, run_id: str, error: str, claim_token: str | None) -> None:
    await call(state, lambda c: c.fail_run(run_id, error, claim_token=claim_token))


@runs.command(
    "schedule",
    help=doc(
        "Move a pending run, or release a claimed one, to a later time.",
        "durablectl runs schedule <run_id> --in 300",
    ),
)
@click.argument("run_id")
@click.option("--at", "at", type=TIME, help="RFC 3339 time with a zone.")
@click.option("--in", "in_seconds", type=click.FloatRange(min=0), help="Seconds from now.")
@claim_token_option
@click.pass_obj
async def runs_schedule(
    state: State,
    run_id: str,
    at: dt.datetime | None,
    in_seconds: float | None,
    claim_token: str | None,
) -> None:
    if (at is None) == (in_seconds is None):
        raise click.UsageError("give exactly one of --at TIME or --in SECONDS")
    run_at = at or dt.datetime.now(dt.UTC) + dt.timedelta(seconds=in_seconds or 0)
    await call(state, lambda c: c.schedule_run(run_id, run_at, claim_token=claim_token))


@runs.command(
    "heartbeat",
    help=doc("Extend a run's live claim.", "durablectl runs heartbeat <run_id> --extend-by 60"),
)
@click.argument("run_id")
@click.option(
    "--extend-by", type=int, required=True, help="Seconds from now the claim stays yours."
)
@claim_token_option
@click.pass_obj
async def runs_heartbeat(
    state: State, run_id: str, extend_by: int, claim_token: str | None
) -> None:
    await call(state, lambda c: c.heartbeat(run_id, extend_by, claim_token=claim_token))


# -- events -----------------------------------------------------------------------------


@cli.group(help=doc("Emit events.", "durablectl events emit --name order.paid"))
def events() -> None:
    pass


@events.command(
    "emit",
    help=doc(
        "Emit an event; runs waiting for its name wake up.",
        "durablectl events emit --name order.paid --payload '{\"order\": 42}'",
    ),
)
@click.option("--name", required=True, help="Event name.")
@click.option("--payload", type=JSON, help="Event payload as JSON.")
@click.pass_obj
async def events_emit(state: State, name: str, payload: JSONArg | None) -> None:
    await call(state, lambda c: c.emit_event(name, json_value(payload)))


# -- checkpoints ------------------------------------------------------------------------


@cli.group(help=doc("Read and write task checkpoints.", "durablectl checkpoints list <task_id>"))
def checkpoints() -> None:
    pass


@checkpoints.command(
    "get",
    help=doc("Show one step's stored state.", "durablectl checkpoints get <task_id> fetch"),
)
@click.argument("task_id")
@click.argument("step_name")
@click.pass_obj
async def checkpoints_get(state: State, task_id: str, step_name: str) -> None:
    await call(state, lambda c: c.get_checkpoint(task_id, step_name))


@checkpoints.command(
    "set",
    help=doc(
        "Store a step's state (--owner-run must hold the task's live claim).",
        "durablectl checkpoints set <task_id> fetch --state '{\"page\": 3}' --owner-run <run_id>",
    ),
)
@click.argument("task_id")
@click.argument("step_name")
@click.option("--state", "state_json", type=JSON, required=True, help="State as JSON.")
@click.option("--owner-run", required=True, help="The run holding the task's claim.")
@click.option("--extend-claim-by", type=int, help="Also extend the claim by S seconds.")
@claim_token_option
@click.pass_obj
async def checkpoints_set(
    state: State,
    task_id: str,
    step_name: str,
    state_json: JSONArg,
    owner_run: str,
    extend_claim_by: int | None,
    claim_token: str | None,
) -> None:
    await call(
        state,
        lambda c: c.set_checkpoint(
            task_id,
            step_name,
            state_json.value,
            owner_run=owner_run,
            extend_claim_by=extend_claim_by,
            claim_token=claim_token,
        ),
    )


@checkpoints.command(
    "list",
    help=doc("List every checkpoint of a task.", "durablectl checkpoints list <task_id>"),
)
@click.argument("task_id")
@click.pass_obj
async def checkpoints_list(state: State, task_id: str) -> None:
    async with state.client() as client:
        state.emit({"checkpoints": to_dict(await client.list_checkpoints(task_id))})


# -- workflow runs ----------------------------------------------------------------------


@cli.group(help=doc("Manage workflow runs.", "durablectl workflows list"))
def workflows() -> None:
    pass


@workflows.command(
    "create",
    help=doc(
        "Create a workflow run (tasks can then join it with --workflow-run-id).",
        'durablectl workflows create --name etl --version 2 --inputs \'{"day": "mon"}\'',
    ),
)
@click.option("--name", required=True, help="Workflow name.")
@click.option("--version", "version", help="Workflow version.")
@click.option("--inputs", type=JSON, help="Inputs as JSON.")
@click.option("--created-by", help="Who started it.")
@click.option("--tag", "tags", type=KEY_VALUE, multiple=True, help="KEY=VALUE (repeatable).")
@click.pass_obj
async def workflows_create(
    state: State,
    name: str,
    version: str | None,
    inputs: JSONArg | None,
    created_by: str | None,
    tags: tuple[tuple[str, str], ...],
) -> None:
    await call(
        state,
        lambda c: c.create_workflow_run(
            name,
            workflow_version=version,
            inputs=json_value(inputs),
            created_by=created_by,
            tags=dict(tags) or None,
        ),
    )


@workflows.command(
    "update",
    help=doc(
        "Change a workflow run's status, result or times.",
        "durablectl workflows update <id> --status completed --result '{\"rows\": 10}'",
    ),
)
@click.argument("workflow_run_id")
@click.option("--status", help="pending, running, completed, failed or canceled.")
@click.option("--result", type=JSON, help="Result as JSON.")
@click.option("--started-at", type=TIME, help="RFC 3339 time with a zone.")
@click.option("--completed-at", type=TIME, help="RFC 3339 time with a zone.")
@click.pass_obj
async def workflows_update(
    state: State,
    workflow_run_id: str,
    status: str | None,
    result: JSONArg | None,
    started_at: dt.datetime | None,
    completed_at: dt.datetime | None,
) -> None:
    await call(
        state,
        lambda c: c.update_workflow_run(
            workflow_run_id,
            status=status,
            result=json_value(result),
            started_at=started_at,
            completed_at=completed_at,
        ),
    )


@workflows.command(
    "get",
    help=doc("Show a workflow run with its tasks.", "durablectl workflows get <id>"),
)
@click.argument("workflow_run_id")
@click.pass_obj
async def workflows_get(state: State, workflow_run_id: str) -> None:
    await call(state, lambda c: c.get_workflow_run(workflow_run_id))


@workflows.command(
    "list",
    help=doc(
        "List workflow runs, newest first (one page, or --all pages).",
        "durablectl workflows list --name etl --status running",
    ),
)
@click.option("--name", help="Filter by workflow name.")
@click.option("--status", help="Filter by status.")
@paged("Workflow runs")
@click.pass_obj
async def workflows_list(
    state: State, name: str | None, status: str | None, paging: Paging
) -> None:
    await paging.emit(
        state,
        "workflow_runs",
        lambda c, cursor, limit: c.list_workflow_runs(
            workflow_name=name, status=status, cursor=cursor, limit=limit
        ),
    )


cli.add_command(schedules_group)
cli.add_command(worker_command)


def main() -> None:
    """Console-script entry point, on uvloop where it is installed (durable_queue.eventloop:
    a worker's requests cost less CPU there). Ctrl-C (the way to end `queues stats --watch`)
    exits 130, as a shell reports SIGINT, without a traceback."""
    try:
        run_on_loop(cli.main(prog_name="durablectl"))
    except KeyboardInterrupt:
        sys.exit(130)

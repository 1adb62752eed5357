"""`DurableClient`: one async method per endpoint of the durable-queue HTTP API."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, TypeVar
from urllib.parse import quote

import aiohttp
import attrs
import cattrs
import yarl

from durable_queue_client.convert import decode, encode, structure
from durable_queue_client.errors import (
    Conflict,
    ConnectionFailed,
    DurableError,
    InvalidResponse,
    NotFound,
    RequestTimeout,
    Unavailable,
    error_for,
)
from durable_queue_client.handles import TaskHandle
from durable_queue_client.models import (
    UNSET,
    BackfillResult,
    BatchCreatedTask,
    CanceledTask,
    Checkpoint,
    CheckpointEntry,
    CheckpointSaved,
    ClaimedTask,
    ClaimTasksRequest,
    CleanupPatch,
    CleanupPolicy,
    CompletedRun,
    CompleteRunRequest,
    CompleteRunsRequest,
    ConcurrencyKey,
    ConcurrencyKeyPage,
    CreatedTask,
    CreateQueueRequest,
    CreateScheduleRequest,
    CreateTaskRequest,
    CreateTasksRequest,
    CreateWorkflowRunRequest,
    EmitEventRequest,
    EventCreated,
    FailedRun,
    FailRunRequest,
    Heartbeat,
    HeartbeatRequest,
    JSONValue,
    QueueStats,
    QueueSummary,
    RateLimit,
    RetryStrategy,
    RunCompletion,
    RunCompletionResult,
    RunPage,
    RunSummary,
    ScheduledRun,
    ScheduleInfo,
    SchedulePage,
    ScheduleRunRequest,
    ScheduleTriggered,
    SetCheckpointRequest,
    SetKeyRequest,
    SetTaskPriorityRequest,
    TaskDetail,
    TaskPage,
    TaskResult,
    TaskSummary,
    Unset,
    UpdateQueueRequest,
    UpdateWorkflowRunRequest,
    WaitForEventRequest,
    WaitForEventResult,
    WaitForTasksAnswer,
    WaitForTasksRequest,
    WorkflowRun,
    WorkflowRunCreated,
    WorkflowRunDetail,
    WorkflowRunPage,
    WorkflowRunUpdated,
)
from durable_queue_client.paging import Page, follow_cursor
from durable_queue_client.schedules import schedule_patch, whole_definition_patch

T = TypeVar("T")
Item = TypeVar("Item")
P = TypeVar("P", bound=Page)

API_PREFIX: Final = "/api/v1"
DEFAULT_URL: Final = "http://localhost:8080"
USER_AGENT: Final = "durable-queue-client/0.1.0"
JSON_BODY: Final = {"Content-Type": "application/json"}
UPSERT_TRIES: Final = 5  # an upsert's create-then-PATCH, when others change the schedule too

log = logging.getLogger("durable_queue_client")
log.addHandler(logging.NullHandler())  # a library: silent unless the application logs


def _segment(value: str) -> str:
    """One path segment, percent-encoded (a step name or a concurrency key may hold `/`,
    `%`, spaces or any character). A segment of dots only (`.`, `..`) has its dots
    encoded too, so that no URL normalization takes it for a relative step."""
    text = str(value)
    if text and text.strip(".") == "":
        return "%2E" * len(text)
    return quote(text, safe="")


def _query(params: Mapping[str, object]) -> dict[str, str]:
    """Query parameters without the None-valued ones; bools as `true`/`false`."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def _one_line(text: str) -> str:
    return " ".join(text.split())


def new_idempotency_key() -> str:
    """A key for a create whose caller gave none: random, so it names this create only,
    and sent again with every retry of it, so a create whose answer was lost is never
    made twice."""
    return str(uuid.uuid4())


def _with_key(request: CreateTaskRequest) -> CreateTaskRequest:
    """The request, with a new idempotency key unless it has one."""
    if request.idempotency_key is not None:
        return request
    return attrs.evolve(request, idempotency_key=new_idempotency_key())


class DurableClient:
    """An async client of a durable-queue server, over one `aiohttp.ClientSession`.

    Use it as an async context manager (or call `close()`)::

        async with DurableClient("http://localhost:8080") as client:
            created = await client.create_task("emails", "send", params={"to": "a@b.c"})

    Errors are `DurableError`s (see `durable_queue_client.errors`). Connection failures
    and 503s are retried `retries` times with exponential backoff (`backoff`, doubling,
    at most `max_backoff` seconds) for calls that are safe to repeat: GET, PUT, DELETE,
    the creates (each task is sent with an `idempotency_key`, a new random one unless the
    caller gives one, so a repeat answers with the task the first attempt made),
    `complete_run`, `fail_run` and `complete_runs` with a `claim_token` (on every item),
    which a server of this release answers with the first outcome when repeated, the
    PATCHes that set values (`update_queue`, `set_task_priority`, `update_schedule`: a
    repeat sets the same values again), `upsert_schedule` (likewise) and
    `backfill_schedule` (a slot fires at most once). A 503 or a lost connection leaves
    the outcome unknown: the request may have committed. Other POSTs and PATCH are sent
    once.
    `on_retry(error, attempt, delay)`, when given, is called before each retry with the
    error that caused it, the number of the attempt about to be made (2 for the first
    retry) and the delay in seconds (e.g. to count retries in metrics).
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.1,
        max_backoff: float = 5.0,
        on_retry: Callable[[DurableError, int, float], None] | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must not be negative")
        if backoff < 0 or max_backoff < 0:
            raise ValueError("backoff and max_backoff must not be negative")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.on_retry = on_retry
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> DurableClient:
        self._ensure_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            self._session = aiohttp.ClientSession(
                headers=headers, timeout=aiohttp.ClientTimeout(total=self.timeout)
            )
        return self._session

    # -- transport ------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, object] | None = None,
        idempotent: bool | None = None,
        total_timeout: float | None = None,
        ok: tuple[int, ...] = (200, 201, 202, 204),
        ids_only: bool = False,
    ) -> tuple[int, Any]:
        """Send one request (retrying when allowed); return (status, decoded body or None).

        `body` is a record (unstructured without its None fields) or plain JSON data.
        `ids_only`: the answer holds no JSON value of the user's (params, results), so no
        integer beyond 64 bits to read exactly.
        """
        session = self._ensure_session()
        url = yarl.URL(f"{self.base_url}{API_PREFIX}{path}", encoded=True)
        if idempotent is None:
            idempotent = method in ("GET", "PUT", "DELETE")
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs["data"] = encode(body)
            kwargs["headers"] = JSON_BODY
        if params:
            kwargs["params"] = _query(params)
        if total_timeout is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=total_timeout)
        attempt = 0
        while True:
            error: DurableError
            try:
                async with session.request(method, url, **kwargs) as resp:
                    status = resp.status
                    raw = await resp.read()
            except TimeoutError as exc:
                wait = total_timeout if total_timeout is not None else self.timeout
                raise RequestTimeout(
                    self.base_url, f"server at {self.base_url} did not answer within {wait:g}s"
                ) from exc
            except aiohttp.ClientConnectionError as exc:
                reason = str(exc) or type(exc).__name__
                error = ConnectionFailed(
                    self.base_url, _one_line(f"cannot reach server at {self.base_url}: {reason}")
                )
            except aiohttp.ClientError as exc:
                raise ConnectionFailed(
                    self.base_url, _one_line(f"request to {self.base_url} failed: {exc}")
                ) from exc
            else:
                if status in ok:
                    return status, self._decode(status, raw, ids_only)
                error = self._error(status, raw, resp.reason)
                if not isinstance(error, Unavailable):
                    raise error
            if not idempotent or attempt >= self.retries:
                raise error
            delay = min(self.backoff * 2.0 ** min(attempt, 60), self.max_backoff)
            attempt += 1
            log.warning(
                "retrying %s %s in %.2fs (attempt %d of %d): %s",
                method,
                path,
                delay,
                attempt + 1,
                self.retries + 1,
                error,
            )
            if self.on_retry is not None:
                self.on_retry(error, attempt + 1, delay)
            await asyncio.sleep(delay)

    @staticmethod
    def _decode(status: int, raw: bytes, ids_only: bool = False) -> Any:
        if status == 204 or not raw.strip():
            return None
        try:
            return decode(raw, exact_ints=not ids_only)
        except ValueError as exc:
            raise InvalidResponse(
                status, "INVALID_RESPONSE", f"response is not JSON: {exc}"
            ) from exc

    @staticmethod
    def _error(status: int, raw: bytes, reason: str | None) -> DurableError:
        code, message = "", ""
        text = raw.decode("utf-8", "replace")
        try:
            data = decode(raw) if text.strip() else None
        except ValueError:
            data = None
        if isinstance(data, dict):
            code = str(data.get("code") or "")
            message = str(data.get("error") or data.get("message") or "")
        if not message:
            message = _one_line(text)[:200] if text.strip() and data is None else ""
        return error_for(status, code, message or reason or "request failed")

    @staticmethod
    def _structure(data: Any, cls: type[T]) -> T:
        try:
            return structure(data, cls)
        except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
            raise InvalidResponse(
                200, "INVALID_RESPONSE", f"unexpected response for {cls.__name__}: {exc!r}"
            ) from exc

    async def _get(self, path: str, cls: type[T], params: Mapping[str, object] | None = None) -> T:
        _, data = await self._request("GET", path, params=params)
        return self._structure(data, cls)

    def _iter(
        self,
        path: str,
        cls: type[P],
        filters: Mapping[str, object],
        page_size: int | None,
        items: Callable[[P], Sequence[Item]],
    ) -> AsyncIterator[Item]:
        """The items of every page of the listing at `path`, following `next_cursor`."""

        def fetch(cursor: str | None) -> Awaitable[P]:
            return self._get(path, cls, {**filters, "cursor": cursor, "limit": page_size})

        return follow_cursor(fetch, items)

    # -- queues ---------------------------------------------------------------------------

    async def create_queue(
        self,
        name: str,
        *,
        cleanup: CleanupPolicy | None = None,
        max_concurrency: int | None = None,
        key_concurrency: int | None = None,
        rate_limit: RateLimit | None = None,
        key_rate_limit: RateLimit | None = None,
        paused: bool | None = None,
    ) -> QueueSummary:
        """POST /queues: 201 the new queue; `Conflict` when the name exists.

        Flow control (docs/flow-control.md), None for "no limit": `max_concurrency`, runs
        of the queue claimed at once; `key_concurrency`, claimed runs at once per
        concurrency key (unless the key has an override); `rate_limit` / `key_rate_limit`,
        claims per period for the queue / per key; `paused`, hand out no runs."""
        request = CreateQueueRequest(
            name=name,
            cleanup=cleanup,
            max_concurrency=max_concurrency,
            key_concurrency=key_concurrency,
            rate_limit=rate_limit,
            key_rate_limit=key_rate_limit,
            paused=paused,
        )
        _, data = await self._request("POST", "/queues", body=request)
        return self._structure(data, QueueSummary)

    async def get_queue(self, name: str) -> QueueSummary:
        """GET /queues/{name}: the queue with its settings; `NotFound` when unknown."""
        return await self._get(f"/queues/{_segment(name)}", QueueSummary)

    async def update_queue(
        self,
        name: str,
        *,
        max_concurrency: int | Unset | None = UNSET,
        key_concurrency: int | Unset | None = UNSET,
        rate_limit: RateLimit | Unset | None = UNSET,
        key_rate_limit: RateLimit | Unset | None = UNSET,
        paused: bool | Unset | None = UNSET,
        task_ttl_seconds: int | Unset | None = UNSET,
        event_ttl_seconds: int | Unset | None = UNSET,
    ) -> QueueSummary:
        """PATCH /queues/{name}: change the settings given, keep the others. None clears a
        limit (`paused=None` is false; a ttl None restores its default); an argument left
        out (`UNSET`) is not sent. The change applies to the next claim. Retried like a
        PUT (it sets values)."""
        cleanup: CleanupPatch | Unset = UNSET
        if task_ttl_seconds is not UNSET or event_ttl_seconds is not UNSET:
            cleanup = CleanupPatch(
                task_ttl_seconds=task_ttl_seconds, event_ttl_seconds=event_ttl_seconds
            )
        request = UpdateQueueRequest(
            max_concurrency=max_concurrency,
            key_concurrency=key_concurrency,
            rate_limit=rate_limit,
            key_rate_limit=key_rate_limit,
            paused=paused,
            cleanup=cleanup,
        )
        _, data = await self._request(
            "PATCH", f"/queues/{_segment(name)}", body=request, idempotent=True
        )
        return self._structure(data, QueueSummary)

    async def pause_queue(self, name: str) -> QueueSummary:
        """`update_queue(name, paused=True)`: no runs are handed out until resumed (creates
        are still accepted; long polls sleep and are woken on resume)."""
        return await self.update_queue(name, paused=True)

    async def resume_queue(self, name: str) -> QueueSummary:
        """`update_queue(name, paused=False)`."""
        return await self.update_queue(name, paused=False)

    async def list_queues(self) -> list[QueueSummary]:
        """GET /queues."""
        _, data = await self._request("GET", "/queues")
        return self._structure(self._field(data, "queues"), list[QueueSummary])

    async def delete_queue(self, name: str, force: bool = False) -> None:
        """DELETE /queues/{name}; `Conflict` while unfinished tasks remain, unless `force`."""
        params = {"force": True} if force else None
        await self._request("DELETE", f"/queues/{_segment(name)}", params=params)

    async def get_queue_stats(self, name: str) -> QueueStats:
        """GET /queues/{name}/stats."""
        return await self._get(f"/queues/{_segment(name)}/stats", QueueStats)

    # -- concurrency keys -----------------------------------------------------------------

    async def list_keys(
        self, queue: str, *, cursor: str | None = None, limit: int | None = None
    ) -> ConcurrencyKeyPage:
        """GET /queues/{queue}/keys: one page of the queue's concurrency keys that have
        pending or claimed runs or an override, in text order, with their counts and the
        limits that apply (`limit` 1-1,000, the server's default 100); pass `next_cursor`
        back for the next page."""
        return await self._get(
            f"/queues/{_segment(queue)}/keys",
            ConcurrencyKeyPage,
            {"cursor": cursor, "limit": limit},
        )

    def iter_keys(
        self, queue: str, *, page_size: int | None = None
    ) -> AsyncIterator[ConcurrencyKey]:
        """Every concurrency key of the queue, following `next_cursor`."""
        return self._iter(
            f"/queues/{_segment(queue)}/keys",
            ConcurrencyKeyPage,
            {},
            page_size,
            lambda page: page.keys,
        )

    async def set_key(
        self,
        queue: str,
        key: str,
        *,
        max_concurrency: int | None = None,
        rate_limit: RateLimit | None = None,
    ) -> ConcurrencyKey:
        """PUT /queues/{queue}/keys/{key}: set the key's override, replacing any earlier
        one (a limit None: the queue's key default applies to the key). The key need not
        have runs yet. `NotFound` when the queue is unknown."""
        _, data = await self._request(
            "PUT",
            f"/queues/{_segment(queue)}/keys/{_segment(key)}",
            body=SetKeyRequest(max_concurrency=max_concurrency, rate_limit=rate_limit),
        )
        return self._structure(data, ConcurrencyKey)

    async def delete_key(self, queue: str, key: str) -> None:
        """DELETE /queues/{queue}/keys/{key}: remove the key's override (the queue's key
        defaults apply again); `NotFound` when the queue is unknown or the key has none."""
        await self._request("DELETE", f"/queues/{_segment(queue)}/keys/{_segment(key)}")

    # -- tasks ----------------------------------------------------------------------------

    async def create_task(
        self,
        queue: str,
        task_name: str,
        *,
        params: JSONValue = None,
        headers: dict[str, str] | None = None,
        retry_strategy: RetryStrategy | None = None,
        max_attempts: int | None = None,
        start_timeout: int | None = None,
        execution_timeout: int | None = None,
        workflow_run_id: str | None = None,
        run_at: dt.datetime | None = None,
        idempotency_key: str | None = None,
        priority: int | None = None,
        concurrency_key: str | None = None,
        parent_task_id: str | None = None,
        parent_close: str | None = None,
    ) -> CreatedTask:
        """POST /queues/{queue}/tasks. Sent with `idempotency_key`, or a new random one
        when it is None, and retried with it (a repeat with the same key answers with the
        first task's ids). `priority` (-1000 to 1000, default 0): higher is claimed first;
        `concurrency_key` (1-255 characters): the key whose limits and fair share its runs
        take (docs/flow-control.md). `parent_task_id` makes it a child of that task (in
        its workflow run, with its priority and concurrency key unless given; `NotFound`
        when the parent does not exist); `parent_close` "cancel" (the server's default:
        canceled with the parent's unfinished children when the parent ends failed or
        canceled) or "abandon" (keeps running)."""
        request = CreateTaskRequest(
            task_name=task_name,
            params=params,
            headers=headers,
            retry_strategy=retry_strategy,
            max_attempts=max_attempts,
            start_timeout=start_timeout,
            execution_timeout=execution_timeout,
            workflow_run_id=workflow_run_id,
            run_at=run_at,
            idempotency_key=new_idempotency_key() if idempotency_key is None else idempotency_key,
            priority=priority,
            concurrency_key=concurrency_key,
            parent_task_id=parent_task_id,
            parent_close=parent_close,
        )
        _, data = await self._request(
            "POST",
            f"/queues/{_segment(queue)}/tasks",
            body=request,
            idempotent=True,
            ids_only=True,
        )
        return self._structure(data, CreatedTask)

    async def enqueue(
        self,
        queue: str,
        task_name: str,
        params: JSONValue = None,
        *,
        headers: dict[str, str] | None = None,
        retry_strategy: RetryStrategy | None = None,
        max_attempts: int | None = None,
        start_timeout: int | None = None,
        execution_timeout: int | None = None,
        workflow_run_id: str | None = None,
        run_at: dt.datetime | None = None,
        idempotency_key: str | None = None,
        priority: int | None = None,
        concurrency_key: str | None = None,
        parent_task_id: str | None = None,
        parent_close: str | None = None,
    ) -> TaskHandle:
        """`create_task`, answered with a `TaskHandle`: `await handle.result(timeout=...)`
        waits for the task's result (`TaskFailed` / `TaskCanceled` when it ended
        otherwise, `TimeoutError` when the timeout passes first)."""
        created = await self.create_task(
            queue,
            task_name,
            params=params,
            headers=headers,
            retry_strategy=retry_strategy,
            max_attempts=max_attempts,
            start_timeout=start_timeout,
            execution_timeout=execution_timeout,
            workflow_run_id=workflow_run_id,
            run_at=run_at,
            idempotency_key=idempotency_key,
            priority=priority,
            concurrency_key=concurrency_key,
            parent_task_id=parent_task_id,
            parent_close=parent_close,
        )
        return TaskHandle(self, created.task_id, created.run_id, created.workflow_run_id)

    async def create_tasks(
        self, queue: str, tasks: Sequence[CreateTaskRequest]
    ) -> list[BatchCreatedTask]:
        """POST /queues/{queue}/tasks/batch: 1 to 1,000 tasks in one transaction (all or
        nothing); results in input order. An item without an `idempotency_key` is sent with
        a new random one, and the batch is retried with the same keys (`created` is false
        for the items a lost first attempt made). An item's `parent_task_id` that names
        no task is a `NotFound` for the whole batch."""
        _, data = await self._request(
            "POST",
            f"/queues/{_segment(queue)}/tasks/batch",
            body=CreateTasksRequest(tasks=[_with_key(task) for task in tasks]),
            idempotent=True,
            ids_only=True,
        )
        return self._structure(self._field(data, "tasks"), list[BatchCreatedTask])

    async def claim_tasks(
        self,
        queue: str,
        *,
        limit: int = 1,
        claim_timeout: int = 30,
        long_poll_seconds: int | None = None,
    ) -> list[ClaimedTask]:
        """POST /queues/{queue}/tasks/claim: up to `limit` due tasks (maybe none). With
        `long_poll_seconds` (1-30) the server holds the request until a task is due or
        the time is up; the read timeout is raised above it."""
        request = ClaimTasksRequest(
            limit=limit, claim_timeout=claim_timeout, long_poll_seconds=long_poll_seconds
        )
        total_timeout = self.timeout + long_poll_seconds if long_poll_seconds else None
        _, data = await self._request(
            "POST",
            f"/queues/{_segment(queue)}/tasks/claim",
            body=request,
            total_timeout=total_timeout,
        )
        return self._structure(self._field(data, "tasks"), list[ClaimedTask])

    async def list_tasks(
        self,
        *,
        queue_name: str | None = None,
        status: str | None = None,
        task_name: str | None = None,
        parent_task_id: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> TaskPage:
        """GET /tasks: one page, newest first; pass `next_cursor` back for the next.
        `parent_task_id`: that task's children only."""
        query = {
            "queue_name": queue_name,
            "status": status,
            "task_name": task_name,
            "parent_task_id": parent_task_id,
            "cursor": cursor,
            "limit": limit,
        }
        return await self._get("/tasks", TaskPage, query)

    def iter_tasks(
        self,
        *,
        queue_name: str | None = None,
        status: str | None = None,
        task_name: str | None = None,
        parent_task_id: str | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[TaskSummary]:
        """Every matching task, newest first, following `next_cursor` page by page."""
        query = {
            "queue_name": queue_name,
            "status": status,
            "task_name": task_name,
            "parent_task_id": parent_task_id,
        }
        return self._iter("/tasks", TaskPage, query, page_size, lambda page: page.tasks)

    async def get_task(self, task_id: str) -> TaskDetail:
        """GET /tasks/{task_id}: the task with its runs and checkpoint names, and its
        parent (`parent_task_id`, `parent_close`) and children counted by status
        (`children`) when it has them."""
        return await self._get(f"/tasks/{_segment(task_id)}", TaskDetail)

    async def get_task_result(self, task_id: str, wait_seconds: int = 0) -> TaskResult:
        """GET /tasks/{task_id}/result: the task's outcome (status "completed" with its
        `result`, "failed" with its `error`, or "canceled"). While it is unfinished the
        server waits up to `wait_seconds` (0-60) for it to end, then answers "pending";
        the read timeout is raised above the wait. `NotFound` when the task does not
        exist; `Unavailable` (retried) when the server holds as many waits as it can.
        `TaskHandle.result` waits longer, in a loop of these."""
        total_timeout = self.timeout + wait_seconds if wait_seconds else None
        _, data = await self._request(
            "GET",
            f"/tasks/{_segment(task_id)}/result",
            params={"wait_seconds": wait_seconds or None},
            total_timeout=total_timeout,
        )
        return self._structure(data, TaskResult)

    async def wait_for_result(
        self,
        task_id: str,
        timeout: float | dt.timedelta | None = None,  # noqa: ASYNC109 - a server-side wait
    ) -> TaskResult:
        """The task's outcome once it has ended, or its "pending" answer once `timeout`
        seconds have passed (None: as long as it takes; 0: ask once): `get_task_result`
        in a loop of waits of at most 60 s. Raises nothing for the task's sake;
        `TaskHandle(client, task_id).result()` raises for a task that did not complete."""
        return await TaskHandle(self, task_id).outcome(timeout)

    async def set_task_priority(self, task_id: str, priority: int) -> TaskDetail:
        """PATCH /tasks/{task_id}: change the priority of the task and of its pending and
        sleeping runs (-1000 to 1000); `Conflict` when the task is finished. Retried like
        a PUT (it sets a value)."""
        _, data = await self._request(
            "PATCH",
            f"/tasks/{_segment(task_id)}",
            body=SetTaskPriorityRequest(priority=priority),
            idempotent=True,
        )
        return self._structure(data, TaskDetail)

    async def cancel_task(self, task_id: str) -> CanceledTask:
        """POST /tasks/{task_id}/cancel; `Conflict` when the task is already finished."""
        _, data = await self._request("POST", f"/tasks/{_segment(task_id)}/cancel")
        return self._structure(data, CanceledTask)

    # -- runs -----------------------------------------------------------------------------

    async def list_runs(
        self,
        *,
        task_id: str | None = None,
        status: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> RunPage:
        """GET /runs: one page, newest first."""
        query = {"task_id": task_id, "status": status, "cursor": cursor, "limit": limit}
        return await self._get("/runs", RunPage, query)

    def iter_runs(
        self,
        *,
        task_id: str | None = None,
        status: str | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[RunSummary]:
        """Every matching run, newest first, following `next_cursor`."""
        query = {"task_id": task_id, "status": status}
        return self._iter("/runs", RunPage, query, page_size, lambda page: page.runs)

    async def complete_run(
        self, run_id: str, result: JSONValue = None, *, claim_token: str | None = None
    ) -> CompletedRun:
        """POST /runs/{run_id}/complete, with `result` when given (not None). With
        `claim_token` (the claimed task's), `Conflict` unless the run is still held under
        that claim, or was completed under it (a repeat: the first result stands); so for
        every call that acts on a claimed run. Retried only with a `claim_token`."""
        request = CompleteRunRequest(result=result, claim_token=claim_token)
        _, data = await self._request(
            "POST",
            f"/runs/{_segment(run_id)}/complete",
            body=request,
            idempotent=claim_token is not None,
            ids_only=True,
        )
        return self._structure(data, CompletedRun)

    async def complete_runs(self, runs: Sequence[RunCompletion]) -> list[RunCompletionResult]:
        """POST /runs/complete: 1 to 1,000 runs, each fenced on its own; results in input
        order, "completed" or "conflict"/"not_found" with an error (that item changed
        nothing; an item whose `claim_token` is not its run's current one is a conflict).
        Retried only when every item has a `claim_token` (a repeated item whose run was
        completed under it is "completed" again; without a token it would be a conflict)."""
        _, data = await self._request(
            "POST",
            "/runs/complete",
            body=CompleteRunsRequest(runs=list(runs)),
            idempotent=bool(runs) and all(run.claim_token is not None for run in runs),
            ids_only=True,
        )
        return self._structure(self._field(data, "runs"), list[RunCompletionResult])

    async def fail_run(
        self, run_id: str, error: str, *, claim_token: str | None = None
    ) -> FailedRun:
        """POST /runs/{run_id}/fail; `next_run_id` is set when a retry was scheduled.
        Retried only with a `claim_token` (a repeat answers with the first answer)."""
        request = FailRunRequest(error=error, claim_token=claim_token)
        _, data = await self._request(
            "POST",
            f"/runs/{_segment(run_id)}/fail",
            body=request,
            idempotent=claim_token is not None,
        )
        return self._structure(data, FailedRun)

    async def schedule_run(
        self, run_id: str, run_at: dt.datetime, *, claim_token: str | None = None
    ) -> ScheduledRun:
        """POST /runs/{run_id}/schedule: move a pending run, or release a claimed one,
        until `run_at` (an aware datetime). With `claim_token`, only a release of that
        claim (a pending run is then a `Conflict`)."""
        request = ScheduleRunRequest(run_at=run_at, claim_token=claim_token)
        _, data = await self._request("POST", f"/runs/{_segment(run_id)}/schedule", body=request)
        return self._structure(data, ScheduledRun)

    async def wait_for_event(
        self,
        run_id: str,
        *,
        task_id: str,
        event_name: str,
        step_name: str,
        timeout_seconds: int,
        claim_token: str | None = None,
    ) -> WaitForEventResult:
        """POST /runs/{run_id}/wait-for-event: status "resolved" (200, with the payload)
        or "sleeping" (202: the claim ends, a later claim brings a new token); raises
        `WaitTimeout` on 408."""
        request = WaitForEventRequest(
            event_name=event_name,
            timeout_seconds=timeout_seconds,
            task_id=task_id,
            step_name=step_name,
            claim_token=claim_token,
        )
        _, data = await self._request(
            "POST", f"/runs/{_segment(run_id)}/wait-for-event", body=request, ok=(200, 202)
        )
        return self._structure(data, WaitForEventResult)

    async def wait_for_tasks(
        self,
        run_id: str,
        task_ids: Sequence[str],
        timeout_seconds: int,
        *,
        claim_token: str | None = None,
    ) -> WaitForTasksAnswer:
        """POST /runs/{run_id}/wait-for-tasks (1 to 1,000 task ids; the run must be held):
        status "completed" with every task's outcome in the order asked, when all have
        ended; otherwise "sleeping" (the claim ends; the run is claimable again when the
        last task ends or `timeout_seconds` pass, and a later claim brings a new token),
        after which the same call answers "completed", or "timeout" with the tasks as
        they are. `ValidationError` for a task id that does not exist; sent once (a
        repeat after "sleeping" finds the run no longer held)."""
        request = WaitForTasksRequest(
            task_ids=list(task_ids), timeout_seconds=timeout_seconds, claim_token=claim_token
        )
        _, data = await self._request(
            "POST", f"/runs/{_segment(run_id)}/wait-for-tasks", body=request, ok=(200, 202)
        )
        return self._structure(data, WaitForTasksAnswer)

    async def heartbeat(
        self, run_id: str, extend_by: int, *, claim_token: str | None = None
    ) -> Heartbeat:
        """POST /runs/{run_id}/heartbeat: extend the live claim by `extend_by` seconds."""
        _, data = await self._request(
            "POST",
            f"/runs/{_segment(run_id)}/heartbeat",
            body=HeartbeatRequest(extend_by=extend_by, claim_token=claim_token),
        )
        return self._structure(data, Heartbeat)

    # -- checkpoints ----------------------------------------------------------------------

    async def set_checkpoint(
        self,
        task_id: str,
        step_name: str,
        state: JSONValue,
        *,
        owner_run: str,
        extend_claim_by: int | None = None,
        claim_token: str | None = None,
    ) -> CheckpointSaved:
        """PUT /tasks/{task_id}/checkpoints/{step_name}; `state` None is stored as null.
        `owner_run` must hold the task's live claim (under `claim_token` when given), else
        `Conflict`."""
        request = SetCheckpointRequest(
            state=state,
            owner_run=owner_run,
            extend_claim_by=extend_claim_by,
            claim_token=claim_token,
        )
        _, data = await self._request(
            "PUT",
            f"/tasks/{_segment(task_id)}/checkpoints/{_segment(step_name)}",
            body=request,
        )
        return self._structure(data, CheckpointSaved)

    async def get_checkpoint(self, task_id: str, step_name: str) -> Checkpoint:
        """GET /tasks/{task_id}/checkpoints/{step_name}."""
        return await self._get(
            f"/tasks/{_segment(task_id)}/checkpoints/{_segment(step_name)}", Checkpoint
        )

    async def list_checkpoints(self, task_id: str) -> list[CheckpointEntry]:
        """GET /tasks/{task_id}/checkpoints."""
        _, data = await self._request("GET", f"/tasks/{_segment(task_id)}/checkpoints")
        return self._structure(self._field(data, "checkpoints"), list[CheckpointEntry])

    # -- events ---------------------------------------------------------------------------

    async def emit_event(self, event_name: str, payload: JSONValue = None) -> EventCreated:
        """POST /events: waiting runs on `event_name` resolve."""
        _, data = await self._request(
            "POST", "/events", body=EmitEventRequest(event_name=event_name, payload=payload)
        )
        return self._structure(data, EventCreated)

    # -- workflow runs --------------------------------------------------------------------

    async def create_workflow_run(
        self,
        workflow_name: str,
        *,
        workflow_version: str | None = None,
        inputs: JSONValue = None,
        created_by: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> WorkflowRunCreated:
        """POST /workflow-runs."""
        request = CreateWorkflowRunRequest(
            workflow_name=workflow_name,
            workflow_version=workflow_version,
            inputs=inputs,
            created_by=created_by,
            tags=tags,
        )
        _, data = await self._request("POST", "/workflow-runs", body=request)
        return self._structure(data, WorkflowRunCreated)

    async def update_workflow_run(
        self,
        workflow_run_id: str,
        *,
        status: str | None = None,
        result: JSONValue = None,
        started_at: dt.datetime | None = None,
        completed_at: dt.datetime | None = None,
    ) -> WorkflowRunUpdated:
        """PATCH /workflow-runs/{id}: any subset of the fields (None ones are not sent)."""
        request = UpdateWorkflowRunRequest(
            status=status, result=result, started_at=started_at, completed_at=completed_at
        )
        _, data = await self._request(
            "PATCH", f"/workflow-runs/{_segment(workflow_run_id)}", body=request
        )
        return self._structure(data, WorkflowRunUpdated)

    async def get_workflow_run(self, workflow_run_id: str) -> WorkflowRunDetail:
        """GET /workflow-runs/{id}: the run with its tasks and task counts by status."""
        return await self._get(f"/workflow-runs/{_segment(workflow_run_id)}", WorkflowRunDetail)

    async def list_workflow_runs(
        self,
        *,
        workflow_name: str | None = None,
        status: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> WorkflowRunPage:
        """GET /workflow-runs: one page, newest first."""
        query = {
            "workflow_name": workflow_name,
            "status": status,
            "cursor": cursor,
            "limit": limit,
        }
        return await self._get("/workflow-runs", WorkflowRunPage, query)

    def iter_workflow_runs(
        self,
        *,
        workflow_name: str | None = None,
        status: str | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[WorkflowRun]:
        """Every matching workflow run, newest first, following `next_cursor`."""
        query = {"workflow_name": workflow_name, "status": status}
        return self._iter(
            "/workflow-runs", WorkflowRunPage, query, page_size, lambda page: page.workflow_runs
        )

    # -- schedules ------------------------------------------------------------------------

    async def create_schedule(
        self,
        name: str,
        *,
        queue: str,
        task_name: str,
        cron: str | None = None,
        interval_seconds: int | None = None,
        timezone: str | None = None,
        params: JSONValue = None,
        headers: dict[str, str] | None = None,
        max_attempts: int | None = None,
        retry_strategy: RetryStrategy | None = None,
        priority: int | None = None,
        concurrency_key: str | None = None,
        start_at: dt.datetime | None = None,
        end_at: dt.datetime | None = None,
        catchup: str | None = None,
        catchup_window_seconds: int | None = None,
        overlap: str | None = None,
        paused: bool | None = None,
        note: str | None = None,
    ) -> ScheduleInfo:
        """POST /schedules: 201 the new schedule; `Conflict` when the name is in use,
        `NotFound` when the queue is unknown, `ValidationError` naming the field (a bad
        `cron` or `timezone`, both or neither of `cron` and `interval_seconds`, `end_at`
        not after `start_at`). Exactly one of `cron` (5 fields, or 6 with seconds first;
        read on the wall clock of `timezone`, IANA, default UTC) and `interval_seconds`.
        `catchup` ("skip", "latest", "all"; default skip) within `catchup_window_seconds`
        (default 3600), `overlap` ("allow", "skip", "buffer_one", "cancel_previous";
        default allow): docs/schedules.md. The rest is what each task is made with. Sent
        once (a repeat would be a `Conflict`); `upsert_schedule` may be repeated."""
        request = CreateScheduleRequest(
            name=name,
            queue=queue,
            task_name=task_name,
            params=params,
            headers=headers,
            max_attempts=max_attempts,
            retry_strategy=retry_strategy,
            priority=priority,
            concurrency_key=concurrency_key,
            cron=cron,
            interval_seconds=interval_seconds,
            timezone=timezone,
            start_at=start_at,
            end_at=end_at,
            catchup=catchup,
            catchup_window_seconds=catchup_window_seconds,
            overlap=overlap,
            paused=paused,
            note=note,
        )
        _, data = await self._request("POST", "/schedules", body=request)
        return self._structure(data, ScheduleInfo)

    async def upsert_schedule(self, definition: CreateScheduleRequest) -> ScheduleInfo:
        """Make the schedule `definition.name` be `definition`: create it, or when the name
        is in use (409) PATCH it with the whole definition, every field sent (the ones
        left out as their default, or null), so a field dropped from the definition is
        cleared; `paused` None leaves the pause state as it is. Many callers upserting
        the same definition at once leave one schedule: one create wins, the others
        PATCH (a PATCH refused because others changed the schedule meanwhile, 409, is
        tried again after a random delay; so is the create when the schedule was deleted
        in between). Retried like a PUT (a repeat sets the same definition again)."""
        path = f"/schedules/{_segment(definition.name)}"
        patch = whole_definition_patch(definition)
        for attempt in range(1, UPSERT_TRIES + 1):
            try:
                _, data = await self._request(
                    "POST", "/schedules", body=definition, idempotent=True
                )
                return self._structure(data, ScheduleInfo)
            except Conflict:
                pass  # the name is in use
            try:
                _, data = await self._request("PATCH", path, body=patch, idempotent=True)
                return self._structure(data, ScheduleInfo)
            except NotFound:
                if attempt == UPSERT_TRIES:
                    raise
                # deleted between the create and the PATCH: create it again
            except Conflict:
                if attempt == UPSERT_TRIES:
                    raise
                # changed by others meanwhile (many upserting at once): again, a little later
                await asyncio.sleep(random.uniform(0, self.backoff * 2.0**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    async def get_schedule(self, name: str, preview: int | None = None) -> ScheduleInfo:
        """GET /schedules/{name}: the schedule and its state; with `preview` (1-100) its
        next fire times as `upcoming`. `NotFound` when unknown."""
        return await self._get(f"/schedules/{_segment(name)}", ScheduleInfo, {"preview": preview})

    async def list_schedules(
        self, *, queue: str | None = None, cursor: str | None = None, limit: int | None = None
    ) -> SchedulePage:
        """GET /schedules: one page in name order (`limit` 1-1,000, the server's default
        50), of `queue`'s schedules when given; pass `next_cursor` back for the next."""
        query = {"queue": queue, "cursor": cursor, "limit": limit}
        return await self._get("/schedules", SchedulePage, query)

    def iter_schedules(
        self, *, queue: str | None = None, page_size: int | None = None
    ) -> AsyncIterator[ScheduleInfo]:
        """Every schedule (of `queue` when given), in name order, following `next_cursor`."""
        return self._iter(
            "/schedules", SchedulePage, {"queue": queue}, page_size, lambda page: page.schedules
        )

    async def update_schedule(
        self,
        name: str,
        *,
        queue: str | Unset = UNSET,
        task_name: str | Unset = UNSET,
        cron: str | Unset = UNSET,
        interval_seconds: int | Unset = UNSET,
        timezone: str | Unset | None = UNSET,
        params: JSONValue | Unset = UNSET,
        headers: dict[str, str] | Unset | None = UNSET,
        max_attempts: int | Unset | None = UNSET,
        retry_strategy: RetryStrategy | Unset | None = UNSET,
        priority: int | Unset | None = UNSET,
        concurrency_key: str | Unset | None = UNSET,
        start_at: dt.datetime | Unset | None = UNSET,
        end_at: dt.datetime | Unset | None = UNSET,
        catchup: str | Unset | None = UNSET,
        catchup_window_seconds: int | Unset | None = UNSET,
        overlap: str | Unset | None = UNSET,
        paused: bool | Unset | None = UNSET,
        note: str | Unset | None = UNSET,
    ) -> ScheduleInfo:
        """PATCH /schedules/{name}: change the fields given, keep the others; an argument
        left out (`UNSET`) is not sent. None clears a field a schedule may be without
        (params, headers, retry_strategy, concurrency_key, start_at, end_at, note) and
        restores the default of the others (timezone UTC, catchup skip, window 3600,
        overlap allow, priority 0, max_attempts 1, paused false); `queue`, `task_name`,
        `cron` and `interval_seconds` cannot be None. Giving `cron` clears
        `interval_seconds` and the other way round. A change of the calendar (cron,
        interval, timezone, start_at, end_at), or a resume, computes the next fire time
        from now; slots passed while paused are not caught up. Retried like a PUT."""
        changes = {
            "queue": queue,
            "task_name": task_name,
            "cron": cron,
            "interval_seconds": interval_seconds,
            "timezone": timezone,
            "params": params,
            "headers": headers,
            "max_attempts": max_attempts,
            "retry_strategy": retry_strategy,
            "priority": priority,
            "concurrency_key": concurrency_key,
            "start_at": start_at,
            "end_at": end_at,
            "catchup": catchup,
            "catchup_window_seconds": catchup_window_seconds,
            "overlap": overlap,
            "paused": paused,
            "note": note,
        }
        _, data = await self._request(
            "PATCH",
            f"/schedules/{_segment(name)}",
            body=schedule_patch(changes),
            idempotent=True,
        )
        return self._structure(data, ScheduleInfo)

    async def pause_schedule(self, name: str) -> ScheduleInfo:
        """`update_schedule(name, paused=True)`: no slot fires until resumed (`trigger`
        still does)."""
        return await self.update_schedule(name, paused=True)

    async def resume_schedule(self, name: str) -> ScheduleInfo:
        """`update_schedule(name, paused=False)`: the next slot from now on fires; the ones
        passed while paused do not."""
        return await self.update_schedule(name, paused=False)

    async def delete_schedule(self, name: str) -> None:
        """DELETE /schedules/{name}: no more slots fire; the tasks it made stay (with their
        `schedule_name`). `NotFound` when unknown."""
        await self._request("DELETE", f"/schedules/{_segment(name)}")

    async def trigger_schedule(self, name: str) -> ScheduleTriggered:
        """POST /schedules/{name}/trigger: make the schedule's task once now (its
        `scheduled_for` the server's now), whatever the overlap policy, also while paused;
        it becomes the schedule's last task. Sent once (a repeat would make another)."""
        _, data = await self._request(
            "POST", f"/schedules/{_segment(name)}/trigger", ok=(200, 201), ids_only=True
        )
        return self._structure(data, ScheduleTriggered)

    async def backfill_schedule(
        self, name: str, start: dt.datetime, end: dt.datetime
    ) -> BackfillResult:
        """POST /schedules/{name}/backfill: fire the slots of the schedule's calendar from
        `start` to `end` (aware datetimes, both included; start_at and end_at do not
        apply), oldest first, under its overlap policy; at most 1,000 slots, else
        `ValidationError`. A slot fires at most once ever (one that has a task already
        counts as `already_fired`), so it is retried like a PUT."""
        _, data = await self._request(
            "POST",
            f"/schedules/{_segment(name)}/backfill",
            body={"from": start, "to": end},
            idempotent=True,
            ids_only=True,
        )
        return self._structure(data, BackfillResult)

    # -- helpers --------------------------------------------------------------------------

    @staticmethod
    def _field(data: Any, key: str) -> Any:
        if not isinstance(data, dict) or key not in data:
            raise InvalidResponse(200, "INVALID_RESPONSE", f"response has no {key!r} field")
        return data[key]

"""Errors raised by the client. Every error of a call is a `DurableError`, so one `except`
covers all. The outcome of a task awaited (`TaskHandle.result`, `TaskContext.gather`)
that did not complete is a `TaskFailed` (`TaskCanceled`, `ChildFailed`); a wait that ended
first is a `TimeoutError` (`GatherTimeout`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class DurableError(Exception):
    """The server answered with an error: `{"error": message, "code": CODE}` and a status.

    `str(err)` is `"404 NOT_FOUND: queue \\"x\\" not found"`.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, code, message)
        self.status = status
        self.code = code
        self.message = message

    def __str__(self) -> str:
        head = f"{self.status} {self.code}" if self.code else str(self.status)
        return f"{head}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status!r}, {self.code!r}, {self.message!r})"


class ValidationError(DurableError):
    """400: malformed request; the message names the offending field."""


class Unauthorized(DurableError):
    """401: the server requires a token and none (or a wrong one) was sent."""


class NotFound(DurableError):
    """404: the queue, task, run, checkpoint or workflow run does not exist."""


class WaitTimeout(DurableError):
    """408 from wait-for-event: the wait timed out without the event."""


class Conflict(DurableError):
    """409: duplicate queue, or the resource's state forbids the transition."""


class PayloadTooLarge(DurableError):
    """413: the request body is over the server's limit."""


class Unavailable(DurableError):
    """503: the server's database is unreachable; the request changed nothing."""


class ConnectionFailed(DurableError):
    """The server could not be reached (refused, reset, DNS, timeout): no HTTP status.

    `status` is 0 and `code` is "CONNECTION_FAILED"; `url` is the server's base URL.
    """

    def __init__(self, url: str, message: str) -> None:
        super().__init__(0, "CONNECTION_FAILED", message)
        self.url = url

    def __str__(self) -> str:
        return self.message


class RequestTimeout(ConnectionFailed):
    """The server did not answer within the client's timeout."""


class InvalidResponse(DurableError):
    """A success status with a body that does not match the API contract."""


def _outcome(head: str, error: str | None) -> str:
    """`head`, and the first line of `error` (a worker's error goes on with the traceback,
    kept whole in the exception's `error`)."""
    first = error.strip().splitlines()[0] if error and error.strip() else ""
    return f"{head}: {first}" if first else head


class TaskFailed(Exception):
    """An awaited task ended without completing: `status` is "failed" (`error` is its
    last run's error) or "canceled" (`TaskCanceled`)."""

    def __init__(self, task_id: str, status: str = "failed", error: str | None = None) -> None:
        super().__init__(task_id, status, error)
        self.task_id = task_id
        self.status = status
        self.error = error

    def __str__(self) -> str:
        return _outcome(f"task {self.task_id} {self.status}", self.error)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.task_id!r}, {self.status!r}, {self.error!r})"


class TaskCanceled(TaskFailed):
    """An awaited task was canceled."""

    def __init__(self, task_id: str, status: str = "canceled", error: str | None = None) -> None:
        super().__init__(task_id, status, error)


class ChildFailed(TaskFailed):
    """Raised by `TaskContext.gather` in the parent: the child `task_id` ended `status`
    ("failed", after its retries, or "canceled") with `error`; the first such child in
    the order gathered. `outcomes`: every gathered child's outcome (`TaskOutcome`)."""

    def __init__(
        self,
        task_id: str,
        status: str = "failed",
        error: str | None = None,
        outcomes: Sequence[Any] = (),
    ) -> None:
        super().__init__(task_id, status, error)
        self.outcomes = list(outcomes)

    def __str__(self) -> str:
        return _outcome(f"child task {self.task_id} {self.status}", self.error)


class GatherTimeout(TimeoutError):
    """Raised by `TaskContext.gather`: the timeout passed before every child ended.
    `outcomes`: each child's outcome then (`TaskOutcome`, "pending" for the unfinished),
    in the order gathered."""

    def __init__(self, message: str, outcomes: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.outcomes = list(outcomes)

    @property
    def pending(self) -> list[str]:
        """The ids of the children still unfinished at the timeout."""
        return [o.task_id for o in self.outcomes if o.status == "pending"]


BY_STATUS: dict[int, type[DurableError]] = {
    400: ValidationError,
    401: Unauthorized,
    404: NotFound,
    408: WaitTimeout,
    409: Conflict,
    413: PayloadTooLarge,
    503: Unavailable,
}


def error_for(status: int, code: str, message: str) -> DurableError:
    """The exception class of `status` (DurableError itself for other statuses)."""
    return BY_STATUS.get(status, DurableError)(status, code, message)

"""Result waits (GET /tasks/{id}/result?wait_seconds=N): the waiting requests of this
process, by task, woken by the listener when a task finishes (NOTIFY
durable_queue_task_done with its id), and all of them after a listener reconnect or at
shutdown. A waiting request holds no database connection (docs/composition.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator

from durable_queue.composition_store import FINISHED, CompositionStore
from durable_queue.errors import Unavailable
from durable_queue.wire import TaskResult

RETRY_AFTER_SECONDS = 1


class TooManyResultWaits(Unavailable):
    """The process holds its limit of result waits already."""

    retry_after_seconds = RETRY_AFTER_SECONDS


class ResultWaiters:
    """The result waits of one process, at most `max_waiters` (0: no limit)."""

    def __init__(self, max_waiters: int = 0) -> None:
        self.max_waiters = max_waiters
        self.closed = False
        self._by_task: dict[uuid.UUID, set[asyncio.Event]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @contextlib.contextmanager
    def waiting(self, task_id: uuid.UUID) -> Iterator[asyncio.Event]:
        """An event set when the task may have finished, registered for the block."""
        if self.max_waiters and self._count >= self.max_waiters:
            raise TooManyResultWaits(
                f"the server holds its limit of {self.max_waiters} result waits "
                "(DURABLE_MAX_WAITERS); retry later"
            )
        event = asyncio.Event()
        self._by_task.setdefault(task_id, set()).add(event)
        self._count += 1
        try:
            yield event
        finally:
            self._count -= 1
            events = self._by_task.get(task_id)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._by_task[task_id]

    def notified(self, payload: str) -> None:
        """A task finished (the notification's payload is its id)."""
        try:
            task_id = uuid.UUID(payload)
        except ValueError:
            return
        for event in self._by_task.get(task_id, ()):
            event.set()

    def wake_all(self) -> None:
        """Every wait looks again (notifications may have been lost)."""
        for events in self._by_task.values():
            for event in events:
                event.set()

    def close(self) -> None:
        """The server is stopping: every wait answers now."""
        self.closed = True
        self.wake_all()


async def await_result(
    store: CompositionStore, waiters: ResultWaiters, task_id: uuid.UUID, wait_seconds: float
) -> TaskResult:
    """The task's outcome, waiting up to `wait_seconds` for it to finish (`pending` when
    the wait ends first). One statement when it has finished, two more per wake-up."""
    result = await store.task_result(task_id)
    if result.status in FINISHED or wait_seconds <= 0 or waiters.closed:
        return result
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    with waiters.waiting(task_id) as woken:
        result = await store.task_result(task_id, watch=True)  # after registering
        while result.status not in FINISHED and not waiters.closed:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await woken.wait()
            woken.clear()
            result = await store.task_result(task_id)
    return result

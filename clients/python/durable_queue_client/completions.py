"""Completions sent in batches: many finished runs acknowledged by one `complete_runs` call.

A worker that completes each run with its own request pays a round trip per run. The
batcher collects completions and sends them together, when `max_batch` wait or
`max_delay` seconds after the first of them was added, whichever comes first, so at a
low rate a run is acknowledged at most `max_delay` late and at a high rate one request
carries up to `max_batch` runs. Each `add` answers with its own run's outcome.

Until its batch is acknowledged a run is still claimed: if the worker dies in between,
the run is claimed again once its claim expires (at-least-once, as with any completion
that does not reach the server).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from durable_queue_client.models import JSONValue, RunCompletion, RunCompletionResult

if TYPE_CHECKING:
    from durable_queue_client.client import DurableClient

MAX_BATCH_LIMIT = 1000  # what POST /runs/complete takes in one call

_Waiting = tuple[RunCompletion, "asyncio.Future[RunCompletionResult]"]


class CompletionBatcher:
    """Completes runs through `client.complete_runs`, `max_batch` (1 to 1,000) at most per
    call and at most `max_delay` seconds after the first waiting one.

        async with CompletionBatcher(client) as completions:
            outcome = await completions.add(task.run_id, result=..., claim_token=...)

    Leaving the `async with` (or `await flush()`) sends what waits and waits for every
    batch in flight. A failed call fails the futures of its batch with its error."""

    def __init__(
        self, client: DurableClient, *, max_batch: int = 100, max_delay: float = 0.01
    ) -> None:
        if not 1 <= max_batch <= MAX_BATCH_LIMIT:
            raise ValueError(f"max_batch must be 1 to {MAX_BATCH_LIMIT}, not {max_batch}")
        if max_delay < 0:
            raise ValueError(f"max_delay must be >= 0, not {max_delay}")
        self.client = client
        self.max_batch = max_batch
        self.max_delay = max_delay
        self._waiting: list[_Waiting] = []
        self._timer: asyncio.TimerHandle | None = None
        self._in_flight: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> CompletionBatcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.flush()

    @property
    def waiting(self) -> int:
        """Completions added and not sent yet."""
        return len(self._waiting)

    def add(
        self,
        run_id: str,
        *,
        result: JSONValue = None,
        claim_token: str | None = None,
    ) -> asyncio.Future[RunCompletionResult]:
        """Queue the completion of `run_id`; the future resolves to its outcome
        ("completed", or "conflict"/"not_found" with an error) once its batch is answered."""
        future: asyncio.Future[RunCompletionResult] = asyncio.get_running_loop().create_future()
        self._waiting.append(
            (RunCompletion(run_id=run_id, result=result, claim_token=claim_token), future)
        )
        if len(self._waiting) >= self.max_batch:
            self._send_waiting()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.max_delay, self._send_waiting)
        return future

    async def flush(self) -> None:
        """Send what waits now, and wait until every batch sent is answered."""
        self._send_waiting()
        while self._in_flight:
            await asyncio.wait(set(self._in_flight))

    def _send_waiting(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._waiting = self._waiting, []
        if batch:
            task = asyncio.create_task(self._send(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _send(self, batch: list[_Waiting]) -> None:
        try:
            results = await self.client.complete_runs([completion for completion, _ in batch])
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for (_, future), outcome in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(outcome)

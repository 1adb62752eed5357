"""The calls a worker makes on the runs it holds, each carrying the run's `claim_token`.

The server puts a new claim token in every claimed task; a holder sends it back on
complete, fail, schedule, wait-for-event, heartbeat and checkpoint writes, and gets
`Conflict` once that claim has ended, also when the run itself (same id) was claimed
again after a sleep or a release. A server without tokens hands out none; the calls
then go without one and are fenced on the run id alone.
"""

from __future__ import annotations

import datetime as dt

import attrs

from durable_queue_client.client import DurableClient
from durable_queue_client.models import ClaimedTask, FailedRun, JSONValue, WaitForEventResult


@attrs.frozen
class Claim:
    """A claimed task and the token of that claim (None from a server without tokens)."""

    task: ClaimedTask
    token: str | None


async def claim(
    client: DurableClient,
    queue: str,
    *,
    limit: int,
    claim_timeout: int,
    long_poll_seconds: int | None,
) -> list[Claim]:
    """POST /queues/{queue}/tasks/claim, keeping each task's `claim_token`."""
    tasks = await client.claim_tasks(
        queue, limit=limit, claim_timeout=claim_timeout, long_poll_seconds=long_poll_seconds
    )
    return [Claim(task, task.claim_token) for task in tasks]


class HeldRun:
    """One claimed run: every call fences on the run id and, when given, its token."""

    def __init__(self, client: DurableClient, task: ClaimedTask, token: str | None) -> None:
        self.client = client
        self.task = task
        self.token = token

    async def complete(self, result: JSONValue) -> None:
        await self.client.complete_run(self.task.run_id, result, claim_token=self.token)

    async def fail(self, error: str) -> FailedRun:
        """The server's answer: `next_run_id`/`next_attempt_at` when a retry was scheduled."""
        return await self.client.fail_run(self.task.run_id, error, claim_token=self.token)

    async def schedule(self, run_at: dt.datetime) -> None:
        """Release the claim; the same run is claimable again at `run_at`."""
        await self.client.schedule_run(self.task.run_id, run_at, claim_token=self.token)

    async def heartbeat(self, extend_by: int) -> None:
        await self.client.heartbeat(self.task.run_id, extend_by, claim_token=self.token)

    async def wait_for_event(
        self, event_name: str, step_name: str, timeout_seconds: int
    ) -> WaitForEventResult:
        """200 resolved or 202 sleeping; raises `WaitTimeout` on 408."""
        return await self.client.wait_for_event(
            self.task.run_id,
            task_id=self.task.task_id,
            event_name=event_name,
            step_name=step_name,
            timeout_seconds=timeout_seconds,
            claim_token=self.token,
        )

    async def checkpoint(self, step_name: str, state: JSONValue, extend_claim_by: int) -> None:
        await self.client.set_checkpoint(
            self.task.task_id,
            step_name,
            state,
            owner_run=self.task.run_id,
            extend_claim_by=extend_claim_by,
            claim_token=self.token,
        )

    async def checkpoints(self) -> dict[str, JSONValue]:
        """Every checkpoint of the task, by step name."""
        entries = await self.client.list_checkpoints(self.task.task_id)
        return {entry.step_name: entry.state for entry in entries}

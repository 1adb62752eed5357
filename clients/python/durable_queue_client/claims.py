"""The calls a worker makes on the runs it holds, each carrying the run's `claim_token`.

A server that hands out claim tokens (API.md, "Claim tokens") puts one in every claimed
task; a holder sends it back on complete, fail, schedule, wait-for-event, heartbeat and
checkpoint writes, and gets 409 when it is no longer the current one. `DurableClient`'s
models do not carry the field yet (the server's OpenAPI document does not declare it),
so these calls build their bodies from the same request records plus the token, through
the client's transport. A server without tokens ignores the missing field.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from durable_queue_client.client import DurableClient, _segment
from durable_queue_client.convert import to_dict
from durable_queue_client.models import (
    ClaimedTask,
    ClaimTasksRequest,
    CompleteRunRequest,
    FailRunRequest,
    HeartbeatRequest,
    JSONValue,
    ScheduleRunRequest,
    SetCheckpointRequest,
    WaitForEventRequest,
    WaitForEventResult,
)


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
    request = ClaimTasksRequest(
        limit=limit, claim_timeout=claim_timeout, long_poll_seconds=long_poll_seconds
    )
    total = client.timeout + long_poll_seconds if long_poll_seconds else None
    _, data = await client._request(
        "POST", f"/queues/{_segment(queue)}/tasks/claim", body=request, total_timeout=total
    )
    raw = client._field(data, "tasks")
    tasks = client._structure(raw, list[ClaimedTask])
    return [
        Claim(task, item.get("claim_token") if isinstance(item, dict) else None)
        for task, item in zip(tasks, raw, strict=True)
    ]


class HeldRun:
    """One claimed run: every call fences on the run id and, when given, its token."""

    def __init__(self, client: DurableClient, task: ClaimedTask, token: str | None) -> None:
        self.client = client
        self.task = task
        self.token = token

    def _body(self, request: Any) -> Any:
        body = to_dict(request)
        if self.token is not None:
            body["claim_token"] = self.token
        return body

    async def _post(self, action: str, request: Any, ok: tuple[int, ...] = (200,)) -> Any:
        _, data = await self.client._request(
            "POST", f"/runs/{_segment(self.task.run_id)}/{action}", body=self._body(request), ok=ok
        )
        return data

    async def complete(self, result: JSONValue) -> None:
        await self._post("complete", CompleteRunRequest(result=result))

    async def fail(self, error: str) -> dict[str, Any]:
        """The server's answer: `next_run_id`/`next_attempt_at` when a retry was scheduled."""
        answer = await self._post("fail", FailRunRequest(error=error))
        return dict(answer) if isinstance(answer, dict) else {}

    async def schedule(self, run_at: dt.datetime) -> None:
        """Release the claim; the same run is claimable again at `run_at`."""
        await self._post("schedule", ScheduleRunRequest(run_at=run_at))

    async def heartbeat(self, extend_by: int) -> None:
        await self._post("heartbeat", HeartbeatRequest(extend_by=extend_by))

    async def wait_for_event(
        self, event_name: str, step_name: str, timeout_seconds: int
    ) -> WaitForEventResult:
        """200 resolved or 202 sleeping; raises `WaitTimeout` on 408."""
        request = WaitForEventRequest(
            event_name=event_name,
            timeout_seconds=timeout_seconds,
            task_id=self.task.task_id,
            step_name=step_name,
        )
        data = await self._post("wait-for-event", request, ok=(200, 202))
        return self.client._structure(data, WaitForEventResult)

    async def checkpoint(self, step_name: str, state: JSONValue, extend_claim_by: int) -> None:
        request = SetCheckpointRequest(
            state=state, owner_run=self.task.run_id, extend_claim_by=extend_claim_by
        )
        path = f"/tasks/{_segment(self.task.task_id)}/checkpoints/{_segment(step_name)}"
        await self.client._request("PUT", path, body=self._body(request))

    async def checkpoints(self) -> dict[str, JSONValue]:
        """Every checkpoint of the task, by step name."""
        entries = await self.client.list_checkpoints(self.task.task_id)
        return {entry.step_name: entry.state for entry in entries}

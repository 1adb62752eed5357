"""DURABLE_REQUIRE_CLAIM_TOKENS: when it is on, every holder call must name its claim.

Without a token a holder call is fenced on the run's status alone (docs/lifecycle.md,
"Claim tokens"): anyone who can list claimed runs may act on them. With the setting on,
a holder call without `claim_token` answers 409, naming the setting, before anything
runs: complete, fail, heartbeat, wait-for-event, checkpoint put (`@holder_call`), and a
batch complete with any item lacking one (the whole batch, naming the first such item).

`schedule` is a holder call only when it releases a claimed run: without a token it may
still move a pending run. Which of the two it is, only the database knows at the moment
it locks the run, so the call goes to dq_schedule_run with the token NO_CLAIM, which moves
a pending run and answers `token_required` for a claimed one (`schedule_run`).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from durable_queue import commands
from durable_queue.api.keys import SETTINGS, STORE
from durable_queue.api.validation import BODY
from durable_queue.errors import Conflict, claim_token_required
from durable_queue.wire import RunScheduled

# The token dq_schedule_run reads as "no claim named, and one is required to release";
# a client's token is never empty (ClaimToken: 1 to 1,024 characters).
NO_CLAIM = ""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def missing_token(body: Any) -> str | None:
    """The field of a holder call's body that lacks its claim token, or None."""
    if isinstance(body, commands.RunsToComplete):
        for index, item in enumerate(body.runs):
            if item.claim_token is None:
                return f"runs[{index}].claim_token"
        return None
    return "claim_token" if body.claim_token is None else None


def holder_call(handler: Handler) -> Handler:
    """Refuse the handler's request with 409 when the setting is on and its body names no
    claim. Put it under the schema decorators (they describe the handler it returns)."""

    @functools.wraps(handler)
    async def checked(request: web.Request) -> web.StreamResponse:
        if request.app[SETTINGS].require_claim_tokens:
            field = missing_token(request[BODY])
            if field is not None:
                raise Conflict(claim_token_required(field))
        return await handler(request)

    return checked


async def schedule_run(
    request: web.Request, run_id: uuid.UUID, schedule: commands.RunSchedule
) -> RunScheduled:
    """Move or release the run as the request asks; with the setting on and no token, only
    a pending run may move (a release is a holder call)."""
    store = request.app[STORE]
    token = schedule.claim_token
    if token is None and request.app[SETTINGS].require_claim_tokens:
        # a claimed run answers token_required: the store's 409 names the setting
        return await store.schedule_run(run_id, schedule.run_at, claim_token=NO_CLAIM)
    return await store.schedule_run(run_id, schedule.run_at, claim_token=token)

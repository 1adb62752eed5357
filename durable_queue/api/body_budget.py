"""The bytes of request bodies one server process holds at once (DURABLE_MAX_INFLIGHT_BODY_BYTES).

Each request body is read whole before its handler runs (api/limits.py), and while it is
handled it exists several times over (the bytes, the decoded JSON, the parameters sent to
PostgreSQL). Without a bound, 200 concurrent 1 MiB creates took a server from 152 to 816 MB.

So a request with a body first reserves its size: its Content-Length, or
DURABLE_MAX_BODY_BYTES when the length is not declared (chunked). When the reservation
does not fit the budget, the request is answered 503 with Retry-After before a byte of its
body is read (aiohttp then discards the unread body as it arrives, so the client gets the
answer). The reservation is released when the handler finishes. A request is always let
in when nothing else is reserved, so a budget smaller than one body never refuses
everything.

Released means let go of, too: aiohttp's connection keeps its last request object alive
while it waits for the next request on a keep-alive connection, and with it the body
bytes `request.read()` cached and the loaded parts the validation stored in the request.
Without dropping them, 200 idle connections after 200 creates of 1 MiB still held 137
bodies and their JSON, about 275 MiB, until they closed (`bench/body_memory.py`). The
bytes go even earlier, before the handler runs (`drop_read_body`, the innermost
middleware): the handler works from what the validation loaded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from durable_queue.api.responses import error_body_response

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

RETRY_AFTER_SECONDS = 1
BUDGET_ENV = "DURABLE_MAX_INFLIGHT_BODY_BYTES"


class BodyBudget:
    """Bytes reserved by the requests in flight, against a limit (0: no limit)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.reserved = 0

    def try_reserve(self, size: int) -> bool:
        """Reserve `size` bytes if they fit (or nothing else is reserved); whether it did."""
        if self.limit and self.reserved and self.reserved + size > self.limit:
            return False
        self.reserved += size
        return True

    def release(self, size: int) -> None:
        self.reserved -= size


BODY_BUDGET: web.AppKey[BodyBudget] = web.AppKey("body_budget")


def body_size_to_reserve(request: web.Request, max_body_bytes: int) -> int:
    """What a request's body may take: 0 without a body, or with a Content-Length over the
    body limit (it is refused unread with 413, which a retry cannot cure: never a 503), its
    Content-Length, else the body limit."""
    if not request.body_exists:
        return 0
    length = request.content_length
    if length is None:
        return max_body_bytes
    if max_body_bytes and length > max_body_bytes:
        return 0
    return length


def forget_body(request: web.Request) -> None:
    """Drop what a finished request holds of its body: the bytes aiohttp cached on read (no
    public way to drop them: aiohttp's own attribute) and the loaded parts in its state."""
    request._read_bytes = None
    for key in list(request):
        del request[key]


@web.middleware
async def drop_read_body(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The innermost middleware: the validation has loaded the body into the request's
    parts, and no handler reads the bytes again, so they go before the handler runs (its
    database call is the longest part of a request's life)."""
    request._read_bytes = None
    return await handler(request)


def body_budget(budget: BodyBudget, max_body_bytes: int) -> Middleware:
    """The middleware that admits a request's body into `budget`, or answers 503."""

    @web.middleware
    async def admit(request: web.Request, handler: Handler) -> web.StreamResponse:
        size = body_size_to_reserve(request, max_body_bytes)
        if not size:
            return await handler(request)
        if not budget.try_reserve(size):
            message = (
                f"the server is busy: it holds as many request bodies as {BUDGET_ENV} "
                f"allows; retry in {RETRY_AFTER_SECONDS} s (the body was not read)"
            )
            response = error_body_response(503, "UNAVAILABLE", message)
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        try:
            return await handler(request)
        finally:
            budget.release(size)
            forget_body(request)

    return admit

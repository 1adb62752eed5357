"""Cursor pagination: one async iterator over the items of every page of a listing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

T = TypeVar("T")


class Page(Protocol):
    """A listing page: its items live under a field named after the resource."""

    @property
    def next_cursor(self) -> str | None: ...


P = TypeVar("P", bound=Page)


async def follow_cursor(
    fetch: Callable[[str | None], Awaitable[P]],
    items: Callable[[P], Sequence[T]],
    cursor: str | None = None,
) -> AsyncIterator[T]:
    """Yield `items(page)` of every page, starting at `cursor` (None: the first page) and
    calling `fetch(next_cursor)` until a page comes without one."""
    while True:
        page = await fetch(cursor)
        for item in items(page):
            yield item
        if not page.next_cursor:
            return
        cursor = page.next_cursor

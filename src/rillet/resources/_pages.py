"""Cursor pages: one page of a list endpoint, and the way to the next, as officially.

`SyncCursorPage` / `AsyncCursorPage` hold one page (`data`, `has_more`, `first_id`,
`last_id`); iterating them goes on through the following pages (`after` = the last item's
id) until `has_more` is false. Which page comes next is decided once, in `_CursorPage`;
the two classes only fetch. `AsyncPaginator` is what an async `list()` returns: `await` it
for the first page, or `async for` over it for every item.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Mapping
from typing import Any, Generic, TypeVar

from rillet._models import BaseModel

__all__ = ["AsyncCursorPage", "AsyncPaginator", "SyncCursorPage"]

T = TypeVar("T")


class _CursorPage(Generic[T]):
    """A page's fields and the query of the page after it."""

    def __init__(self, page: BaseModel, query: Mapping[str, Any]) -> None:
        self._page = page
        self._query = query

    @property
    def data(self) -> list[T]:
        data: list[T] | None = getattr(self._page, "data", None)
        return data or []

    @property
    def has_more(self) -> bool | None:
        value: bool | None = getattr(self._page, "has_more", None)
        return value

    @property
    def first_id(self) -> str | None:
        value: str | None = getattr(self._page, "first_id", None)
        return value

    @property
    def last_id(self) -> str | None:
        value: str | None = getattr(self._page, "last_id", None)
        return value

    @property
    def object(self) -> str | None:
        value: str | None = getattr(self._page, "object", None)
        return value

    def next_page_info(self) -> dict[str, Any] | None:
        """The query of the next page (`after` the last item), or None at the end."""
        if self.has_more is False or not self.data:
            return None
        last = getattr(self.data[-1], "id", None)
        if not isinstance(last, str):
            return None
        return {**self._query, "after": last}

    def has_next_page(self) -> bool:
        return self.next_page_info() is not None

    def to_dict(self) -> dict[str, Any]:
        return self._page.to_dict()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(data={self.data!r}, has_more={self.has_more!r})"


class SyncCursorPage(_CursorPage[T]):
    def __init__(
        self,
        page: BaseModel,
        query: Mapping[str, Any],
        fetch: Callable[[Mapping[str, Any]], SyncCursorPage[T]],
    ) -> None:
        super().__init__(page, query)
        self._fetch = fetch

    def get_next_page(self) -> SyncCursorPage[T]:
        query = self.next_page_info()
        if query is None:
            raise RuntimeError("No more pages; check has_next_page() first")
        return self._fetch(query)

    def iter_pages(self) -> Iterator[SyncCursorPage[T]]:
        page = self
        yield page
        while page.has_next_page():
            page = page.get_next_page()
            yield page

    def __iter__(self) -> Iterator[T]:
        """Every item, this page's and the following pages'."""
        for page in self.iter_pages():
            yield from page.data


class AsyncCursorPage(_CursorPage[T]):
    def __init__(
        self,
        page: BaseModel,
        query: Mapping[str, Any],
        fetch: Callable[[Mapping[str, Any]], Awaitable[AsyncCursorPage[T]]],
    ) -> None:
        super().__init__(page, query)
        self._fetch = fetch

    async def get_next_page(self) -> AsyncCursorPage[T]:
        query = self.next_page_info()
        if query is None:
            raise RuntimeError("No more pages; check has_next_page() first")
        return await self._fetch(query)

    async def iter_pages(self) -> AsyncIterator[AsyncCursorPage[T]]:
        page = self
        yield page
        while page.has_next_page():
            page = await page.get_next_page()
            yield page

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.iter_pages():
            for item in page.data:
                yield item


class AsyncPaginator(Generic[T]):
    """`await` it for the first page, `async for` over it for every item (as officially)."""

    def __init__(self, first: Callable[[], Awaitable[AsyncCursorPage[T]]]) -> None:
        self._first = first

    def __await__(self) -> Generator[Any, None, AsyncCursorPage[T]]:
        return self._first().__await__()

    async def __aiter__(self) -> AsyncIterator[T]:
        page = await self._first()
        async for item in page:
            yield item

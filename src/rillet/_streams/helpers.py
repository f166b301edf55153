"""The `.stream()` helpers' plumbing: a raw stream's items turned into richer events.

Each endpoint supplies a state object that turns one item into a list of events and knows
the final result; `HelperStream` / `AsyncHelperStream` only drive it, and the managers
send the request when their `with` block is entered, as the official helpers do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Generic, Protocol, Self, TypeVar

import httpx

from rillet._streams.stream import AsyncStream, Stream
from rillet._types import AsyncCloses, Closes

__all__ = ["AsyncHelperStream", "AsyncStreamManager", "HelperStream", "StreamManager"]

I = TypeVar("I")  # noqa: E741  (the raw stream's items)
E = TypeVar("E")  # the events handed out


class _Closes(Protocol):
    def close(self) -> None: ...


class _ClosesAsync(Protocol):
    async def close(self) -> None: ...


S = TypeVar("S", bound=_Closes)
AS = TypeVar("AS", bound=_ClosesAsync)


class HelperStream(Closes, Generic[I, E]):
    def __init__(self, raw: Stream[I], handle: Callable[[I], list[E]]) -> None:
        self._raw = raw
        self._events = self._run(handle)

    def _run(self, handle: Callable[[I], list[E]]) -> Iterator[E]:
        for item in self._raw:
            yield from handle(item)

    @property
    def response(self) -> httpx.Response:
        return self._raw.response

    @property
    def resumes(self) -> int:
        """How many times the stream was reattached after its connection failed."""
        return self._raw.resumes

    def __iter__(self) -> Iterator[E]:
        yield from self._events

    def __next__(self) -> E:
        return next(self._events)

    def until_done(self) -> Self:
        """Read the rest of the stream (the state still sees every item)."""
        for _ in self._events:
            pass
        return self

    def close(self) -> None:
        self._raw.close()


class AsyncHelperStream(AsyncCloses, Generic[I, E]):
    def __init__(self, raw: AsyncStream[I], handle: Callable[[I], list[E]]) -> None:
        self._raw = raw
        self._events = self._run(handle)

    async def _run(self, handle: Callable[[I], list[E]]) -> AsyncIterator[E]:
        async for item in self._raw:
            for event in handle(item):
                yield event

    @property
    def response(self) -> httpx.Response:
        return self._raw.response

    @property
    def resumes(self) -> int:
        """How many times the stream was reattached after its connection failed."""
        return self._raw.resumes

    def __aiter__(self) -> AsyncHelperStream[I, E]:
        return self

    async def __anext__(self) -> E:
        return await self._events.__anext__()

    async def until_done(self) -> Self:
        async for _ in self._events:
            pass
        return self

    async def close(self) -> None:
        await self._raw.close()

    aclose = close


class StreamManager(Generic[S]):
    """`with client....stream(...) as stream:` sends the request on entry, closes on exit."""

    def __init__(self, open_stream: Callable[[], S]) -> None:
        self._open = open_stream
        self._stream: S | None = None

    def __enter__(self) -> S:
        self._stream = self._open()
        return self._stream

    def __exit__(self, *exc_info: object) -> None:
        if self._stream is not None:
            self._stream.close()


class AsyncStreamManager(Generic[AS]):
    def __init__(self, open_stream: Callable[[], Awaitable[AS]]) -> None:
        self._open = open_stream
        self._stream: AS | None = None

    async def __aenter__(self) -> AS:
        self._stream = await self._open()
        return self._stream

    async def __aexit__(self, *exc_info: object) -> None:
        if self._stream is not None:
            await self._stream.close()

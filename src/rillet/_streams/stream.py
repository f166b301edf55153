"""`Stream` and `AsyncStream`: typed events from a server-sent event stream.

Everything but the reading of bytes lives in `EventDecoder`, which both share: SSE framing,
JSON decoding, error events, the end-of-stream check. The iterators are module-level
generator functions holding only the response and the decoder, never the stream object,
so dropping a stream frees it (and its connection) at once rather than at the next cycle
collection.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Iterator
from typing import Any, Generic, TypeVar

import httpx
import orjson

from rillet._exceptions import (
    APIError,
    APIResponseValidationError,
    IncompleteStreamError,
    transport_error,
)
from rillet._models import ResponseShapeError
from rillet._sse import SSEDecoder
from rillet._types import AsyncCloses, Closes

__all__ = ["AsyncStream", "EventDecoder", "Progress", "Stream", "UsageProgress"]

T = TypeVar("T")
_DONE = b"[DONE]"


class Progress:
    """Tells whether a stream that ended without `[DONE]` had in fact finished.

    A chat stream has finished when each of the `choices` choices its request asked for
    (`n`: indexes 0 to n-1), and any other it mentioned, carried a `finish_reason`; it is
    read on to `[DONE]` all the same, as a usage chunk may follow (`UsageProgress` insists
    on one). Counting only the choices seen would take a body that ends after the whole of
    choice 0 of two for a whole answer. Kinds of stream whose last event is known set
    `ended` on it, and reading stops there.
    """

    __slots__ = ("choices", "finished", "seen")
    ended = False

    def __init__(self, choices: int = 1) -> None:
        self.seen: set[Any] = set()
        self.finished: set[Any] = set()
        self.choices = max(choices, 1)

    def observe(self, data: dict[str, Any]) -> object | None:
        """Note one event's data; return the error it reports, if it reports one."""
        error: object | None = data.get("error")
        if error is not None:
            return error
        choices = data.get("choices")
        if type(choices) is list:
            for choice in choices:
                if type(choice) is not dict:
                    continue  # the model's own check reports the bad shape
                index = choice.get("index")
                self.seen.add(index)
                if choice.get("finish_reason") is not None:
                    self.finished.add(index)
        return None

    def complete(self) -> bool:
        finished = self.finished
        return self.seen <= finished and finished.issuperset(range(self.choices))

    def missing(self) -> str:
        """What an incomplete stream lacks, as the end of "The stream ended without [DONE] "."""
        if not self.seen:
            return "before any choice arrived"
        open_ = sorted((self.seen | set(range(self.choices))) - self.finished, key=_index_order)
        return f"before choice(s) {', '.join(map(str, open_))} finished"


def _index_order(index: object) -> tuple[int, str]:
    """Choice indexes in numeric order; anything else a server sent after them."""
    if type(index) is int:
        return index, ""
    return sys.maxsize, str(index)


class UsageProgress(Progress):
    """A chat stream whose request asked for usage (`stream_options.include_usage`): it has
    finished only once its choices have and the usage chunk (`usage` set, no choices) came."""

    __slots__ = ("usage",)

    def __init__(self, choices: int = 1) -> None:
        super().__init__(choices)
        self.usage = False

    def observe(self, data: dict[str, Any]) -> object | None:
        if data.get("usage") is not None and not data.get("choices"):
            self.usage = True
        return Progress.observe(self, data)

    def complete(self) -> bool:
        return self.usage and Progress.complete(self)

    def missing(self) -> str:
        parts = [] if Progress.complete(self) else [Progress.missing(self)]
        if not self.usage:
            parts.append("before the usage chunk (stream_options include_usage) arrived")
        return " and ".join(parts)


class EventDecoder(Generic[T]):
    """Bytes in, typed items out; raises typed errors for error events and bad data."""

    __slots__ = ("_construct", "_progress", "_response", "_sse", "done")

    def __init__(
        self,
        response: httpx.Response,
        construct: Callable[[dict[str, Any]], T],
        progress: Progress,
    ) -> None:
        self._response = response
        self._construct = construct
        self._progress = progress
        self._sse = SSEDecoder()
        self.done = False

    def feed(self, chunk: bytes) -> Iterator[T]:
        """The items `chunk` completes, built one at a time as the consumer takes them.

        Lazily, because a read can hold hundreds of events: building them all up front
        keeps them alive together, which costs more in garbage collection than the rest.
        """
        construct = self._construct
        observe = self._progress.observe
        for sse in self._sse.feed(chunk):
            raw = sse.raw_data
            if raw == _DONE:
                self.done = True
                break
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise self._invalid(raw, f"Malformed JSON in a stream event ({exc})") from None
            if type(data) is not dict:
                raise self._invalid(raw, "A stream event's data is not a JSON object")
            error = observe(data)
            if error is not None:
                raise _stream_error(self._response.request, error)
            try:
                item = construct(data)
            except ResponseShapeError as exc:
                raise self._invalid(raw, f"A stream event has an unexpected shape: {exc}") from None
            yield item
            if self._progress.ended:
                self.done = True
                break

    def finish(self) -> None:
        """The body has ended: fine after `[DONE]` or a finished stream, else truncation."""
        missing = self.missing()
        if missing is not None:
            raise IncompleteStreamError(
                message=f"The stream ended without [DONE] {missing}; the answer is incomplete.",
                request=self._response.request,
            )

    def missing(self) -> str | None:
        """None once the answer is whole (`[DONE]` came, or the progress says it finished);
        else what it lacks ("before ...")."""
        if self.done or self._progress.complete():
            return None
        return self._progress.missing()

    def _invalid(self, raw: bytes, message: str) -> APIResponseValidationError:
        text = raw.decode("utf-8", "replace")
        excerpt = text if len(text) <= 120 else text[:119] + "…"
        return APIResponseValidationError(self._response, text, message=f"{message}: {excerpt!r}")


def _stream_error(request: httpx.Request, error: object) -> APIError:
    message = error.get("message") if isinstance(error, dict) else error
    if not isinstance(message, str) or not message:
        message = "An error occurred during streaming"
    return APIError(message, request, body=error)


def _iterate(
    response: httpx.Response, decoder: EventDecoder[T], idle: float | None
) -> Generator[T, None, None]:
    try:
        for chunk in response.iter_bytes():
            yield from decoder.feed(chunk)
            if decoder.done:
                return
        decoder.finish()
    except httpx.TransportError as exc:
        raise transport_error(exc, response.request, idle) from exc
    finally:
        response.close()


async def _aiterate(
    response: httpx.Response, decoder: EventDecoder[T], idle: float | None
) -> AsyncGenerator[T, None]:
    try:
        async for chunk in response.aiter_bytes():
            for item in decoder.feed(chunk):
                yield item
            if decoder.done:
                return
        decoder.finish()
    except httpx.TransportError as exc:
        raise transport_error(exc, response.request, idle) from exc
    finally:
        await response.aclose()


class _BaseStream(Generic[T]):
    """What both streams are made of: the response, and the iterator `_open` starts over it."""

    response: httpx.Response

    def __init__(
        self, response: httpx.Response, decoder: EventDecoder[T], idle: float | None = None
    ) -> None:
        self.response = response
        self._decoder = decoder
        self._open(decoder, idle)

    def _open(self, decoder: EventDecoder[T], idle: float | None) -> None:
        raise NotImplementedError

    def _missing(self) -> str | None:
        """What the answer lacks so far, by the same rule as the end of the body; None once
        it is whole. For helpers whose final result must not come from a partial stream."""
        return self._decoder.missing()


class Stream(Closes, _BaseStream[T]):
    """Iterate for items; `.close()` or a `with` block gives the connection back early."""

    def _open(self, decoder: EventDecoder[T], idle: float | None) -> None:
        self._iterator = _iterate(self.response, decoder, idle)

    def __iter__(self) -> Iterator[T]:
        # Delegating (rather than handing out the inner generator) keeps this stream alive
        # for as long as a loop runs over it, even `for c in client...create(stream=True)`.
        yield from self._iterator

    def __next__(self) -> T:
        return next(self._iterator)

    def close(self) -> None:
        self._iterator.close()
        self.response.close()

    def __del__(self) -> None:
        # A stream dropped mid-way must not keep its pooled connection checked out.
        response = getattr(self, "response", None)
        if response is not None and not response.is_closed:
            response.close()


_pending_closes: set[asyncio.Task[None]] = set()


class AsyncStream(AsyncCloses, _BaseStream[T]):
    """`async for` items; `await .close()` or `async with` gives the connection back early."""

    def _open(self, decoder: EventDecoder[T], idle: float | None) -> None:
        self._iterator = _aiterate(self.response, decoder, idle)
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    def __aiter__(self) -> AsyncStream[T]:
        return self  # the loop then holds this stream, so it cannot be collected mid-way

    def __anext__(self) -> Awaitable[T]:
        return self._iterator.__anext__()

    async def close(self) -> None:
        await self._iterator.aclose()
        await self.response.aclose()

    aclose = close

    def __del__(self) -> None:
        # Closing needs the event loop; hand it the work if the loop is still running.
        response = getattr(self, "response", None)
        loop = getattr(self, "_loop", None)
        if response is None or response.is_closed or loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(_schedule_close, response)


def _schedule_close(response: httpx.Response) -> None:
    task = asyncio.ensure_future(response.aclose())
    _pending_closes.add(task)
    task.add_done_callback(_pending_closes.discard)

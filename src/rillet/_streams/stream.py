"""`Stream` and `AsyncStream`: typed events from a server-sent event stream.

Everything but the reading of bytes lives in `EventDecoder`, which both share: SSE framing,
JSON decoding, error events, the end-of-stream check, and skipping what a reattached
connection repeats; when to reattach a stream whose connection failed, and what to send
when one is closed early, `Resume` decides (`resume.py`). The iterators are module-level
generator functions holding only the decoder and those decisions, never the stream object,
so dropping a stream frees it (and its connection) at once rather than at the next cycle
collection.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Generator, Iterator
from typing import Any, Generic, TypeVar

import httpx
import orjson

from rillet._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    IncompleteStreamError,
    transport_error,
)
from rillet._models import ResponseShapeError
from rillet._send import RequestSpec
from rillet._sse import ServerSentEvent, SSEDecoder
from rillet._streams.resume import Cursor, Resume, event_position, parse_event_id
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
    """Bytes in, typed items out; raises typed errors for error events and bad data.

    It keeps the first and the last event it handed on (`first`, `last`: once per read,
    not per event), which say where the stream is when its connection fails, and after
    `reattach` it drops the events a new connection repeats, by position.
    """

    __slots__ = (
        "_after",
        "_construct",
        "_progress",
        "_response",
        "_sse",
        "done",
        "errored",
        "first",
        "last",
    )

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
        self._after: Cursor | None = None  # a reattached connection: skip up to this
        self.done = False
        self.errored = False  # the server ended the stream with an error event
        self.first: ServerSentEvent | None = None
        self.last: ServerSentEvent | None = None

    @property
    def response(self) -> httpx.Response:
        """The response whose body is being read (the latest, after a reattach)."""
        return self._response

    @property
    def retry(self) -> int | None:
        """The server's `retry:` field (ms) on the current connection, if it sent one."""
        return self._sse.reconnection_time

    def reattach(self, response: httpx.Response, cursor: Cursor | None) -> None:
        """Go on with `response`, the stream again after `cursor` (None: from its start, as
        nothing was delivered): fresh SSE framing (the half event the failed connection
        left is dropped), the same progress."""
        self._response = response
        self._sse = SSEDecoder()
        self._after = cursor

    def feed(self, chunk: bytes) -> Iterator[T]:
        """The items `chunk` completes, built one at a time as the consumer takes them.

        Lazily, because a read can hold hundreds of events: building them all up front
        keeps them alive together, which costs more in garbage collection than the rest.
        """
        construct = self._construct
        observe = self._progress.observe
        events = self._sse.feed(chunk)
        if not events:
            return
        if self._after is not None:
            events = self._unseen(events, self._after)
            if not events:
                return
        if self.first is None:
            self.first = events[0]
        self.last = events[-1]  # all of them are delivered before the next read can fail
        for sse in events:
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
                self.errored = True
                raise _stream_error(self._response.request, error)
            try:
                item = construct(data)
            except ResponseShapeError as exc:
                raise self._invalid(raw, f"A stream event has an unexpected shape: {exc}") from None
            yield item
            if self._progress.ended:
                self.done = True
                break

    def _unseen(self, events: list[ServerSentEvent], after: Cursor) -> list[ServerSentEvent]:
        """`events` of a reattached connection without those at or before `after`. Positions
        only grow, so the first event past it ends the check; one without a position is
        taken as new. Events of another stream mean the server did not resume this one."""
        for index, sse in enumerate(events):
            parsed = parse_event_id(sse.id)
            if parsed is not None and parsed[0] != after.stream:
                raise APIResponseValidationError(
                    self._response,
                    None,
                    message=f"The server answered a reattach to stream {after.stream!r} "
                    f"with events of stream {parsed[0]!r}.",
                )
            position = parsed[1] if parsed is not None else event_position(sse)
            if position is None or position > after.position:
                self._after = None
                return events[index:] if index else events
        return []

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


Send = Callable[[RequestSpec], httpx.Response]
AsyncSend = Callable[[RequestSpec], Awaitable[httpx.Response]]


def _iterate(
    decoder: EventDecoder[T], idle: float | None, resume: Resume | None, send: Send
) -> Generator[T, None, None]:
    while True:
        response = decoder.response
        try:
            for chunk in response.iter_bytes():
                yield from decoder.feed(chunk)
                if decoder.done:
                    return
            decoder.finish()
            return
        except httpx.TransportError as exc:
            error: APIConnectionError = transport_error(exc, response.request, idle)
            cause: BaseException | None = exc
        except IncompleteStreamError as exc:
            error, cause = exc, None
        finally:
            response.close()
        if resume is None:
            raise error from cause
        while (step := resume.next_attempt(decoder.last, decoder.first, decoder.retry)) is not None:
            spec, wait, cursor = step
            time.sleep(wait)
            try:
                answer = send(spec)
            except APIConnectionError as exc:  # the reattach failed too: maybe try again
                error, cause = exc, exc.__cause__
                continue
            except APIError as exc:  # a status error (404 stream_not_found...), a non-stream
                raise exc from error
            decoder.reattach(answer, cursor)
            resume.attached(answer)
            break
        else:
            raise error from cause


async def _aiterate(
    decoder: EventDecoder[T], idle: float | None, resume: Resume | None, send: AsyncSend
) -> AsyncGenerator[T, None]:
    while True:
        response = decoder.response
        try:
            async for chunk in response.aiter_bytes():
                for item in decoder.feed(chunk):
                    yield item
                if decoder.done:
                    return
            decoder.finish()
            return
        except httpx.TransportError as exc:
            error: APIConnectionError = transport_error(exc, response.request, idle)
            cause: BaseException | None = exc
        except IncompleteStreamError as exc:
            error, cause = exc, None
        finally:
            await response.aclose()
        if resume is None:
            raise error from cause
        while (step := resume.next_attempt(decoder.last, decoder.first, decoder.retry)) is not None:
            spec, wait, cursor = step
            await asyncio.sleep(wait)
            try:
                answer = await send(spec)
            except APIConnectionError as exc:
                error, cause = exc, exc.__cause__
                continue
            except APIError as exc:
                raise exc from error
            decoder.reattach(answer, cursor)
            resume.attached(answer)
            break
        else:
            raise error from cause


class _BaseStream(Generic[T]):
    """What both streams are made of: the decoder (and the response it reads), the resume
    decisions, and the iterator `_open` starts over them."""

    def __init__(self, decoder: EventDecoder[T], idle: float | None, resume: Resume | None) -> None:
        self._decoder = decoder
        self._resume = resume
        self._open(decoder, idle)

    def _open(self, decoder: EventDecoder[T], idle: float | None) -> None:
        raise NotImplementedError

    @property
    def response(self) -> httpx.Response:
        """The HTTP response being read: after a reattach, the reattach's."""
        return self._decoder.response

    @property
    def resumes(self) -> int:
        """How many times the stream was reattached after its connection failed."""
        return 0 if self._resume is None else self._resume.resumes

    def _missing(self) -> str | None:
        """What the answer lacks so far, by the same rule as the end of the body; None once
        it is whole. For helpers whose final result must not come from a partial stream."""
        return self._decoder.missing()

    def _cancel(self) -> RequestSpec | None:
        """The cancel request to send on an explicit close: only before the end, and not
        after the server itself ended the stream with an error."""
        decoder, resume = self._decoder, self._resume
        if resume is None or decoder.errored or decoder.missing() is None:
            return None
        return resume.cancel(decoder.last, decoder.first)


def _no_send(spec: RequestSpec) -> httpx.Response:
    raise RuntimeError("this stream was made without a way to send requests")


async def _no_asend(spec: RequestSpec) -> httpx.Response:
    raise RuntimeError("this stream was made without a way to send requests")


class Stream(Closes, _BaseStream[T]):
    """Iterate for items; `.close()` or a `with` block gives the connection back early
    (and, before the end of a stream the server keeps for a reattach, cancels it there)."""

    def __init__(
        self,
        decoder: EventDecoder[T],
        idle: float | None = None,
        *,
        resume: Resume | None = None,
        send: Send = _no_send,
    ) -> None:
        self._send = send
        super().__init__(decoder, idle, resume)

    def _open(self, decoder: EventDecoder[T], idle: float | None) -> None:
        self._iterator = _iterate(decoder, idle, self._resume, self._send)

    def __iter__(self) -> Iterator[T]:
        # Delegating (rather than handing out the inner generator) keeps this stream alive
        # for as long as a loop runs over it, even `for c in client...create(stream=True)`.
        yield from self._iterator

    def __next__(self) -> T:
        return next(self._iterator)

    def close(self) -> None:
        self._iterator.close()
        self.response.close()
        cancel = self._cancel()
        if cancel is not None:
            with contextlib.suppress(Exception):  # best-effort: the stream is closed anyway
                self._send(cancel)

    def __del__(self) -> None:
        # A stream dropped mid-way must not keep its pooled connection checked out.
        response = getattr(self, "response", None)
        if response is not None and not response.is_closed:
            response.close()


_pending_closes: set[asyncio.Task[None]] = set()


class AsyncStream(AsyncCloses, _BaseStream[T]):
    """`async for` items; `await .close()` or `async with` gives the connection back early."""

    def __init__(
        self,
        decoder: EventDecoder[T],
        idle: float | None = None,
        *,
        resume: Resume | None = None,
        send: AsyncSend = _no_asend,
    ) -> None:
        self._send = send
        super().__init__(decoder, idle, resume)

    def _open(self, decoder: EventDecoder[T], idle: float | None) -> None:
        self._iterator = _aiterate(decoder, idle, self._resume, self._send)
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
        cancel = self._cancel()
        if cancel is None:
            return
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            # Closed because its task is being cancelled: whoever cancelled it waits for it,
            # so the server is told from a task of its own rather than in this one.
            _background(_quietly(self._send(cancel)))
            return
        await _quietly(self._send(cancel))

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
    _background(response.aclose())


def _background(work: Coroutine[Any, Any, None]) -> None:
    """Run `work` in a task of its own, kept referenced until it is done."""
    task = asyncio.ensure_future(work)
    _pending_closes.add(task)
    task.add_done_callback(_pending_closes.discard)


async def _quietly(call: Awaitable[object]) -> None:
    """Best-effort: the stream is closed whatever the cancel request's fate."""
    with contextlib.suppress(Exception):
        await call

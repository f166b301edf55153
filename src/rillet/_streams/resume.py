"""Resuming a stream whose connection failed, and cancelling one closed early: the decisions.

Nothing here does I/O. `Stream` and `AsyncStream` ask `Resume` what to do after a
connection error (which request to send, after how long, or to give up) and what to send
when they are closed before the end; they only sleep, send and read.

Where a stream is comes from the last event it delivered (`Cursor`): its SSE id
`<stream>:<position>` (rillet serve, docs/resume.md), or for a Responses stream without SSE
ids (the OpenAI API's background responses) the event's `sequence_number`, the response id
then coming from the `response.created` event. A `Target` says how one kind of stream is
reattached and cancelled: a chat stream by the same POST with `Last-Event-ID`, a Responses
stream by `GET /responses/{id}?stream=true&starting_after=N`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple
from urllib.parse import quote

import httpx
import orjson

from rillet._constants import MAX_RETRY_DELAY
from rillet._retry import retry_delay
from rillet._send import RequestSpec
from rillet._sse import ServerSentEvent

__all__ = [
    "CANCEL_TIMEOUT",
    "DEFAULT_MAX_STREAM_RESUMES",
    "RESUMABLE_HEADER",
    "ChatTarget",
    "Cursor",
    "ResponsesTarget",
    "Resume",
    "Target",
    "event_position",
    "parse_event_id",
    "resumable_answer",
]

DEFAULT_MAX_STREAM_RESUMES = 3
RESUMABLE_HEADER = "X-Rillet-Resumable"
CANCEL_TIMEOUT = 2.0  # a cancel is best-effort: it never holds a close() up for long
_OPENING = frozenset({"response.created", "response.queued", "response.in_progress"})


def parse_event_id(value: str | None) -> tuple[str, int] | None:
    """`<stream>:<position>` split at its last `:`; None when the id is not of that form."""
    if not value:
        return None
    stream, sep, position = value.rpartition(":")
    if not sep or not stream or not position.isascii() or not position.isdigit():
        return None
    return stream, int(position)


def _data(event: ServerSentEvent) -> dict[str, Any] | None:
    try:
        data = orjson.loads(event.raw_data)
    except orjson.JSONDecodeError:
        return None
    return data if type(data) is dict else None


def _sequence_number(event: ServerSentEvent) -> int | None:
    data = _data(event)
    number = data.get("sequence_number") if data is not None else None
    return number if type(number) is int else None


def event_position(event: ServerSentEvent) -> int | None:
    """An event's position in its stream: from its SSE id, else its `sequence_number`."""
    parsed = parse_event_id(event.id)
    if parsed is not None:
        return parsed[1]
    return _sequence_number(event)


def _opening_response(event: ServerSentEvent | None) -> dict[str, Any] | None:
    """The `response` object of a Responses stream's opening event (`response.created`)."""
    data = _data(event) if event is not None else None
    if data is None or data.get("type") not in _OPENING:
        return None
    response = data.get("response")
    return response if type(response) is dict else None


def resumable_answer(response: httpx.Response) -> bool:
    """Whether the server said it keeps this stream for a reattach (`X-Rillet-Resumable`)."""
    value: str = response.headers.get(RESUMABLE_HEADER, "")
    return value.strip().lower() in ("1", "true", "yes")


class Cursor(NamedTuple):
    """Where a stream is: its id, the position of the last event delivered, and that event's
    SSE id as received (what `Last-Event-ID` sends back), if it had one."""

    stream: str
    position: int
    last_id: str | None


class Target:
    """How one kind of stream is reattached and cancelled."""

    __slots__ = ()

    def cursor(self, last: ServerSentEvent, first: ServerSentEvent | None) -> Cursor | None:
        """Where the stream is after `last` (`first`: its first event); None if unknown."""
        raise NotImplementedError

    def resumable(self, answer: bool, first: ServerSentEvent | None) -> bool:
        """Whether reattaching may be tried (`answer`: the server echoed the opt-in header)."""
        raise NotImplementedError

    def reattach(self, spec: RequestSpec, cursor: Cursor) -> RequestSpec:
        raise NotImplementedError

    def cancel(self, spec: RequestSpec, stream: str) -> RequestSpec:
        raise NotImplementedError


def _one_shot(spec: RequestSpec, method: str, url: str, *, stream: bool) -> RequestSpec:
    """A request made from the stream's own (same headers and query), tried once."""
    headers = {k: v for k, v in spec.headers.items() if k.lower() != "last-event-id"}
    return replace(
        spec,
        method=method,
        url=url,
        headers=headers,
        content=None,
        max_retries=0,
        stream=stream,
        max_stream_resumes=0,
    )


def _cancel(spec: RequestSpec, collection: str, stream: str) -> RequestSpec:
    cancel = _one_shot(spec, "POST", f"{collection}/{quote(stream, safe='')}/cancel", stream=False)
    params = {k: v for k, v in cancel.params.items() if k not in ("stream", "starting_after")}
    return replace(cancel, params=params, timeout=httpx.Timeout(CANCEL_TIMEOUT))


class ChatTarget(Target):
    """A chat stream: reattached by the same request with `Last-Event-ID` (only when the
    server said it logs the stream: resending the POST elsewhere would start a new answer),
    cancelled by `POST {collection}/{id}/cancel`."""

    __slots__ = ("collection",)

    def __init__(self, collection: str) -> None:
        self.collection = collection.rstrip("/")  # .../chat/completions

    def cursor(self, last: ServerSentEvent, first: ServerSentEvent | None) -> Cursor | None:
        parsed = parse_event_id(last.id)
        if parsed is None:
            return None
        return Cursor(parsed[0], parsed[1], last.id)

    def resumable(self, answer: bool, first: ServerSentEvent | None) -> bool:
        return answer

    def reattach(self, spec: RequestSpec, cursor: Cursor) -> RequestSpec:
        headers = {k: v for k, v in spec.headers.items() if k.lower() != "last-event-id"}
        headers["Last-Event-ID"] = cursor.last_id or f"{cursor.stream}:{cursor.position}"
        return replace(spec, headers=headers, max_retries=0)

    def cancel(self, spec: RequestSpec, stream: str) -> RequestSpec:
        return _cancel(spec, self.collection, stream)


class ResponsesTarget(Target):
    """A Responses stream: reattached by `GET {collection}/{id}?stream=true&starting_after=N`,
    cancelled by `POST {collection}/{id}/cancel`. Tried when the server said it keeps the
    stream, for a background response, and for a stream that is itself a reattach
    (`response_id` known: `responses.retrieve(id, stream=True)`)."""

    __slots__ = ("background", "collection", "response_id")

    def __init__(
        self, collection: str, response_id: str | None = None, *, background: bool = False
    ) -> None:
        self.collection = collection.rstrip("/")  # .../responses
        self.response_id = response_id
        self.background = background

    def cursor(self, last: ServerSentEvent, first: ServerSentEvent | None) -> Cursor | None:
        parsed = parse_event_id(last.id)
        if parsed is not None:
            return Cursor(parsed[0], parsed[1], last.id)
        position = _sequence_number(last)
        stream = self.response_id
        if stream is None:
            opening = _opening_response(first)
            found = opening.get("id") if opening is not None else None
            stream = found if isinstance(found, str) and found else None
        if position is None or stream is None:
            return None
        return Cursor(stream, position, None)

    def resumable(self, answer: bool, first: ServerSentEvent | None) -> bool:
        if answer or self.background or self.response_id is not None:
            return True
        opening = _opening_response(first)
        return opening is not None and opening.get("background") is True

    def reattach(self, spec: RequestSpec, cursor: Cursor) -> RequestSpec:
        url = f"{self.collection}/{quote(cursor.stream, safe='')}"
        again = _one_shot(spec, "GET", url, stream=True)
        params = {**again.params, "stream": "true", "starting_after": cursor.position}
        return replace(again, params=params)

    def cancel(self, spec: RequestSpec, stream: str) -> RequestSpec:
        return _cancel(spec, self.collection, stream)


class Resume:
    """One stream's resume decisions, shared by `Stream` and `AsyncStream`.

    `max_stream_resumes` bounds the reconnections in a row that bring no new event: a
    reattach that delivers one gives the budget back, so a long stream survives a proxy
    that cuts it every minute, and a server that keeps failing costs at most that many
    tries. `resumes` counts the reattaches the server accepted.
    """

    __slots__ = (
        "_cancelled",
        "_failures",
        "_position",
        "_retry",
        "answer",
        "limit",
        "resumes",
        "spec",
        "target",
    )

    def __init__(self, target: Target, spec: RequestSpec, response: httpx.Response) -> None:
        self.target = target
        self.spec = spec
        self.limit = max(spec.max_stream_resumes, 0)
        self.answer = resumable_answer(response)
        self.resumes = 0
        self._failures = 0  # reconnections in a row without a new event
        self._position: int | None = None  # where the last failure left the stream
        self._retry: int | None = None  # the server's `retry:` (ms), kept across connections
        self._cancelled = False

    def next_attempt(
        self,
        last: ServerSentEvent | None,
        first: ServerSentEvent | None,
        retry: int | None,
    ) -> tuple[RequestSpec, float, Cursor | None] | None:
        """After a connection failure: the request to send, the wait before it, and where
        the stream stands (None: at its start); None to give up (raise the failure). `last`
        and `first` are the stream's last and first delivered events, `retry` its decoder's
        `retry:` value."""
        if retry is not None:
            self._retry = retry
        if self.limit <= 0:
            return None
        if last is None:
            # Cut before its first event: the stream's id is unknown, but nothing was
            # delivered either, so asking again from the start loses and repeats nothing.
            # Only where the server opted in: elsewhere a failure stays what it was.
            if not self.answer or self._failures >= self.limit:
                return None
            self._failures += 1
            return replace(self.spec, max_retries=0), self.delay(self._failures - 1), None
        if not self.target.resumable(self.answer, first):
            return None
        cursor = self.target.cursor(last, first)
        if cursor is None:
            return None
        if self._position is not None and cursor.position > self._position:
            self._failures = 0  # the last reattach brought new events: a fresh budget
        self._position = cursor.position
        if self._failures >= self.limit:
            return None
        self._failures += 1
        return self.target.reattach(self.spec, cursor), self.delay(self._failures - 1), cursor

    def delay(self, tries: int) -> float:
        """The wait before reconnection number `tries` + 1 of a run: the server's `retry:`
        doubled per try (capped at 8 s unless it asked for more), else the client's backoff."""
        if self._retry is None:
            return retry_delay(tries)
        base = self._retry / 1000
        return float(min(base * 2.0 ** min(tries, 32), max(base, MAX_RETRY_DELAY)))

    def attached(self, response: httpx.Response) -> None:
        """A reattach was answered with its stream."""
        self.resumes += 1
        self.answer = self.answer or resumable_answer(response)

    def cancel(
        self, last: ServerSentEvent | None, first: ServerSentEvent | None
    ) -> RequestSpec | None:
        """The cancel request of a stream closed before its end, once; None when the server
        did not opt the stream in, or no event said which stream it is."""
        if self._cancelled or not self.answer or last is None:
            return None
        cursor = self.target.cursor(last, first)
        if cursor is None:
            return None
        self._cancelled = True
        return self.target.cancel(self.spec, cursor.stream)

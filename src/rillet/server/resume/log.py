"""Event ids, one stream's log, stream metadata and the `EventLog` protocol.

Ids: every logged event of a stream is sent with ``id: <stream>:<position>``. Chat
completions count positions from 1 (the `[DONE]` event included), Responses streams use
their `sequence_number` (from 0). A reader that sends back ``Last-Event-ID: <stream>:<n>``
gets the events after position n, then the live ones.

A :class:`StreamLog` holds one stream's encoded events in memory (bytes exactly as sent,
one SSE event per entry) for one producer and any number of followers; it is what both
the chat event logs and the Responses API store replay from.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from rillet.server.http.errors import APIError, bad_request

RESUMABLE_HEADER = "x-rillet-resumable"
LAST_EVENT_ID_HEADER = "last-event-id"
_STREAM_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_MAX_POSITION = 2**53  # JSON-safe; no real stream comes near


# --- ids -------------------------------------------------------------------------------------


def event_id_prefix(stream_id: str) -> bytes:
    """The bytes of an `id:` line up to the position: ``id: <stream>:``."""
    return b"id: " + stream_id.encode() + b":"


def format_event_id(stream_id: str, position: int) -> str:
    return f"{stream_id}:{position}"


def parse_event_id(value: str) -> tuple[str, int]:
    """``<stream>:<position>`` to its parts; a 400 `invalid_last_event_id` when malformed."""
    stream_id, sep, position = value.strip().rpartition(":")
    if (
        not sep
        or not _STREAM_ID.fullmatch(stream_id)
        or not position.isascii()
        or not position.isdigit()
        or len(position) > 16
        or int(position) > _MAX_POSITION
    ):
        raise bad_request(
            f"Invalid Last-Event-ID {value[:200]!r}: expected '<stream id>:<position>', "
            "as sent in the stream's `id:` fields.",
            "Last-Event-ID",
            "invalid_last_event_id",
        )
    return stream_id, int(position)


def opted_in(headers: Mapping[str, str]) -> bool:
    """Whether a request asked for a resumable stream (`X-Rillet-Resumable: 1`)."""
    return headers.get(RESUMABLE_HEADER, "").strip().lower() in ("1", "true", "yes")


# --- who may reattach ------------------------------------------------------------------------


def key_digest(authorization: str | None) -> str:
    """A digest of the request's `Authorization` header: streams are only found by their key."""
    raw = (authorization or "").encode("latin-1", "replace")
    return hashlib.sha256(b"rillet-resume\0" + raw).hexdigest()


def _canonical(value: object) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def body_digest(body: Mapping[str, Any]) -> dict[str, str]:
    """One short digest per top-level field of a JSON body (canonical: keys sorted)."""
    return {
        name: hashlib.sha256(_canonical(value)).hexdigest()[:32] for name, value in body.items()
    }


@dataclass(frozen=True, slots=True)
class StreamMeta:
    """What a reattaching request is checked against."""

    stream_id: str
    key: str  # key_digest of the creating request
    body: dict[str, str] = field(default_factory=dict)  # body_digest of the creating request

    def to_json(self) -> bytes:
        return orjson.dumps({"id": self.stream_id, "key": self.key, "body": self.body})

    @classmethod
    def from_json(cls, raw: bytes | str) -> StreamMeta:
        data = orjson.loads(raw)
        return cls(str(data["id"]), str(data["key"]), dict(data["body"]))


def stream_not_found(stream_id: str, param: str | None = "Last-Event-ID") -> APIError:
    return APIError(
        404,
        f"No resumable stream with id '{stream_id}': it never existed, was not resumable, "
        "belongs to another API key, or its resume window has passed.",
        param=param,
        code="stream_not_found",
    )


def check_reattach(
    meta: StreamMeta | None,
    stream_id: str,
    key: str,
    body: Mapping[str, str] | None,
    *,
    param: str | None = "Last-Event-ID",
) -> StreamMeta:
    """The stream a request may reattach to, or the 404 / 400 it gets instead.

    Another key's stream is a 404 like an unknown one (nothing leaks); `body=None` skips
    the body comparison (cancel and GET requests have none).
    """
    if meta is None or not hmac.compare_digest(meta.key, key):
        raise stream_not_found(stream_id, param)
    if body is not None and dict(body) != meta.body:
        fields = sorted(
            name for name in set(body) | set(meta.body) if body.get(name) != meta.body.get(name)
        )
        raise bad_request(
            f"The request body differs from the one that started stream '{stream_id}' "
            f"(fields: {', '.join(fields)}); reattach with the original body.",
            fields[0],
            "resume_body_mismatch",
        )
    return meta


# --- one stream's events ---------------------------------------------------------------------


class StreamLog:
    """One stream's encoded events: one producer appends, followers read from any point.

    `on_change`, when set, is called with the number of followers each time one attaches
    or leaves, and when the log ends (generation and retention policies hang off it).
    """

    __slots__ = (
        "_armed",
        "_changed",
        "done",
        "durable",
        "events",
        "on_change",
        "readers",
        "size",
    )

    def __init__(self, events: list[bytes] | None = None) -> None:
        self.events: list[bytes] = [] if events is None else events
        self.size = 0  # bytes appended through `append`
        self.done = False
        # With a shared store: how many events it holds; followers see no further, so what
        # a reader got is always in the store should this replica die (None: no store).
        self.durable: int | None = None
        self.readers = 0
        self.on_change: Callable[[int], None] | None = None
        self._changed = asyncio.Event()
        self._armed = False

    def append(self, event: bytes) -> None:
        self.events.append(event)
        self.size += len(event)
        self.notify()

    def notify(self) -> None:
        """Wake the followers (after `append`, or after events were added to `events` directly).

        Cheap when nobody waits: a new wake-up event is made only once someone waited.
        """
        if self._armed:
            self._armed = False
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()

    def close(self) -> None:
        self.done = True
        self.notify()
        if self.on_change is not None:
            self.on_change(self.readers)

    def visible(self) -> int:
        """How many events followers may read (all, or those the shared store holds)."""
        durable = self.durable
        return len(self.events) if durable is None else durable

    def over(self) -> bool:
        """Ended, and every event visible."""
        return self.done and self.visible() == len(self.events)

    async def wait_beyond(self, count: int, *, written: bool = False) -> None:
        """Return once the log shows more than `count` events (`written`: holds, visible or
        not; the store's mirror waits so) or has ended."""
        while (len(self.events) if written else self.visible()) <= count and not (
            self.done if written else self.over()
        ):
            self._armed = True
            await self._changed.wait()

    def follow(self, start: int = 0) -> LogFollower:
        """The events from index `start` on, then the live ones until the end."""
        return LogFollower(self, start)

    def add_reader(self, delta: int) -> None:
        self.readers += delta
        if self.on_change is not None:
            self.on_change(self.readers)


class LogFollower:
    """An async iterator over a log's events, batching whatever is ready.

    A class rather than a generator so that it counts as a reader from creation: closing
    it before its first step (a client gone before the stream began) still releases it.
    """

    def __init__(self, log: StreamLog, start: int) -> None:
        self._log = log
        self._next = max(start, 0)
        self._closed = False
        log.add_reader(1)

    def __aiter__(self) -> LogFollower:
        return self

    async def __anext__(self) -> bytes:
        log = self._log
        events = log.events
        while not self._closed:
            end = len(events) if log.durable is None else log.durable
            if self._next < end:
                start, self._next = self._next, end
                return events[start] if end == start + 1 else b"".join(events[start:end])
            if log.done and end == len(events):
                break
            await log.wait_beyond(end)
        await self.aclose()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._log.add_reader(-1)


# --- the store of logs -----------------------------------------------------------------------


class Producer(Protocol):
    """What an event log needs of a stream generated in this process."""

    @property
    def log(self) -> StreamLog: ...

    def cancel(self, error: APIError | None = None) -> None: ...

    def touch(self) -> None:
        """A reader elsewhere (another replica) is following: do not abandon the stream."""

    async def aclose(self) -> None: ...


Takeover = Callable[[list[bytes]], AsyncIterator[bytes] | None]
"""Given a stream's logged events, the events that go on from there; None if it cannot."""


class EventLog(Protocol):
    """Where resumable streams are logged, looked up and followed (memory or Redis)."""

    window: float

    async def open(self, meta: StreamMeta, producer: Producer) -> None:
        """Register a stream about to be produced here; raises APIError if it cannot."""

    async def lookup(self, stream_id: str) -> StreamMeta | None: ...

    def follow(
        self, stream_id: str, after: int, takeover: Takeover | None = None
    ) -> AsyncIterator[bytes]:
        """The events after position `after` (index `after` on), then live ones.

        `takeover` continues a stream whose generating replica died (shared stores only).
        """

    async def cancel(self, stream_id: str) -> bool:
        """Stop the stream's generation; False if it had already ended."""

    async def aclose(self) -> None: ...

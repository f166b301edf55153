"""Running and stored responses: one generation, any number of readers, bounded memory.

Each response is a :class:`ResponseRun`: a task feeds the backend's events to a
:class:`ResponseBuilder`, whose event log only grows, and readers follow that
log from any point (the original request from the start, a reattaching client
from ``starting_after + 1``), so none misses or repeats an event.

Generation stops when its last reader leaves before the end (a plain streamed
request whose client disconnects), unless the response runs in the background.
The :class:`ResponseStore` keeps runs for `GET`, `DELETE` and
`previous_response_id`, evicting the least recently used past a count and any
older than a time to live.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from rillet.server.backends.base import Finish, GenerationEvent, InvalidRequest
from rillet.server.http.errors import APIError, from_backend, internal_error
from rillet.server.http.iterators import aclose
from rillet.server.responses.events import ResponseBuilder
from rillet.server.responses.request import items_to_messages

logger = logging.getLogger("rillet.server")

DEFAULT_MAX_RESPONSES = 1000
DEFAULT_TTL_SECONDS = 3600.0


class ResponseRun:
    """One response: its generation task, its event log and its readers."""

    def __init__(
        self, builder: ResponseBuilder, conversation: list[dict[str, Any]], background: bool
    ) -> None:
        self.builder = builder
        self.background = background
        self.created = time.monotonic()
        self.failure: APIError | None = None
        self._conversation = conversation  # the messages it answered, instructions aside
        self._readers = 0
        self._done = False
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing: asyncio.Future[None] | None = None

    @property
    def id(self) -> str:
        return self.builder.id

    @property
    def done(self) -> bool:
        return self._done

    def start(self, events: AsyncIterator[GenerationEvent], first: GenerationEvent) -> None:
        """Begin producing; `first` is the event already taken from `events`."""
        self.builder.start()
        self._task = asyncio.create_task(self._produce(events, first))
        self._task.add_done_callback(lambda _: self._cancelled_unstarted(events))

    async def _produce(
        self, events: AsyncIterator[GenerationEvent], event: GenerationEvent
    ) -> None:
        builder = self.builder
        try:
            while True:
                builder.feed(event)
                self._notify()
                if isinstance(event, Finish):
                    break
                event = await events.__anext__()
        except InvalidRequest as exc:
            self.failure = from_backend(exc)
            builder.fail(self.failure)
        except asyncio.CancelledError:
            builder.cancel()
            raise
        except Exception:
            logger.exception("response %s failed", self.id)
            self.failure = internal_error()
            builder.fail_server()
        finally:
            self._done = True
            self._notify()
            await aclose(events)

    def _cancelled_unstarted(self, events: AsyncIterator[GenerationEvent]) -> None:
        """A task cancelled before its first step never ran `_produce`: finish its work here."""
        if not self._done:
            self.builder.cancel()
            self._done = True
            self._notify()
            self._closing = asyncio.ensure_future(aclose(events))

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def follow(self, after: int = -1) -> EventFollower:
        """The encoded events numbered above `after`, then live ones until the end."""
        return EventFollower(self, after + 1)

    async def result(self) -> dict[str, Any]:
        """Wait for the end as a reader; raise the failure, as a non-streamed request would."""
        self._attach()
        try:
            while not self._done:
                await self._changed.wait()
        finally:
            self._detach()
        if self.failure is not None:
            raise self.failure
        return self.builder.snapshot()

    def snapshot(self) -> dict[str, Any]:
        return self.builder.snapshot()

    def history(self) -> list[dict[str, Any]]:
        """The conversation a follow-up response continues: what this one read, then wrote."""
        return self._conversation + items_to_messages(self.builder.response["output"])

    def cancel(self) -> None:
        if self._task is not None and not self._done:
            self._task.cancel()

    async def aclose(self) -> None:
        self.cancel()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._closing is not None:
            await self._closing

    def _attach(self) -> None:
        self._readers += 1

    def _detach(self) -> None:
        self._readers -= 1
        if not self._readers and not self.background:
            self.cancel()


class EventFollower:
    """An async iterator over a run's encoded events, batching whatever is ready.

    A class rather than a generator so that it counts as a reader from creation:
    closing it before its first step (a client gone before the stream began)
    still releases the run.
    """

    def __init__(self, run: ResponseRun, start: int) -> None:
        self._run = run
        self._next = max(start, 0)
        self._closed = False
        run._attach()

    def __aiter__(self) -> EventFollower:
        return self

    async def __anext__(self) -> bytes:
        run = self._run
        log = run.builder.events
        while not self._closed:
            changed = run._changed
            end = len(log)
            if self._next < end:
                start, self._next = self._next, end
                return log[start] if end == start + 1 else b"".join(log[start:end])
            if run.done:
                break
            await changed.wait()
        await self.aclose()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._run._detach()


class ResponseStore:
    """Stored responses by id: least recently used out past `max_responses`, old ones past `ttl`."""

    def __init__(
        self, max_responses: int = DEFAULT_MAX_RESPONSES, ttl: float = DEFAULT_TTL_SECONDS
    ) -> None:
        if max_responses < 1:
            raise ValueError("max_responses must be at least 1")
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self.max_responses = max_responses
        self.ttl = ttl
        self._runs: OrderedDict[str, ResponseRun] = OrderedDict()
        self._background: set[ResponseRun] = set()

    def __len__(self) -> int:
        return len(self._runs)

    def add(self, run: ResponseRun) -> None:
        self._expire()
        self._runs[run.id] = run
        while len(self._runs) > self.max_responses:
            self._runs.popitem(last=False)
        if run.background:
            self._background.add(run)

    def get(self, response_id: str) -> ResponseRun | None:
        self._expire()
        run = self._runs.get(response_id)
        if run is not None:
            self._runs.move_to_end(response_id)
        return run

    def delete(self, response_id: str) -> bool:
        return self._runs.pop(response_id, None) is not None

    def _expire(self) -> None:
        """Drop runs past their time to live (a scan: the store is small and LRU-ordered)."""
        limit = time.monotonic() - self.ttl
        stale = [key for key, run in self._runs.items() if run.created < limit]
        for key in stale:
            del self._runs[key]
        self._background = {run for run in self._background if not run.done}

    async def aclose(self) -> None:
        """Stop background generations (the server is going down)."""
        runs, self._background = self._background, set()
        for run in runs:
            await run.aclose()

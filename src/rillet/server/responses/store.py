"""Running and stored responses: one generation, any number of readers, bounded memory.

Each response is a :class:`ResponseRun`: a task feeds the backend's events to a
:class:`ResponseBuilder`, whose event log only grows, and readers follow that
log from any point (the original request from the start, a reattaching client
from ``starting_after + 1``), so none misses or repeats an event.

Generation stops when its last reader leaves before the end (a plain streamed
request whose client disconnects), unless the response runs in the background or
opted in to resumable streaming (then it waits the resume window for a reader).
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
from typing import Any, Protocol

from rillet.server.backends.base import Finish, GenerationEvent, InvalidRequest
from rillet.server.http.errors import APIError, from_backend, internal_error
from rillet.server.http.iterators import aclose
from rillet.server.responses.events import ResponseBuilder
from rillet.server.responses.request import items_to_messages
from rillet.server.resume.log import StreamLog
from rillet.server.resume.memory import DEFAULT_WINDOW as DEFAULT_RESUME_WINDOW

logger = logging.getLogger("rillet.server")

DEFAULT_MAX_RESPONSES = 1000
DEFAULT_TTL_SECONDS = 3600.0


class StoredResponse(Protocol):
    """What the endpoints read of a stored response: a `ResponseRun` of this process, or
    (with a shared store) the record of one made on another replica."""

    @property
    def id(self) -> str: ...
    @property
    def done(self) -> bool: ...
    @property
    def background(self) -> bool: ...
    @property
    def input_items(self) -> list[dict[str, Any]]: ...
    @property
    def cancellable(self) -> bool: ...
    def snapshot(self) -> dict[str, Any]: ...
    def history(self) -> list[dict[str, Any]]: ...
    def follow(self, after: int = -1) -> AsyncIterator[bytes]: ...
    async def aclose(self) -> None: ...


class ResponseRun:
    """One response: its generation task, its event log and its readers.

    The log is a :class:`StreamLog` over the builder's event list, the same structure the
    resumable chat streams replay from. With `resume_window` (the request opted in with
    `X-Rillet-Resumable`) a run whose last reader leaves keeps generating for that many
    seconds, waiting for a reader to reattach, before it stops.
    """

    def __init__(
        self,
        builder: ResponseBuilder,
        conversation: list[dict[str, Any]],
        background: bool,
        resume_window: float | None = None,
        input_items: list[dict[str, Any]] | None = None,
    ) -> None:
        self.builder = builder
        self.input_items = input_items or []  # this request's input, as input_items lists it
        self.background = background
        self.resume_window = resume_window
        self.created = time.monotonic()
        self.failure: APIError | None = None
        self._conversation = conversation  # the messages it answered, instructions aside
        self._log = StreamLog(builder.events)
        self._log.on_change = self._readers_changed
        self._task: asyncio.Task[None] | None = None
        self._closing: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def id(self) -> str:
        return self.builder.id

    @property
    def done(self) -> bool:
        return self._log.done

    @property
    def log(self) -> StreamLog:
        return self._log

    @property
    def cancellable(self) -> bool:
        """Runs without a reader (background, or resumable): `POST .../cancel` stops it."""
        return self.background or self.resume_window is not None

    async def wait_done(self) -> None:
        """Return once the response has ended (without counting as one of its readers)."""
        log = self._log
        while not log.done:
            await log.wait_beyond(len(log.events), written=True)

    def start(self, events: AsyncIterator[GenerationEvent], first: GenerationEvent) -> None:
        """Begin producing; `first` is the event already taken from `events`."""
        self.builder.start()
        self._task = asyncio.create_task(self._produce(events, first))
        self._task.add_done_callback(lambda _: self._cancelled_unstarted(events))

    async def _produce(
        self, events: AsyncIterator[GenerationEvent], event: GenerationEvent
    ) -> None:
        builder = self.builder
        log = self._log
        try:
            while True:
                builder.feed(event)
                log.notify()
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
            self._end()
            await aclose(events)

    def _cancelled_unstarted(self, events: AsyncIterator[GenerationEvent]) -> None:
        """A task cancelled before its first step never ran `_produce`: finish its work here."""
        if not self.done:
            self.builder.cancel()
            self._end()
            self._closing = asyncio.ensure_future(aclose(events))

    def _end(self) -> None:
        self._disarm()
        self._log.close()

    def follow(self, after: int = -1) -> AsyncIterator[bytes]:
        """The encoded events numbered above `after`, then live ones until the end."""
        return self._log.follow(after + 1)

    async def result(self) -> dict[str, Any]:
        """Wait for the end as a reader; raise the failure, as a non-streamed request would."""
        log = self._log
        log.add_reader(1)
        try:
            while not log.done:
                await log.wait_beyond(len(log.events))
        finally:
            log.add_reader(-1)
        if self.failure is not None:
            raise self.failure
        return self.builder.snapshot()

    def snapshot(self) -> dict[str, Any]:
        return self.builder.snapshot()

    def history(self) -> list[dict[str, Any]]:
        """The conversation a follow-up response continues: what this one read, then wrote."""
        return self._conversation + items_to_messages(self.builder.response["output"])

    def cancel(self) -> None:
        if self._task is not None and not self.done:
            self._task.cancel()

    async def aclose(self) -> None:
        self.cancel()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._closing is not None:
            await self._closing

    def _readers_changed(self, readers: int) -> None:
        if readers or self.done or self.background:
            self._disarm()
        elif self.resume_window is None:
            self.cancel()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.resume_window, self._abandon)

    def _abandon(self) -> None:
        self._timer = None
        if not self._log.readers:
            self.cancel()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class ResponseStore:
    """Stored responses by id: least recently used out past `max_responses`, old ones past `ttl`."""

    def __init__(
        self,
        max_responses: int = DEFAULT_MAX_RESPONSES,
        ttl: float = DEFAULT_TTL_SECONDS,
        resume_window: float = DEFAULT_RESUME_WINDOW,
    ) -> None:
        if max_responses < 1:
            raise ValueError("max_responses must be at least 1")
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self.max_responses = max_responses
        self.ttl = ttl
        self.resume_window = resume_window  # how long a resumable run waits for a reader
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

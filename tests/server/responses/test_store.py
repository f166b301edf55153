"""Response runs (one producer, many readers from any point) and the bounded store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from rillet.server.backends.base import Finish, GenerationEvent, InvalidRequest, TextDelta
from rillet.server.http.errors import APIError
from rillet.server.responses.events import ResponseBuilder
from rillet.server.responses.store import ResponseRun, ResponseStore
from tests._wait import wait_until_async

from .test_events import ECHO


class Source:
    """A backend stand-in the test feeds by hand; records whether it was closed."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[GenerationEvent | Exception] = asyncio.Queue()
        self.closed = False

    async def events(self) -> AsyncIterator[GenerationEvent]:
        try:
            while True:
                item = await self.queue.get()
                if isinstance(item, Exception):
                    raise item
                yield item
                if isinstance(item, Finish):
                    return
        finally:
            self.closed = True


def new_run(background: bool = False) -> ResponseRun:
    builder = ResponseBuilder(model="m", echo=ECHO, background=background)
    return ResponseRun(builder, [{"role": "user", "content": "hi"}], background)


def numbers(chunks: list[bytes]) -> list[int]:
    data = [line for chunk in chunks for line in chunk.split(b"\n") if line.startswith(b"data: ")]
    return [orjson.loads(line[6:])["sequence_number"] for line in data]


async def drain(follower: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in follower]


async def feed(source: Source, run: ResponseRun, event: GenerationEvent) -> None:
    """Hand `event` to the run's producer and wait until its log has grown by it."""
    logged = len(run.builder.events)
    await source.queue.put(event)
    await wait_until_async(lambda: len(run.builder.events) > logged)


async def test_readers_joining_at_any_point_see_each_event_once() -> None:
    source, run = Source(), new_run()
    events = source.events()
    run.start(events, TextDelta("a"))
    early = asyncio.create_task(drain(run.follow()))  # a reader from creation on
    for word in "bcd":
        await feed(source, run, TextDelta(word))
    late = run.follow(after=5)  # joins mid-stream: what is logged past 5 comes first
    backlog = await anext(late)
    await source.queue.put(TextDelta("e"))
    await source.queue.put(Finish("stop", 1, 5))
    everything, tail = await early, [backlog, *await drain(late)]
    total = len(run.builder.events)
    assert numbers(everything) == list(range(total))
    assert numbers(tail) == list(range(6, total))
    assert numbers(await drain(run.follow(after=total - 3))) == [total - 2, total - 1]
    assert await drain(run.follow(after=total + 5)) == []
    assert run.done and run.snapshot()["status"] == "completed"
    assert run.snapshot()["output"][0]["content"][0]["text"] == "abcde"


async def test_the_last_reader_leaving_stops_generation() -> None:
    source, run = Source(), new_run()
    run.start(source.events(), TextDelta("a"))
    first, second = run.follow(), run.follow()
    await first.__anext__()
    await first.aclose()
    await feed(source, run, TextDelta("b"))  # one reader is still there: generation goes on
    assert not run.done
    await second.aclose()
    await wait_until_async(lambda: run.done and source.closed)
    assert run.snapshot()["status"] == "cancelled"


async def test_a_background_run_outlives_its_readers() -> None:
    source, run = Source(), new_run(background=True)
    run.start(source.events(), TextDelta("a"))
    await run.follow().aclose()
    await source.queue.put(Finish("stop", 1, 1))
    await wait_until_async(lambda: run.done)
    assert run.snapshot()["status"] == "completed"


async def test_result_raises_what_the_backend_refused() -> None:
    source, run = Source(), new_run()
    run.start(source.events(), TextDelta("a"))
    await source.queue.put(InvalidRequest("no value fits", "text", "invalid_value"))
    with pytest.raises(APIError) as caught:
        await run.result()
    assert (caught.value.status, caught.value.param) == (400, "text")


async def test_history_is_the_input_then_the_answer() -> None:
    source, run = Source(), new_run()
    run.start(source.events(), TextDelta("Hello"))
    await source.queue.put(Finish("stop", 1, 1))
    await run.result()
    assert run.history() == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello"},
    ]


async def finished_run() -> ResponseRun:
    source, run = Source(), new_run()
    run.start(source.events(), Finish("stop", 1, 0))
    await run.result()
    return run


async def test_store_evicts_the_least_recently_used() -> None:
    store = ResponseStore(max_responses=2)
    a, b, c = [await finished_run() for _ in range(3)]
    store.add(a)
    store.add(b)
    assert store.get(a.id) is a  # a is now the most recent
    store.add(c)
    assert store.get(b.id) is None
    assert store.get(a.id) is a and store.get(c.id) is c
    assert store.delete(a.id) and not store.delete(a.id)
    assert len(store) == 1


async def test_store_forgets_responses_past_their_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    store = ResponseStore(ttl=60)
    run = await finished_run()
    store.add(run)
    now = run.created
    monkeypatch.setattr("rillet.server.responses.store.time.monotonic", lambda: now + 59)
    assert store.get(run.id) is run
    monkeypatch.setattr("rillet.server.responses.store.time.monotonic", lambda: now + 61)
    assert store.get(run.id) is None and len(store) == 0


async def test_closing_the_store_stops_background_runs() -> None:
    store = ResponseStore()
    source, run = Source(), new_run(background=True)
    events = source.events()
    await source.queue.put(TextDelta("a"))
    run.start(events, await events.__anext__())  # as the endpoint does: the source has begun
    store.add(run)
    await store.aclose()
    assert run.done and source.closed


def test_store_limits_must_be_positive() -> None:
    for kwargs in ({"max_responses": 0}, {"ttl": 0.0}):
        args: dict[str, Any] = kwargs
        with pytest.raises(ValueError):
            ResponseStore(**args)

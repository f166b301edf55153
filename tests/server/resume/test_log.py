"""Event ids, reattach checks, one stream's log, the memory event log and resumable runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from rillet.server.http.errors import APIError
from rillet.server.resume.log import (
    StreamLog,
    StreamMeta,
    body_digest,
    check_reattach,
    format_event_id,
    key_digest,
    opted_in,
    parse_event_id,
)
from rillet.server.resume.memory import MemoryEventLog
from rillet.server.resume.run import ResumableRun


def test_ids_round_trip() -> None:
    assert format_event_id("chatcmpl-ab_1", 17) == "chatcmpl-ab_1:17"
    assert parse_event_id("chatcmpl-ab_1:17") == ("chatcmpl-ab_1", 17)
    assert parse_event_id(" resp_x:0 ") == ("resp_x", 0)


@pytest.mark.parametrize(
    "value",
    ["", ":", "x", "x:", ":3", "x:-1", "x:+1", "x:1.0", "a:b:1", "é:1", "x:٣", "x:" + "9" * 20],
)
def test_malformed_ids_are_400s(value: str) -> None:
    with pytest.raises(APIError) as info:
        parse_event_id(value)
    assert info.value.status == 400 and info.value.code == "invalid_last_event_id"


def test_opting_in() -> None:
    assert opted_in({"x-rillet-resumable": "1"}) and opted_in({"x-rillet-resumable": "true"})
    assert not opted_in({}) and not opted_in({"x-rillet-resumable": "0"})


def test_reattach_checks_key_then_body() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    meta = StreamMeta("s", key_digest("Bearer a"), body_digest(body))
    same = body_digest(dict(reversed(list(body.items()))))
    assert check_reattach(meta, "s", key_digest("Bearer a"), same) is meta
    for key in (key_digest("Bearer b"), key_digest(None)):
        with pytest.raises(APIError) as info:
            check_reattach(meta, "s", key, same)
        assert (info.value.status, info.value.code) == (404, "stream_not_found")
    with pytest.raises(APIError) as info:
        check_reattach(None, "s", key_digest("Bearer a"), same)
    assert info.value.status == 404
    changed = body_digest({**body, "messages": [], "n": 2})
    with pytest.raises(APIError) as info:
        check_reattach(meta, "s", key_digest("Bearer a"), changed)
    assert (info.value.status, info.value.code, info.value.param) == (
        400,
        "resume_body_mismatch",
        "messages",
    )
    assert "messages, n" in info.value.message
    assert key_digest("Bearer a") != "Bearer a" and len(key_digest("")) == 64
    assert StreamMeta.from_json(meta.to_json()) == meta


async def drain(source: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in source])


async def test_followers_replay_then_follow_live() -> None:
    log = StreamLog()
    for n in range(3):
        log.append(b"e%d;" % n)
    early = asyncio.create_task(drain(log.follow(0)))
    late = log.follow(2)
    assert await anext(late) == b"e2;"
    pending = asyncio.ensure_future(anext(late))
    await asyncio.sleep(0)
    assert not pending.done() and log.readers == 2
    log.append(b"e3;")
    assert await pending == b"e3;"
    log.close()
    assert await early == b"e0;e1;e2;e3;"
    assert await drain(late) == b"" and log.readers == 0
    assert await drain(log.follow(10)) == b""


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Done:
    """A producer already finished: a closed log of given events."""

    def __init__(self, *events: bytes) -> None:
        self.log = StreamLog()
        for event in events:
            self.log.append(event)
        self.log.close()
        self.cancelled = False

    def cancel(self, error: APIError | None = None) -> None:
        self.cancelled = True

    def touch(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


async def test_the_window_starts_at_the_end_or_the_last_readers_departure() -> None:
    clock = Clock()
    store = MemoryEventLog(window=60, clock=clock)
    await store.open(StreamMeta("a", "k"), Done(b"x"))
    clock.now = 59.9
    assert await store.lookup("a") is not None
    reader = store.follow("a", 0)  # a reader keeps it, however long it takes
    clock.now = 500
    assert await store.lookup("a") is not None
    assert await drain(reader) == b"x"  # leaves at 500
    clock.now = 559.9
    assert await store.lookup("a") is not None
    clock.now = 560
    assert await store.lookup("a") is None
    with pytest.raises(APIError):
        store.follow("a", 0)
    assert len(store) == 0


async def test_ended_streams_are_evicted_least_recently_used_past_the_byte_bound() -> None:
    store = MemoryEventLog(window=60, max_bytes=30, clock=Clock())
    running = ResumableRun("r", _never(), 60)
    running.log.append(b"r" * 10)
    await store.open(StreamMeta("r", "k"), running)
    await store.open(StreamMeta("a", "k"), Done(b"a" * 10))
    await store.open(StreamMeta("b", "k"), Done(b"b" * 10))
    assert await store.lookup("a") is not None  # now more recently used than b
    await store.open(StreamMeta("c", "k"), Done(b"c" * 10))
    assert await store.lookup("b") is None
    assert [await store.lookup(s) is not None for s in "rac"] == [True, True, True]
    assert store.size == 30
    await store.aclose()


async def _never() -> AsyncIterator[bytes]:
    await asyncio.Event().wait()
    yield b""


async def _events(queue: asyncio.Queue[bytes | None], closed: list[bool]) -> AsyncIterator[bytes]:
    try:
        while (item := await queue.get()) is not None:
            yield item
    finally:
        closed.append(True)


async def test_a_run_goes_on_without_readers_and_ends_its_log() -> None:
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    closed: list[bool] = []
    run = ResumableRun("s", _events(queue, closed), window=60)
    reader = run.log.follow(0)
    run.start()
    await queue.put(b"1;")
    assert await anext(reader) == b"1;"
    await reader.aclose()  # the connection drops: generation goes on
    await queue.put(b"2;")
    await queue.put(None)
    await run.log.wait_beyond(2)
    assert run.done and run.log.events == [b"1;", b"2;"] and closed


async def test_a_run_nobody_comes_back_to_stops_after_the_window() -> None:
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    closed: list[bool] = []
    run = ResumableRun("s", _events(queue, closed), window=0.01)
    reader = run.log.follow(0)
    run.start()
    await reader.aclose()
    while not run.done:
        await run.log.wait_beyond(len(run.log.events))
    assert b'"code":"stream_abandoned"' in run.log.events[-1] and closed


async def test_cancel_ends_the_log_with_an_error_event_without_id() -> None:
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    closed: list[bool] = []
    run = ResumableRun("s", _events(queue, closed), window=60)
    run.start()
    await queue.put(b"id: s:1\ndata: x\n\n")
    await run.log.wait_beyond(0)
    run.cancel()
    await run.aclose()
    last = run.log.events[-1]
    assert last.startswith(b"data: {") and b'"code":"stream_cancelled"' in last and closed
    run.cancel()  # no-op once over
    assert len(run.log.events) == 2


async def test_a_run_cancelled_before_it_started_still_ends() -> None:
    closed: list[bool] = []
    run = ResumableRun("s", _events(asyncio.Queue(), closed), window=60)
    run.cancel()
    await run.aclose()
    assert run.done and b"stream_cancelled" in run.log.events[0]


async def test_followers_see_no_further_than_the_store_holds() -> None:
    """With a shared store, a reader only gets what another replica could replay."""
    log = StreamLog()
    log.durable = 0
    follower = log.follow(0)
    log.append(b"a")
    log.append(b"b")
    step = asyncio.ensure_future(follower.__anext__())
    await asyncio.sleep(0)
    assert not step.done()  # written here, not yet in the store
    log.durable = 1
    log.notify()
    assert await step == b"a"
    log.close()  # ended, but "b" is not in the store yet: the follower must not stop
    step = asyncio.ensure_future(follower.__anext__())
    await asyncio.sleep(0)
    assert not step.done()
    log.durable = 2
    log.notify()
    assert await step == b"b"
    with pytest.raises(StopAsyncIteration):
        await follower.__anext__()


async def test_a_store_waiting_for_writes_sees_them_before_followers() -> None:
    log = StreamLog()
    log.durable = 0
    log.append(b"a")
    await asyncio.wait_for(log.wait_beyond(0, written=True), 1)
    assert log.visible() == 0 and not log.over()
    log.close()
    assert not log.over()
    log.durable = None
    assert log.over()

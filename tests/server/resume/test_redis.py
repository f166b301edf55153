"""The Redis event log against a real redis-server: mirror, remote follow, cancel, faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from rillet.server.http.errors import APIError
from rillet.server.resume.log import StreamMeta
from rillet.server.resume.run import ResumableRun
from tests._redis import redis_server

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as (url, _):
        yield url


async def _fed(queue: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
    while (item := await queue.get()) is not None:
        yield item


def event(n: int) -> bytes:
    return b"id: s:%d\ndata: %d\n\n" % (n, n)


async def test_another_replica_replays_then_follows_live(redis_url: str) -> None:
    from rillet.server.resume.redis import RedisEventLog

    a = RedisEventLog.from_url(redis_url)
    b = RedisEventLog.from_url(redis_url)
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    run = ResumableRun("chatcmpl-r1", _fed(queue), 60)
    meta = StreamMeta("chatcmpl-r1", "k", {"model": "x"})
    await a.open(meta, run)
    run.start()
    for n in (1, 2, 3):
        await queue.put(event(n))
    assert await b.lookup("chatcmpl-r1") == meta
    follower = b.follow("chatcmpl-r1", 1)
    got = b""
    while got.count(b"\n\n") < 2:
        got += await anext(follower)
    assert got == event(2) + event(3)
    await queue.put(event(4))
    await queue.put(None)
    rest = b"".join([chunk async for chunk in follower])
    assert rest == event(4)
    everything = b"".join([c async for c in b.follow("chatcmpl-r1", 0)])
    assert everything == b"".join(event(n) for n in (1, 2, 3, 4))
    assert await b.lookup("nope") is None
    assert await b.cancel("chatcmpl-r1") is False  # over: no lease any more
    await a.aclose()
    await b.aclose()


async def test_a_batch_of_events_is_one_entry_and_followed_from_any_position(
    redis_url: str,
) -> None:
    """Events made at once share an entry; a reader may start inside it."""
    import redis.asyncio as aioredis

    from rillet.server.resume.redis import RedisEventLog

    a = RedisEventLog.from_url(redis_url)
    b = RedisEventLog.from_url(redis_url)
    events = [event(n) for n in range(1, 11)]

    async def at_once() -> AsyncIterator[bytes]:
        for item in events:
            yield item

    run = ResumableRun("chatcmpl-b1", at_once(), 60)
    await a.open(StreamMeta("chatcmpl-b1", "k"), run)
    follower = run.log.follow(0)
    run.start()
    here = b"".join([chunk async for chunk in follower])
    assert here == b"".join(events)
    raw = aioredis.Redis.from_url(redis_url)
    entries = await raw.xrange("rillet:resume:chatcmpl-b1:events") or []
    await raw.aclose()
    assert len(entries) < len(events)  # batched: fewer entries than events
    for after in range(len(events)):
        got = b"".join([chunk async for chunk in b.follow("chatcmpl-b1", after)])
        assert got == b"".join(events[after:]), after
    await a.aclose()
    await b.aclose()


async def test_a_cancel_on_another_replica_stops_the_generation(redis_url: str) -> None:
    from rillet.server.resume.redis import RedisEventLog

    a = RedisEventLog.from_url(redis_url)
    a.heartbeat = 0.05
    b = RedisEventLog.from_url(redis_url)
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    run = ResumableRun("chatcmpl-r2", _fed(queue), 60)
    await a.open(StreamMeta("chatcmpl-r2", "k"), run)
    run.start()
    await queue.put(event(1))
    assert await b.cancel("chatcmpl-r2") is True
    while not run.done:
        await run.log.wait_beyond(len(run.log.events))
    assert b"stream_cancelled" in run.log.events[-1]
    tail = b"".join([c async for c in b.follow("chatcmpl-r2", 1)])
    assert b"stream_cancelled" in tail
    await a.aclose()
    await b.aclose()


async def test_unreachable_redis_fails_fast_with_503() -> None:
    from rillet.server.resume.redis import RedisEventLog, check_store

    log = RedisEventLog.from_url("redis://127.0.0.1:1/0")
    run = ResumableRun("chatcmpl-r3", _fed(asyncio.Queue()), 60)
    with pytest.raises(APIError) as info:
        await log.open(StreamMeta("chatcmpl-r3", "k"), run)
    assert (info.value.status, info.value.code) == (503, "resume_store_unavailable")
    with pytest.raises(APIError):
        await log.lookup("chatcmpl-r3")
    from redis.exceptions import ConnectionError as RedisConnectionError

    with pytest.raises(RedisConnectionError):
        await check_store("redis://127.0.0.1:1/0", timeout=1)
    await run.aclose()
    await log.aclose()


async def test_redis_lost_mid_stream_ends_both_sides_with_an_error_event() -> None:
    from rillet.server.resume.redis import RedisEventLog

    with redis_server() as (url, process):
        a = RedisEventLog.from_url(url)
        a.heartbeat = 0.05
        a.timeout = 0.5
        b = RedisEventLog.from_url(url)
        b.timeout = 0.5
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        run = ResumableRun("chatcmpl-r4", _fed(queue), 60)
        await a.open(StreamMeta("chatcmpl-r4", "k"), run)
        run.start()
        await queue.put(event(1))
        follower = b.follow("chatcmpl-r4", 0)
        assert await anext(follower) == event(1)
        process.kill()
        process.wait()
        remote = b"".join([c async for c in follower])
        assert b'"code":"resume_store_unavailable"' in remote
        while not run.done:
            await run.log.wait_beyond(len(run.log.events))
        assert b'"code":"resume_store_unavailable"' in run.log.events[-1]
        await a.aclose()
        await b.aclose()


async def test_a_redis_that_stops_answering_ends_the_stream_and_nothing_hangs(
    redis_url: str,
) -> None:
    """Redis behind a proxy that stalls its answers: calls time out, the stream being
    logged ends with an error event (what was logged before intact), and nothing hangs."""
    from urllib.parse import urlsplit

    from rillet.server.resume.redis import RedisEventLog
    from tests.faults import Fault, FaultProxy

    parts = urlsplit(redis_url)
    assert parts.hostname is not None and parts.port is not None

    def plan(number: int) -> Fault:  # every connection stalls after some replies
        return Fault("stall", 600)

    proxy = FaultProxy((parts.hostname, parts.port), plan)
    with proxy.running():
        a = RedisEventLog.from_url(f"redis://127.0.0.1:{proxy.port}/0")
        a.heartbeat, a.timeout = 0.05, 0.5
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        run = ResumableRun("chatcmpl-r5", _fed(queue), 60)
        await a.open(StreamMeta("chatcmpl-r5", "k"), run)
        follower = run.log.follow(0)
        run.start()
        for n in range(1, 200):  # one event per mirror pass, until Redis stops answering
            await queue.put(event(n))
            await asyncio.wait_for(run.log.wait_beyond(n - 1), 10)  # never a hang
            if run.done:
                break
        assert run.done and proxy.faults["stall"] == 1
        here = b"".join([chunk async for chunk in follower])
        assert here.endswith(b"\n\n") and b'"code":"resume_store_unavailable"' in here
        assert here.startswith(event(1))  # what was logged before is all there
        await a.aclose()

"""The `EventLog` on Redis (`--store redis://HOST:PORT/DB`): streams any replica can resume.

Per stream, under `rillet:resume:<id>:`:

- `meta`: the `StreamMeta` (key and body digests) as JSON;
- `events`: a Redis Stream, one entry per batch of SSE events as the mirror writes them
  (`XADD ... MAXLEN ~`): entry id `0-<position of its last event>` (chat positions count
  from 1, Responses ones are the sequence number + 1), field `n` the position of its first,
  field `d` the events' bytes back to back; a last entry with field `end` once the stream
  is over;
- `lease`: held (`SET PX`) by the replica generating the stream while it runs;
- `attached`: refreshed by a replica following the stream for a client, so that the
  generating replica does not abandon a stream read elsewhere;
- `cancel`: set by `POST .../cancel` on a replica that does not generate the stream.

The generating replica keeps the stream in memory too (`MemoryEventLog`), so its own
readers never wait on Redis; a mirror task copies the new events to Redis in one
pipeline per batch, renews the keys' expiry and the lease, and reads the cancel and
attached flags (a heartbeat every `heartbeat` seconds when no event comes). Every call
is bounded by a timeout: when Redis is lost, a stream being generated ends with an
`error` event (`code: resume_store_unavailable`) and a stream followed from Redis too;
requests that do not use the store are unaffected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from rillet.server.http.errors import APIError
from rillet.server.http.sse import error_event
from rillet.server.resume.log import Producer, StreamLog, StreamMeta, Takeover
from rillet.server.resume.memory import DEFAULT_MAX_BYTES, DEFAULT_WINDOW, MemoryEventLog
from rillet.server.resume.run import ResumableRun

logger = logging.getLogger("rillet.server")

T = TypeVar("T")

PREFIX = "rillet:resume:"
DEFAULT_TIMEOUT = 2.0  # seconds any one Redis call may take
DEFAULT_HEARTBEAT = 0.5  # seconds between the generating replica's renewals when idle
DEFAULT_LEASE = 3.0  # seconds a lease (or a remote reader's mark) outlives its last renewal
BLOCK_MS = 1000  # how long a remote follower's XREAD waits for new entries
MAX_ENTRIES = 100_000  # per stream (MAXLEN ~), each a batch of events; beyond, the start goes
FAILURES = (RedisError, OSError, TimeoutError)  # what a Redis call that failed raises
_RACED = object()  # a takeover found the stream ended or claimed by another replica


def store_unavailable() -> APIError:
    return APIError(
        503,
        "The resume store (Redis) is unreachable; the stream cannot be logged or followed.",
        type="server_error",
        code="resume_store_unavailable",
    )


def stream_interrupted(stream_id: str) -> APIError:
    return APIError(
        502,
        f"The replica generating stream '{stream_id}' stopped before the stream ended.",
        type="server_error",
        code="stream_interrupted",
    )


def stream_truncated(stream_id: str) -> APIError:
    return APIError(
        410,
        f"The start of stream '{stream_id}' is no longer logged (over {MAX_ENTRIES} batches).",
        code="stream_truncated",
    )


class RedisEventLog:
    def __init__(
        self,
        client: aioredis.Redis,
        window: float = DEFAULT_WINDOW,
        max_bytes: int = DEFAULT_MAX_BYTES,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        heartbeat: float = DEFAULT_HEARTBEAT,
        lease: float = DEFAULT_LEASE,
        prefix: str = PREFIX,
    ) -> None:
        self.window = window
        self.timeout = timeout
        self.heartbeat = heartbeat
        self.lease_ms = int(lease * 1000)
        self.prefix = prefix
        self.owner = f"{os.uname().nodename}:{os.getpid()}:{os.urandom(4).hex()}"
        self._redis = client
        self._local = MemoryEventLog(window, max_bytes)
        self._mirrors: set[asyncio.Task[None]] = set()
        self._done_ttl = max(1, math.ceil(window))  # seconds kept after the end
        self._running_ttl = self._done_ttl + max(1, math.ceil(lease))

    @classmethod
    def from_url(
        cls, url: str, window: float = DEFAULT_WINDOW, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> RedisEventLog:
        client = aioredis.Redis.from_url(
            url,
            socket_timeout=DEFAULT_TIMEOUT + BLOCK_MS / 1000,
            socket_connect_timeout=DEFAULT_TIMEOUT,
        )
        return cls(client, window, max_bytes)

    @property
    def redis(self) -> aioredis.Redis:
        """The client, for other records kept beside the logs (responses/shared.py)."""
        return self._redis

    def _key(self, stream_id: str, part: str) -> str:
        return f"{self.prefix}{stream_id}:{part}"

    async def call(self, call: Awaitable[T], extra: float = 0.0) -> T:
        """Await one Redis call, bounded by the store's timeout (plus `extra`)."""
        async with asyncio.timeout(self.timeout + extra):
            return await call

    async def ping(self) -> None:
        await self.call(self._redis.ping())

    # --- the generating replica ----------------------------------------------------------

    async def open(self, meta: StreamMeta, producer: Producer) -> None:
        sid = meta.stream_id
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(self._key(sid, "meta"), meta.to_json(), ex=self._running_ttl)
        pipe.set(self._key(sid, "lease"), self.owner, px=self.lease_ms)
        try:
            await self.call(pipe.execute())
        except FAILURES:
            logger.warning("resume store unreachable: stream %s not opened", sid)
            raise store_unavailable() from None
        self._produce_here(meta, producer)

    def _produce_here(self, meta: StreamMeta, producer: Producer, sent: int = 0) -> None:
        """Serve the stream from this process and mirror its events after `sent` to Redis;
        its readers here see an event once Redis holds it (a takeover elsewhere then goes
        on from everything any reader saw)."""
        producer.log.durable = sent
        self._local.add(meta, producer)
        task = asyncio.create_task(self._mirror(meta.stream_id, producer, sent))
        self._mirrors.add(task)
        task.add_done_callback(self._mirrors.discard)

    async def _mirror(self, sid: str, producer: Producer, sent: int) -> None:
        """Copy the stream's events to Redis as they come; renew; read the flags."""
        log = producer.log
        events_key, meta_key = self._key(sid, "events"), self._key(sid, "meta")
        lease_key = self._key(sid, "lease")
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.heartbeat):
                        await log.wait_beyond(sent, written=True)
                done = log.done  # read first: once done, every event is in the list
                batch = log.events[sent:]
                pipe = self._redis.pipeline(transaction=False)
                if batch:  # one entry per batch: the cost of a call is per entry, not per byte
                    pipe.xadd(
                        events_key,
                        {"n": sent + 1, "d": b"".join(batch)},
                        id=f"0-{sent + len(batch)}",
                        maxlen=MAX_ENTRIES,
                        approximate=True,
                    )
                if done:
                    pipe.xadd(events_key, {"end": b"1"}, id=f"0-{sent + len(batch) + 1}")
                ttl = self._done_ttl if done else self._running_ttl
                pipe.expire(events_key, ttl)
                pipe.expire(meta_key, ttl)
                if done:
                    pipe.delete(lease_key)
                else:
                    pipe.set(lease_key, self.owner, px=self.lease_ms)
                pipe.exists(self._key(sid, "cancel"))
                pipe.exists(self._key(sid, "attached"))
                results = await self.call(pipe.execute())
                sent += len(batch)
                log.durable = sent
                log.notify()
                if done:
                    return
                if results[-2]:
                    producer.cancel()
                if results[-1]:
                    producer.touch()
        except FAILURES:
            logger.warning("resume store lost while logging stream %s", sid)
            log.durable = None  # no store to wait for: this replica's readers get the rest
            log.notify()
            producer.cancel(store_unavailable())

    # --- any replica ---------------------------------------------------------------------

    async def lookup(self, stream_id: str) -> StreamMeta | None:
        meta = await self._local.lookup(stream_id)
        if meta is not None:
            return meta
        try:
            raw = await self.call(self._redis.get(self._key(stream_id, "meta")))
        except FAILURES:
            raise store_unavailable() from None
        return None if raw is None else StreamMeta.from_json(raw)

    def follow(
        self, stream_id: str, after: int, takeover: Takeover | None = None
    ) -> AsyncIterator[bytes]:
        if self._local.producer(stream_id) is not None:
            return self._local.follow(stream_id, after)
        return self._follow_remote(stream_id, after, takeover)

    async def _follow_remote(
        self, sid: str, after: int, takeover: Takeover | None
    ) -> AsyncIterator[bytes]:
        """Entries after `0-<after>` from Redis, live until the `end` entry; if the
        generating replica dies first, the stream goes on here (`takeover`) or ends with
        `stream_interrupted`."""
        events_key = self._key(sid, "events")
        last = after
        while True:
            pipe = self._redis.pipeline(transaction=False)
            pipe.set(self._key(sid, "attached"), self.owner, px=self.lease_ms)
            pipe.exists(self._key(sid, "lease"))
            pipe.xread({events_key: f"0-{last}"}, count=1000, block=BLOCK_MS)
            try:
                results: list[Any] = await self.call(pipe.execute(), BLOCK_MS / 1000)
            except FAILURES:
                logger.warning("resume store lost while following stream %s", sid)
                yield error_event(store_unavailable())
                return
            alive, found = results[1], results[2]
            if not found:
                if alive:
                    continue
                try:
                    outcome = await self._take_over(sid, takeover)
                except FAILURES:
                    logger.warning("resume store lost while taking over stream %s", sid)
                    yield error_event(store_unavailable())
                    return
                if outcome is _RACED:
                    continue  # ended meanwhile, or another replica took it: follow on
                if outcome is None:
                    yield error_event(stream_interrupted(sid))
                    return
                assert isinstance(outcome, StreamLog)
                follower = outcome.follow(last)
                try:
                    async for chunk in follower:
                        yield chunk
                finally:
                    await follower.aclose()
                return
            batch: list[bytes] = []
            ended = False
            for entry_id, fields in found[0][1]:
                if b"end" in fields:
                    ended = True
                    break
                first, events = int(fields[b"n"]), fields[b"d"]
                if first > last + 1:
                    batch.append(error_event(stream_truncated(sid)))
                    ended = True
                    break
                if first <= last:  # the entry starts before the position asked for
                    events = b"".join(split_events(events)[last + 1 - first :])
                last = int(entry_id.split(b"-")[1])
                batch.append(events)
            if batch:
                yield b"".join(batch)
            if ended:
                return

    async def _take_over(self, sid: str, takeover: Takeover | None) -> StreamLog | object | None:
        """Continue, on this replica, a stream whose generating replica let its lease lapse.

        Returns the stream's log, now produced here; `_RACED` when the stream ended or
        another replica claimed it first (follow on); None when it cannot be continued.
        """
        if takeover is None:
            return None
        lease_key = self._key(sid, "lease")
        claimed = await self.call(self._redis.set(lease_key, self.owner, nx=True, px=self.lease_ms))
        if not claimed:
            return _RACED
        entries: list[Any] = await self.call(self._xrange(self._key(sid, "events")))
        raw_meta = await self.call(self._redis.get(self._key(sid, "meta")))
        logged: list[bytes] = []
        for _, fields in entries:
            if b"end" in fields:  # it ended after all: nothing to take over
                await self.call(self._redis.delete(lease_key))
                return _RACED
            if int(fields[b"n"]) != len(logged) + 1 or raw_meta is None:
                logged = []  # its start is gone (trimmed or expired): not continuable
                break
            logged.extend(split_events(fields[b"d"]))
        events = takeover(logged) if logged else None
        if events is None:
            await self.call(self._redis.delete(lease_key))
            return None
        assert raw_meta is not None
        run = ResumableRun(sid, events, self.window, logged)
        self._produce_here(StreamMeta.from_json(raw_meta), run, sent=len(logged))
        run.start()
        logger.info("took over stream %s after %d events", sid, len(logged))
        return run.log

    async def _xrange(self, key: str) -> list[Any]:
        return list(await self._redis.xrange(key) or ())

    async def cancel(self, stream_id: str) -> bool:
        if self._local.producer(stream_id) is not None:
            return await self._local.cancel(stream_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.exists(self._key(stream_id, "lease"))
        pipe.set(self._key(stream_id, "cancel"), b"1", px=max(self.lease_ms, 1000))
        try:
            running, _ = await self.call(pipe.execute())
        except FAILURES:
            raise store_unavailable() from None
        return bool(running)

    async def aclose(self) -> None:
        """Stop local generations, let their mirrors write the end, close the client."""
        await self._local.aclose()
        if self._mirrors:
            await asyncio.wait(set(self._mirrors), timeout=self.timeout * 2)
        for task in list(self._mirrors):
            task.cancel()
        await self._redis.aclose()


def split_events(joined: bytes) -> list[bytes]:
    """The SSE events of an entry, back to back (each ends in a blank line, and none holds
    one before its end: every field is one line of JSON or text)."""
    return [part + b"\n\n" for part in joined.split(b"\n\n")[:-1]]


async def check_store(url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Raise if Redis at `url` does not answer PING within `timeout` (startup check)."""
    client = aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        async with asyncio.timeout(timeout):
            await client.ping()
    finally:
        await client.aclose()

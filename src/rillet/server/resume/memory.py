"""The in-process `EventLog`: streams of this server only, bounded in bytes.

A stream is kept while it runs or has readers, and for `window` seconds after the later
of its end and its last reader's departure. Past `max_bytes` of logged events in total,
the least recently used streams that are over (ended, no readers) are dropped first;
running streams and streams being read are never dropped, so the bound can be exceeded
by them alone (their size is that of the answers being generated, as for any stream).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from rillet.server.resume.log import Producer, StreamMeta, Takeover, stream_not_found

DEFAULT_WINDOW = 60.0
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@dataclass(slots=True)
class _Entry:
    meta: StreamMeta
    producer: Producer
    since: float  # when it last ended or lost a reader (or began)


class MemoryEventLog:
    def __init__(
        self,
        window: float = DEFAULT_WINDOW,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        self.window = window
        self.max_bytes = max_bytes
        self._clock = clock
        self._streams: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._streams)

    @property
    def size(self) -> int:
        """Bytes of logged events held."""
        return sum(entry.producer.log.size for entry in self._streams.values())

    async def open(self, meta: StreamMeta, producer: Producer) -> None:
        self.add(meta, producer)

    def add(self, meta: StreamMeta, producer: Producer) -> None:
        entry = _Entry(meta, producer, self._clock())
        log = producer.log
        previous = log.on_change

        def readers_changed(readers: int) -> None:
            entry.since = self._clock()
            if previous is not None:
                previous(readers)

        log.on_change = readers_changed
        self._streams[meta.stream_id] = entry
        self._sweep()

    def producer(self, stream_id: str) -> Producer | None:
        self._sweep()
        entry = self._streams.get(stream_id)
        if entry is None:
            return None
        self._streams.move_to_end(stream_id)
        return entry.producer

    async def lookup(self, stream_id: str) -> StreamMeta | None:
        self._sweep()
        entry = self._streams.get(stream_id)
        if entry is None:
            return None
        self._streams.move_to_end(stream_id)
        return entry.meta

    def follow(
        self, stream_id: str, after: int, takeover: Takeover | None = None
    ) -> AsyncIterator[bytes]:
        # A stream of this process cannot outlive it: there is nothing to take over.
        producer = self.producer(stream_id)
        if producer is None:
            raise stream_not_found(stream_id)
        return producer.log.follow(after)

    async def cancel(self, stream_id: str) -> bool:
        producer = self.producer(stream_id)
        if producer is None or producer.log.done:
            return False
        producer.cancel()
        return True

    def _over(self, entry: _Entry) -> bool:
        log = entry.producer.log
        return log.done and not log.readers

    def _sweep(self) -> None:
        """Drop streams past their window, then the least recently used over the byte bound."""
        now = self._clock()
        stale = [
            key
            for key, entry in self._streams.items()
            if self._over(entry) and now - entry.since >= self.window
        ]
        for key in stale:
            del self._streams[key]
        total = self.size
        if total <= self.max_bytes:
            return
        for key in [k for k, e in self._streams.items() if self._over(e)]:
            total -= self._streams.pop(key).producer.log.size
            if total <= self.max_bytes:
                break

    async def aclose(self) -> None:
        """Stop the streams still generating (the server is going down)."""
        entries = list(self._streams.values())
        self._streams.clear()
        for entry in entries:
            await entry.producer.aclose()

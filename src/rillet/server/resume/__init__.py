"""Resumable streams: event ids, the event log readers reattach to, and its stores.

- `log`: the id contract (`<stream>:<position>`), the per-stream in-memory `StreamLog`
  and its followers, stream metadata (key and body digests) and the `EventLog` protocol.
- `run`: `ResumableRun`, a generation that outlives its connection for the resume window.
- `memory`: the default `EventLog`, in this process, bounded in bytes (LRU).
- `redis`: the `EventLog` on Redis Streams (`--store redis://...`), shared by replicas;
  imported only when configured, so the `redis` package stays optional.

docs/resume.md is the contract.
"""

from __future__ import annotations

from rillet.server.resume.log import EventLog
from rillet.server.resume.memory import DEFAULT_MAX_BYTES, DEFAULT_WINDOW, MemoryEventLog

STORE_SCHEMES = ("redis://", "rediss://", "unix://")


class StoreUnavailable(Exception):
    """`--store` names a store this process cannot use (the message says what to do)."""


def create_event_log(
    store: str | None, window: float = DEFAULT_WINDOW, max_bytes: int = DEFAULT_MAX_BYTES
) -> EventLog:
    """The event log for `--store`: None is this process's memory, `redis://...` Redis."""
    if store is None:
        return MemoryEventLog(window, max_bytes)
    if not store.startswith(STORE_SCHEMES):
        raise StoreUnavailable(f"--store {store!r}: expected redis://HOST:PORT/DB")
    try:
        from rillet.server.resume.redis import RedisEventLog
    except ImportError:
        raise StoreUnavailable(
            "--store redis:// needs the redis package: pip install 'rillet[redis]'"
        ) from None
    return RedisEventLog.from_url(store, window, max_bytes)

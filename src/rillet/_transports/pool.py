"""Connection pool bookkeeping under `httpx.Limits`, without I/O or locking.

The sync and async transports each wrap one `PoolSlots` in their own lock or waiters and
do the connecting and closing themselves; every decision (reuse, open, evict, wait, keep
or close on return) is made here, once.
"""

from __future__ import annotations

import enum
from typing import Generic, Protocol, TypeVar

import httpx

__all__ = ["Grant", "Origin", "PoolSlots"]

Origin = tuple[bytes, bytes, int]  # scheme, host, port


class Pooled(Protocol):
    origin: Origin
    idle_since: float


C = TypeVar("C", bound=Pooled)


class Grant(enum.Enum):
    REUSE = "reuse"  # an idle connection to the origin is handed out
    OPEN = "open"  # a slot is reserved: the caller connects, or calls `forget` on failure
    WAIT = "wait"  # every slot is busy


class PoolSlots(Generic[C]):
    """Counts open connections against the limits and keeps the idle ones, oldest first."""

    def __init__(self, limits: httpx.Limits) -> None:
        self.max_open = limits.max_connections
        self.max_idle = limits.max_keepalive_connections
        self.expiry = limits.keepalive_expiry
        self.idle: list[C] = []
        self.open = 0  # connected or connecting, idle or in use
        self.closed = False

    def checkout(
        self, origin: Origin, now: float, *, fresh: bool = False
    ) -> tuple[Grant, C | None, list[C]]:
        """A grant, the idle connection for REUSE, and connections the caller must close.

        A reused connection may have been closed by the server while idle: the caller checks
        and, if so, closes it, calls `forget` and asks again. `fresh` never grants REUSE (a
        request re-sent because its pooled connection turned out stale goes on a new one).
        """
        doomed = self._expire(now)
        idle = self.idle
        if not fresh:
            for i in range(len(idle) - 1, -1, -1):  # the most recently used: likeliest alive
                if idle[i].origin == origin:
                    return Grant.REUSE, idle.pop(i), doomed
        if self.max_open is None or self.open < self.max_open:
            self.open += 1
            return Grant.OPEN, None, doomed
        if idle:  # full, but an idle connection to another origin can make room
            doomed.append(idle.pop(0))
            return Grant.OPEN, None, doomed
        return Grant.WAIT, None, doomed

    def checkin(self, conn: C, reusable: bool, now: float) -> C | None:
        """Take back a connection whose response is done; returns it if it must be closed."""
        room = self.max_idle is None or len(self.idle) < self.max_idle
        if reusable and room and not self.closed:
            conn.idle_since = now
            self.idle.append(conn)
            return None
        self.open -= 1
        return conn

    def forget(self) -> None:
        """A connection was dropped or never opened: free its slot."""
        self.open -= 1

    def close(self) -> list[C]:
        """No more keeping: returns the idle connections to close."""
        self.closed = True
        idle, self.idle = self.idle, []
        self.open -= len(idle)
        return idle

    def _expire(self, now: float) -> list[C]:
        if self.expiry is None or not self.idle:
            return []
        limit = now - self.expiry
        stale = [c for c in self.idle if c.idle_since < limit]
        if stale:
            self.idle = [c for c in self.idle if c.idle_since >= limit]
            self.open -= len(stale)
        return stale

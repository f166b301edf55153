"""Connection pool bookkeeping under httpx.Limits, without sockets."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from rillet._transports.pool import Grant, Origin, PoolSlots

A: Origin = (b"http", b"a", 80)
B: Origin = (b"https", b"b", 443)


@dataclass(eq=False)
class Conn:
    origin: Origin
    idle_since: float = 0.0


def _slots(
    max_connections: int | None = 2, max_keepalive: int | None = 2, expiry: float | None = 5.0
) -> PoolSlots[Conn]:
    return PoolSlots(
        httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive,
            keepalive_expiry=expiry,
        )
    )


def test_opens_up_to_the_limit_then_waits() -> None:
    slots = _slots(max_connections=2)
    assert slots.checkout(A, 0)[0] is Grant.OPEN
    assert slots.checkout(A, 0)[0] is Grant.OPEN
    assert slots.checkout(A, 0) == (Grant.WAIT, None, [])
    slots.forget()  # one connection failed to open
    assert slots.checkout(A, 0)[0] is Grant.OPEN


def test_a_returned_connection_is_reused_for_its_origin_only() -> None:
    slots = _slots(max_connections=None)
    slots.checkout(A, 0)
    conn = Conn(A)
    assert slots.checkin(conn, True, 1.0) is None
    assert slots.checkout(B, 1.0)[0] is Grant.OPEN
    assert slots.checkout(A, 1.0) == (Grant.REUSE, conn, [])
    assert slots.open == 2


def test_the_most_recently_used_connection_is_reused_first() -> None:
    slots = _slots(max_connections=None, max_keepalive=None)
    old, new = Conn(A), Conn(A)
    slots.checkout(A, 0)
    slots.checkout(A, 0)
    slots.checkin(old, True, 1.0)
    slots.checkin(new, True, 2.0)
    assert slots.checkout(A, 2.0)[1] is new


def test_unreusable_or_surplus_connections_are_handed_back_to_close() -> None:
    slots = _slots(max_connections=None, max_keepalive=1)
    conns = [Conn(A), Conn(A), Conn(A)]
    for _ in conns:
        slots.checkout(A, 0)
    assert slots.checkin(conns[0], False, 0) is conns[0]  # dirty
    assert slots.checkin(conns[1], True, 0) is None
    assert slots.checkin(conns[2], True, 0) is conns[2]  # over max_keepalive_connections
    assert slots.open == 1 and slots.idle == [conns[1]]


def test_no_keepalive_at_all() -> None:
    slots = _slots(max_keepalive=0)
    slots.checkout(A, 0)
    conn = Conn(A)
    assert slots.checkin(conn, True, 0) is conn
    assert slots.open == 0


def test_idle_connections_expire() -> None:
    slots = _slots(expiry=5.0)
    slots.checkout(A, 0)
    conn = Conn(A)
    slots.checkin(conn, True, 10.0)
    assert slots.checkout(A, 14.0)[0] is Grant.REUSE
    slots.checkin(conn, True, 14.0)
    grant, reused, doomed = slots.checkout(A, 19.5)
    assert (grant, reused, doomed) == (Grant.OPEN, None, [conn])
    assert slots.open == 1


def test_a_full_pool_evicts_an_idle_connection_to_another_origin() -> None:
    slots = _slots(max_connections=1)
    slots.checkout(A, 0)
    conn = Conn(A)
    slots.checkin(conn, True, 0)
    assert slots.checkout(B, 0) == (Grant.OPEN, None, [conn])
    assert slots.open == 1


def test_close_hands_back_idle_connections_and_keeps_no_more() -> None:
    slots = _slots(max_connections=None)
    idle, busy = Conn(A), Conn(A)
    slots.checkout(A, 0)
    slots.checkout(A, 0)
    slots.checkin(idle, True, 0)
    assert slots.close() == [idle]
    assert slots.checkin(busy, True, 0) is busy
    assert slots.open == 0


def test_a_fresh_checkout_never_reuses() -> None:
    """A request re-sent because its pooled connection was stale goes on a new one."""
    slots = _slots(max_connections=2)
    slots.checkout(A, 0)
    idle = Conn(A)
    slots.checkin(idle, True, 1.0)
    assert slots.checkout(A, 1.0, fresh=True) == (Grant.OPEN, None, [])
    assert slots.idle == [idle]
    # Full: the idle connection makes room rather than being handed out.
    assert slots.checkout(A, 1.0, fresh=True) == (Grant.OPEN, None, [idle])
    assert slots.open == 2

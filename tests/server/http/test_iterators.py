"""Merging concurrent choices: arrival order, bounded buffering, errors and closing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from rillet.server.http.iterators import aclose, interleave
from tests._wait import settle


class Source:
    def __init__(self, name: str, count: int, delay: float = 0.0, fail_at: int | None = None):
        self.name, self.count, self.delay, self.fail_at = name, count, delay, fail_at
        self.produced = 0
        self.closed = False

    async def run(self) -> AsyncIterator[str]:
        try:
            for i in range(self.count):
                await asyncio.sleep(self.delay)  # the source's pace: part of each scenario
                if i == self.fail_at:
                    raise ValueError(f"{self.name} failed")
                self.produced += 1
                yield f"{self.name}{i}"
        finally:
            self.closed = True


async def test_items_come_as_produced_tagged_by_source() -> None:
    fast, slow = Source("f", 3), Source("s", 2, delay=0.01)
    items = [item async for item in interleave([slow.run(), fast.run()])]
    assert sorted(items) == [(0, "s0"), (0, "s1"), (1, "f0"), (1, "f1"), (1, "f2")]
    assert [i for i, _ in items][:3] == [1, 1, 1]  # the fast source is not held back
    assert fast.closed and slow.closed


async def test_a_slow_consumer_bounds_what_producers_run_ahead() -> None:
    sources = [Source("a", 1000), Source("b", 1000)]
    merged = interleave([s.run() for s in sources])
    await anext(merged)
    await settle()  # the consumer stops reading; unbounded producers would make one a round
    assert sum(s.produced for s in sources) <= 2 + 2 + 1
    await aclose(merged)


async def test_closing_the_merge_cancels_and_closes_every_source() -> None:
    sources = [Source("a", 1000, delay=0.001), Source("b", 1000, delay=0.001)]
    merged = interleave([s.run() for s in sources])
    await anext(merged)
    await aclose(merged)
    produced = [s.produced for s in sources]
    await settle()
    assert [s.produced for s in sources] == produced
    assert all(s.closed for s in sources)


async def test_a_failing_source_raises_and_stops_the_others() -> None:
    good, bad = Source("g", 1000, delay=0.001), Source("b", 5, fail_at=2)
    with pytest.raises(ValueError, match="b failed"):
        async for _ in interleave([good.run(), bad.run()]):
            pass
    assert good.closed and bad.closed

"""Async iterator helpers: merging concurrent sources, and closing them deterministically."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, TypeVar

T = TypeVar("T")

_END = object()


async def aclose(iterator: AsyncIterator[Any]) -> None:
    """Close an async generator now (freeing what it holds), not whenever it is collected."""
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()


async def interleave(sources: list[AsyncIterator[T]]) -> AsyncIterator[tuple[int, T]]:
    """Run several sources at once and yield their items as they come, tagged by source.

    Used for ``n > 1``: each choice is generated concurrently and its chunks go out
    as soon as they exist. The queue holds at most one item per source, so a slow
    consumer pauses every producer (no unbounded buffering), and closing the merged
    iterator cancels the producers and closes their sources.
    """
    queue: asyncio.Queue[tuple[int, object, BaseException | None]] = asyncio.Queue(
        maxsize=len(sources)
    )

    async def pump(index: int, source: AsyncIterator[T]) -> None:
        try:
            async for item in source:
                await queue.put((index, item, None))
        except Exception as exc:
            await queue.put((index, None, exc))
            return
        finally:
            await aclose(source)
        await queue.put((index, _END, None))

    tasks = [asyncio.create_task(pump(i, source)) for i, source in enumerate(sources)]
    try:
        remaining = len(tasks)
        while remaining:
            index, item, error = await queue.get()
            if error is not None:
                raise error
            if item is _END:
                remaining -= 1
                continue
            yield index, item  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

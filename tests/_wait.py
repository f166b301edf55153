"""Waiting in tests: for a condition, never for a length of time.

`wait_until` polls `condition` until it holds and fails the test once `timeout` has passed
without it; the timeout is a limit, not a delay, so a passing test takes only as long as
what it waits for. Inside a running event loop use `wait_until_async`, which lets the loop
run between checks (a blocking wait would stop the very tasks that make `condition` true).
For "nothing more happens" checks, `settle` lets the loop run a fixed number of rounds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

DEFAULT_TIMEOUT = 5.0
_POLL = 0.005  # seconds between checks of a condition another thread makes true


def _checks(condition: Callable[[], object], timeout: float) -> Iterator[None]:
    """Yields while `condition` is false; raises AssertionError once `timeout` has passed."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{_describe(condition)} was still false after {timeout} s")
        yield


def _describe(condition: Callable[[], object]) -> str:
    code = getattr(condition, "__code__", None)
    if code is None:
        return repr(condition)
    name = getattr(condition, "__qualname__", code.co_name)
    return f"{name} ({code.co_filename.rsplit('/', 1)[-1]}:{code.co_firstlineno})"


def wait_until(condition: Callable[[], object], timeout: float = DEFAULT_TIMEOUT) -> None:
    """Block until `condition()` is true (made so by another thread or process)."""
    for _ in _checks(condition, timeout):
        time.sleep(_POLL)


async def wait_until_async(
    condition: Callable[[], object], timeout: float = DEFAULT_TIMEOUT
) -> None:
    """`wait_until` inside a running event loop: each check comes after the loop has run."""
    for rounds, _ in enumerate(_checks(condition, timeout)):
        # Tasks on this loop need only a turn; other threads may need real time.
        await asyncio.sleep(0 if rounds < 100 else _POLL)


async def settle(rounds: int = 100) -> None:
    """Let the running loop go round `rounds` times: a task that could still make progress
    (one item per round, say) would show it, so a check after this that nothing changed
    is meaningful without waiting for any length of time."""
    for _ in range(rounds):
        await asyncio.sleep(0)

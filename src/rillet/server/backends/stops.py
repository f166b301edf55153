"""Stop strings: end the text before the first one, never emitting any part of it.

`first_stop` serves a backend that knows its whole text in advance; `StopMatcher`
serves one that streams text as it is produced and so must hold back a tail that
could still turn out to be the start of a stop string.
"""

from __future__ import annotations

from collections.abc import Sequence


def first_stop(text: str, stops: Sequence[str]) -> int | None:
    """Index where the earliest stop string begins in `text`, or None."""
    found = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(found) if found else None


def _partial_tail(text: str, stops: Sequence[str]) -> int:
    """Length of the longest end of `text` that begins some stop string."""
    best = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), best, -1):
            if text.endswith(stop[:size]):
                best = size
                break
    return best


class StopMatcher:
    """Feed streamed text in; get back what is safe to emit now.

    >>> m = StopMatcher(["END"])
    >>> m.feed("the E"), m.feed("ND tail"), m.stopped
    ('the ', '', True)
    """

    __slots__ = ("_held", "_stops", "stopped")

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._held = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """Text that can be emitted now; sets `stopped` once a stop string appears."""
        if self.stopped:
            return ""
        if not self._stops:
            return text
        buffer = self._held + text
        cut = first_stop(buffer, self._stops)
        pending = len(buffer) - _partial_tail(buffer, self._stops)
        if cut is not None and cut <= pending:
            self.stopped = True
            self._held = ""
            return buffer[:cut]
        # Either no stop yet, or a longer one may still complete before the found one.
        self._held = buffer[pending:]
        return buffer[:pending]

    def flush(self) -> str:
        """The held-back tail, once the text has ended."""
        held, self._held = self._held, ""
        if self.stopped:
            return ""
        cut = first_stop(held, self._stops)
        self.stopped = cut is not None
        return held if cut is None else held[:cut]

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
        if cut is not None:
            self.stopped = True
            self._held = ""
            return buffer[:cut]
        keep = _partial_tail(buffer, self._stops)
        self._held = buffer[len(buffer) - keep :] if keep else ""
        return buffer[: len(buffer) - keep]

    def flush(self) -> str:
        """The held-back tail, when the text ends without a stop string."""
        held, self._held = self._held, ""
        return "" if self.stopped else held

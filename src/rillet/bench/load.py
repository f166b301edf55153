"""When requests start: request arrival offsets for a target rate.

Gaps between arrivals are gamma-distributed with shape `burstiness` and mean 1/rate
(vLLM's `bench serve` does the same): shape 1 is a Poisson process (exponential gaps),
below 1 burstier, above 1 more regular. Fixed concurrency needs no schedule: each of N
workers starts its next request when the last one ends.
"""

from __future__ import annotations

import random
from collections.abc import Iterator


def arrival_offsets(rate: float, burstiness: float, rng: random.Random) -> Iterator[float]:
    """Seconds after the start at which each request is due, without end."""
    if rate <= 0 or burstiness <= 0:
        raise ValueError("rate and burstiness must be positive")
    scale = 1.0 / (rate * burstiness)  # the mean gap, shape * scale, is 1/rate
    offset = 0.0
    while True:
        offset += rng.gammavariate(burstiness, scale)
        yield offset

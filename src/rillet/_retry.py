"""When to retry and how long to wait: decisions shared by the sync and async clients."""

from __future__ import annotations

import email.utils
import random
import time

import httpx

from rillet._constants import INITIAL_RETRY_DELAY, MAX_RETRY_AFTER, MAX_RETRY_DELAY

RETRYABLE_STATUSES = frozenset({408, 409, 429})


def should_retry_response(response: httpx.Response) -> bool:
    """The server's `x-should-retry` header wins; otherwise 408, 409, 429 and 5xx retry."""
    verdict = response.headers.get("x-should-retry")
    if verdict == "true":
        return True
    if verdict == "false":
        return False
    status = response.status_code
    return status in RETRYABLE_STATUSES or status >= 500


def retry_after(headers: httpx.Headers | None) -> float | None:
    """Seconds the server asked us to wait (`retry-after-ms`, then `retry-after`), if sensible:
    more than 0 (as the official client, a zero hint does not mean retrying at once) and at
    most `MAX_RETRY_AFTER`."""
    if headers is None:
        return None
    seconds: float | None = None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            seconds = float(ms) / 1000
        except ValueError:
            seconds = None
    if seconds is None:
        value = headers.get("retry-after")
        if value is not None:
            try:
                seconds = float(value)
            except ValueError:
                try:
                    seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
                except (TypeError, ValueError):
                    seconds = None
    if seconds is None or not 0 < seconds <= MAX_RETRY_AFTER:
        return None
    return seconds


def retry_delay(retries_done: int, headers: httpx.Headers | None = None) -> float:
    """Honour the server's hint; otherwise 0.5 s doubling to 8 s, less up to 25 % jitter."""
    hinted = retry_after(headers)
    if hinted is not None:
        return hinted
    # The exponent is capped: 2.0**1024 overflows, and long before that the cap applies.
    delay = min(INITIAL_RETRY_DELAY * 2.0 ** min(retries_done, 32), MAX_RETRY_DELAY)
    return delay * (1 - 0.25 * random.random())

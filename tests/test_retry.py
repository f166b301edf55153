"""When to retry and how long to wait."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from rillet._constants import INITIAL_RETRY_DELAY, MAX_RETRY_AFTER, MAX_RETRY_DELAY
from rillet._retry import retry_after, retry_delay, should_retry_response

SAMPLES = 2000


def test_constants() -> None:
    assert INITIAL_RETRY_DELAY == 0.5
    assert MAX_RETRY_DELAY == 8.0


@pytest.mark.parametrize(
    ("retries_done", "nominal"),
    [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (10, 8.0), (60, 8.0)],
)
def test_backoff_doubles_and_caps_with_bounded_jitter(retries_done: int, nominal: float) -> None:
    delays = [retry_delay(retries_done) for _ in range(SAMPLES)]
    assert all(nominal * 0.75 <= d <= nominal for d in delays)
    # Jitter is real: values spread over most of the allowed band, not one fixed value.
    assert len(set(delays)) > SAMPLES // 2
    assert min(delays) < nominal * 0.8
    assert max(delays) > nominal * 0.95


def test_backoff_with_headers_that_give_no_hint() -> None:
    headers = httpx.Headers({"content-type": "application/json"})
    delays = [retry_delay(1, headers) for _ in range(200)]
    assert all(0.75 <= d <= 1.0 for d in delays)
    assert len(set(delays)) > 1


def test_no_headers_means_no_hint() -> None:
    assert retry_after(None) is None
    assert retry_after(httpx.Headers()) is None


def test_retry_after_ms() -> None:
    headers = httpx.Headers({"retry-after-ms": "1500"})
    assert retry_after(headers) == pytest.approx(1.5)
    assert retry_delay(3, headers) == pytest.approx(1.5)  # the hint replaces backoff


def test_retry_after_ms_wins_over_retry_after() -> None:
    headers = httpx.Headers({"retry-after-ms": "250", "retry-after": "7"})
    assert retry_delay(0, headers) == pytest.approx(0.25)


def test_retry_after_seconds() -> None:
    assert retry_delay(0, httpx.Headers({"retry-after": "3"})) == pytest.approx(3.0)
    assert retry_delay(0, httpx.Headers({"retry-after": "2.5"})) == pytest.approx(2.5)


def test_retry_after_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    delay = retry_delay(0, httpx.Headers({"retry-after": when}))
    assert 27 <= delay <= 30.5


def test_garbage_retry_after_ms_falls_back_to_retry_after() -> None:
    headers = httpx.Headers({"retry-after-ms": "soon", "retry-after": "4"})
    assert retry_delay(0, headers) == pytest.approx(4.0)


@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after": "tomorrow-ish"},
        {"retry-after": ""},
        {"retry-after-ms": "abc"},
        {"retry-after": "-1"},
        {"retry-after": "0"},  # as the official client: no retry storm on a zero hint
        {"retry-after-ms": "0"},
        {"retry-after-ms": "-5"},
        {"retry-after": str(MAX_RETRY_AFTER + 1)},
        {"retry-after": "100000"},
        {"retry-after-ms": str(int(MAX_RETRY_AFTER * 1000) + 1)},
        {"retry-after": "nan"},
        {"retry-after": "inf"},
        {"retry-after-ms": "nan"},
        {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"},  # in the past
        {"retry-after": email.utils.formatdate(time.time() + 3600, usegmt=True)},  # too far
    ],
)
def test_out_of_range_or_garbage_hints_are_ignored(headers: dict[str, str]) -> None:
    h = httpx.Headers(headers)
    assert retry_after(h) is None
    delays = [retry_delay(2, h) for _ in range(200)]
    assert all(1.5 <= d <= 2.0 for d in delays)  # the ordinary backoff for retry 2


def test_largest_allowed_hint_is_honoured() -> None:
    assert retry_after(httpx.Headers({"retry-after": str(MAX_RETRY_AFTER)})) == MAX_RETRY_AFTER


def _response(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 599])
def test_retryable_statuses(status: int) -> None:
    assert should_retry_response(_response(status)) is True


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 422, 451, 499])
def test_client_errors_do_not_retry(status: int) -> None:
    assert should_retry_response(_response(status)) is False


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_x_should_retry_true_overrides(status: int) -> None:
    assert should_retry_response(_response(status, {"x-should-retry": "true"})) is True


@pytest.mark.parametrize("status", [408, 409, 429, 500, 503])
def test_x_should_retry_false_overrides(status: int) -> None:
    assert should_retry_response(_response(status, {"x-should-retry": "false"})) is False


@pytest.mark.parametrize("value", ["maybe", "", "1"])
def test_other_x_should_retry_values_defer_to_the_status(value: str) -> None:
    assert should_retry_response(_response(429, {"x-should-retry": value})) is True
    assert should_retry_response(_response(400, {"x-should-retry": value})) is False


@pytest.mark.parametrize("retries_done", [1023, 1024, 5000, 10**9])
def test_backoff_for_very_many_retries_stays_capped(retries_done: int) -> None:
    delays = [retry_delay(retries_done) for _ in range(100)]
    assert all(MAX_RETRY_DELAY * 0.75 <= d <= MAX_RETRY_DELAY for d in delays)

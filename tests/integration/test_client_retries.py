"""Retries: which failures are retried, how long between tries, and never after data flowed."""

from __future__ import annotations

import itertools

import pytest

import rillet
from tests.integration.canned import CannedServer
from tests.integration.drive import MODES, complete, stream_all
from tests.integration.scenarios import DropFirst, Flaky

# Every `mode` test here also runs on a user's plain httpx client: see conftest.py.
pytestmark = pytest.mark.both_stacks

_names = itertools.count()


def _install(canned: CannedServer, handler: object) -> str:
    name = f"dyn{next(_names)}"
    canned.scenarios[name] = handler  # type: ignore[assignment]
    return name


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", [408, 409, 429, 500, 503])
def test_retryable_statuses_are_retried(canned: CannedServer, mode: str, status: int) -> None:
    flaky = Flaky(2, status, retry_after_ms="10")
    name = _install(canned, flaky)
    chunks = stream_all(mode, canned.base_url(name), {"max_retries": 2})
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert flaky.seen == 3


@pytest.mark.parametrize("mode", MODES)
def test_retries_stop_at_max_retries(canned: CannedServer, mode: str) -> None:
    flaky = Flaky(5, 503, retry_after_ms="10")
    name = _install(canned, flaky)
    with pytest.raises(rillet.InternalServerError):
        stream_all(mode, canned.base_url(name), {"max_retries": 2})
    assert flaky.seen == 3
    flaky_once = Flaky(1, 503, retry_after_ms="10")
    name = _install(canned, flaky_once)
    with pytest.raises(rillet.InternalServerError):
        stream_all(mode, canned.base_url(name), max_retries=0)  # per-call setting
    assert flaky_once.seen == 1


@pytest.mark.parametrize("mode", MODES)
def test_client_errors_are_not_retried(canned: CannedServer, mode: str) -> None:
    flaky = Flaky(1, 400)
    name = _install(canned, flaky)
    with pytest.raises(rillet.BadRequestError):
        complete(mode, canned.base_url(name), {"max_retries": 3})
    assert flaky.seen == 1


@pytest.mark.parametrize("mode", MODES)
def test_x_should_retry_header_wins(canned: CannedServer, mode: str) -> None:
    before = canned.count("no-retry-500")
    with pytest.raises(rillet.InternalServerError):
        stream_all(mode, canned.base_url("no-retry-500"), {"max_retries": 3})
    assert canned.count("no-retry-500") - before == 1
    forced = Flaky(1, 400, x_should_retry="true", retry_after_ms="10")
    name = _install(canned, forced)
    stream_all(mode, canned.base_url(name), {"max_retries": 1})
    assert forced.seen == 2


@pytest.mark.parametrize("mode", MODES)
def test_retry_after_is_honoured(canned: CannedServer, mode: str) -> None:
    flaky = Flaky(1, 429, retry_after_ms="400")
    name = _install(canned, flaky)
    stream_all(mode, canned.base_url(name), {"max_retries": 1})
    gap = flaky.times[1] - flaky.times[0]
    assert gap >= 0.38


@pytest.mark.parametrize("mode", MODES)
def test_connection_failures_before_the_stream_are_retried(canned: CannedServer, mode: str) -> None:
    dropper = DropFirst()
    name = _install(canned, dropper)
    chunks = stream_all(mode, canned.base_url(name), {"max_retries": 1})
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert dropper.seen == 2


@pytest.mark.parametrize("mode", MODES)
def test_failures_after_data_reached_the_user_are_not_retried(
    canned: CannedServer, mode: str
) -> None:
    before = canned.count("reset")
    with pytest.raises(rillet.APIConnectionError):
        stream_all(mode, canned.base_url("reset"), {"max_retries": 3})
    assert canned.count("reset") - before == 1


@pytest.mark.parametrize("mode", MODES)
def test_unreachable_server_is_a_connection_error(mode: str) -> None:
    with pytest.raises(rillet.APIConnectionError) as info:
        stream_all(mode, "http://127.0.0.1:9/v1", {"max_retries": 1})
    assert not isinstance(info.value, rillet.APITimeoutError)

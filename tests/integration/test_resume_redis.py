"""Two `rillet serve` replicas on one Redis: a stream started on A resumes on B; the
`--store` faults at start."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests._redis import redis_server
from tests._server import run_server
from tests._sse_blocks import blocks, data, event_id, text_of

pytestmark = pytest.mark.redis

BODY: dict[str, Any] = {
    "model": "gpt-4",
    "messages": [{"role": "user", "content": "Write a story about a robot."}],
    "stream": True,
    "max_tokens": 60,
}
KEY = {"Authorization": "Bearer key-a"}


@pytest.fixture(scope="module")
def replicas() -> Iterator[tuple[str, str]]:
    with redis_server() as (url, _):
        options = ("--backend", "synthetic", "--tokens-per-second", "100", "--store", url)
        with run_server(*options) as a, run_server(*options) as b:
            yield a, b


def test_a_stream_dropped_on_one_replica_resumes_on_another(replicas: tuple[str, str]) -> None:
    a, b = replicas
    head: list[bytes] = []
    with httpx.stream(
        "POST",
        f"{a}/chat/completions",
        json=BODY,
        headers={"X-Rillet-Resumable": "1", **KEY},
        timeout=30,
    ) as response:
        assert response.headers["x-rillet-resumable"] == "1"
        for block in blocks(response.iter_raw()):
            head.append(block)
            if len(head) == 6:
                break
    last = event_id(head[-1])
    assert last is not None
    stream_id = last.rsplit(":", 1)[0]
    with httpx.stream(
        "POST",
        f"{b}/chat/completions",
        json=BODY,
        headers={"Last-Event-ID": last, **KEY},
        timeout=30,
    ) as response:
        assert response.status_code == 200
        tail = list(blocks(response.iter_raw()))
    combined = head + tail
    assert [event_id(e) for e in combined] == [
        f"{stream_id}:{n}" for n in range(1, len(combined) + 1)
    ]
    assert data(combined[-1]) == "[DONE]"
    # The same bytes as the whole log read on either replica, the same text as a stream
    # that was never interrupted.
    for url in (a, b):
        replay = httpx.post(
            f"{url}/chat/completions",
            json=BODY,
            headers={"Last-Event-ID": f"{stream_id}:0", **KEY},
            timeout=30,
        )
        assert replay.content == b"".join(combined)
    plain = httpx.post(f"{a}/chat/completions", json=BODY, timeout=30)
    assert text_of(combined) == text_of(blocks([plain.content]))
    # Another key finds nothing on the other replica either.
    other = httpx.post(
        f"{b}/chat/completions",
        json=BODY,
        headers={"Last-Event-ID": last, "Authorization": "Bearer key-b"},
    )
    assert other.status_code == 404 and other.json()["error"]["code"] == "stream_not_found"


def test_cancel_on_another_replica(replicas: tuple[str, str]) -> None:
    a, b = replicas
    with httpx.stream(
        "POST",
        f"{a}/chat/completions",
        json={**BODY, "max_tokens": 3000},
        headers={"X-Rillet-Resumable": "1", **KEY},
        timeout=30,
    ) as response:
        events = blocks(response.iter_raw())
        stream_id = (event_id(next(events)) or "").rsplit(":", 1)[0]
        cancel = httpx.post(f"{b}/chat/completions/{stream_id}/cancel", headers=KEY)
        assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"
        rest = list(events)
    last = data(rest[-1])
    assert isinstance(last, dict) and last["error"]["code"] == "stream_cancelled"


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "rillet", "serve", "--backend", "synthetic", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_unreachable_redis_at_start_is_exit_2() -> None:
    result = serve("--port", "0", "--store", "redis://127.0.0.1:1/0")
    assert result.returncode == 2
    assert "Redis does not answer" in result.stderr and result.stderr.count("\n") == 1


def test_a_store_of_unknown_kind_is_exit_2() -> None:
    result = serve("--port", "0", "--store", "memcached://x")
    assert result.returncode == 2 and "redis://HOST:PORT/DB" in result.stderr

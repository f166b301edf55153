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
from tests._sse_blocks import (
    assert_whole_chat,
    blocks,
    chat_head,
    chat_rest,
    data,
    event_id,
    last_id,
    text_of,
)

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
    head = chat_head(a, BODY, 6, KEY)
    last = last_id(head)
    combined = head + chat_rest(b, BODY, last, KEY)
    stream_id = assert_whole_chat(combined)
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


# --- stored responses, shared by the replicas ------------------------------------------------


def test_a_stored_response_is_served_by_every_replica(replicas: tuple[str, str]) -> None:
    """GET, input_items, previous_response_id and DELETE on B of a response made on A."""
    a, b = replicas
    created = httpx.post(
        f"{a}/responses",
        json={"model": "gpt-4", "input": "Write a haiku about rivers.", "max_output_tokens": 16},
        headers=KEY,
        timeout=30,
    ).json()
    response_id = created["id"]
    assert created["status"] == "completed"
    fetched = httpx.get(f"{b}/responses/{response_id}", headers=KEY, timeout=30)
    assert fetched.status_code == 200 and fetched.json() == created
    items = httpx.get(f"{b}/responses/{response_id}/input_items", headers=KEY).json()
    assert [item["content"][0]["text"] for item in items["data"]] == ["Write a haiku about rivers."]
    # A follow-up on B reads the conversation A recorded: the same answer as on A itself.
    follow_up = {"model": "gpt-4", "input": "And another.", "previous_response_id": response_id}
    on_b = httpx.post(f"{b}/responses", json=follow_up, headers=KEY, timeout=30).json()
    on_a = httpx.post(f"{a}/responses", json=follow_up, headers=KEY, timeout=30).json()
    assert on_b["status"] == "completed" and on_b["output"][0]["content"][0]["text"]
    assert on_b["output"][0]["content"][0]["text"] == on_a["output"][0]["content"][0]["text"]
    # Deleted on B, gone on A too.
    deleted = httpx.delete(f"{b}/responses/{response_id}", headers=KEY)
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    for url in (a, b):
        gone = httpx.get(f"{url}/responses/{response_id}", headers=KEY)
        assert gone.status_code == 404
    again = httpx.delete(f"{a}/responses/{response_id}", headers=KEY)
    assert again.status_code == 404


def test_a_resumable_response_stream_cut_on_one_replica_goes_on_from_another(
    replicas: tuple[str, str],
) -> None:
    a, b = replicas
    body = {"model": "gpt-4", "input": "Write a story about a robot.", "stream": True}
    head: list[bytes] = []
    with httpx.stream(
        "POST",
        f"{a}/responses",
        json={**body, "max_output_tokens": 40},
        headers={"X-Rillet-Resumable": "1", **KEY},
        timeout=30,
    ) as response:
        for block in blocks(response.iter_raw()):
            head.append(block)
            if len(head) == 6:
                break
    last = data(head[-1])
    assert isinstance(last, dict)
    response_id = data(head[0])["response"]["id"]  # type: ignore[index]
    after = last["sequence_number"]
    with httpx.stream(
        "GET",
        f"{b}/responses/{response_id}",
        params={"stream": "true", "starting_after": after},
        headers=KEY,
        timeout=30,
    ) as response:
        assert response.status_code == 200
        tail = list(blocks(response.iter_raw()))
    combined = head + tail
    numbers = [event["sequence_number"] for e in combined if isinstance(event := data(e), dict)]
    assert numbers == list(range(len(combined)))
    end = data(combined[-1])
    assert isinstance(end, dict) and end["type"] == "response.incomplete"  # max_output_tokens
    replay = httpx.get(
        f"{a}/responses/{response_id}", params={"stream": "true"}, headers=KEY, timeout=30
    )
    assert replay.content == b"".join(combined)


def test_a_response_not_logged_to_the_store_is_not_streamed_elsewhere(
    replicas: tuple[str, str],
) -> None:
    a, b = replicas
    created = httpx.post(
        f"{a}/responses",
        json={"model": "gpt-4", "input": "Hi", "max_output_tokens": 16},
        headers=KEY,
        timeout=30,
    ).json()
    answer = httpx.get(f"{b}/responses/{created['id']}", params={"stream": "true"}, headers=KEY)
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "stream_not_shared"


def test_stored_responses_without_redis_are_503s_and_the_rest_is_served() -> None:
    with (
        redis_server() as (url, process),
        run_server("--backend", "synthetic", "--store", url) as base,
    ):
        process.kill()
        process.wait(10)
        body = {"model": "gpt-4", "input": "Hi", "max_output_tokens": 16}
        stored = httpx.post(f"{base}/responses", json=body, headers=KEY, timeout=30)
        assert stored.status_code == 503
        assert stored.json()["error"]["code"] == "resume_store_unavailable"
        unstored = httpx.post(
            f"{base}/responses", json={**body, "store": False}, headers=KEY, timeout=30
        )
        assert unstored.status_code == 200 and unstored.json()["output"][0]["content"][0]["text"]
        chat = httpx.post(f"{base}/chat/completions", json={**BODY, "stream": False})
        assert chat.status_code == 200

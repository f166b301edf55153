"""A replica killed mid-stream: another one takes the stream over, and nothing is lost.

Two `rillet serve` replicas share a real `redis-server`. A resumable stream starts on A; A's
process is killed (SIGKILL: no shutdown, no last write); the reader reattaches to B, which
finds A's lease lapsed, continues the generation from what A had logged, and the reader gets
every event once, in order, up to `[DONE]`. The synthetic backend's answers are
deterministic, so the text must equal that of a stream never interrupted.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

import rillet
from tests._redis import redis_server
from tests._server import server_process
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
from tests._wait import wait_until
from tests.faults import FaultProxy, random_plan

pytestmark = pytest.mark.redis

KEY = {"Authorization": "Bearer key-takeover"}
OPTIONS = ("--backend", "synthetic", "--tokens-per-second", "40")
PROMPT = "Write a story about a robot."


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as (url, _):
        yield url


@contextlib.contextmanager
def two_replicas(store: str, *options: str) -> Iterator[tuple[tuple[str, Any], tuple[str, Any]]]:
    options = options or OPTIONS
    with (
        server_process(*options, "--store", store) as a,
        server_process(*options, "--store", store) as b,
    ):
        yield a, b


def kill(process: Any) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1" and parts.port is not None
    return parts.hostname, parts.port


def plain_text(url: str, body: dict[str, Any]) -> dict[int, str]:
    """Each choice's text of the same request, streamed without interruption."""
    answer = httpx.post(f"{url}/chat/completions", json=body, headers=KEY, timeout=60)
    return texts(list(blocks([answer.content])))


def texts(events: list[bytes]) -> dict[int, str]:
    out: dict[int, str] = {}
    for event in events:
        chunk = data(event)
        if isinstance(chunk, dict):
            for choice in chunk.get("choices", []):
                content = choice["delta"].get("content") or ""
                out[choice["index"]] = out.get(choice["index"], "") + content
    return out


BODIES = {
    "one choice": {"max_tokens": 60},
    "two choices, usage": {"max_tokens": 40, "n": 2, "stream_options": {"include_usage": True}},
}


@pytest.mark.parametrize("extra", list(BODIES.values()), ids=list(BODIES))
def test_a_killed_replicas_stream_is_taken_over_by_another(
    redis_url: str, extra: dict[str, Any]
) -> None:
    body = {
        "model": "gpt-4",
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": True,
        **extra,
    }
    with two_replicas(redis_url) as ((a, a_process), (b, _)):
        head = chat_head(a, body, 5, KEY)
        kill(a_process)
        combined = head + chat_rest(b, body, last_id(head), KEY)
        # Every position once, in order, to the end; no error event.
        stream_id = assert_whole_chat(combined)
        assert not any("error" in chunk for e in combined if isinstance(chunk := data(e), dict))
        # The same text as an uninterrupted stream (the synthetic backend is deterministic).
        assert texts(combined) == plain_text(b, body)
        if extra.get("stream_options"):
            usage = data(combined[-2])
            assert isinstance(usage, dict) and usage["usage"]["completion_tokens"] > 0
        # B now holds the whole stream: a replay from the start gives the same bytes.
        replay = httpx.post(
            f"{b}/chat/completions",
            json=body,
            headers={"Last-Event-ID": f"{stream_id}:0", **KEY},
            timeout=30,
        )
        assert replay.content == b"".join(combined)


def test_rillets_client_rides_through_a_killed_replica(redis_url: str) -> None:
    """Behind a balancer that moves on from a dead replica, `for chunk in stream` simply
    goes on: the client reattaches, the other replica takes over."""
    with two_replicas(redis_url) as ((a, a_process), (b, _)):
        balancer = FaultProxy(address(a), fallbacks=[address(b)])
        with (
            balancer.running(),
            rillet.OpenAI(
                base_url=f"{balancer.url}/v1", api_key="key-takeover", timeout=30
            ) as client,
        ):
            arguments: dict[str, Any] = {
                "model": "gpt-4",
                "messages": [{"role": "user", "content": PROMPT}],
                "max_tokens": 60,
            }
            pieces: list[str] = []
            with client.chat.completions.create(**arguments, stream=True) as stream:
                for chunk in stream:
                    if chunk.choices:
                        pieces.append(chunk.choices[0].delta.content or "")
                    if len(pieces) == 5:
                        kill(a_process)
                resumes = stream.resumes
            expected = client.chat.completions.create(**arguments).choices[0].message.content
        wait_until(lambda: balancer.active == 0, timeout=10)
    assert resumes >= 1
    assert "".join(pieces) == expected


def test_streams_behind_a_round_robin_balancer_survive_drops_and_a_killed_replica(
    redis_url: str,
) -> None:
    """Twelve streams spread over both replicas, a fifth of the answers cut by the
    balancer, and the replica A killed while streams run on it: every stream completes
    with the uninterrupted text, every token once."""
    streams = 12
    arguments: dict[str, Any] = {
        "model": "gpt-4",
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": 60,
    }
    with two_replicas(redis_url) as ((a, a_process), (b, _)):
        expected = plain_text(b, {**arguments, "stream": True})[0]
        plan = random_plan(11, faulty=0.2, weights={"close": 1, "reset": 1}, span=4000)
        balancer = FaultProxy(address(a), plan, fallbacks=[address(b)], rotate=True)
        under_way = threading.Semaphore(0)
        with (
            balancer.running(),
            rillet.OpenAI(
                base_url=f"{balancer.url}/v1",
                api_key="key-takeover",
                timeout=30,
                max_stream_resumes=8,
            ) as client,
        ):

            def one(_: int) -> tuple[str, int]:
                pieces: list[str] = []
                with client.chat.completions.create(**arguments, stream=True) as stream:
                    for chunk in stream:
                        if chunk.choices:
                            pieces.append(chunk.choices[0].delta.content or "")
                        if len(pieces) == 3:
                            under_way.release()
                    return "".join(pieces), stream.resumes

            with ThreadPoolExecutor(streams) as pool:
                futures = [pool.submit(one, i) for i in range(streams)]
                for _ in range(streams):  # every stream has begun: some of them on A
                    assert under_way.acquire(timeout=60)
                kill(a_process)
                results = [future.result(timeout=120) for future in futures]
        wait_until(lambda: balancer.active == 0, timeout=10)
    assert [text for text, _ in results] == [expected] * streams
    assert sum(resumes for _, resumes in results) >= 1


def test_a_stream_that_cannot_be_continued_ends_with_stream_interrupted(redis_url: str) -> None:
    """A tool call's grammar state is not in the log: no takeover, a clear error instead."""
    body = {
        "model": "gpt-4",
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Get the weather of a city",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ],
        "tool_choice": "required",
        "stream": True,
    }
    slow = ("--backend", "synthetic", "--tokens-per-second", "4")  # killed well before the end
    with two_replicas(redis_url, *slow) as ((a, a_process), (b, _)):
        with httpx.stream(
            "POST",
            f"{a}/chat/completions",
            json=body,
            headers={"X-Rillet-Resumable": "1", **KEY},
            timeout=30,
        ) as response:
            first = next(blocks(response.iter_raw()))
        kill(a_process)
        last = event_id(first)
        assert last is not None
        answer = httpx.post(
            f"{b}/chat/completions",
            json=body,
            headers={"Last-Event-ID": last, **KEY},
            timeout=60,
        )
        events = list(blocks([answer.content]))
        end = data(events[-1])
        assert isinstance(end, dict) and end["error"]["code"] == "stream_interrupted"
        # The replica goes on serving.
        plain: dict[str, Any] = {"model": "gpt-4", "stream": True, "max_tokens": 5}
        plain["messages"] = [{"role": "user", "content": PROMPT}]
        again = httpx.post(f"{b}/chat/completions", json=plain, headers=KEY, timeout=30)
        assert text_of(blocks([again.content]))

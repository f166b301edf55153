"""Client CPU per streamed chunk: rillet vs the official `openai` client vs a raw floor.

One canned loopback server (another process, pinned to its own core when possible) replays
a chat stream of --chunks chunks. Each contender consumes whole streams, reading
`chunk.choices[0].delta.content` of every chunk as user code does, and we measure the client
process's CPU time (`time.process_time`), so the server and the machine's other load count
for nothing. Contenders take turns round by round and the median of the rounds is reported,
with ratios, because absolute figures drift on a shared machine.

The Responses rows stream a Responses API answer of --chunks text deltas (with its opening
and closing events) and count `response.output_text.delta` events.

`rillet/httpx` is rillet on a plain httpx client passed as `http_client` (httpx's own
transport instead of rillet's). The raw floor is httpx's default transport + split on blank
lines + orjson: what a careful hand-written client costs on stock httpx. A second floor runs
the same code on rillet's HTTP/1.1 transport, to show how much of rillet's cost is left
above its own HTTP layer.

    python benchmarks/client_overhead.py [--chunks 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson

import rillet
from rillet._transports.http11 import AsyncHTTP11Transport, HTTP11Transport

HERE = Path(__file__).resolve().parent
MESSAGES = [{"role": "user", "content": "Write a story about a robot."}]


@contextlib.contextmanager
def canned_server(chunks: int) -> Iterator[str]:
    command = [sys.executable, str(HERE / "_canned_sse.py"), str(chunks)]
    if os.cpu_count() and os.cpu_count() >= 2 and _has_taskset():  # type: ignore[operator]
        command = ["taskset", "-c", "1", *command]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(5)


def _has_taskset() -> bool:
    return subprocess.run(["which", "taskset"], capture_output=True).returncode == 0


# -- contenders: each consumes one whole stream and returns the number of chunks seen ------


def sync_sdk(client: Any) -> Callable[[], int]:
    def run() -> int:
        count = 0
        stream = client.chat.completions.create(model="gpt-4", messages=MESSAGES, stream=True)
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content is not None:
                count += 1
        return count

    return run


def async_sdk(client: Any) -> Callable[[], Awaitable[int]]:
    async def run() -> int:
        count = 0
        stream = await client.chat.completions.create(model="gpt-4", messages=MESSAGES, stream=True)
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content is not None:
                count += 1
        return count

    return run


def sync_responses(client: Any) -> Callable[[], int]:
    def run() -> int:
        count = 0
        stream = client.responses.create(model="gpt-5.2", input="Write a story", stream=True)
        for event in stream:
            if event.type == "response.output_text.delta":
                count += 1
        return count

    return run


def async_responses(client: Any) -> Callable[[], Awaitable[int]]:
    async def run() -> int:
        count = 0
        stream = await client.responses.create(model="gpt-5.2", input="Write a story", stream=True)
        async for event in stream:
            if event.type == "response.output_text.delta":
                count += 1
        return count

    return run


def _floor_events(buffer: bytes, count: int) -> tuple[bytes, int, bool]:
    *events, rest = buffer.split(b"\n\n")
    for event in events:
        payload = event[6:]
        if payload == b"[DONE]":
            return rest, count, True
        if orjson.loads(payload)["choices"][0]["delta"].get("content") is not None:
            count += 1
    return rest, count, False


def sync_floor(http: httpx.Client, url: str) -> Callable[[], int]:
    """httpx + split + orjson: no SSE rules, no types, no error handling."""

    def run() -> int:
        count, buffer = 0, b""
        body = orjson.dumps({"model": "gpt-4", "messages": MESSAGES, "stream": True})
        with http.stream("POST", url, content=body) as response:
            for data in response.iter_bytes():
                buffer, count, done = _floor_events(buffer + data, count)
                if done:
                    break
        return count

    return run


def async_floor(http: httpx.AsyncClient, url: str) -> Callable[[], Awaitable[int]]:
    async def run() -> int:
        count, buffer = 0, b""
        body = orjson.dumps({"model": "gpt-4", "messages": MESSAGES, "stream": True})
        async with http.stream("POST", url, content=body) as response:
            async for data in response.aiter_bytes():
                buffer, count, done = _floor_events(buffer + data, count)
                if done:
                    break
        return count

    return run


def measure(run: Callable[[], int], chunks: int) -> float:
    """CPU microseconds per chunk for one whole stream."""
    start = time.process_time()
    seen = run()
    cpu = time.process_time() - start
    if seen != chunks:
        raise RuntimeError(f"saw {seen} content chunks, expected {chunks}")
    return cpu / chunks * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {0})

    with canned_server(args.chunks) as base_url:
        loop = asyncio.new_event_loop()
        settings = {"api_key": "sk-bench", "base_url": base_url, "max_retries": 0}
        sync_clients = {
            "rillet": rillet.OpenAI(**settings),
            "rillet/httpx": rillet.OpenAI(**settings, http_client=httpx.Client()),
            "openai": openai.OpenAI(**settings),
        }
        async_clients = {
            "rillet": rillet.AsyncOpenAI(**settings),
            "rillet/httpx": rillet.AsyncOpenAI(**settings, http_client=httpx.AsyncClient()),
            "openai": openai.AsyncOpenAI(**settings),
        }
        http, ahttp = httpx.Client(), httpx.AsyncClient()
        fast, afast = (
            httpx.Client(transport=HTTP11Transport()),
            httpx.AsyncClient(transport=AsyncHTTP11Transport()),
        )
        url = base_url + "/chat/completions"

        def in_loop(factory: Callable[[], Awaitable[int]]) -> Callable[[], int]:
            return lambda: loop.run_until_complete(factory())

        contenders: dict[str, Callable[[], int]] = {
            "rillet sync": sync_sdk(sync_clients["rillet"]),
            "rillet/httpx sync": sync_sdk(sync_clients["rillet/httpx"]),
            "openai sync": sync_sdk(sync_clients["openai"]),
            "raw floor sync": sync_floor(http, url),
            "floor/http11 sync": sync_floor(fast, url),
            "rillet async": in_loop(async_sdk(async_clients["rillet"])),
            "rillet/httpx async": in_loop(async_sdk(async_clients["rillet/httpx"])),
            "openai async": in_loop(async_sdk(async_clients["openai"])),
            "raw floor async": in_loop(async_floor(ahttp, url)),
            "floor/http11 async": in_loop(async_floor(afast, url)),
            "rillet responses sync": sync_responses(sync_clients["rillet"]),
            "openai responses sync": sync_responses(sync_clients["openai"]),
            "rillet responses async": in_loop(async_responses(async_clients["rillet"])),
            "openai responses async": in_loop(async_responses(async_clients["openai"])),
        }
        for run in contenders.values():  # warm up connections, caches and lazy imports
            measure(run, args.chunks)
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(args.rounds):
            for name, run in contenders.items():
                samples[name].append(measure(run, args.chunks))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    median = {name: statistics.median(values) for name, values in samples.items()}
    print(f"# client CPU per chunk, {args.chunks} chunks x {args.rounds} rounds (median)")
    print(
        f"# {time.strftime('%Y-%m-%d')}  Python {platform.python_version()}  "
        f"rillet {rillet.__version__}  openai {openai.__version__}  httpx {httpx.__version__}"
    )
    print(f"{'client':<24}{'us/chunk':>10}")
    for name, value in median.items():
        print(f"{name:<24}{value:>10.2f}")
    for kind in ("sync", "async"):
        ours, peer, floor, fast_floor = (
            median[f"{who} {kind}"] for who in ("rillet", "openai", "raw floor", "floor/http11")
        )
        print(
            f"{kind:>5}: openai / rillet = {peer / ours:5.1f}x   "
            f"rillet / raw floor = {ours / floor:4.2f}x   "
            f"rillet / floor on http11 = {ours / fast_floor:4.2f}x"
        )
        ours, peer = (median[f"{who} responses {kind}"] for who in ("rillet", "openai"))
        print(f"{kind:>5}: responses: openai / rillet = {peer / ours:5.1f}x")


if __name__ == "__main__":
    main()

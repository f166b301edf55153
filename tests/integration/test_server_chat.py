"""`rillet serve --backend synthetic` driven by a real OpenAI client package over loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from tests._server import CLIENT_MODULES, import_client, run_server

STORY = [{"role": "user", "content": "Write a story about a robot."}]
WEATHER_PROMPT = [{"role": "user", "content": "What's the weather in Tokyo?"}]
WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather",
    "parameters": {
        "type": "object",
        "properties": {
            "location": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["location"],
    },
}
CLOCK = {
    "name": "get_time",
    "description": "Get the current time in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
TOOLS = [{"type": "function", "function": WEATHER}, {"type": "function", "function": CLOCK}]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with run_server("--backend", "synthetic") as url:
        yield url


@pytest.fixture(params=CLIENT_MODULES)
def sdk(request: pytest.FixtureRequest) -> ModuleType:
    return import_client(request.param)


@pytest.fixture
def client(sdk: ModuleType, base_url: str) -> Any:
    return sdk.OpenAI(base_url=base_url, api_key="anything", max_retries=0)


def collect(stream: Any) -> tuple[list[Any], dict[int, str]]:
    chunks = list(stream)
    texts: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
    return chunks, texts


def test_streaming_chat(client: Any) -> None:
    stream = client.chat.completions.create(model="gpt-4", messages=STORY, stream=True, seed=1)
    chunks, texts = collect(stream)
    assert len(chunks) > 10
    assert {c.id for c in chunks} == {chunks[0].id}
    assert {c.model for c in chunks} == {"gpt-4"}
    assert all(c.object == "chat.completion.chunk" and c.system_fingerprint for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert "robot" in texts[0].lower()
    # The same request without streaming gives the same (deterministic) answer.
    result = client.chat.completions.create(model="gpt-4", messages=STORY, seed=1)
    assert result.object == "chat.completion"
    assert result.choices[0].message.content == texts[0]
    assert result.choices[0].finish_reason == "stop"
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens


def test_include_usage(client: Any) -> None:
    stream = client.chat.completions.create(
        model="gpt-4", messages=STORY, stream=True, stream_options={"include_usage": True}
    )
    chunks, _ = collect(stream)
    last = chunks[-1]
    assert last.choices == []
    assert last.usage.completion_tokens == sum(1 for c in chunks[:-1] if c.choices[0].delta.content)
    assert last.usage.prompt_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])


def test_n_choices(client: Any) -> None:
    stream = client.chat.completions.create(
        model="gpt-4", messages=STORY, stream=True, n=2, temperature=1.0, seed=3
    )
    chunks, texts = collect(stream)
    assert set(texts) == {0, 1}
    finishes = {
        c.choices[0].index: c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason
    }
    assert finishes == {0: "stop", 1: "stop"}
    assert all(texts.values())


def test_max_tokens(client: Any) -> None:
    result = client.chat.completions.create(model="gpt-4", messages=STORY, max_tokens=5)
    assert result.choices[0].finish_reason == "length"
    assert result.usage.completion_tokens == 5
    stream = client.chat.completions.create(
        model="gpt-4", messages=STORY, max_tokens=5, stream=True
    )
    chunks, texts = collect(stream)
    assert chunks[-1].choices[0].finish_reason == "length"
    assert texts[0] == result.choices[0].message.content


def test_stop(client: Any) -> None:
    full = (
        client.chat.completions.create(model="gpt-4", messages=STORY, seed=5)
        .choices[0]
        .message.content
    )
    stop = full.split()[len(full.split()) // 2]
    stream = client.chat.completions.create(
        model="gpt-4", messages=STORY, seed=5, stop=[stop], stream=True
    )
    chunks, texts = collect(stream)
    assert texts[0] == full[: full.index(stop)]
    assert stop not in texts[0]
    assert chunks[-1].choices[0].finish_reason == "stop"


def stream_calls(client: Any, **fields: Any) -> tuple[dict[int, dict[str, str]], str | None, str]:
    stream = client.chat.completions.create(
        model="gpt-4", messages=WEATHER_PROMPT, stream=True, **fields
    )
    calls: dict[int, dict[str, str]] = {}
    text = ""
    finish = None
    for chunk in stream:
        choice = chunk.choices[0]
        text += choice.delta.content or ""
        for piece in choice.delta.tool_calls or []:
            if piece.id:
                assert piece.type == "function" and piece.function.name
                calls[piece.index] = {"name": piece.function.name, "arguments": ""}
            calls[piece.index]["arguments"] += piece.function.arguments or ""
        finish = choice.finish_reason or finish
    return calls, finish, text


def test_tool_choice_auto(client: Any) -> None:
    calls, finish, _ = stream_calls(client, tools=TOOLS, tool_choice="auto")
    assert finish == "tool_calls"
    assert calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"])["location"] == "Tokyo"


def test_tool_choice_required_and_named(client: Any) -> None:
    calls, finish, _ = stream_calls(client, tools=TOOLS, tool_choice="required")
    assert finish == "tool_calls" and calls
    named = {"type": "function", "function": {"name": "get_time"}}
    calls, finish, _ = stream_calls(client, tools=TOOLS, tool_choice=named)
    assert finish == "tool_calls"
    assert [c["name"] for c in calls.values()] == ["get_time"]
    assert isinstance(json.loads(calls[0]["arguments"])["city"], str)


def test_tool_choice_none(client: Any) -> None:
    calls, finish, text = stream_calls(client, tools=TOOLS, tool_choice="none")
    assert calls == {}
    assert finish == "stop" and text


def test_parallel_tool_calls_false_makes_at_most_one(client: Any) -> None:
    prompt = [{"role": "user", "content": "What's the weather in Tokyo and in Paris?"}]
    result = client.chat.completions.create(
        model="gpt-4",
        messages=prompt,
        tools=TOOLS,
        tool_choice="required",
        parallel_tool_calls=False,
    )
    assert len(result.choices[0].message.tool_calls) == 1


def test_legacy_functions(client: Any) -> None:
    stream = client.chat.completions.create(
        model="gpt-4", messages=WEATHER_PROMPT, functions=[WEATHER], stream=True
    )
    name, arguments, finish = "", "", None
    for chunk in stream:
        delta = chunk.choices[0].delta
        assert not delta.tool_calls
        if delta.function_call:
            name += delta.function_call.name or ""
            arguments += delta.function_call.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert name == "get_weather"
    assert json.loads(arguments)["location"] == "Tokyo"
    assert finish == "function_call"
    result = client.chat.completions.create(
        model="gpt-4",
        messages=WEATHER_PROMPT,
        functions=[WEATHER],
        function_call={"name": "get_weather"},
    )
    assert result.choices[0].finish_reason == "function_call"
    assert result.choices[0].message.function_call.name == "get_weather"


def test_response_format_json_schema(client: Any) -> None:
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "year": {"type": "integer"}},
        "required": ["title", "year"],
        "additionalProperties": False,
    }
    result = client.chat.completions.create(
        model="gpt-4",
        messages=[{"role": "user", "content": "Name a film about robots."}],
        response_format={"type": "json_schema", "json_schema": {"name": "film", "schema": schema}},
    )
    data = json.loads(result.choices[0].message.content)
    assert isinstance(data["title"], str) and isinstance(data["year"], int)


def test_logprobs(client: Any) -> None:
    result = client.chat.completions.create(
        model="gpt-4", messages=STORY, logprobs=True, top_logprobs=2, max_tokens=3
    )
    entries = result.choices[0].logprobs.content
    assert len(entries) == 3
    assert all(e.logprob <= 0 and len(e.top_logprobs) == 2 for e in entries)


def test_stream_helper_final_completion(client: Any) -> None:
    with client.chat.completions.stream(model="gpt-4", messages=STORY, seed=9) as stream:
        final = stream.get_final_completion()
    expected = client.chat.completions.create(model="gpt-4", messages=STORY, seed=9)
    assert final.choices[0].message.content == expected.choices[0].message.content
    assert final.choices[0].finish_reason == "stop"
    with client.chat.completions.stream(
        model="gpt-4", messages=WEATHER_PROMPT, tools=TOOLS, tool_choice="required"
    ) as stream:
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments)["location"] == "Tokyo"


async def test_async_stream_helper_events_and_final_completion(
    sdk: ModuleType, base_url: str
) -> None:
    client = sdk.AsyncOpenAI(base_url=base_url, api_key="anything", max_retries=0)
    async with client.chat.completions.stream(
        model="gpt-4", messages=STORY, seed=9, max_tokens=40
    ) as stream:
        deltas = [e.delta async for e in stream if e.type == "content.delta"]
        with pytest.raises(sdk.LengthFinishReasonError):
            await stream.get_final_completion()  # cut by max_tokens: not a final answer
    assert "".join(deltas) == stream.current_completion_snapshot.choices[0].message.content
    async with client.chat.completions.stream(
        model="gpt-4", messages=WEATHER_PROMPT, tools=TOOLS, tool_choice="required"
    ) as stream:
        done = [e async for e in stream if e.type == "tool_calls.function.arguments.done"]
        final = await stream.get_final_completion()
    assert [e.name for e in done] == [c.function.name for c in final.choices[0].message.tool_calls]
    assert json.loads(done[0].arguments)["location"] == "Tokyo"
    await client.close()


def test_models(client: Any) -> None:
    assert "synthetic" in [m.id for m in client.models.list()]
    assert client.models.retrieve("gpt-4").id == "gpt-4"


def test_user_metadata_temperature_top_p_are_accepted(client: Any) -> None:
    result = client.chat.completions.create(
        model="gpt-4",
        messages=STORY,
        user="user-1",
        metadata={"purpose": "test"},
        temperature=0.0,
        top_p=0.5,
        max_tokens=4,
    )
    assert result.choices[0].finish_reason == "length"


def test_errors_map_to_client_exceptions(sdk: ModuleType, client: Any) -> None:
    with pytest.raises(sdk.BadRequestError) as bad:
        client.chat.completions.create(model="gpt-4", messages=STORY, temperature=5)
    assert bad.value.status_code == 400
    assert bad.value.body["param"] == "temperature"
    with pytest.raises(sdk.BadRequestError):
        client.chat.completions.create(model="gpt-4", messages=[], stream=True)
    with pytest.raises(sdk.BadRequestError):
        client.chat.completions.create(
            model="gpt-4",
            messages=WEATHER_PROMPT,
            tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "missing"}},
        )
    with pytest.raises(sdk.NotFoundError):
        client.post("/no/such/route", body={}, cast_to=object)
    with pytest.raises(sdk.APIStatusError) as not_allowed:
        client.get("/chat/completions", cast_to=object)
    assert not_allowed.value.status_code == 405


def test_auth_and_limits(sdk: ModuleType) -> None:
    with run_server(
        "--backend",
        "synthetic",
        "--api-key",
        "sekrit",
        "--strict-models",
        "--max-body-bytes",
        "2000",
    ) as url:
        wrong = sdk.OpenAI(base_url=url, api_key="wrong", max_retries=0)
        with pytest.raises(sdk.AuthenticationError) as denied:
            wrong.models.list()
        assert denied.value.status_code == 401
        right = sdk.OpenAI(base_url=url, api_key="sekrit", max_retries=0)
        assert [m.id for m in right.models.list()] == ["synthetic"]
        with pytest.raises(sdk.NotFoundError) as missing:
            right.chat.completions.create(model="gpt-4", messages=STORY)
        assert missing.value.code == "model_not_found"
        result = right.chat.completions.create(model="synthetic", messages=STORY, max_tokens=2)
        assert result.model == "synthetic"
        with pytest.raises(sdk.APIStatusError) as too_big:
            right.chat.completions.create(
                model="synthetic", messages=[{"role": "user", "content": "x" * 5000}]
            )
        assert too_big.value.status_code == 413


def test_api_key_from_environment(sdk: ModuleType) -> None:
    with run_server("--backend", "synthetic", env={"RILLET_API_KEY": "from-env"}) as url:
        with pytest.raises(sdk.AuthenticationError):
            sdk.OpenAI(base_url=url, api_key="other", max_retries=0).models.list()
        assert sdk.OpenAI(base_url=url, api_key="from-env", max_retries=0).models.list()


def test_early_close_leaves_the_server_healthy(client: Any) -> None:
    stream = client.chat.completions.create(
        model="gpt-4", messages=[{"role": "user", "content": "Count to 100"}], stream=True
    )
    for i, _ in enumerate(stream):
        if i >= 10:
            stream.close()
            break
    assert client.chat.completions.create(model="gpt-4", messages=STORY, max_tokens=3).choices


def test_hundreds_of_concurrent_streams(sdk: ModuleType, base_url: str) -> None:
    prompts = ["Write a story about a robot.", "Count to 5", "Explain Python", "Tell me a joke"]

    async def main() -> None:
        client = sdk.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=60)
        expected = {
            p: (
                await client.chat.completions.create(
                    model="gpt-4", messages=[{"role": "user", "content": p}], seed=1
                )
            )
            .choices[0]
            .message.content
            for p in prompts
        }

        async def one(i: int) -> None:
            prompt = prompts[i % len(prompts)]
            stream = await client.chat.completions.create(
                model=f"model-{i}",
                messages=[{"role": "user", "content": prompt}],
                seed=1,
                stream=True,
            )
            text, finish = "", None
            async for chunk in stream:
                assert chunk.model == f"model-{i}"
                text += chunk.choices[0].delta.content or ""
                finish = chunk.choices[0].finish_reason or finish
            assert (text, finish) == (expected[prompt], "stop")

        await asyncio.gather(*(one(i) for i in range(300)))
        await client.close()

    asyncio.run(main())

"""Request validation: what becomes a GenerationRequest, and what is a 400 naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from rillet.server.chat.request import parse_chat_request
from rillet.server.http.errors import APIError

USER = [{"role": "user", "content": "What's the weather in Tokyo?"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4", "messages": USER, **fields}


def test_defaults() -> None:
    chat = parse_chat_request(body())
    assert (chat.n, chat.stream, chat.include_usage, chat.legacy_functions) == (
        1,
        False,
        False,
        False,
    )
    request = chat.generation
    assert request.model == "gpt-4"
    assert request.messages == USER
    assert request.tool_mode == "none"
    assert request.max_tokens is None and request.temperature is None


def test_sampling_fields_are_passed_on() -> None:
    chat = parse_chat_request(
        body(
            stream=True,
            stream_options={"include_usage": True},
            n=3,
            max_tokens=9,
            stop=["\n", "END"],
            temperature=0.5,
            top_p=0.9,
            seed=42,
            logprobs=True,
            top_logprobs=2,
            user="u1",
            metadata={"k": "v"},
            response_format={"type": "json_object"},
        )
    )
    request = chat.generation
    assert (chat.n, chat.stream, chat.include_usage) == (3, True, True)
    assert (request.max_tokens, request.stop, request.seed) == (9, ("\n", "END"), 42)
    assert (request.temperature, request.top_p) == (0.5, 0.9)
    assert (request.logprobs, request.top_logprobs) == (True, 2)
    assert request.response_format == {"type": "json_object"}


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    assert (
        parse_chat_request(body(max_tokens=50, max_completion_tokens=5)).generation.max_tokens == 5
    )


def test_content_parts_are_flattened_to_text() -> None:
    parts = [{"type": "text", "text": "Hello "}, {"type": "image_url", "image_url": {"url": "x"}}]
    chat = parse_chat_request(
        body(
            messages=[
                {"role": "user", "content": parts},
                {"role": "user", "content": [{"type": "text", "text": "there"}]},
            ]
        )
    )
    assert [m["content"] for m in chat.generation.messages] == ["Hello ", "there"]


@pytest.mark.parametrize(
    ("choice", "mode", "name"),
    [
        (None, "auto", None),
        ("auto", "auto", None),
        ("none", "none", None),
        ("required", "required", None),
        ({"type": "function", "function": {"name": "get_weather"}}, "named", "get_weather"),
    ],
)
def test_tool_choice(choice: Any, mode: str, name: str | None) -> None:
    chat = parse_chat_request(body(tools=[WEATHER], tool_choice=choice, parallel_tool_calls=False))
    request = chat.generation
    assert (request.tool_mode, request.tool_name) == (mode, name)
    assert [f.name for f in request.functions] == ["get_weather"]
    assert request.functions[0].parameters["properties"] == {"location": {"type": "string"}}
    assert request.parallel_tool_calls is False


@pytest.mark.parametrize(
    ("call", "mode", "name"),
    [
        (None, "auto", None),
        ("none", "none", None),
        ({"name": "get_weather"}, "named", "get_weather"),
    ],
)
def test_legacy_functions(call: Any, mode: str, name: str | None) -> None:
    chat = parse_chat_request(body(functions=[WEATHER["function"]], function_call=call))
    assert chat.legacy_functions
    assert (chat.generation.tool_mode, chat.generation.tool_name) == (mode, name)
    assert chat.generation.parallel_tool_calls is False


def test_assistant_tool_call_history_is_accepted() -> None:
    messages = [
        *USER,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]
    chat = parse_chat_request(body(messages=messages))
    assert chat.generation.messages[1]["tool_calls"][0]["function"]["name"] == "f"
    assert chat.generation.messages[2]["tool_call_id"] == "c1"


BAD: list[tuple[dict[str, Any], str | None]] = [
    ({"messages": USER}, "model"),
    ({"model": 4, "messages": USER}, "model"),
    ({"model": "m"}, "messages"),
    (body(messages=[]), "messages"),
    (body(messages="hi"), "messages"),
    (body(messages=[{"role": "wizard", "content": "x"}]), "messages[0].role"),
    (body(messages=[{"content": "x"}]), "messages[0].role"),
    (body(messages=[{"role": ["user"], "content": "x"}]), "messages[0].role"),
    (body(messages=[{"role": {"a": 1}, "content": "x"}]), "messages[0].role"),
    (body(messages=[{"role": "user"}]), "messages[0].content"),
    (body(messages=[{"role": "user", "content": 5}]), "messages[0].content"),
    (body(messages=[{"role": "tool", "content": "x"}]), "messages[0].tool_call_id"),
    (body(messages=[{"role": "function", "content": "x"}]), "messages[0].name"),
    (
        body(messages=[{"role": "user", "content": [{"type": "video"}]}]),
        "messages[0].content[0].type",
    ),
    (body(temperature=2.5), "temperature"),
    (body(temperature=-0.1), "temperature"),
    (body(temperature="hot"), "temperature"),
    (body(top_p=1.5), "top_p"),
    (body(n=0), "n"),
    (body(n=1.5), "n"),
    (body(n=True), "n"),
    (body(max_tokens=0), "max_tokens"),
    (body(max_completion_tokens=-3), "max_completion_tokens"),
    (body(stream="yes"), "stream"),
    (body(stream_options={"include_usage": True}), "stream_options"),
    (body(stop=["a", "b", "c", "d", "e"]), "stop"),
    (body(stop=[1]), "stop[0]"),
    (body(seed="x"), "seed"),
    (body(top_logprobs=3), "top_logprobs"),
    (body(logprobs=True, top_logprobs=21), "top_logprobs"),
    (body(tools=[{"type": "retrieval"}]), "tools[0].type"),
    (
        body(tools=[{"type": "function", "function": {"name": "bad name!"}}]),
        "tools[0].function.name",
    ),
    (body(tools=[{"type": "function"}]), "tools[0].function"),
    (body(tools=[WEATHER, WEATHER]), "tools"),
    (body(tools=[WEATHER], tool_choice="sometimes"), "tool_choice"),
    (body(tool_choice="required"), "tool_choice"),
    (
        body(tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "nope"}}),
        "tool_choice.function.name",
    ),
    (body(functions=[WEATHER["function"]], function_call={"name": "nope"}), "function_call.name"),
    (body(tools=[WEATHER], functions=[WEATHER["function"]]), "functions"),
    (body(response_format={"type": "yaml"}), "response_format.type"),
    (body(response_format={"type": "json_schema"}), "response_format.json_schema"),
    (body(metadata={"k": 1}), "metadata"),
    (body(user=5), "user"),
    (body(temprature=1), "temprature"),
]


@pytest.mark.parametrize(("data", "param"), BAD)
def test_bad_requests_name_the_field(data: dict[str, Any], param: str | None) -> None:
    with pytest.raises(APIError) as info:
        parse_chat_request(data)
    assert info.value.status == 400
    assert info.value.param == param
    error = info.value.body()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["message"]

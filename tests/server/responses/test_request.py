"""`POST /v1/responses` bodies to backend requests, and the 400s that name the bad field."""

from __future__ import annotations

from typing import Any

import pytest

from rillet.server.backends.base import FunctionSpec
from rillet.server.http.errors import APIError
from rillet.server.responses.request import (
    items_to_messages,
    parse_responses_request,
    with_history,
)

WEATHER: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
}


def parse(**body: Any) -> Any:
    return parse_responses_request({"model": "m", "input": "hi", **body})


def rejected(body: dict[str, Any]) -> APIError:
    with pytest.raises(APIError) as caught:
        parse_responses_request(body)
    assert caught.value.status == 400
    return caught.value


def test_a_string_input_is_one_user_message_and_defaults_are_echoed() -> None:
    request = parse()
    assert request.generation.messages == [{"role": "user", "content": "hi"}]
    assert request.generation.max_tokens is None
    assert (request.stream, request.store, request.background) == (False, True, False)
    assert request.echo["tool_choice"] == "none"
    assert request.echo["temperature"] == 1.0 and request.echo["top_p"] == 1.0
    assert request.echo["text"] == {"format": {"type": "text"}}


def test_items_become_chat_messages_with_instructions_first() -> None:
    request = parse(
        instructions="Be brief.",
        input=[
            {"role": "developer", "content": "Use metric units."},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "Weather in "},
                {"type": "input_image", "image_url": "https://example.com/a.png"},
                {"type": "input_text", "text": "Paris?"},
            ]},
            {"type": "function_call", "call_id": "c1", "name": "get_weather",
             "arguments": '{"location":"Paris"}'},
            {"type": "function_call", "call_id": "c2", "name": "get_weather",
             "arguments": '{"location":"Lyon"}'},
            {"type": "function_call_output", "call_id": "c1", "output": "18C"},
            {"role": "assistant", "content": [{"type": "output_text", "text": "Mild."}]},
        ],
    )  # fmt: skip
    assert request.lead == 1
    assert request.generation.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": "Use metric units."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'}},
                {"id": "c2", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"location":"Lyon"}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "18C"},
        {"role": "assistant", "content": "Mild."},
    ]  # fmt: skip


def test_history_goes_between_instructions_and_the_new_input() -> None:
    request = parse(instructions="Be brief.", input="and Lyon?")
    history = items_to_messages(
        [
            {"type": "message", "role": "user", "content": "Paris?"},
            {"type": "message", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "Sunny.", "annotations": []}]},
        ]
    )  # fmt: skip
    with_history(request, history)
    assert [m["content"] for m in request.generation.messages] == [
        "Be brief.", "Paris?", "Sunny.", "and Lyon?"
    ]  # fmt: skip


def test_function_tools_are_flat_and_strict_unless_told_otherwise() -> None:
    request = parse(tools=[WEATHER, {**WEATHER, "name": "loose", "strict": False}])
    assert request.generation.functions == (
        FunctionSpec("get_weather", "Weather for a city", WEATHER["parameters"], strict=True),
        FunctionSpec("loose", "Weather for a city", WEATHER["parameters"], strict=False),
    )
    assert request.generation.tool_mode == "auto"
    assert request.echo["tools"][0] == {**WEATHER, "strict": True}


@pytest.mark.parametrize(
    ("choice", "mode", "name", "echo"),
    [
        ("none", "none", None, "none"),
        ("required", "required", None, "required"),
        ({"type": "function", "name": "get_weather"}, "named", "get_weather",
         {"type": "function", "name": "get_weather"}),
    ],
)  # fmt: skip
def test_tool_choice(choice: object, mode: str, name: str | None, echo: object) -> None:
    request = parse(tools=[WEATHER], tool_choice=choice)
    assert (request.generation.tool_mode, request.generation.tool_name) == (mode, name)
    assert request.echo["tool_choice"] == echo


def test_text_formats_map_to_the_backend_response_format() -> None:
    assert parse(text={"format": {"type": "json_object"}}).generation.response_format == {
        "type": "json_object"
    }
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    request = parse(
        text={"format": {"type": "json_schema", "name": "thing", "schema": schema, "strict": True}}
    )
    assert request.generation.response_format == {
        "type": "json_schema",
        "json_schema": {"name": "thing", "schema": schema, "strict": True},
    }
    assert request.echo["text"]["format"]["name"] == "thing"


def test_sampling_and_limits_reach_the_backend() -> None:
    request = parse(max_output_tokens=32, temperature=0.5, top_p=0.9, parallel_tool_calls=False,
                    metadata={"k": "v"}, seed=7)  # fmt: skip
    generation = request.generation
    assert (generation.max_tokens, generation.temperature, generation.top_p) == (32, 0.5, 0.9)
    assert (generation.parallel_tool_calls, generation.seed) == (False, 7)
    assert request.echo["metadata"] == {"k": "v"} and request.echo["max_output_tokens"] == 32


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"input": "hi"}, "model", "missing_required_parameter"),
        ({"model": "m"}, "input", "missing_required_parameter"),
        ({"model": 3, "input": "hi"}, "model", "invalid_type"),
        ({"model": "m", "input": 3}, "input", "invalid_type"),
        ({"model": "m", "input": ["hi"]}, "input[0]", "invalid_type"),
        ({"model": "m", "input": []}, "input", "empty_array"),
        ({"model": "m", "input": [{"type": "reasoning", "summary": []}]}, "input[0].type",
         "invalid_value"),
        ({"model": "m", "input": [{"role": "tool", "content": "x"}]}, "input[0].role",
         "invalid_value"),
        ({"model": "m", "input": [{"role": "user"}]}, "input[0].content",
         "missing_required_parameter"),
        ({"model": "m", "input": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]},
         "input[0].content[0].type", "invalid_value"),
        ({"model": "m", "input": [{"role": "user", "content": [{"type": "input_text"}]}]},
         "input[0].content[0].text", "missing_required_parameter"),
        ({"model": "m", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]},
         "input[0].call_id", "missing_required_parameter"),
        ({"model": "m", "input": [{"type": "function_call_output", "call_id": "c", "output": 1}]},
         "input[0].output", "invalid_type"),
        ({"model": "m", "input": "hi", "max_output_tokens": 15}, "max_output_tokens",
         "integer_below_min_value"),
        ({"model": "m", "input": "hi", "max_output_tokens": "16"}, "max_output_tokens",
         "invalid_type"),
        ({"model": "m", "input": "hi", "temperature": 2.5}, "temperature",
         "decimal_above_max_value"),
        ({"model": "m", "input": "hi", "top_p": -1}, "top_p", "integer_below_min_value"),
        ({"model": "m", "input": "hi", "store": "yes"}, "store", "invalid_type"),
        ({"model": "m", "input": "hi", "stream_options": {"include_obfuscation": False}},
         "stream_options", "invalid_value"),
        ({"model": "m", "input": "hi", "tools": [{"type": "web_search"}]}, "tools[0].type",
         "invalid_value"),
        ({"model": "m", "input": "hi", "tools": [{"type": "function"}]}, "tools[0].name",
         "missing_required_parameter"),
        ({"model": "m", "input": "hi", "tools": [WEATHER, WEATHER]}, "tools", "invalid_value"),
        ({"model": "m", "input": "hi", "tool_choice": "required"}, "tool_choice",
         "invalid_value"),
        ({"model": "m", "input": "hi", "tools": [WEATHER],
          "tool_choice": {"type": "function", "name": "other"}}, "tool_choice.name",
         "invalid_value"),
        ({"model": "m", "input": "hi", "tools": [WEATHER], "tool_choice": {"type": "mcp"}},
         "tool_choice.type", "invalid_value"),
        ({"model": "m", "input": "hi", "text": {"format": {"type": "yaml"}}}, "text.format.type",
         "invalid_value"),
        ({"model": "m", "input": "hi", "text": {"format": {"type": "json_schema", "name": "x"}}},
         "text.format.schema", "missing_required_parameter"),
        ({"model": "m", "input": "hi", "text": {"format": {"type": "json_schema", "name": "a b",
          "schema": {}}}}, "text.format.name", "invalid_value"),
        ({"model": "m", "input": "hi", "previous_response_id": 5}, "previous_response_id",
         "invalid_type"),
        ({"model": "m", "input": "hi", "background": True, "store": False}, "background", None),
        ({"model": "m", "input": "hi", "modalities": ["text"]}, "modalities", None),
    ],
)  # fmt: skip
def test_bad_bodies_name_the_field(body: dict[str, Any], param: str, code: str | None) -> None:
    error = rejected(body)
    assert error.param == param, error.message
    assert error.code == code, error.message

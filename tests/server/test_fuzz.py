"""Throw malformed and odd bodies at the server: every answer is a result or an OpenAI error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rillet.server.app import create_app
from rillet.server.chat.request import FIELDS

from .fakes import ScriptedBackend, assert_openai_error, serve_app, sse_data

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
valid_messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "system", "developer"]), "content": st.text(max_size=30)}
    ),
    min_size=1,
    max_size=3,
)
function = st.fixed_dictionaries(
    {"name": st.sampled_from(["get_weather", "get_time"])},
    optional={
        "description": st.text(max_size=20),
        "parameters": st.just({"type": "object", "properties": {"location": {"type": "string"}}}),
    },
)
plausible: dict[str, st.SearchStrategy[Any]] = {
    "stream": st.booleans(),
    "n": st.integers(1, 3),
    "max_tokens": st.integers(1, 8),
    "max_completion_tokens": st.integers(1, 8),
    "temperature": st.floats(0, 2),
    "top_p": st.floats(0, 1),
    "seed": st.integers(-(2**31), 2**31),
    "stop": st.text(max_size=3) | st.lists(st.text(max_size=3), max_size=4),
    "logprobs": st.booleans(),
    "user": st.text(max_size=10),
    "metadata": st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    "tools": st.lists(
        st.fixed_dictionaries({"type": st.just("function"), "function": function}),
        max_size=2,
        unique_by=lambda tool: str(tool["function"]["name"]),
    ),
    "tool_choice": st.sampled_from(["auto", "none", "required"])
    | st.just({"type": "function", "function": {"name": "get_weather"}}),
    "parallel_tool_calls": st.booleans(),
    "response_format": st.sampled_from([{"type": "text"}, {"type": "json_object"}]),
}
# A mostly valid body, then up to two fields overwritten with arbitrary JSON (or a bogus field).
bodies = st.builds(
    lambda base, junk: {**base, **junk},
    st.fixed_dictionaries(
        {"model": st.just("gpt-4"), "messages": valid_messages}, optional=plausible
    ),
    st.dictionaries(st.sampled_from(sorted(FIELDS.known | {"bogus"})), json_values, max_size=2),
)


# Message-shaped objects with any value in any field, to exercise message validation.
odd_messages = st.lists(
    st.dictionaries(
        st.sampled_from(["role", "content", "name", "tool_call_id", "tool_calls", "function_call"]),
        st.sampled_from(["user", "assistant", "tool", "function", "system"])
        | json_values
        | st.lists(
            st.dictionaries(st.sampled_from(["type", "text", "id", "function"]), json_values)
        ),
    ),
    min_size=1,
    max_size=3,
)


def odd(keys: list[str], values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(keys), values | json_values)


names = st.sampled_from(["get_weather", "get_time", "bad name", ""])
odd_function = odd(["name", "description", "parameters", "strict"], names)
odd_fields: dict[str, st.SearchStrategy[Any]] = {
    "tools": st.lists(odd(["type", "function"], st.just("function") | odd_function), max_size=3),
    "functions": st.lists(odd_function, max_size=3),
    "tool_choice": odd(["type", "function"], st.just("function") | odd(["name"], names)),
    "function_call": odd(["name"], names),
    "response_format": odd(
        ["type", "json_schema"],
        st.sampled_from(["json_object", "json_schema", "text"])
        | odd(["name", "schema", "strict"], names | st.just({"type": "object"})),
    ),
    "stream_options": odd(["include_usage"], st.booleans()),
}
odd_bodies = st.builds(
    lambda base, extra: {**base, **extra},
    st.just({"model": "gpt-4", "messages": [{"role": "user", "content": "weather in Tokyo"}]}),
    st.fixed_dictionaries({}, optional={**odd_fields, "stream": st.booleans()}),
)


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with (
        serve_app(create_app(ScriptedBackend(length=5))) as url,
        httpx.Client(base_url=url + "/") as client,
    ):
        yield client


def check(response: httpx.Response, body: object) -> None:
    event(f"status {response.status_code}")
    if response.status_code != 200:
        assert response.status_code in (400, 413), response.text
        assert_openai_error(response.json(), response.status_code, response.status_code)
        return
    assert isinstance(body, dict)
    if body.get("stream") is True:
        payloads = sse_data(response.text)
        assert payloads[-1] == "[DONE]"
        for payload in payloads[:-1]:
            chunk = orjson.loads(payload)
            assert chunk["object"] == "chat.completion.chunk", chunk
    else:
        result = response.json()
        assert result["object"] == "chat.completion"
        assert len(result["choices"]) == (body.get("n") or 1)
        for choice in result["choices"]:
            assert choice["finish_reason"] in ("stop", "length", "tool_calls", "function_call")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies)
def test_any_json_body(client: httpx.Client, body: dict[str, Any]) -> None:
    check(client.post("chat/completions", content=orjson.dumps(body)), body)


@settings(max_examples=200, deadline=None)
@given(messages=odd_messages)
def test_any_messages(client: httpx.Client, messages: list[dict[str, Any]]) -> None:
    body = {"model": "gpt-4", "messages": messages}
    check(client.post("chat/completions", content=orjson.dumps(body)), body)


@settings(max_examples=200, deadline=None)
@given(body=odd_bodies)
def test_any_nested_objects(client: httpx.Client, body: dict[str, Any]) -> None:
    check(client.post("chat/completions", content=orjson.dumps(body)), body)


@settings(max_examples=100, deadline=None)
@given(content=st.binary(max_size=200) | json_values.map(orjson.dumps))
def test_any_bytes(client: httpx.Client, content: bytes) -> None:
    check(client.post("chat/completions", content=content), None)


def test_server_still_answers_normally_after_the_fuzzing(client: httpx.Client) -> None:
    body = {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    payloads = sse_data(client.post("chat/completions", json=body).text)
    assert payloads[-1] == "[DONE]"
    assert orjson.loads(payloads[-2])["choices"][0]["finish_reason"] == "stop"

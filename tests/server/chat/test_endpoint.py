"""Chat completions over HTTP: chunk shapes, choices, tools, legacy functions, usage, logprobs."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from ..fakes import WORDS, ScriptedBackend, sse_data

USER = [{"role": "user", "content": "What's the weather in Tokyo?"}]
WEATHER = {"name": "get_weather", "parameters": {"type": "object"}}
CLOCK = {"name": "get_time", "parameters": {"type": "object"}}


def stream(base_url: str, **fields: Any) -> list[dict[str, Any]]:
    body = {"model": "gpt-4", "messages": USER, "stream": True, **fields}
    response = httpx.post(f"{base_url}/chat/completions", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["x-request-id"].startswith("req_")
    payloads = sse_data(response.text)
    assert payloads[-1] == "[DONE]"
    assert "[DONE]" not in payloads[:-1]
    chunks = [orjson.loads(p) for p in payloads[:-1]]
    for chunk in chunks:
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["model"] == "gpt-4"
        assert chunk["system_fingerprint"]
        assert chunk["id"] == chunks[0]["id"] and chunk["created"] == chunks[0]["created"]
    return chunks


def complete(base_url: str, **fields: Any) -> dict[str, Any]:
    body = {"model": "gpt-4", "messages": USER, **fields}
    response = httpx.post(f"{base_url}/chat/completions", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def deltas(chunks: list[dict[str, Any]], index: int = 0) -> list[dict[str, Any]]:
    return [c["choices"][0] for c in chunks if c["choices"] and c["choices"][0]["index"] == index]


def test_text_stream(base_url: str) -> None:
    choices = deltas(stream(base_url))
    assert choices[0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["delta"].get("content") or "" for c in choices)
    assert text == "".join(WORDS)
    assert [c["finish_reason"] for c in choices[:-1]] == [None] * (len(choices) - 1)
    assert choices[-1] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}


def test_include_usage_adds_a_final_usage_chunk(base_url: str) -> None:
    chunks = stream(base_url, stream_options={"include_usage": True}, max_tokens=4)
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}
    assert deltas(chunks)[-1]["finish_reason"] == "length"


def test_without_include_usage_there_is_no_usage(base_url: str) -> None:
    assert all("usage" not in c for c in stream(base_url))


def test_n_choices_are_interleaved_each_with_its_finish(base_url: str) -> None:
    chunks = stream(base_url, n=3, stream_options={"include_usage": True})
    order = [c["choices"][0]["index"] for c in chunks if c["choices"]]
    assert set(order) == {0, 1, 2}
    assert order != sorted(order), "choices should be interleaved, not sent one after another"
    for index in range(3):
        choices = deltas(chunks, index)
        assert choices[0]["delta"]["role"] == "assistant"
        assert choices[-1]["finish_reason"] == "stop"
        text = "".join(c["delta"].get("content") or "" for c in choices)
        expected = "".join(WORDS)
        assert text == (expected.upper() if index else expected)
    assert chunks[-1]["usage"]["completion_tokens"] == 3 * len(WORDS)


def test_stop_and_max_tokens_reach_the_backend(base_url: str, backend: ScriptedBackend) -> None:
    chunks = stream(base_url, stop=[" robot"], max_completion_tokens=100)
    text = "".join(c["delta"].get("content") or "" for c in deltas(chunks))
    assert text == "Once upon a time, a"
    assert backend.requests[-1].stop == (" robot",)
    assert backend.requests[-1].max_tokens == 100


def test_tool_call_stream(base_url: str) -> None:
    tools = [{"type": "function", "function": f} for f in (WEATHER, CLOCK)]
    choices = deltas(stream(base_url, tools=tools, tool_choice="required"))
    first = choices[0]["delta"]
    assert first["role"] == "assistant" and first["content"] is None
    assert first["tool_calls"] == [
        {
            "index": 0,
            "id": "call_0",
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        }
    ]
    calls: dict[int, dict[str, str]] = {}
    for choice in choices[:-1]:
        for piece in choice["delta"]["tool_calls"]:
            if "id" in piece:
                assert piece["type"] == "function"
                calls[piece["index"]] = {"name": piece["function"]["name"], "arguments": ""}
            else:
                assert set(piece) == {"index", "function"}
                assert set(piece["function"]) == {"arguments"}
                calls[piece["index"]]["arguments"] += piece["function"]["arguments"]
    assert calls == {
        0: {"name": "get_weather", "arguments": '{"location": "Tokyo"}'},
        1: {"name": "get_time", "arguments": '{"location": "Tokyo"}'},
    }
    assert choices[-1]["finish_reason"] == "tool_calls"


def test_legacy_function_call_stream(base_url: str, backend: ScriptedBackend) -> None:
    choices = deltas(
        stream(base_url, functions=[WEATHER, CLOCK], function_call={"name": "get_time"})
    )
    assert backend.requests[-1].tool_mode == "named"
    assert choices[0]["delta"]["function_call"] == {"name": "get_time", "arguments": ""}
    args = "".join(c["delta"]["function_call"]["arguments"] for c in choices[1:-1])
    assert args == '{"location": "Tokyo"}'
    assert all("tool_calls" not in c["delta"] for c in choices)
    assert choices[-1]["finish_reason"] == "function_call"


def test_logprobs_stream(base_url: str) -> None:
    choices = deltas(stream(base_url, logprobs=True, top_logprobs=2, max_tokens=2))
    content = [c for c in choices if c["delta"].get("content")]
    entry = content[0]["logprobs"]["content"][0]
    assert entry["token"] == "Once" and entry["bytes"] == list(b"Once")
    assert [t["token"] for t in entry["top_logprobs"]] == ["Once", "Once1"]


def test_non_streaming_text(base_url: str) -> None:
    result = complete(base_url, n=2, logprobs=True)
    assert result["object"] == "chat.completion"
    assert result["model"] == "gpt-4"
    first, second = result["choices"]
    assert first["message"] == {"role": "assistant", "content": "".join(WORDS), "refusal": None}
    assert second["message"]["content"] == "".join(WORDS).upper()
    assert first["finish_reason"] == "stop"
    assert len(first["logprobs"]["content"]) == len(WORDS)
    assert result["usage"] == {
        "prompt_tokens": 7,
        "completion_tokens": 2 * len(WORDS),
        "total_tokens": 7 + 2 * len(WORDS),
    }


def test_non_streaming_tools_and_functions(base_url: str) -> None:
    tools = [{"type": "function", "function": WEATHER}]
    choice = complete(base_url, tools=tools)["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {
            "id": "call_0",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"location": "Tokyo"}'},
        }
    ]
    choice = complete(base_url, functions=[WEATHER])["choices"][0]
    assert choice["finish_reason"] == "function_call"
    assert choice["message"]["function_call"] == {
        "name": "get_weather",
        "arguments": '{"location": "Tokyo"}',
    }
    assert "tool_calls" not in choice["message"]

"""Legacy completions over HTTP: text_completion chunks and objects, echo, logprobs, several
prompts and choices, usage, and OpenAI-shaped refusals."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from rillet.server.app import create_app
from rillet.server.backends.synthetic.backend import SyntheticBackend
from rillet.server.context import ServerConfig

from ..fakes import WORDS, ScriptedBackend, assert_openai_error, serve_app, sse_data

TEXT = "".join(WORDS)


def stream(base_url: str, **fields: Any) -> list[dict[str, Any]]:
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": "Once", "stream": True, **fields}
    response = httpx.post(f"{base_url}/completions", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    payloads = sse_data(response.text)
    assert payloads[-1] == "[DONE]"
    chunks = [orjson.loads(p) for p in payloads[:-1]]
    for chunk in chunks:
        assert chunk["object"] == "text_completion"
        assert chunk["model"] == "gpt-3.5-turbo-instruct"
        assert chunk["id"].startswith("cmpl-") and chunk["id"] == chunks[0]["id"]
    return chunks


def complete(base_url: str, **fields: Any) -> dict[str, Any]:
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": "Once", **fields}
    response = httpx.post(f"{base_url}/completions", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert result["object"] == "text_completion"
    return result


def texts(chunks: list[dict[str, Any]]) -> dict[int, str]:
    out: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            out[choice["index"]] = out.get(choice["index"], "") + choice["text"]
    return out


def test_the_backend_gets_the_raw_prompt_and_no_messages(
    base_url: str, backend: ScriptedBackend
) -> None:
    complete(base_url, prompt="Say hi")
    request = backend.requests[-1]
    assert request.prompt == "Say hi" and request.messages == []
    assert request.max_tokens == 16  # upstream's default for this endpoint


def test_token_array_prompts_reach_the_backend_as_tuples(
    base_url: str, backend: ScriptedBackend
) -> None:
    result = complete(base_url, prompt=[[1, 2, 3], [4]])
    assert [r.prompt for r in backend.requests[-2:]] == [(1, 2, 3), (4,)]
    assert [c["index"] for c in result["choices"]] == [0, 1]
    complete(base_url, prompt=[7, 8])
    assert backend.requests[-1].prompt == (7, 8)


def test_stream_sends_text_then_a_finish_chunk_then_done(base_url: str) -> None:
    chunks = stream(base_url)
    choices = [c["choices"][0] for c in chunks]
    assert "".join(c["text"] for c in choices) == TEXT
    assert [c["finish_reason"] for c in choices[:-1]] == [None] * (len(choices) - 1)
    assert choices[-1] == {"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}
    assert all("usage" not in c for c in chunks)


def test_non_streamed_completion_matches_the_stream(base_url: str) -> None:
    result = complete(base_url, max_tokens=4)
    assert result["choices"] == [
        {"text": "".join(WORDS[:4]), "index": 0, "logprobs": None, "finish_reason": "length"}
    ]
    assert result["usage"] == {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}
    assert result["system_fingerprint"]


def test_include_usage_adds_a_final_usage_chunk(base_url: str) -> None:
    chunks = stream(base_url, stream_options={"include_usage": True}, max_tokens=3)
    assert all("usage" not in c for c in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def test_n_and_several_prompts_number_choices_prompt_by_prompt(
    base_url: str, backend: ScriptedBackend
) -> None:
    chunks = stream(base_url, prompt=["a", "b"], n=2, stream_options={"include_usage": True})
    got = texts(chunks)
    assert sorted(got) == [0, 1, 2, 3]
    # The scripted backend upper-cases every choice but the first of each prompt.
    assert got[0] == got[2] == TEXT and got[1] == got[3] == TEXT.upper()
    prompts = sorted(r.prompt for r in backend.requests[-4:] if isinstance(r.prompt, str))
    assert prompts == ["a", "a", "b", "b"]
    finishes = [
        c["choices"][0] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]
    ]
    assert sorted(f["index"] for f in finishes) == [0, 1, 2, 3]
    # Each prompt's tokens are counted once; every choice's own tokens are counted.
    assert chunks[-1]["usage"]["prompt_tokens"] == 14
    assert chunks[-1]["usage"]["completion_tokens"] == 4 * len(WORDS)


def test_echo_puts_the_prompt_before_the_answer(base_url: str) -> None:
    result = complete(base_url, prompt="Tell me: ", echo=True)
    assert result["choices"][0]["text"] == "Tell me: " + TEXT
    chunks = stream(base_url, prompt="Tell me: ", echo=True)
    assert chunks[0]["choices"][0]["text"] == "Tell me: "
    assert texts(chunks)[0] == "Tell me: " + TEXT


def test_logprobs_in_the_legacy_shape(base_url: str) -> None:
    result = complete(base_url, logprobs=2, max_tokens=3)
    logprobs = result["choices"][0]["logprobs"]
    assert logprobs["tokens"] == list(WORDS[:3])
    assert logprobs["token_logprobs"] == [-0.1, -0.1, -0.1]
    assert logprobs["text_offset"] == [0, 4, 9]
    # The two alternatives asked for; the chosen token is among them.
    assert logprobs["top_logprobs"][0] == {"Once": -0.1, "Once1": -0.2}
    chunks = stream(base_url, logprobs=0, max_tokens=2)
    pieces = [c["choices"][0]["logprobs"] for c in chunks[:-1]]
    assert [p["text_offset"] for p in pieces] == [[0], [4]]
    assert pieces[1]["top_logprobs"] == [{" upon": -0.1}]  # logprobs=0: the chosen token only
    assert chunks[-1]["choices"][0]["logprobs"] is None


def test_stop_and_sampling_fields_reach_the_backend(
    base_url: str, backend: ScriptedBackend
) -> None:
    result = complete(base_url, stop=[" robot"], temperature=0.5, top_p=0.5, seed=3)
    assert result["choices"][0]["text"] == "".join(WORDS[:6])
    request = backend.requests[-1]
    assert (request.stop, request.temperature, request.top_p, request.seed) == (
        (" robot",), 0.5, 0.5, 3,
    )  # fmt: skip


def test_max_tokens_zero_answers_nothing(base_url: str) -> None:
    result = complete(base_url, max_tokens=0)
    assert result["choices"][0]["text"] == ""
    assert result["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({"prompt": None, "model": None}, "model", "missing_required_parameter"),
        ({"prompt": 5}, "prompt", "invalid_type"),
        ({"prompt": []}, "prompt", "empty_array"),
        ({"prompt": [[]]}, "prompt[0]", "empty_array"),
        ({"prompt": ["a", 1]}, "prompt[1]", "invalid_type"),
        ({"prompt": [1, "a"]}, "prompt[1]", "invalid_type"),
        ({"prompt": [1, -2]}, "prompt[1]", "integer_below_min_value"),
        ({"prompt": [True]}, "prompt[0]", "invalid_type"),
        ({"prompt": [{"a": 1}]}, "prompt[0]", "invalid_type"),
        ({"max_tokens": -1}, "max_tokens", "integer_below_min_value"),
        ({"max_tokens": "many"}, "max_tokens", "invalid_type"),
        ({"n": 0}, "n", "integer_below_min_value"),
        ({"n": 65, "prompt": ["a", "b"]}, "n", "invalid_value"),
        ({"logprobs": 6}, "logprobs", "integer_above_max_value"),
        ({"logprobs": True}, "logprobs", "invalid_type"),
        ({"temperature": 2.5}, "temperature", "decimal_above_max_value"),
        ({"stop": 4}, "stop", "invalid_type"),
        ({"echo": "yes"}, "echo", "invalid_type"),
        ({"suffix": "</code>"}, "suffix", "unsupported_parameter"),
        ({"best_of": 3}, "best_of", "unsupported_parameter"),
        ({"echo": True, "logprobs": 1}, "echo", "unsupported_parameter"),
        ({"echo": True, "prompt": [1, 2]}, "echo", "unsupported_parameter"),
        ({"stream_options": {"include_usage": True}}, "stream_options", "invalid_value"),
        ({"messages": []}, "messages", None),
    ],
)
def test_bad_requests_get_openai_errors_naming_the_field(
    base_url: str, fields: dict[str, Any], param: str, code: str | None
) -> None:
    body = {"model": "m", "prompt": "hi", **fields}
    body = {k: v for k, v in body.items() if not (k == "model" and v is None)}
    response = httpx.post(f"{base_url}/completions", json=body)
    assert_openai_error(response.json(), 400, response.status_code)
    assert response.json()["error"]["param"] == param
    assert response.json()["error"]["code"] == code


def test_missing_prompt_is_refused_but_null_is_the_empty_document(
    base_url: str, backend: ScriptedBackend
) -> None:
    response = httpx.post(f"{base_url}/completions", json={"model": "m"})
    assert_openai_error(response.json(), 400, response.status_code)
    assert response.json()["error"]["param"] == "prompt"
    complete(base_url, prompt=None)
    assert backend.requests[-1].prompt == ""


def test_best_of_equal_to_n_and_ignored_fields_are_accepted(base_url: str) -> None:
    result = complete(base_url, best_of=1, frequency_penalty=0.5, logit_bias={"1": 2}, user="u")
    assert result["choices"][0]["text"] == TEXT


def test_a_backend_refusal_is_a_plain_400_even_when_streamed(
    base_url: str, backend: ScriptedBackend
) -> None:
    backend.reject = "no such schema"
    for streamed in (False, True):
        response = httpx.post(
            f"{base_url}/completions", json={"model": "m", "prompt": "x", "stream": streamed}
        )
        assert_openai_error(response.json(), 400, response.status_code)
        assert response.json()["error"]["message"] == "no such schema"


def test_unknown_models_are_served_unless_strict() -> None:
    backend = ScriptedBackend()
    with serve_app(create_app(backend, ServerConfig(strict_models=True))) as url:
        response = httpx.post(f"{url}/completions", json={"model": "nope", "prompt": "x"})
        assert_openai_error(response.json(), 404, response.status_code)
        assert response.json()["error"]["code"] == "model_not_found"
        ok = httpx.post(f"{url}/completions", json={"model": "scripted-1", "prompt": "x"})
        assert ok.status_code == 200


def test_synthetic_backend_continues_raw_prompts_deterministically() -> None:
    with serve_app(create_app(SyntheticBackend(), ServerConfig())) as url:
        first = complete(url, prompt="Write a story about a robot.", seed=1, max_tokens=40)
        again = complete(url, prompt="Write a story about a robot.", seed=1, max_tokens=40)
        assert first["choices"] == again["choices"]
        assert "robot" in first["choices"][0]["text"].lower()
        streamed = stream(url, prompt="Write a story about a robot.", seed=1, max_tokens=40)
        assert texts(streamed)[0] == first["choices"][0]["text"]
        by_tokens = complete(url, prompt=[5, 6, 7], max_tokens=5)
        assert by_tokens["usage"]["prompt_tokens"] == 3

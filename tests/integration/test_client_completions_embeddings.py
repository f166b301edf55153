"""`client.completions` (legacy Completions) and `client.embeddings`, sync and async, against
canned loopback servers (test_server_completions_embeddings.py runs them on `rillet serve`)."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from typing import Any

import openai
import pytest

import rillet
from rillet.types import Completion, CompletionChoice, CreateEmbeddingResponse, Embedding
from tests.integration.canned import CannedServer, Connection, Request, canned_server, sse

VECTORS = [[0.5, -1.25, 2.0], [1.0, 0.0, -0.5]]


def _completion(text: str, finish: str | None, index: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "id": "cmpl-canned",
        "object": "text_completion",
        "created": 1700000000,
        "model": "canned-model",
        "choices": [{"index": index, "text": text, "finish_reason": finish, "logprobs": None}],
        **extra,
    }


def _legacy(conn: Connection, request: Request) -> bool:
    body = request.json()
    if not body.get("stream"):
        usage = {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}
        conn.json(200, _completion("once upon", "stop", usage=usage), x_request_id="req_legacy")
        return True
    conn.start_sse()
    for n in range(body.get("n") or 1):
        for piece in ["once ", "upon "]:
            conn.piece(sse(_completion(piece, None, n)))
        conn.piece(sse(_completion("", "length", n)))
    conn.piece(b"data: [DONE]\n\n")
    conn.end()
    return True


def _legacy_cut(conn: Connection, request: Request) -> bool:
    """A stream that ends cleanly before its choice finished, without [DONE]."""
    conn.start_sse()
    conn.piece(sse(_completion("once ", None)))
    conn.end()
    return True


def _vector_b64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _embed(conn: Connection, request: Request) -> bool:
    body = request.json()
    as_b64 = body.get("encoding_format") == "base64"
    data = [
        {"object": "embedding", "index": i, "embedding": _vector_b64(v) if as_b64 else v}
        for i, v in enumerate(VECTORS)
    ]
    usage = {"prompt_tokens": 4, "total_tokens": 4}
    answer = {"object": "list", "model": "canned-embed", "data": data, "usage": usage}
    conn.json(200, answer, x_request_id="req_embed")
    return True


def _empty_embed(conn: Connection, request: Request) -> bool:
    answer = {"object": "list", "model": "m", "data": [], "usage": {}}
    conn.json(200, answer)
    return True


@pytest.fixture(scope="module")
def server() -> Iterator[CannedServer]:
    scenarios = {
        "legacy": _legacy,
        "legacy-cut": _legacy_cut,
        "embed": _embed,
        "empty-embed": _empty_embed,
    }
    with canned_server(scenarios) as canned:
        yield canned


def client(server: CannedServer, scenario: str) -> rillet.OpenAI:
    return rillet.OpenAI(base_url=server.base_url(scenario), api_key="sk", max_retries=0)


def aclient(server: CannedServer, scenario: str) -> rillet.AsyncOpenAI:
    return rillet.AsyncOpenAI(base_url=server.base_url(scenario), api_key="sk", max_retries=0)


def last_body(server: CannedServer, scenario: str) -> Any:
    return json.loads([r for r in server.requests if r.path.startswith(f"/{scenario}/")][-1].body)


# --- legacy completions ------------------------------------------------------------------


def test_completion(server: CannedServer) -> None:
    with client(server, "legacy") as c:
        completion = c.completions.create(
            model="m", prompt="Once", max_tokens=3, suffix=openai.NOT_GIVEN
        )
    assert isinstance(completion, Completion)
    assert isinstance(completion.choices[0], CompletionChoice)
    assert completion.choices[0].text == "once upon"
    assert completion.usage is not None and completion.usage.total_tokens == 5
    assert last_body(server, "legacy") == {"model": "m", "prompt": "Once", "max_tokens": 3}


def test_completion_stream(server: CannedServer) -> None:
    with client(server, "legacy") as c:
        stream = c.completions.create(model="m", prompt="Once", stream=True, n=2)
        texts: dict[int, str] = {}
        for chunk in stream:
            assert isinstance(chunk, Completion)
            for choice in chunk.choices:
                texts[choice.index] = texts.get(choice.index, "") + choice.text
    assert texts == {0: "once upon ", 1: "once upon "}
    assert last_body(server, "legacy")["stream"] is True


def test_a_cut_completion_stream_raises(server: CannedServer) -> None:
    with client(server, "legacy-cut") as c:
        stream = c.completions.create(model="m", prompt="Once", stream=True)
        with pytest.raises(rillet.IncompleteStreamError):
            list(stream)


def test_completion_rejects_unknown_parameters(server: CannedServer) -> None:
    with client(server, "legacy") as c, pytest.raises(TypeError, match="messages"):
        c.completions.create(model="m", prompt="x", messages=[])  # type: ignore[call-overload]


def test_completion_raw_and_streaming_responses(server: CannedServer) -> None:
    with client(server, "legacy") as c:
        raw = c.completions.with_raw_response.create(model="m", prompt="Once")
        assert raw.headers["x-request-id"] == "req_legacy"
        assert isinstance(raw.parse(), Completion)
        with c.with_streaming_response.completions.create(
            model="m", prompt="Once", stream=True
        ) as response:
            lines = list(response.iter_lines())
        assert "data: [DONE]" in lines


async def test_async_completion(server: CannedServer) -> None:
    async with aclient(server, "legacy") as c:
        completion = await c.completions.create(model="m", prompt="Once")
        assert completion.choices[0].text == "once upon"
        stream = await c.completions.create(model="m", prompt="Once", stream=True)
        text = "".join([chunk.choices[0].text async for chunk in stream])
        assert text == "once upon "
        raw = await c.completions.with_raw_response.create(model="m", prompt="Once")
        assert raw.status_code == 200 and isinstance(raw.parse(), Completion)


# --- embeddings --------------------------------------------------------------------------


def test_embeddings_ask_for_base64_and_decode_to_floats(server: CannedServer) -> None:
    with client(server, "embed") as c:
        answer = c.embeddings.create(model="e", input=["a", "b"])
    assert last_body(server, "embed") == {
        "model": "e",
        "input": ["a", "b"],
        "encoding_format": "base64",
    }
    assert isinstance(answer, CreateEmbeddingResponse)
    assert isinstance(answer.data[0], Embedding)
    assert [item.embedding for item in answer.data] == VECTORS
    assert answer.usage.prompt_tokens == 4
    assert answer.to_dict()["data"][0]["embedding"] == VECTORS[0]


def test_embeddings_in_floats_when_asked(server: CannedServer) -> None:
    with client(server, "embed") as c:
        answer = c.embeddings.create(model="e", input="a", encoding_format="float", dimensions=3)
    assert last_body(server, "embed")["encoding_format"] == "float"
    assert last_body(server, "embed")["dimensions"] == 3
    assert [item.embedding for item in answer.data] == VECTORS


def test_embeddings_left_in_base64_when_asked(server: CannedServer) -> None:
    """As officially: a format the caller chose is returned as the server sent it."""
    with client(server, "embed") as c:
        answer = c.embeddings.create(model="e", input="a", encoding_format="base64")
    assert answer.data[0].embedding == _vector_b64(VECTORS[0])  # type: ignore[comparison-overlap]


def test_embeddings_official_not_given_format_is_decoded(server: CannedServer) -> None:
    with client(server, "embed") as c:
        answer = c.embeddings.create(model="e", input="a", encoding_format=openai.NOT_GIVEN)
    assert last_body(server, "embed")["encoding_format"] == "base64"
    assert answer.data[1].embedding == VECTORS[1]


def test_embeddings_without_data_raise_as_officially(server: CannedServer) -> None:
    with client(server, "empty-embed") as c, pytest.raises(ValueError, match="No embedding"):
        c.embeddings.create(model="e", input="a")


def test_embeddings_raw_response(server: CannedServer) -> None:
    with client(server, "embed") as c:
        raw = c.embeddings.with_raw_response.create(model="e", input="a")
        assert raw.headers["x-request-id"] == "req_embed"
        assert raw.parse().data[0].embedding == VECTORS[0]
        with c.embeddings.with_streaming_response.create(model="e", input="a") as response:
            assert response.parse().data[1].embedding == VECTORS[1]


async def test_async_embeddings(server: CannedServer) -> None:
    async with aclient(server, "embed") as c:
        answer = await c.embeddings.create(model="e", input="a")
        assert [item.embedding for item in answer.data] == VECTORS
        raw = await c.embeddings.with_raw_response.create(model="e", input="a", user="u")
        assert raw.parse().data[0].embedding == VECTORS[0]
        async with c.with_streaming_response.embeddings.create(model="e", input="a") as streamed:
            assert (await streamed.parse()).data[0].embedding == VECTORS[0]

"""Embeddings over HTTP on the synthetic backend: shapes, float and base64 agreeing,
`dimensions`, usage, and OpenAI-shaped refusals."""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from rillet.server.app import create_app
from rillet.server.backends.synthetic.backend import SyntheticBackend
from rillet.server.backends.synthetic.embeddings import DIMENSIONS
from rillet.server.context import ServerConfig

from ..fakes import ScriptedBackend, assert_openai_error, serve_app


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve_app(create_app(SyntheticBackend(), ServerConfig())) as base:
        yield base


def embed(url: str, **fields: Any) -> dict[str, Any]:
    body = {"model": "text-embedding-3-small", "input": "hello", **fields}
    response = httpx.post(f"{url}/embeddings", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def decode(data: str) -> list[float]:
    raw = base64.b64decode(data)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_one_string_gives_one_unit_vector(url: str) -> None:
    result = embed(url, input="The cat sat on the mat.")
    assert result["object"] == "list" and result["model"] == "text-embedding-3-small"
    [item] = result["data"]
    assert item["object"] == "embedding" and item["index"] == 0
    assert len(item["embedding"]) == DIMENSIONS
    assert math.isclose(math.fsum(v * v for v in item["embedding"]), 1.0, rel_tol=1e-5)
    assert result["usage"] == {"prompt_tokens": 7, "total_tokens": 7}


def test_base64_is_the_same_float32_values_little_endian(url: str) -> None:
    floats = embed(url, input=["a b c", "d e f"], encoding_format="float")["data"]
    packed = embed(url, input=["a b c", "d e f"], encoding_format="base64")["data"]
    for plain, encoded in zip(floats, packed, strict=True):
        assert isinstance(encoded["embedding"], str)
        assert decode(encoded["embedding"]) == plain["embedding"]


def test_inputs_keep_their_order_and_the_same_text_the_same_vector(url: str) -> None:
    result = embed(url, input=["one apple", "two pears", "one apple"])
    vectors = [item["embedding"] for item in result["data"]]
    assert [item["index"] for item in result["data"]] == [0, 1, 2]
    assert vectors[0] == vectors[2] != vectors[1]
    assert vectors[0] == embed(url, input="one apple")["data"][0]["embedding"]


def test_similar_texts_are_closer_than_unrelated_ones(url: str) -> None:
    texts = [
        "The cat sat on the warm mat.",
        "A cat was sitting on the mat.",
        "Quarterly revenue grew by eight percent.",
    ]
    a, b, c = (item["embedding"] for item in embed(url, input=texts)["data"])
    assert cosine(a, b) > cosine(a, c) + 0.2
    assert cosine(a, b) > cosine(b, c) + 0.2


def test_token_arrays_are_inputs_too(url: str) -> None:
    result = embed(url, input=[[1, 2, 3], [4, 5]])
    assert len(result["data"]) == 2
    assert result["usage"]["prompt_tokens"] == 5
    assert embed(url, input=[1, 2, 3])["data"][0]["embedding"] == result["data"][0]["embedding"]


def test_dimensions_shorten_and_renormalise(url: str) -> None:
    full = embed(url, input="The cat sat on the mat.")["data"][0]["embedding"]
    short = embed(url, input="The cat sat on the mat.", dimensions=64)["data"][0]["embedding"]
    assert len(short) == 64
    assert math.isclose(math.fsum(v * v for v in short), 1.0, rel_tol=1e-5)
    scale = math.sqrt(math.fsum(v * v for v in full[:64]))
    assert all(math.isclose(s * scale, f, rel_tol=1e-4, abs_tol=1e-6)
               for s, f in zip(short, full[:64], strict=True))  # fmt: skip
    same = embed(url, input="x y z", dimensions=DIMENSIONS)["data"][0]["embedding"]
    assert len(same) == DIMENSIONS


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({"input": None}, "input", "missing_required_parameter"),
        ({"model": None}, "model", "missing_required_parameter"),
        ({"input": []}, "input", "empty_array"),
        ({"input": ""}, "input", "invalid_value"),
        ({"input": ["ok", ""]}, "input[1]", "invalid_value"),
        ({"input": 3.5}, "input", "invalid_type"),
        ({"input": ["a", 1]}, "input[1]", "invalid_type"),
        ({"input": [[1], []]}, "input[1]", "empty_array"),
        ({"input": [[1], [-1]]}, "input[1][0]", "integer_below_min_value"),
        ({"input": ["x"] * 2049}, "input", "array_above_max_length"),
        ({"encoding_format": "int8"}, "encoding_format", "invalid_value"),
        ({"dimensions": 0}, "dimensions", "integer_below_min_value"),
        ({"dimensions": DIMENSIONS + 1}, "dimensions", "integer_above_max_value"),
        ({"dimensions": "64"}, "dimensions", "invalid_type"),
        ({"user": 5}, "user", "invalid_type"),
        ({"stream": True}, "stream", None),
    ],
)
def test_bad_requests_get_openai_errors_naming_the_field(
    url: str, fields: dict[str, Any], param: str, code: str | None
) -> None:
    body = {"model": "m", "input": "hi", **fields}
    body = {k: v for k, v in body.items() if v is not None}
    response = httpx.post(f"{url}/embeddings", json=body)
    assert_openai_error(response.json(), 400, response.status_code)
    assert (response.json()["error"]["param"], response.json()["error"]["code"]) == (param, code)


def test_a_backend_without_embeddings_answers_400() -> None:
    with serve_app(create_app(ScriptedBackend(), ServerConfig())) as url:
        response = httpx.post(f"{url}/embeddings", json={"model": "m", "input": "hi"})
        assert_openai_error(response.json(), 400, response.status_code)
        assert response.json()["error"]["param"] == "model"


def test_unknown_models_are_refused_with_strict_models() -> None:
    with serve_app(create_app(SyntheticBackend(), ServerConfig(strict_models=True))) as url:
        response = httpx.post(f"{url}/embeddings", json={"model": "nope", "input": "hi"})
        assert_openai_error(response.json(), 404, response.status_code)
        assert response.json()["error"]["code"] == "model_not_found"


class _FixedSize(SyntheticBackend):
    shortens_embeddings = False  # a model whose vectors lose their meaning cut short


def test_dimensions_are_refused_where_the_model_does_not_allow_them() -> None:
    with serve_app(create_app(_FixedSize(), ServerConfig())) as url:
        body = {"model": "m", "input": "hi", "dimensions": 64}
        response = httpx.post(f"{url}/embeddings", json=body)
        assert_openai_error(response.json(), 400, response.status_code)
        assert response.json()["error"]["param"] == "dimensions"
        assert response.json()["error"]["code"] == "unsupported_parameter"
        assert len(embed(url, dimensions=DIMENSIONS)["data"][0]["embedding"]) == DIMENSIONS

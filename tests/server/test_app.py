"""Routes, auth, model listing and every error status over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import orjson
import pytest

from rillet.server.app import create_app
from rillet.server.context import ServerConfig

from .fakes import ScriptedBackend, assert_openai_error, serve_app

CHAT = {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}


def test_health(base_url: str) -> None:
    response = httpx.get(base_url.removesuffix("/v1") + "/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_models(base_url: str) -> None:
    listing = httpx.get(f"{base_url}/models").json()
    assert listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == ["scripted-1"]
    assert listing["data"][0]["object"] == "model"
    # Any name is served, so any name can be retrieved.
    assert httpx.get(f"{base_url}/models/gpt-4").json()["id"] == "gpt-4"
    assert httpx.get(f"{base_url}/models/org/model:tag").json()["id"] == "org/model:tag"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nope", 404), ("POST", "/v1/completionz", 404), ("GET", "/v1/chat/completions", 405)],
)
def test_unknown_routes_and_methods(base_url: str, method: str, path: str, status: int) -> None:
    response = httpx.request(method, base_url.removesuffix("/v1") + path)
    assert_openai_error(response.json(), status, response.status_code)
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("content", "param"),
    [(b"{not json", None), (b"[1]", None), (b"", None), (b'{"model": "m"}', "messages")],
)
def test_malformed_bodies(base_url: str, content: bytes, param: str | None) -> None:
    response = httpx.post(f"{base_url}/chat/completions", content=content)
    assert_openai_error(response.json(), 400, response.status_code)
    assert response.json()["error"]["param"] == param


@pytest.fixture
def small_limit_url() -> Iterator[str]:
    with serve_app(create_app(ScriptedBackend(), ServerConfig(max_body_bytes=1000))) as url:
        yield url


def test_oversized_body_is_413(small_limit_url: str) -> None:
    big = {**CHAT, "messages": [{"role": "user", "content": "x" * 2000}]}
    response = httpx.post(f"{small_limit_url}/chat/completions", json=big)
    assert_openai_error(response.json(), 413, response.status_code)
    # Without Content-Length (chunked upload) the limit holds too.
    chunks = iter([orjson.dumps(big)[i : i + 100] for i in range(0, 2100, 100)])
    response = httpx.post(f"{small_limit_url}/chat/completions", content=chunks)
    assert_openai_error(response.json(), 413, response.status_code)
    assert httpx.post(f"{small_limit_url}/chat/completions", json=CHAT).status_code == 200


@pytest.fixture
def keyed_url() -> Iterator[str]:
    with serve_app(create_app(ScriptedBackend(), ServerConfig(api_key="sekrit"))) as url:
        yield url


@pytest.mark.parametrize("header", [None, "Bearer wrong", "sekrit", "Basic sekrit"])
def test_api_key_required(keyed_url: str, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    for response in (
        httpx.post(f"{keyed_url}/chat/completions", json=CHAT, headers=headers),
        httpx.get(f"{keyed_url}/models", headers=headers),
        httpx.get(f"{keyed_url}/nope", headers=headers),
    ):
        assert_openai_error(response.json(), 401, response.status_code)
        assert response.json()["error"]["code"] == "invalid_api_key"
        assert response.headers["x-request-id"].startswith("req_")


def test_api_key_accepted_and_health_open(keyed_url: str) -> None:
    auth = {"Authorization": "Bearer sekrit"}
    assert httpx.post(f"{keyed_url}/chat/completions", json=CHAT, headers=auth).status_code == 200
    assert httpx.get(keyed_url.removesuffix("/v1") + "/health").status_code == 200


def test_without_api_key_any_key_is_accepted(base_url: str) -> None:
    auth = {"Authorization": "Bearer anything"}
    assert httpx.post(f"{base_url}/chat/completions", json=CHAT, headers=auth).status_code == 200


@pytest.fixture
def strict_url() -> Iterator[str]:
    with serve_app(create_app(ScriptedBackend(), ServerConfig(strict_models=True))) as url:
        yield url


def test_strict_models(strict_url: str) -> None:
    response = httpx.post(f"{strict_url}/chat/completions", json=CHAT)
    assert_openai_error(response.json(), 404, response.status_code)
    assert response.json()["error"]["code"] == "model_not_found"
    response = httpx.get(f"{strict_url}/models/gpt-4")
    assert response.status_code == 404
    ok = httpx.post(f"{strict_url}/chat/completions", json={**CHAT, "model": "scripted-1"})
    assert ok.status_code == 200
    assert httpx.get(f"{strict_url}/models/scripted-1").json()["id"] == "scripted-1"


@pytest.fixture
def broken() -> ScriptedBackend:
    return ScriptedBackend(fail_after=3)


@pytest.fixture
def broken_url(broken: ScriptedBackend) -> Iterator[str]:
    with serve_app(create_app(broken)) as url:
        yield url


def test_backend_failure_is_a_500_without_traceback(broken_url: str) -> None:
    response = httpx.post(f"{broken_url}/chat/completions", json=CHAT)
    assert_openai_error(response.json(), 500, response.status_code)
    assert response.json()["error"]["type"] == "server_error"
    assert "scripted failure" not in response.text


def test_backend_failure_mid_stream_is_an_error_event(broken_url: str) -> None:
    response = httpx.post(f"{broken_url}/chat/completions", json={**CHAT, "stream": True})
    assert response.status_code == 200
    events = [block for block in response.text.split("\n\n") if block]
    last = orjson.loads(events[-1].removeprefix("data: "))
    assert_openai_error(last, 500, 500)
    assert "scripted failure" not in response.text
    # The server is still fine for the next request.
    assert httpx.get(f"{broken_url}/models").status_code == 200


def test_openai_client_sees_a_500_as_internal_server_error(broken_url: str) -> None:
    client = openai.OpenAI(base_url=broken_url, api_key="x", max_retries=0)
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 500
    # Mid-stream, the error event becomes an APIError raised while iterating.
    stream = client.chat.completions.create(
        model="gpt-4", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(openai.APIError):
        list(stream)


@pytest.fixture
def picky_url() -> Iterator[str]:
    with serve_app(create_app(ScriptedBackend(reject="no value fits the schema"))) as url:
        yield url


def test_backend_refusal_is_a_400(picky_url: str) -> None:
    response = httpx.post(f"{picky_url}/chat/completions", json=CHAT)
    assert_openai_error(response.json(), 400, response.status_code)
    assert response.json()["error"]["param"] == "response_format"
    assert response.json()["error"]["message"] == "no value fits the schema"
    assert response.json()["error"]["code"] == "schema_unsatisfiable"
    # Once a stream has started, the same error arrives as its last event.
    response = httpx.post(f"{picky_url}/chat/completions", json={**CHAT, "stream": True, "n": 2})
    last = orjson.loads(response.text.strip().split("\n\n")[-1].removeprefix("data: "))
    assert_openai_error(last, 400, 400)
    assert last["error"]["type"] == "invalid_request_error"

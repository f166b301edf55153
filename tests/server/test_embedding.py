"""The server as a library: `rillet.server`'s public names, and docs/server.md's backend example
run as written, served by `create_app` on a real loopback socket and read by the official client.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

import rillet.server
from rillet.server import Backend, create_app

from .fakes import serve_app

DOCS = Path(__file__).resolve().parents[2] / "docs" / "server.md"


def docs_example(marker: str) -> str:
    """The docs' Python code block containing `marker`."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    found = [block for block in blocks if marker in block]
    assert len(found) == 1, f"{len(found)} code blocks in {DOCS.name} contain {marker!r}"
    return found[0]


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "echo_example"}
    exec(compile(docs_example("class EchoBackend"), str(DOCS), "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def echo_url(example: dict[str, Any]) -> Iterator[str]:
    with serve_app(example["app"]) as url:
        yield url


@pytest.fixture
def client(echo_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=echo_url, api_key="secret", max_retries=0)


def test_the_example_backend_has_the_protocol_members(example: dict[str, Any]) -> None:
    backend: Backend = example["EchoBackend"]()
    members = [name for name in dir(Backend) if not name.startswith("_")] + ["name"]
    assert all(hasattr(backend, name) for name in members)
    assert backend.name == "echo" and backend.model_ids() == ["echo-1"]


def test_the_example_streams_chat_through_the_official_client(client: openai.OpenAI) -> None:
    with client.chat.completions.create(
        model="echo-1", messages=[{"role": "user", "content": "hello there"}], stream=True
    ) as stream:
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "hello there"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_the_example_honours_stop_and_max_tokens(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "one two three four"}]
    stopped = client.chat.completions.create(model="echo-1", messages=messages, stop=[" thr"])
    assert stopped.choices[0].message.content == "one two"
    assert stopped.choices[0].finish_reason == "stop"
    cut = client.chat.completions.create(model="echo-1", messages=messages, max_tokens=2)
    assert cut.choices[0].message.content == "one two "
    assert cut.choices[0].finish_reason == "length"
    assert cut.usage is not None and cut.usage.completion_tokens == 2


def test_the_example_serves_the_responses_api_too(client: openai.OpenAI) -> None:
    with client.responses.stream(model="echo-1", input="streamed through responses") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "streamed through responses"


def test_the_example_requires_its_api_key(echo_url: str) -> None:
    response = httpx.get(f"{echo_url}/models")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    listed = httpx.get(f"{echo_url}/models", headers={"Authorization": "Bearer secret"})
    assert [m["id"] for m in listed.json()["data"]] == ["echo-1"]


def test_create_app_serves_a_built_in_backend_by_name() -> None:
    app = create_app(rillet.server.create_backend("synthetic"), rillet.server.ServerConfig())
    with serve_app(app) as url:
        client = openai.OpenAI(base_url=url, api_key="any", max_retries=0)
        answer = client.chat.completions.create(
            model="gpt-4", messages=[{"role": "user", "content": "Hello!"}], seed=3
        )
    assert answer.choices[0].message.content


def test_every_public_name_resolves() -> None:
    assert sorted(rillet.server.__all__) == sorted(set(rillet.server.__all__))
    for name in rillet.server.__all__:
        assert getattr(rillet.server, name) is not None
    with pytest.raises(AttributeError):
        rillet.server.nonexistent  # noqa: B018


def test_importing_the_server_loads_no_client_module() -> None:
    code = (
        "import sys\n"
        "import rillet.server\n"
        "from rillet.server import create_app, Backend, ServerConfig, create_backend\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    ours = {name for name in loaded if name.startswith("rillet") and name != "rillet.server"}
    client = {name for name in ours if not name.startswith("rillet.server.")}
    assert client == {"rillet", "rillet._version"}, sorted(client)
    assert "httpx" not in loaded


def test_a_backend_importing_the_contract_does_not_load_starlette() -> None:
    code = (
        "import sys\n"
        "from rillet.server import Backend, Finish, GenerationRequest, StopMatcher, TextDelta\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    assert not [name for name in loaded if name.split(".")[0] in ("starlette", "uvicorn")]

"""The request fields a client sends reach `rillet serve` as promised: implemented, ignored or
refused with an OpenAI-shaped 400 naming the field (docs/server.md, "Fields the server does
not implement"). Run against a real `rillet serve --backend synthetic` subprocess.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest

import rillet
from tests._server import RESPONSES_CLIENT_MODULES, import_client, run_server

STORY = "Write a story about a robot."
MESSAGES = [{"role": "user", "content": STORY}]

# endpoint, field, a value the official API would accept, the `param` the 400 names.
REFUSED = [
    ("responses", "conversation", "conv_123", "conversation"),
    ("responses", "conversation", {"id": "conv_123"}, "conversation"),
    ("responses", "prompt", {"id": "pmpt_123", "variables": {"city": "Paris"}}, "prompt"),
    ("responses", "context_management", [{"type": "compaction"}], "context_management"),
    ("responses", "moderation", {"model": "omni-moderation-latest"}, "moderation"),
    ("chat", "moderation", {"model": "omni-moderation-latest"}, "moderation"),
    ("responses", "prompt_cache_options", {"prewarm": True}, "prompt_cache_options.prewarm"),
    ("chat", "prompt_cache_options", {"prewarm": True}, "prompt_cache_options.prewarm"),
]
# Accepted and ignored: the answer is the one the request without them gets.
IGNORED = [
    ("responses", "background_options", {"completion_window": "soonest"}),
    ("responses", "access_programs", {"cyber": "standard"}),
    ("responses", "image", {"context_compression": "auto"}),
    ("responses", "prompt_cache_options", {"mode": "implicit", "ttl": "30m"}),
    ("chat", "prompt_cache_options", {"mode": "explicit", "ttl": "12h", "prewarm": False}),
    ("responses", "conversation", None),  # null asks for nothing: accepted
    ("chat", "moderation", None),
]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with run_server("--backend", "synthetic") as url:
        yield url


@pytest.fixture(params=RESPONSES_CLIENT_MODULES)
def sdk(request: pytest.FixtureRequest) -> ModuleType:
    return import_client(request.param)


def create(client: Any, endpoint: str, **fields: Any) -> Any:
    if endpoint == "chat":
        return client.chat.completions.create(model="gpt-4", messages=MESSAGES, **fields)
    return client.responses.create(model="gpt-4", input=STORY, **fields)


def text_of(endpoint: str, answer: Any) -> str:
    if endpoint == "chat":
        return str(answer.choices[0].message.content)
    return str(answer.output_text)


# --- seed -----------------------------------------------------------------------------------


def test_responses_seed_through_rillets_client(base_url: str) -> None:
    client = rillet.OpenAI(base_url=base_url, api_key="sk-local", max_retries=0)
    first = client.responses.create(model="gpt-4", input=STORY, seed=1)
    again = client.responses.create(model="gpt-4", input=STORY, seed=1)
    assert first.status == "completed" and first.output_text
    assert again.output_text == first.output_text
    with client.responses.create(model="gpt-4", input=STORY, seed=1, stream=True) as stream:
        events = list(stream)
    streamed = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert streamed == first.output_text
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == first.output_text


def test_responses_seed_is_what_varies_the_answer(base_url: str) -> None:
    client = rillet.OpenAI(base_url=base_url, api_key="sk-local", max_retries=0)
    texts = {
        client.responses.create(model="gpt-4", input=STORY, seed=s).output_text for s in range(4)
    }
    assert len(texts) > 1


def test_the_official_client_sends_seed_as_an_extra(base_url: str) -> None:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="sk-local", max_retries=0)
    ours = rillet.OpenAI(base_url=base_url, api_key="sk-local", max_retries=0)
    theirs = client.responses.create(model="gpt-4", input=STORY, extra_body={"seed": 2})
    assert (
        theirs.output_text == ours.responses.create(model="gpt-4", input=STORY, seed=2).output_text
    )


# --- refused fields -------------------------------------------------------------------------


@pytest.mark.parametrize(("endpoint", "field", "value", "param"), REFUSED)
def test_a_refused_field_is_an_openai_shaped_400_naming_it(
    base_url: str, endpoint: str, field: str, value: object, param: str
) -> None:
    path = "chat/completions" if endpoint == "chat" else "responses"
    body: dict[str, Any] = {"model": "gpt-4", field: value}
    body.update({"messages": MESSAGES} if endpoint == "chat" else {"input": STORY})
    for stream in (False, True):
        response = httpx.post(f"{base_url}/{path}", json={**body, "stream": stream})
        assert response.status_code == 400, response.text
        payload = response.json()
        assert set(payload) == {"error"}
        error = payload["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["type"] == "invalid_request_error"
        assert error["param"] == param
        assert error["code"] == "unsupported_parameter"
        assert f"'{param}' is not supported" in error["message"]


@pytest.mark.parametrize(("endpoint", "field", "value", "param"), REFUSED)
def test_a_refused_field_raises_bad_request_in_the_client(
    base_url: str, sdk: ModuleType, endpoint: str, field: str, value: object, param: str
) -> None:
    client = sdk.OpenAI(base_url=base_url, api_key="sk-local", max_retries=0)
    with pytest.raises(sdk.BadRequestError) as info:
        create(client, endpoint, **{field: value})
    assert info.value.status_code == 400
    assert info.value.param == param
    assert info.value.code == "unsupported_parameter"


# --- ignored fields -------------------------------------------------------------------------


@pytest.mark.parametrize(("endpoint", "field", "value"), IGNORED)
def test_an_ignored_field_changes_nothing(
    base_url: str, sdk: ModuleType, endpoint: str, field: str, value: object
) -> None:
    client = sdk.OpenAI(base_url=base_url, api_key="sk-local", max_retries=0)
    plain = text_of(endpoint, create(client, endpoint))
    assert text_of(endpoint, create(client, endpoint, **{field: value})) == plain

"""The official package's `NOT_GIVEN` / `omit` are rillet's own wherever a call takes them
(LangChain, the OpenAI Agents SDK and pydantic-ai pass them for unset parameters), and a
value that cannot be sent raises `InvalidParameterError` naming it, before any I/O."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest

import rillet
from rillet._encode import InvalidParameterError
from rillet._types import is_given, is_not_given, is_omit

OFFICIAL_UNSET = [openai.NOT_GIVEN, openai.not_given, openai.NotGiven(), openai.omit, openai.Omit()]
OWN_UNSET = [rillet.NOT_GIVEN, rillet.not_given, rillet.omit, rillet.Omit()]


@pytest.fixture
def client() -> Iterator[rillet.OpenAI]:
    with rillet.OpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1") as c:
        yield c


def body(client: rillet.OpenAI, **params: Any) -> Any:
    spec = client._spec("POST", "/chat/completions", params)
    assert spec.content is not None
    return orjson.loads(spec.content)


@pytest.mark.parametrize("value", OFFICIAL_UNSET + OWN_UNSET, ids=repr)
def test_unset_values_are_not_given(value: object) -> None:
    assert not is_given(value)


@pytest.mark.parametrize("value", [None, 0, "", False, [], {}, "NOT_GIVEN", object()])
def test_ordinary_values_are_given(value: object) -> None:
    assert is_given(value)
    assert not is_omit(value)
    assert not is_not_given(value)


def test_official_classes_are_recognised_by_kind() -> None:
    assert is_omit(openai.omit) and is_omit(openai.Omit())
    assert not is_omit(openai.NOT_GIVEN)
    assert is_not_given(openai.NOT_GIVEN) and is_not_given(openai.NotGiven())
    assert not is_not_given(openai.omit)


@pytest.mark.parametrize("value", OFFICIAL_UNSET, ids=repr)
def test_official_unset_parameters_are_left_out_of_the_body(
    client: rillet.OpenAI, value: object
) -> None:
    sent = body(client, model="m", messages=[], temperature=value, user=value, stream=value)
    assert sent == {"model": "m", "messages": []}


@pytest.mark.parametrize("value", OFFICIAL_UNSET + OWN_UNSET, ids=repr)
def test_unset_values_nested_in_parameters_are_left_out(
    client: rillet.OpenAI, value: object
) -> None:
    messages = [{"role": "user", "content": "hi", "name": value}]
    sent = body(client, model="m", messages=messages, stream_options={"include_usage": value})
    assert sent == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "stream_options": {},
    }


def test_unset_values_in_extra_body_are_left_out(client: rillet.OpenAI) -> None:
    sent = body(client, model="m", extra_body={"seed": openai.NOT_GIVEN, "top_k": 3})
    assert sent == {"model": "m", "top_k": 3}


def test_create_params_accept_the_official_sentinels(client: rillet.OpenAI) -> None:
    """Through the resource's own parameter check, which must not count them as unknown."""
    from rillet.resources.chat import _ENDPOINT

    spec = _ENDPOINT.create(
        client, {"model": "m", "messages": [], "n": openai.NOT_GIVEN, "tools": openai.omit}, None
    )
    assert spec.content is not None and orjson.loads(spec.content) == {"model": "m", "messages": []}
    assert spec.stream is False


@pytest.mark.parametrize("value", [openai.NOT_GIVEN, openai.omit, rillet.NOT_GIVEN], ids=repr)
def test_unset_request_options_take_the_client_defaults(
    client: rillet.OpenAI, value: object
) -> None:
    spec = client._spec(
        "POST",
        "/chat/completions",
        {
            "model": "m",
            "timeout": value,
            "max_retries": value,
            "stream_idle_timeout": value,
            "extra_headers": value,
            "extra_query": value,
            "extra_body": value,
        },
    )
    assert spec.timeout == client.timeout
    assert spec.max_retries == client.max_retries
    assert spec.idle_timeout == client.stream_idle_timeout
    assert spec.headers == client.default_headers
    assert spec.params == {}


def test_official_omit_in_headers_removes_a_default_header(client: rillet.OpenAI) -> None:
    spec = client._spec(
        "POST", "/x", {"extra_headers": {"user-agent": openai.omit, "X-Kept": "yes"}}
    )
    assert "User-Agent" not in spec.headers and "user-agent" not in spec.headers
    assert spec.headers["X-Kept"] == "yes"


def test_official_not_given_in_headers_keeps_the_header(client: rillet.OpenAI) -> None:
    spec = client._spec("POST", "/x", {"extra_headers": {"User-Agent": openai.NOT_GIVEN}})
    assert spec.headers["User-Agent"] == client.default_headers["User-Agent"]


def test_official_omit_in_default_headers() -> None:
    with rillet.OpenAI(
        api_key="sk", base_url="http://127.0.0.1:9/v1", default_headers={"Accept": openai.omit}
    ) as c:
        assert "Accept" not in c._spec("GET", "/models").headers


def test_official_unset_query_values_are_left_out(client: rillet.OpenAI) -> None:
    spec = client._spec("GET", "/models", {"extra_query": {"a": openai.NOT_GIVEN, "b": "1"}})
    assert spec.params == {"b": "1"}


def test_client_settings_take_the_official_not_given() -> None:
    with rillet.OpenAI(
        api_key="sk",
        base_url="http://127.0.0.1:9/v1",
        timeout=openai.NOT_GIVEN,
        max_retries=openai.NOT_GIVEN,
    ) as c:
        assert c.timeout == rillet.OpenAI(api_key="sk").timeout
        assert c.max_retries == 2
        copy = c.with_options(timeout=5.0)
        assert copy.timeout == httpx.Timeout(5.0)
        # As officially, NOT_GIVEN in `with_options` keeps the client's setting.
        kept = copy.with_options(timeout=openai.NOT_GIVEN, max_retries=openai.NOT_GIVEN)
        assert kept.timeout == httpx.Timeout(5.0)
        assert kept.max_retries == 2


async def test_async_client_takes_the_official_sentinels() -> None:
    async with rillet.AsyncOpenAI(api_key="sk", base_url="http://127.0.0.1:9/v1") as c:
        spec = c._spec(
            "POST",
            "/chat/completions",
            {"model": "m", "seed": openai.NOT_GIVEN, "extra_headers": {"Accept": openai.omit}},
        )
        assert spec.content is not None and orjson.loads(spec.content) == {"model": "m"}
        assert "Accept" not in spec.headers


class Opaque:
    pass


def test_an_unserialisable_parameter_is_named(client: rillet.OpenAI) -> None:
    with pytest.raises(InvalidParameterError, match="'metadata'") as caught:
        client.chat.completions.create(model="m", messages=[], metadata={"k": Opaque()})
    assert caught.value.parameter == "metadata"
    assert isinstance(caught.value, TypeError)
    assert isinstance(caught.value, rillet.OpenAIError)
    assert "Opaque" in str(caught.value)


def test_an_unserialisable_extra_body_field_is_named(client: rillet.OpenAI) -> None:
    with pytest.raises(InvalidParameterError, match="'custom'"):
        client._spec("POST", "/x", {"extra_body": {"custom": {1, 2}.__iter__}})


def test_a_sentinel_inside_a_list_is_refused_by_name(client: rillet.OpenAI) -> None:
    with pytest.raises(InvalidParameterError, match="'stop'"):
        client._spec("POST", "/x", {"stop": ["a", openai.NOT_GIVEN]})


def test_a_header_that_is_not_a_string_is_named(client: rillet.OpenAI) -> None:
    with pytest.raises(InvalidParameterError, match="'X-Count'") as caught:
        client.models.list(extra_headers={"X-Count": 3})
    assert caught.value.parameter == "X-Count"


def test_a_query_value_httpx_cannot_send_is_named(client: rillet.OpenAI) -> None:
    with pytest.raises(InvalidParameterError, match="'filter'"):
        client.models.list(extra_query={"filter": {"nested": 1}})
    spec = client._spec("GET", "/x", {"extra_query": {"ids": ["a", "b"], "n": 2, "f": None}})
    assert spec.params == {"ids": ["a", "b"], "n": 2, "f": None}


async def test_async_unserialisable_parameter_is_named() -> None:
    async with rillet.AsyncOpenAI(api_key="sk", base_url="http://127.0.0.1:9/v1") as c:
        with pytest.raises(InvalidParameterError, match="'messages'"):
            await c.chat.completions.create(model="m", messages=[{"content": Opaque()}])


def test_response_models_and_iterables_still_serialise(client: rillet.OpenAI) -> None:
    from rillet.types.chat import ChatCompletionMessage

    message = ChatCompletionMessage.construct({"role": "assistant", "content": "hi"})
    sent = body(client, messages=[message], stop=(s for s in ["x"]))
    assert sent == {"messages": [{"role": "assistant", "content": "hi"}], "stop": ["x"]}


def test_recognising_sentinels_does_not_import_openai() -> None:
    script = textwrap.dedent(
        """
        import sys
        import rillet
        client = rillet.OpenAI(api_key="sk", base_url="http://127.0.0.1:9/v1")
        spec = client._spec("POST", "/x", {"model": "m", "seed": rillet.NOT_GIVEN,
                                           "extra_headers": {"Accept": rillet.omit}})
        assert spec.content == b'{"model":"m"}', spec.content
        loaded = sorted(n for n in sys.modules if n == "openai" or n.startswith("openai."))
        assert not loaded, loaded
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)

"""Client settings and request building, checked on the `RequestSpec` without sending."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

import rillet
from rillet import NOT_GIVEN, AsyncOpenAI, OpenAI, omit
from rillet._constants import DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from rillet._send import RequestSpec

# Nothing listens here; a test that reached the network would fail or hang, not pass.
UNROUTABLE = "http://127.0.0.1:9/v1"
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def client() -> Iterator[OpenAI]:
    with OpenAI(api_key="sk-test", base_url=UNROUTABLE) as c:
        yield c


def spec(client: OpenAI | AsyncOpenAI, **params: Any) -> RequestSpec:
    return client._spec("POST", "/chat/completions", {"model": "m", **params})


def body(s: RequestSpec) -> dict[str, Any]:
    assert s.content is not None
    decoded: dict[str, Any] = orjson.loads(s.content)
    return decoded


def header(s: RequestSpec, name: str) -> str | None:
    """The header as httpx will send it (case-insensitive; several values joined)."""
    values = httpx.Headers(s.headers).get_list(name)
    return ", ".join(values) if values else None


# -- environment ---------------------------------------------------------------------------


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env.invalid:8000/v1")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-env")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-env")
    with OpenAI() as c:
        assert c.api_key == "sk-env"
        assert str(c.base_url) == "http://env.invalid:8000/v1/"
        assert c.organization == "org-env"
        assert c.project == "proj-env"
        s = spec(c)
    assert s.url == "http://env.invalid:8000/v1/chat/completions"
    assert header(s, "authorization") == "Bearer sk-env"
    assert header(s, "openai-organization") == "org-env"
    assert header(s, "openai-project") == "proj-env"


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env.invalid/v1")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-env")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-env")
    with OpenAI(
        api_key="sk-arg", base_url="http://arg.invalid/v2", organization="org-a", project="p-a"
    ) as c:
        s = spec(c)
    assert s.url == "http://arg.invalid/v2/chat/completions"
    assert header(s, "authorization") == "Bearer sk-arg"
    assert header(s, "openai-organization") == "org-a"
    assert header(s, "openai-project") == "p-a"


def test_defaults_without_environment() -> None:
    with OpenAI(api_key="sk") as c:
        assert str(c.base_url) == DEFAULT_BASE_URL + "/"
        assert c.organization is None and c.project is None
        assert c.max_retries == DEFAULT_MAX_RETRIES == 2
        assert c.timeout == DEFAULT_TIMEOUT
        assert c.stream_idle_timeout is None
        s = spec(c)
    assert s.url == "https://api.openai.com/v1/chat/completions"
    assert header(s, "openai-organization") is None
    assert header(s, "openai-project") is None
    assert header(s, "content-type") == "application/json"
    assert header(s, "accept") == "application/json"
    assert header(s, "user-agent") == f"rillet/{rillet.__version__}"
    assert s.timeout == httpx.Timeout(600.0, connect=5.0)
    assert s.max_retries == 2
    assert s.idle_timeout is None
    assert s.stream is False


@pytest.mark.parametrize("cls", [OpenAI, AsyncOpenAI])
def test_missing_api_key_is_a_clear_error(cls: type[OpenAI | AsyncOpenAI]) -> None:
    with pytest.raises(rillet.OpenAIError, match=r"api_key.*OPENAI_API_KEY"):
        cls()


def test_empty_api_key_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "")
    with pytest.raises(rillet.OpenAIError, match="OPENAI_API_KEY"):
        OpenAI()


# -- base URL ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    [
        "http://h.invalid/v1",
        "http://h.invalid/v1/",
        "http://h.invalid/v1//",
        httpx.URL("http://h.invalid/v1"),
    ],
)
@pytest.mark.parametrize("path", ["/chat/completions", "chat/completions"])
def test_base_url_slashes(base_url: str | httpx.URL, path: str) -> None:
    with OpenAI(api_key="sk", base_url=base_url) as c:
        assert str(c.base_url) == "http://h.invalid/v1/"
        s = c._spec("POST", path, {"model": "m"})
    assert s.url == "http://h.invalid/v1/chat/completions"


def test_base_url_without_a_path() -> None:
    with OpenAI(api_key="sk", base_url="http://h.invalid:1234") as c:
        assert spec(c).url == "http://h.invalid:1234/chat/completions"


def test_base_url_from_env_with_trailing_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env.invalid/v1/")
    with OpenAI(api_key="sk") as c:
        assert spec(c).url == "http://env.invalid/v1/chat/completions"


# -- headers -------------------------------------------------------------------------------


def test_default_headers_are_sent_and_can_replace_built_in_ones() -> None:
    with OpenAI(
        api_key="sk",
        base_url=UNROUTABLE,
        default_headers={"X-Team": "search", "User-Agent": "my-app/1"},
    ) as c:
        s = spec(c)
    assert header(s, "x-team") == "search"
    assert header(s, "user-agent") == "my-app/1"


def test_default_headers_replace_built_in_ones_whatever_their_case() -> None:
    with OpenAI(
        api_key="sk",
        base_url=UNROUTABLE,
        default_headers={"user-agent": "my-app/1", "authorization": "Bearer other"},
    ) as c:
        s = spec(c)
    assert header(s, "user-agent") == "my-app/1"
    assert header(s, "authorization") == "Bearer other"


def test_extra_headers_add_and_override(client: OpenAI) -> None:
    s = spec(client, extra_headers={"X-Trace": "t1", "Authorization": "Bearer per-call"})
    assert header(s, "x-trace") == "t1"
    assert header(s, "authorization") == "Bearer per-call"
    # ... for that call only.
    assert header(spec(client), "x-trace") is None
    assert header(spec(client), "authorization") == "Bearer sk-test"


def test_extra_headers_override_whatever_their_case(client: OpenAI) -> None:
    s = spec(client, extra_headers={"authorization": "Bearer per-call", "user-agent": "u"})
    assert header(s, "authorization") == "Bearer per-call"
    assert header(s, "user-agent") == "u"


def test_omit_removes_a_default_header(client: OpenAI) -> None:
    s = spec(client, extra_headers={"User-Agent": omit, "Accept": rillet.Omit()})
    assert header(s, "user-agent") is None
    assert header(s, "accept") is None
    assert header(s, "authorization") == "Bearer sk-test"
    assert all(isinstance(v, str) for v in s.headers.values())


def test_omit_removes_a_default_header_whatever_its_case(client: OpenAI) -> None:
    s = spec(client, extra_headers={"user-agent": omit})
    assert header(s, "user-agent") is None


def test_omit_of_an_absent_header_is_harmless(client: OpenAI) -> None:
    s = spec(client, extra_headers={"X-Nothing": omit})
    assert header(s, "x-nothing") is None


def test_omit_in_default_headers_removes_a_built_in_header() -> None:
    with OpenAI(api_key="sk", base_url=UNROUTABLE, default_headers={"User-Agent": omit}) as c:
        s = spec(c)
    assert header(s, "user-agent") is None
    assert all(isinstance(v, str) for v in s.headers.values())


def test_organization_and_project_headers() -> None:
    with OpenAI(api_key="sk", base_url=UNROUTABLE, organization="org", project="proj") as c:
        s = spec(c)
    assert header(s, "OpenAI-Organization") == "org"
    assert header(s, "OpenAI-Project") == "proj"


# -- query ---------------------------------------------------------------------------------


def test_default_query_and_extra_query() -> None:
    with OpenAI(
        api_key="sk", base_url=UNROUTABLE, default_query={"api-version": "2024", "a": "1"}
    ) as c:
        assert spec(c).params == {"api-version": "2024", "a": "1"}
        s = spec(c, extra_query={"a": "2", "b": "3"})
        assert s.params == {"api-version": "2024", "a": "2", "b": "3"}
        assert spec(c, extra_query={"api-version": omit}).params == {"a": "1"}
        assert spec(c, extra_query={"api-version": NOT_GIVEN}).params == {"a": "1"}
        assert c._spec("GET", "/models", query={"limit": 2}).params == {
            "api-version": "2024",
            "a": "1",
            "limit": 2,
        }
        # The per-call query did not stick.
        assert spec(c).params == {"api-version": "2024", "a": "1"}


def test_query_reaches_the_url_httpx_builds(client: OpenAI) -> None:
    s = spec(client, extra_query={"x": "1"})
    request = client._http.build_request(s.method, s.url, params=s.params)
    assert request.url.params["x"] == "1"
    assert request.url.path == "/v1/chat/completions"


# -- body ----------------------------------------------------------------------------------


def test_body_leaves_out_not_given_and_keeps_none(client: OpenAI) -> None:
    s = spec(
        client,
        messages=MESSAGES,
        temperature=NOT_GIVEN,
        top_p=rillet.not_given,
        seed=None,
        max_tokens=5,
        user=omit,
    )
    assert body(s) == {"model": "m", "messages": MESSAGES, "seed": None, "max_tokens": 5}


def test_request_options_are_not_sent_in_the_body(client: OpenAI) -> None:
    s = spec(
        client,
        messages=MESSAGES,
        extra_headers={"X-A": "1"},
        extra_query={"q": "1"},
        extra_body={"b": 1},
        timeout=3.0,
        max_retries=0,
        stream_idle_timeout=1.0,
    )
    assert body(s) == {"model": "m", "messages": MESSAGES, "b": 1}


def test_extra_body_merges_and_overrides(client: OpenAI) -> None:
    s = spec(
        client,
        messages=MESSAGES,
        temperature=0.5,
        extra_body={"top_k": 40, "temperature": 0.1, "chat_template_kwargs": {"x": True}},
    )
    assert body(s) == {
        "model": "m",
        "messages": MESSAGES,
        "temperature": 0.1,
        "top_k": 40,
        "chat_template_kwargs": {"x": True},
    }


def test_body_accepts_iterables_and_response_models(client: OpenAI) -> None:
    from rillet.types.chat import ChatCompletionMessage

    reply = ChatCompletionMessage.construct({"role": "assistant", "content": "yo", "x": 1})
    s = spec(client, messages=(m for m in [*MESSAGES, reply]), stop=("a", "b"))
    assert body(s) == {
        "model": "m",
        "messages": [*MESSAGES, {"role": "assistant", "content": "yo", "x": 1}],
        "stop": ["a", "b"],
    }


def test_stream_flag(client: OpenAI) -> None:
    assert spec(client, stream=True).stream is True
    assert body(spec(client, stream=True))["stream"] is True
    assert spec(client, stream=False).stream is False
    assert spec(client).stream is False


def test_get_has_no_body(client: OpenAI) -> None:
    s = client._spec("GET", "/models")
    assert s.content is None
    assert s.method == "GET"
    assert s.url == "http://127.0.0.1:9/v1/models"


# -- timeouts and retries ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (12.5, httpx.Timeout(12.5)),
        (httpx.Timeout(3.0, connect=1.0), httpx.Timeout(3.0, connect=1.0)),
        (None, httpx.Timeout(None)),
    ],
)
def test_client_timeout(value: float | httpx.Timeout | None, expected: httpx.Timeout) -> None:
    with OpenAI(api_key="sk", base_url=UNROUTABLE, timeout=value) as c:
        assert c.timeout == expected
        assert spec(c).timeout == expected
        assert c._http.timeout == expected  # the pool's own default, too


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2.0, httpx.Timeout(2.0)),
        (httpx.Timeout(9.0, read=1.0), httpx.Timeout(9.0, read=1.0)),
        (None, httpx.Timeout(None)),
        (NOT_GIVEN, httpx.Timeout(30.0)),
    ],
)
def test_per_call_timeout(value: Any, expected: httpx.Timeout) -> None:
    with OpenAI(api_key="sk", base_url=UNROUTABLE, timeout=30.0) as c:
        assert spec(c, timeout=value).timeout == expected
        assert spec(c).timeout == httpx.Timeout(30.0)


def test_max_retries_per_client_and_per_call() -> None:
    with OpenAI(api_key="sk", base_url=UNROUTABLE, max_retries=5) as c:
        assert c.max_retries == 5
        assert spec(c).max_retries == 5
        assert spec(c, max_retries=0).max_retries == 0
        assert spec(c, max_retries=9).max_retries == 9
        assert spec(c).max_retries == 5


def test_stream_idle_timeout_per_client_and_per_call() -> None:
    with OpenAI(api_key="sk", base_url=UNROUTABLE, stream_idle_timeout=4.0) as c:
        assert c.stream_idle_timeout == 4.0
        assert spec(c, stream=True).idle_timeout == 4.0
        assert spec(c, stream=True, stream_idle_timeout=0.5).idle_timeout == 0.5
        assert spec(c, stream=True, stream_idle_timeout=None).idle_timeout is None
        assert spec(c, stream=True, stream_idle_timeout=NOT_GIVEN).idle_timeout == 4.0
    with OpenAI(api_key="sk", base_url=UNROUTABLE) as c:
        assert spec(c, stream=True).idle_timeout is None
        assert spec(c, stream=True, stream_idle_timeout=2.0).idle_timeout == 2.0


# -- with_options --------------------------------------------------------------------------


def test_with_options_changes_settings_and_shares_the_pool() -> None:
    with OpenAI(
        api_key="sk",
        base_url=UNROUTABLE,
        organization="org",
        default_headers={"X-A": "1"},
        default_query={"q": "1"},
        stream_idle_timeout=3.0,
    ) as c:
        copy = c.with_options(timeout=7.0, max_retries=0, stream_idle_timeout=1.0)
        assert copy is not c
        assert type(copy) is OpenAI
        assert copy._http is c._http  # same connection pool
        assert copy.timeout == httpx.Timeout(7.0)
        assert copy.max_retries == 0
        assert copy.stream_idle_timeout == 1.0
        # Unchanged settings carry over.
        assert copy.api_key == "sk"
        assert copy.organization == "org"
        assert str(copy.base_url) == "http://127.0.0.1:9/v1/"
        s = spec(copy)
        assert header(s, "x-a") == "1"
        assert s.params == {"q": "1"}
        assert (s.timeout, s.max_retries, s.idle_timeout) == (httpx.Timeout(7.0), 0, 1.0)
        # The original is untouched.
        assert c.timeout == DEFAULT_TIMEOUT
        assert c.max_retries == DEFAULT_MAX_RETRIES
        assert c.stream_idle_timeout == 3.0
        assert c.copy is not None  # the official alias exists


def test_with_options_base_url_and_key() -> None:
    with OpenAI(api_key="sk", base_url=UNROUTABLE) as c:
        other = c.with_options(api_key="sk-2", base_url="http://other.invalid/v9/")
        s = spec(other)
        assert s.url == "http://other.invalid/v9/chat/completions"
        assert header(s, "authorization") == "Bearer sk-2"
        assert spec(c).url == "http://127.0.0.1:9/v1/chat/completions"


def test_with_options_merges_default_headers_and_query_like_the_official_client() -> None:
    with OpenAI(
        api_key="sk",
        base_url=UNROUTABLE,
        default_headers={"X-A": "1", "X-B": "1"},
        default_query={"a": "1"},
    ) as c:
        merged = c.with_options(default_headers={"X-B": "2"}, default_query={"b": "2"})
        s = spec(merged)
        assert header(s, "x-a") == "1"
        assert header(s, "x-b") == "2"
        assert s.params == {"a": "1", "b": "2"}
        replaced = c.with_options(set_default_headers={"X-C": "3"}, set_default_query={"c": "3"})
        s = spec(replaced)
        assert header(s, "x-a") is None
        assert header(s, "x-c") == "3"
        assert s.params == {"c": "3"}
        assert header(spec(c), "x-b") == "1"


async def test_async_with_options_shares_the_pool() -> None:
    async with AsyncOpenAI(api_key="sk", base_url=UNROUTABLE) as c:
        copy = c.with_options(max_retries=7, timeout=httpx.Timeout(2.0))
        assert type(copy) is AsyncOpenAI
        assert copy._http is c._http
        s = spec(copy)
        assert (s.max_retries, s.timeout) == (7, httpx.Timeout(2.0))
        assert spec(c).max_retries == DEFAULT_MAX_RETRIES


def test_with_options_rejects_unknown_settings(client: OpenAI) -> None:
    with pytest.raises(TypeError):
        client.with_options(not_a_setting=1)


def test_with_options_default_and_set_default_are_exclusive(client: OpenAI) -> None:
    with pytest.raises(ValueError, match="mutually exclusive"):
        client.with_options(default_headers={"a": "1"}, set_default_headers={"b": "2"})
    with pytest.raises(ValueError, match="mutually exclusive"):
        client.with_options(default_query={"a": "1"}, set_default_query={"b": "2"})


# -- argument checking ---------------------------------------------------------------------


class _NoNetwork(httpx.BaseTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"unexpected request to {request.url}")


class _AsyncNoNetwork(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"unexpected request to {request.url}")


def test_unknown_keyword_argument_is_a_type_error_before_any_io() -> None:
    http = httpx.Client(transport=_NoNetwork())
    with OpenAI(api_key="sk", base_url=UNROUTABLE, http_client=http, max_retries=0) as c:
        create: Any = c.chat.completions.create  # the misspellings are the point
        with pytest.raises(TypeError, match="temprature"):
            create(model="m", messages=MESSAGES, temprature=0.2)
        with pytest.raises(TypeError, match="bogus"):
            create(model="m", messages=MESSAGES, stream=True, bogus=1)


async def test_async_unknown_keyword_argument_is_a_type_error_before_any_io() -> None:
    http = httpx.AsyncClient(transport=_AsyncNoNetwork())
    async with AsyncOpenAI(api_key="sk", base_url=UNROUTABLE, http_client=http) as c:
        create: Any = c.chat.completions.create
        with pytest.raises(TypeError, match="temprature"):
            await create(model="m", messages=MESSAGES, temprature=0.2)


def test_stream_helpers_refuse_a_stream_argument_before_any_io() -> None:
    http = httpx.Client(transport=_NoNetwork())
    with OpenAI(api_key="sk", base_url=UNROUTABLE, http_client=http) as c:
        helpers: list[Any] = [c.chat.completions.stream, c.responses.stream]
        for helper in helpers:
            with pytest.raises(TypeError, match="always streams"):
                helper(model="m", messages=MESSAGES, stream=True)


async def test_async_stream_helpers_refuse_a_stream_argument_before_any_io() -> None:
    http = httpx.AsyncClient(transport=_AsyncNoNetwork())
    async with AsyncOpenAI(api_key="sk", base_url=UNROUTABLE, http_client=http) as c:
        helpers: list[Any] = [c.chat.completions.stream, c.responses.stream]
        for helper in helpers:
            with pytest.raises(TypeError, match="always streams"):
                helper(model="m", messages=MESSAGES, stream=True)


def test_known_arguments_pass_the_check(client: OpenAI) -> None:
    from rillet.resources._resource import create_params
    from rillet.resources.chat import _PARAMS

    params = {"model": "m", "messages": MESSAGES, "temperature": 0.2, "extra_body": {"k": 1}}
    assert create_params(params, True, _PARAMS) == {**params, "stream": True}
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        create_params({"model": "m", "nope": 1}, None, _PARAMS)


# -- generic get/post/delete ---------------------------------------------------------------


def test_generic_call_options_map_to_request_options(client: OpenAI) -> None:
    from rillet._client import _generic_params

    params = _generic_params(
        {"a": 1},
        {"headers": {"X-A": "1"}, "params": {"q": "v"}, "extra_json": {"b": 2}, "timeout": 3.0},
    )
    s = client._spec("POST", "/anything", params)
    assert body(s) == {"a": 1, "b": 2}
    assert header(s, "x-a") == "1"
    assert s.params == {"q": "v"}
    assert s.timeout == httpx.Timeout(3.0)


def test_generic_call_rejects_unknown_options() -> None:
    from rillet._client import _generic_params

    with pytest.raises(TypeError, match="'idempotency'"):
        _generic_params(None, {"idempotency": "x"})


def test_delete_has_no_body(client: OpenAI) -> None:
    assert client._spec("DELETE", "/responses/x", {}).content is None

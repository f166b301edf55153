"""The names a user of the official package touches exist in rillet, with the same fields."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import openai
import pytest

import rillet

TOP_LEVEL = [
    "OpenAI",
    "AsyncOpenAI",
    "Stream",
    "AsyncStream",
    "NOT_GIVEN",
    "NotGiven",
    "Omit",
    "omit",
    "not_given",
    "BaseModel",
    "types",
    "pydantic_function_tool",
    "pydantic_responses_function_tool",
]

EXCEPTIONS = [
    "OpenAIError",
    "APIError",
    "APIStatusError",
    "APIConnectionError",
    "APITimeoutError",
    "APIResponseValidationError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "UnprocessableEntityError",
    "RateLimitError",
    "InternalServerError",
]


@pytest.mark.parametrize("name", TOP_LEVEL + EXCEPTIONS)
def test_top_level_name_exists(name: str) -> None:
    assert hasattr(openai, name), f"test list is wrong: openai has no {name}"
    assert hasattr(rillet, name)
    assert name in rillet.__all__


@pytest.mark.parametrize("name", EXCEPTIONS)
def test_exception_names_are_exception_classes(name: str) -> None:
    ours = getattr(rillet, name)
    assert isinstance(ours, type) and issubclass(ours, Exception)
    assert ours.__name__ == name


def test_all_lists_only_real_names() -> None:
    for name in rillet.__all__:
        assert hasattr(rillet, name), name


def test_version() -> None:
    assert isinstance(rillet.__version__, str) and rillet.__version__


# (module under `types`, class name) pairs whose fields must match the official ones.
TYPE_PAIRS = [
    ("chat", "ChatCompletionChunk"),
    ("chat", "ChatCompletion"),
    ("chat", "ChatCompletionMessage"),
    ("chat", "ChatCompletionMessageToolCall"),
    ("chat", "ChatCompletionTokenLogprob"),
    ("chat.chat_completion_chunk", "ChatCompletionChunk"),
    ("chat.chat_completion_chunk", "Choice"),
    ("chat.chat_completion_chunk", "ChoiceDelta"),
    ("chat.chat_completion_chunk", "ChoiceDeltaToolCall"),
    ("chat.chat_completion_chunk", "ChoiceDeltaFunctionCall"),
    ("chat.chat_completion_chunk", "ChoiceDeltaToolCallFunction"),
    ("chat.chat_completion_chunk", "ChoiceLogprobs"),
    ("chat.chat_completion", "Choice"),
    ("chat.chat_completion", "ChoiceLogprobs"),
    ("chat.chat_completion_message", "FunctionCall"),
    ("chat.chat_completion_token_logprob", "TopLogprob"),
    ("chat", "ParsedChatCompletion"),
    ("chat", "ParsedChatCompletionMessage"),
    ("chat", "ParsedChoice"),
    ("chat", "ParsedFunction"),
    ("chat", "ParsedFunctionToolCall"),
    ("", "CompletionUsage"),
    ("", "Model"),
    ("", "Completion"),
    ("", "CompletionChoice"),
    ("completion_choice", "Logprobs"),
    ("", "CreateEmbeddingResponse"),
    ("", "Embedding"),
    ("create_embedding_response", "Usage"),
    ("completion_usage", "CompletionTokensDetails"),
    ("completion_usage", "PromptTokensDetails"),
]


def _pair(module: str, name: str) -> tuple[Any, Any]:
    suffix = f".{module}" if module else ""
    ours = getattr(importlib.import_module(f"rillet.types{suffix}"), name)
    theirs = getattr(importlib.import_module(f"openai.types{suffix}"), name)
    return ours, theirs


@pytest.mark.parametrize(("module", "name"), TYPE_PAIRS, ids=lambda v: v or "types")
def test_type_has_the_official_field_names(module: str, name: str) -> None:
    ours, theirs = _pair(module, name)
    assert issubclass(ours, rillet.BaseModel)
    official = set(theirs.model_fields)
    assert set(ours.__fields__) == official, (
        f"missing {sorted(official - set(ours.__fields__))}, "
        f"extra {sorted(set(ours.__fields__) - official)}"
    )
    assert len(ours.__fields__) == len(set(ours.__fields__))


@pytest.mark.parametrize(("module", "name"), TYPE_PAIRS, ids=lambda v: v or "types")
def test_absent_official_fields_read_as_none(module: str, name: str) -> None:
    ours, _ = _pair(module, name)
    empty = ours.construct({})
    for field in ours.__fields__:
        assert getattr(empty, field) is None


def test_chunk_module_classes_are_the_nested_types() -> None:
    from rillet.types.chat import ChatCompletionChunk
    from rillet.types.chat.chat_completion_chunk import (
        Choice,
        ChoiceDelta,
        ChoiceDeltaFunctionCall,
        ChoiceDeltaToolCall,
        ChoiceDeltaToolCallFunction,
    )

    c = ChatCompletionChunk.construct(
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "function_call": {"name": "f"},
                        "tool_calls": [{"index": 0, "function": {"name": "g"}}],
                    },
                }
            ]
        }
    )
    choice = c.choices[0]
    assert type(choice) is Choice
    assert type(choice.delta) is ChoiceDelta
    assert type(choice.delta.function_call) is ChoiceDeltaFunctionCall
    assert choice.delta.tool_calls is not None
    assert type(choice.delta.tool_calls[0]) is ChoiceDeltaToolCall
    assert type(choice.delta.tool_calls[0].function) is ChoiceDeltaToolCallFunction


RESPONSE_EVENTS = [
    name
    for name in rillet.types.responses.__all__
    if name.endswith("Event") and name != "ResponseStreamEvent"
]
# The official types list every field OpenAI's hosted models may send; rillet's types name
# the ones a Responses stream of text and function calls carries (others are still kept).
RESPONSE_SUBSETS = [
    "Response",
    "ResponseOutputMessage",
    "ResponseOutputText",
    "ResponseOutputRefusal",
    "ResponseFunctionToolCall",
    "ResponseReasoningItem",
    "ResponseUsage",
    "ResponseError",
    "ParsedResponse",
    "ParsedResponseOutputMessage",
    "ParsedResponseOutputText",
    "ParsedResponseFunctionToolCall",
    "ResponseItemList",
    "ResponseInputMessageItem",
    "ResponseInputText",
    "ResponseFunctionToolCallItem",
    "ResponseFunctionToolCallOutputItem",
]


@pytest.mark.parametrize("name", RESPONSE_EVENTS)
def test_response_event_has_the_official_field_names(name: str) -> None:
    ours, theirs = _pair("responses", name)
    assert set(ours.__fields__) == set(theirs.model_fields)


@pytest.mark.parametrize("name", RESPONSE_SUBSETS)
def test_response_type_fields_are_official_ones(name: str) -> None:
    ours, theirs = _pair("responses", name)
    assert set(ours.__fields__) <= set(theirs.model_fields)


def test_responses_create_accepts_every_official_parameter() -> None:
    from openai.resources.responses import Responses

    from rillet._client import _REQUEST_OPTIONS
    from rillet.resources.responses import _PARAMS

    official = set(inspect.signature(Responses.create).parameters) - {"self"}
    missing = official - _PARAMS - _REQUEST_OPTIONS
    assert not missing, f"create() would reject {sorted(missing)}"


def test_client_resources_exist() -> None:
    client = rillet.OpenAI(api_key="sk", base_url="http://127.0.0.1:9/v1")
    try:
        assert callable(client.chat.completions.create)
        assert callable(client.models.list)
        assert callable(client.models.retrieve)
        assert callable(client.chat.completions.stream)
        assert callable(client.responses.create)
        assert callable(client.responses.retrieve)
        assert callable(client.responses.delete)
        assert callable(client.responses.stream)
        assert callable(client.with_options)
        assert callable(client.copy)
        assert callable(client.close)
    finally:
        client.close()


def test_create_accepts_every_official_parameter() -> None:
    from openai.resources.chat.completions import Completions

    from rillet._client import _REQUEST_OPTIONS
    from rillet.resources.chat import _PARAMS

    official = set(inspect.signature(Completions.create).parameters) - {"self"}
    missing = official - _PARAMS - _REQUEST_OPTIONS
    assert not missing, f"create() would reject {sorted(missing)}"


def test_client_settings_accept_the_official_keywords() -> None:
    official = set(inspect.signature(openai.OpenAI.__init__).parameters)
    ours = set(inspect.signature(rillet._client._ClientCore.__init__).parameters)
    common = {
        "api_key",
        "organization",
        "project",
        "base_url",
        "timeout",
        "max_retries",
        "default_headers",
        "default_query",
    }
    assert common <= official
    assert common <= ours
    assert "http_client" in inspect.signature(rillet.OpenAI.__init__).parameters


def test_stream_objects_offer_the_official_interface() -> None:
    for name in ("__iter__", "__next__", "close", "__enter__", "__exit__"):
        assert hasattr(rillet.Stream, name)
    for name in ("__aiter__", "__anext__", "close", "__aenter__", "__aexit__"):
        assert hasattr(rillet.AsyncStream, name)


def test_model_methods_of_the_official_types() -> None:
    from rillet.types.chat import ChatCompletionChunk

    for name in ("to_dict", "to_json", "model_dump", "model_dump_json", "model_validate"):
        assert hasattr(ChatCompletionChunk, name)
        assert hasattr(openai.types.chat.ChatCompletionChunk, name)


def _official_resources(cls: type) -> set[str]:
    """The official client's resources: its cached properties (`chat`, `images`, ...)."""
    import functools

    return {n for n, v in vars(cls).items() if isinstance(v, functools.cached_property)}


@pytest.mark.parametrize(("ours", "theirs"), [("OpenAI", "OpenAI"), ("AsyncOpenAI", "AsyncOpenAI")])
def test_not_provided_lists_exactly_the_official_resources_rillet_lacks(
    ours: str, theirs: str
) -> None:
    from rillet._client import NOT_PROVIDED

    official = _official_resources(getattr(openai, theirs))
    cls = getattr(rillet, ours)
    client = cls(api_key="sk", base_url="http://127.0.0.1:9/v1")
    provided = {name for name in official if name not in NOT_PROVIDED and hasattr(client, name)}
    assert official >= NOT_PROVIDED, f"not official: {sorted(NOT_PROVIDED - official)}"
    assert provided | NOT_PROVIDED == official, f"unlisted: {sorted(official - provided)}"
    assert not any(name in vars(client) or hasattr(cls, name) for name in NOT_PROVIDED)


@pytest.mark.parametrize("name", ["images", "audio", "files", "beta", "moderations"])
def test_a_missing_official_resource_says_what_to_do(name: str) -> None:
    for cls in (rillet.OpenAI, rillet.AsyncOpenAI):
        client = cls(api_key="sk", base_url="http://127.0.0.1:9/v1")
        with pytest.raises(AttributeError, match="not provided by rillet") as caught:
            getattr(client, name)
        assert "client.post(" in str(caught.value)
        assert caught.value.name == name
        assert not hasattr(client, name)


def test_an_unknown_attribute_is_a_plain_attribute_error() -> None:
    client = rillet.OpenAI(api_key="sk", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(AttributeError) as caught:
        client.no_such_thing  # noqa: B018
    assert "not provided by rillet" not in str(caught.value)
    assert "no_such_thing" in str(caught.value)


# (resource path, methods) whose `with_raw_response` / `with_streaming_response` rillet wraps.
WRAPPED = [
    ("chat.completions", ["create"]),
    ("completions", ["create"]),
    ("embeddings", ["create"]),
    ("responses", ["create", "retrieve", "delete"]),
    ("models", ["list", "retrieve"]),
]


def _walk(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("kind", ["OpenAI", "AsyncOpenAI"])
@pytest.mark.parametrize("wrapper", ["with_raw_response", "with_streaming_response"])
@pytest.mark.parametrize(("path", "methods"), WRAPPED)
def test_every_wrapped_method_exists_as_officially(
    kind: str, wrapper: str, path: str, methods: list[str]
) -> None:
    ours = getattr(rillet, kind)(api_key="sk", base_url="http://127.0.0.1:9/v1")
    theirs = getattr(openai, kind)(api_key="sk", base_url="http://127.0.0.1:9/v1")
    for method in methods:
        assert callable(getattr(getattr(_walk(theirs, path), wrapper), method)), "test list"
        assert callable(getattr(getattr(_walk(ours, path), wrapper), method))
        # and from the client down, as `client.with_raw_response.chat.completions.create`
        assert callable(getattr(_walk(getattr(ours, wrapper), path), method))
    assert callable(getattr(_walk(ours, path.split(".")[0]), wrapper).__class__)


def test_raw_response_classes_offer_the_official_members() -> None:
    from openai._legacy_response import LegacyAPIResponse as TheirLegacy
    from openai._response import APIResponse as TheirAPI
    from openai._response import AsyncAPIResponse as TheirAsync

    from rillet._response import APIResponse, AsyncAPIResponse, LegacyAPIResponse

    common = {
        "headers",
        "http_request",
        "status_code",
        "url",
        "method",
        "http_version",
        "elapsed",
        "is_closed",
        "request_id",
        "parse",
    }
    for ours, theirs, extra in [
        (LegacyAPIResponse, TheirLegacy, {"content", "text"}),
        (APIResponse, TheirAPI, {"read", "text", "json", "close", "iter_bytes", "iter_lines"}),
        (AsyncAPIResponse, TheirAsync, {"read", "text", "json", "close", "iter_bytes"}),
    ]:
        for name in common | extra:
            assert hasattr(theirs, name), f"test list: {theirs.__name__}.{name}"
            assert hasattr(ours, name), f"{ours.__name__}.{name}"
        assert ours.__name__ == theirs.__name__
    for name in ("aiter_bytes", "aiter_lines", "iter_text", "iter_lines"):
        assert hasattr(AsyncAPIResponse, name)


@pytest.mark.parametrize(
    ("official", "ours"),
    [
        ("openai.resources.completions:Completions", "rillet.resources.completions"),
        ("openai.resources.embeddings:Embeddings", "rillet.resources.embeddings"),
    ],
)
def test_legacy_and_embedding_create_accept_every_official_parameter(
    official: str, ours: str
) -> None:
    from rillet._client import _REQUEST_OPTIONS

    module, name = official.split(":")
    create = getattr(importlib.import_module(module), name).create
    params = importlib.import_module(ours)._PARAMS
    missing = set(inspect.signature(create).parameters) - {"self"} - params - _REQUEST_OPTIONS
    assert not missing, f"create() would reject {sorted(missing)}"

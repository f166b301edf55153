"""Every object the server emits, checked against OpenAI's published OpenAPI schemas.

The spec (tests/data/openapi/, with its source and licence) is read once per session; its
`$ref`s resolve through a `referencing` registry. Requests below exercise each endpoint
(chat, Responses, legacy completions, embeddings, models, input items) with tools, n=2,
usage, logprobs, JSON schemas and errors, over real HTTP on the synthetic backend; each
chunk, event, object and error body they return must validate against its schema, except
for the rillet extensions listed in EXCEPTIONS (also in docs/server.md, "Conformance").
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from rillet.server.app import create_app
from rillet.server.backends.synthetic.backend import SyntheticBackend
from rillet.server.context import ServerConfig

from .fakes import ScriptedBackend, serve_app, sse_data

SPEC = Path(__file__).resolve().parents[1] / "data" / "openapi" / "openapi.yaml"
BASE = "urn:openai-openapi"

# Where rillet departs from the spec on purpose: (schema, JSON path of the failing value,
# validator) -> why. Each must still occur (an exception that no longer fails is stale).
# Array indexes in paths are written `[*]`.
EXCEPTIONS: dict[tuple[str, str, str], str] = {
    # An empty page (a cursor past the last item) has no first or last item: rillet sends
    # null where the spec, which never shows an empty page, types these as strings.
    ("ResponseItemList", "$.first_id", "type"): "null ids on an empty page",
    ("ResponseItemList", "$.last_id", "type"): "null ids on an empty page",
    # The spec gives streamed legacy completions the object's schema, whose finish_reason
    # is a string; a chunk before a choice's end has none (null, as upstream streams it).
    ("CreateCompletionResponse", "$.choices[*].finish_reason", "type"): "null mid-stream",
    ("CreateCompletionResponse", "$.choices[*].finish_reason", "enum"): "null mid-stream",
    # `encoding_format: "base64"` sends each vector as a base64 string, as upstream does;
    # the spec's Embedding types the field as an array of numbers only.
    ("CreateEmbeddingResponse", "$.data[*].embedding", "type"): "base64 embeddings",
}

WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}
CITY = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["name", "population"],
    "additionalProperties": False,
}
TOKYO = [{"role": "user", "content": "What's the weather in Tokyo?"}]


@functools.cache
def registry() -> Registry:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec = _nullable(yaml.load(SPEC.read_text(encoding="utf-8"), Loader=loader))
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    loaded: Registry = Registry().with_resource(BASE, resource)
    return loaded


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` (still in parts of the spec) as JSON Schema's null."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable(value) for key, value in node.items()}
    if out.pop("nullable", False):
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            return {"anyOf": [out, {"type": "null"}]}
    return out


@functools.cache
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{BASE}#/components/schemas/{name}"}, registry=registry())


@functools.cache
def event_schemas() -> dict[str, str]:
    """Responses stream event type -> the name of its schema in `ResponseStreamEvent`."""
    schemas = registry().contents(BASE)["components"]["schemas"]
    names = {}
    for ref in schemas["ResponseStreamEvent"]["anyOf"]:
        name = ref["$ref"].rsplit("/", 1)[1]
        for kind in schemas[name]["properties"]["type"]["enum"]:
            names[kind] = name
    return names


class Checker:
    """Validates objects as they come and remembers which exceptions were met."""

    def __init__(self) -> None:
        self.checked: dict[str, int] = {}
        self.excepted: set[tuple[str, str, str]] = set()

    def check(self, schema: str, value: object) -> None:
        failures = []
        for error in validator(schema).iter_errors(value):
            key = (schema, re.sub(r"\[\d+\]", "[*]", error.json_path), str(error.validator))
            if key in EXCEPTIONS:
                self.excepted.add(key)
            else:
                failures.append(f"{error.json_path}: {error.message[:300]}")
        assert not failures, f"{schema}: {json.dumps(value)[:800]}\n" + "\n".join(failures)
        self.checked[schema] = self.checked.get(schema, 0) + 1


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve_app(create_app(SyntheticBackend(), ServerConfig())) as base:
        yield base


@pytest.fixture(scope="module")
def checker() -> Checker:
    return Checker()


def post(url: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}{path}", json=body, timeout=30)


def stream_payloads(url: str, path: str, body: dict[str, Any]) -> list[Any]:
    response = post(url, path, {**body, "stream": True})
    assert response.status_code == 200, response.text
    payloads = sse_data(response.text)
    return [json.loads(p) for p in payloads if p != "[DONE]"]


CHAT_REQUESTS: list[dict[str, Any]] = [
    {"messages": [{"role": "user", "content": "Write a haiku about rain."}], "n": 2},
    {"messages": TOKYO, "tools": [{"type": "function", "function": WEATHER}]},
    {"messages": TOKYO, "tools": [{"type": "function", "function": WEATHER}],
     "tool_choice": "required", "n": 2},
    {"messages": TOKYO, "logprobs": True, "top_logprobs": 2, "max_tokens": 5},
    {"messages": [{"role": "user", "content": "Describe Paris."}],
     "response_format": {"type": "json_schema",
                         "json_schema": {"name": "city", "schema": CITY, "strict": True}}},
    {"messages": TOKYO, "response_format": {"type": "json_object"}, "max_tokens": 8},
    {"messages": TOKYO, "functions": [WEATHER], "function_call": {"name": "get_weather"}},
]  # fmt: skip


def check_answer_and_stream(
    url: str, checker: Checker, path: str, body: dict[str, Any], schemas: tuple[str, str]
) -> None:
    """One request answered whole, then streamed with usage: (object, chunk) schemas."""
    answer = post(url, path, body)
    assert answer.status_code == 200, answer.text
    checker.check(schemas[0], answer.json())
    stream = {**body, "stream_options": {"include_usage": True}}
    for chunk in stream_payloads(url, path, stream):
        checker.check(schemas[1], chunk)


@pytest.mark.parametrize("body", CHAT_REQUESTS)
def test_chat_chunks_and_completions(url: str, checker: Checker, body: dict[str, Any]) -> None:
    schemas = ("CreateChatCompletionResponse", "CreateChatCompletionStreamResponse")
    check_answer_and_stream(url, checker, "/chat/completions", {"model": "gpt-4o", **body}, schemas)


RESPONSES_REQUESTS: list[dict[str, Any]] = [
    {"input": "Write a haiku about rain.", "instructions": "Be brief.", "metadata": {"k": "v"}},
    {"input": TOKYO, "tools": [{"type": "function", **WEATHER}]},
    {"input": TOKYO, "tools": [{"type": "function", **WEATHER}], "tool_choice": "required",
     "parallel_tool_calls": False},
    {"input": "Describe Paris.",
     "text": {"format": {"type": "json_schema", "name": "city", "schema": CITY, "strict": True}}},
    {"input": "Describe Paris.",
     "text": {"format": {"type": "json_schema", "name": "city", "schema": CITY,
                         "description": "A city"}}},
    {"input": "Describe Paris.", "text": {"format": {"type": "json_object"}}},
    {"input": "Tell me a long story.", "max_output_tokens": 16},
    {"input": [{"role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
               {"type": "function_call", "call_id": "c1", "name": "get_weather",
                "arguments": "{}"},
               {"type": "function_call_output", "call_id": "c1", "output": "sunny"}],
     "tools": [{"type": "function", **WEATHER}]},
]  # fmt: skip


@pytest.mark.parametrize("body", RESPONSES_REQUESTS)
def test_responses_events_objects_and_input_items(
    url: str, checker: Checker, body: dict[str, Any]
) -> None:
    body = {"model": "gpt-4o", **body}
    created = post(url, "/responses", body)
    assert created.status_code == 200, created.text
    checker.check("Response", created.json())
    response_id = created.json()["id"]
    retrieved = httpx.get(f"{url}/responses/{response_id}")
    checker.check("Response", retrieved.json())
    items = httpx.get(f"{url}/responses/{response_id}/input_items", params={"order": "asc"})
    assert items.status_code == 200, items.text
    checker.check("ResponseItemList", items.json())
    for event in stream_payloads(url, "/responses", body):
        schema = event_schemas().get(event["type"])
        assert schema is not None, f"no schema for event type {event['type']!r}"
        checker.check(schema, event)


def test_an_empty_input_items_page_is_an_excepted_difference(url: str, checker: Checker) -> None:
    created = post(url, "/responses", {"model": "gpt-4o", "input": "Hi"}).json()
    last = created["id"]
    page = httpx.get(f"{url}/responses/{last}/input_items").json()
    after = httpx.get(f"{url}/responses/{last}/input_items", params={"after": page["last_id"]})
    assert after.json()["data"] == []
    checker.check("ResponseItemList", after.json())


COMPLETIONS_REQUESTS: list[dict[str, Any]] = [
    {"prompt": "Once upon a time", "max_tokens": 12},
    {"prompt": ["Say one thing", "Say another"], "n": 2, "max_tokens": 6},
    {"prompt": [1, 2, 3], "logprobs": 2, "max_tokens": 4},
    {"prompt": "Echo me: ", "echo": True, "stop": ["."]},
]


@pytest.mark.parametrize("body", COMPLETIONS_REQUESTS)
def test_completions(url: str, checker: Checker, body: dict[str, Any]) -> None:
    # Streamed chunks share the object's shape (the spec says so of this endpoint).
    schemas = ("CreateCompletionResponse", "CreateCompletionResponse")
    body = {"model": "gpt-3.5-turbo-instruct", **body}
    check_answer_and_stream(url, checker, "/completions", body, schemas)


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_embeddings(url: str, checker: Checker, encoding: str) -> None:
    for given in ("one text", ["two", "texts"], [[1, 2, 3]]):
        body = {"model": "text-embedding-3-small", "input": given, "encoding_format": encoding}
        response = post(url, "/embeddings", body)
        assert response.status_code == 200, response.text
        checker.check("CreateEmbeddingResponse", response.json())


def test_models(url: str, checker: Checker) -> None:
    listed = httpx.get(f"{url}/models").json()
    checker.check("ListModelsResponse", listed)
    checker.check("Model", httpx.get(f"{url}/models/gpt-4o").json())


ERRORS: list[tuple[str, str, Any]] = [
    ("POST", "/chat/completions", {"model": "m"}),
    ("POST", "/chat/completions", {"model": "m", "messages": [], "n": 0}),
    ("POST", "/responses", {"model": "m", "input": 3}),
    ("POST", "/responses", {"model": "m", "input": "x", "conversation": "c"}),
    ("POST", "/completions", {"model": "m", "prompt": [], "max_tokens": 1}),
    ("POST", "/embeddings", {"model": "m", "input": ""}),
    ("GET", "/responses/resp_missing", None),
    ("GET", "/responses/resp_missing/input_items", None),
    ("GET", "/no/such/route", None),
    ("DELETE", "/models", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ERRORS)
def test_error_bodies(
    url: str, checker: Checker, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = httpx.request(method, f"{url}{path}", json=body)
    assert response.status_code >= 400
    checker.check("ErrorResponse", response.json())


def test_a_refused_stream_is_a_plain_error(checker: Checker) -> None:
    with serve_app(create_app(ScriptedBackend(reject="cannot"), ServerConfig())) as url:
        for path, body in [
            ("/responses", {"model": "m", "input": "x", "stream": True}),
            ("/completions", {"model": "m", "prompt": "x", "stream": True}),
        ]:
            response = post(url, path, body)
            assert response.status_code == 400
            checker.check("ErrorResponse", response.json())


def test_streams_that_fail_midway(checker: Checker) -> None:
    """A backend failing after its first tokens: chat's in-band error, `response.failed`."""
    with serve_app(create_app(ScriptedBackend(fail_after=2), ServerConfig())) as url:
        chat = post(url, "/chat/completions", {"model": "m", "messages": TOKYO, "stream": True})
        *chunks, error = [json.loads(p) for p in sse_data(chat.text) if p != "[DONE]"]
        for chunk in chunks:
            checker.check("CreateChatCompletionStreamResponse", chunk)
        checker.check("ErrorResponse", error)
        events = stream_payloads(url, "/responses", {"model": "m", "input": "x"})
        assert events[-1]["type"] == "response.failed"
        for event in events:
            checker.check(event_schemas()[event["type"]], event)
        legacy = post(url, "/completions", {"model": "m", "prompt": "x", "stream": True})
        *pieces, error = [json.loads(p) for p in sse_data(legacy.text) if p != "[DONE]"]
        for piece in pieces:
            checker.check("CreateCompletionResponse", piece)
        checker.check("ErrorResponse", error)


def test_every_exception_still_occurs_and_every_schema_was_checked(checker: Checker) -> None:
    """Runs last in this module: the exceptions are all needed, and nothing went unchecked."""
    assert set(EXCEPTIONS) <= checker.excepted, set(EXCEPTIONS) - checker.excepted
    expected = {
        "CreateChatCompletionResponse", "CreateChatCompletionStreamResponse", "Response",
        "ResponseItemList", "CreateCompletionResponse", "CreateEmbeddingResponse",
        "ListModelsResponse", "Model", "ErrorResponse", "ResponseFunctionCallArgumentsDoneEvent",
        "ResponseTextDeltaEvent", "ResponseCompletedEvent", "ResponseIncompleteEvent",
        "ResponseFailedEvent",
    }  # fmt: skip
    assert expected <= set(checker.checked), expected - set(checker.checked)

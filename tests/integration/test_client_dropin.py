"""rillet where the official client goes: `with_raw_response`, `with_streaming_response` and
the official sentinels against a real `rillet serve --backend synthetic`. Libraries that take
a client object (LangChain, the Agents SDK, pydantic-ai) are in test_peer_libraries.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest

import rillet
from rillet.types.chat import ChatCompletion, ChatCompletionChunk
from rillet.types.responses import Response
from tests._server import run_server

MESSAGES = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with run_server("--backend", "synthetic") as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[rillet.OpenAI]:
    with rillet.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(base_url: str) -> AsyncIterator[rillet.AsyncOpenAI]:
    async with rillet.AsyncOpenAI(base_url=base_url, api_key="sk-test", max_retries=0) as c:
        yield c


def text_of(chunks: list[ChatCompletionChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def sse_data(lines: list[str]) -> list[Any]:
    data = [line[len("data: ") :] for line in lines if line.startswith("data: ")]
    return [orjson.loads(d) for d in data if d != "[DONE]"]


# --- with_raw_response -------------------------------------------------------------------


def test_raw_chat_completion(client: rillet.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="m", messages=MESSAGES, extra_headers={"X-Probe": "1"}
    )
    assert raw.status_code == 200
    assert raw.headers["content-type"].startswith("application/json")
    assert raw.request_id is not None and raw.request_id == raw.headers["x-request-id"]
    assert isinstance(raw.http_request, httpx.Request)
    assert raw.http_request.headers["X-Probe"] == "1"
    assert raw.method == "POST" and raw.url.path.endswith("/chat/completions")
    completion = raw.parse()
    assert isinstance(completion, ChatCompletion)
    assert completion.choices[0].message.content
    assert raw.parse() is completion
    assert orjson.loads(raw.content)["id"] == completion.id
    as_dict = raw.parse(to=dict)
    assert as_dict["id"] == completion.id


def test_raw_chat_stream_parses_to_the_unread_stream(client: rillet.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="m", messages=MESSAGES, stream=True
    )
    assert raw.headers["content-type"].startswith("text/event-stream")
    stream = raw.parse()
    assert isinstance(stream, rillet.Stream)
    with stream:
        chunks = list(stream)
    assert text_of(chunks)
    assert raw.is_closed


def test_raw_from_the_client_down(client: rillet.OpenAI) -> None:
    raw = client.with_raw_response.chat.completions.create(model="m", messages=MESSAGES)
    assert isinstance(raw.parse(), ChatCompletion)
    raw_too = client.chat.with_raw_response.completions.create(model="m", messages=MESSAGES)
    assert raw_too.status_code == 200


def test_raw_responses_create_retrieve_delete(client: rillet.OpenAI) -> None:
    created = client.responses.with_raw_response.create(model="m", input="Say hello.")
    response = created.parse()
    assert isinstance(response, Response) and response.output_text
    assert created.headers["content-type"].startswith("application/json")

    got = client.responses.with_raw_response.retrieve(response.id)
    assert got.status_code == 200
    again = got.parse()
    assert isinstance(again, Response) and again.id == response.id

    streamed = client.responses.with_raw_response.retrieve(response.id, stream=True)
    events = streamed.parse()
    assert isinstance(events, rillet.Stream)
    with events:
        assert [e.type for e in events][-1] == "response.completed"

    deleted = client.responses.with_raw_response.delete(response.id)
    assert deleted.status_code == 200
    assert deleted.parse() is None
    with pytest.raises(rillet.NotFoundError):
        client.responses.with_raw_response.retrieve(response.id)


def test_raw_models(client: rillet.OpenAI) -> None:
    page = client.models.with_raw_response.list()
    assert page.status_code == 200
    models = list(page.parse())
    assert models
    one = client.models.with_raw_response.retrieve(models[0].id)
    assert one.parse().id == models[0].id


def test_raw_errors_raise_as_the_plain_call_does(client: rillet.OpenAI) -> None:
    with pytest.raises(rillet.NotFoundError):
        client.responses.with_raw_response.retrieve("resp_no_such_response")


async def test_async_raw_chat(aclient: rillet.AsyncOpenAI) -> None:
    raw = await aclient.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert raw.status_code == 200 and raw.request_id
    completion = raw.parse()  # sync, as the official LegacyAPIResponse's
    assert isinstance(completion, ChatCompletion) and completion.choices[0].message.content

    raw_stream = await aclient.with_raw_response.chat.completions.create(
        model="m", messages=MESSAGES, stream=True
    )
    stream = raw_stream.parse()
    assert isinstance(stream, rillet.AsyncStream)
    chunks = [chunk async for chunk in stream]
    assert text_of(chunks)


async def test_async_raw_responses_and_models(aclient: rillet.AsyncOpenAI) -> None:
    created = await aclient.responses.with_raw_response.create(model="m", input="Hi.")
    response = created.parse()
    assert isinstance(response, Response)
    got = await aclient.responses.with_raw_response.retrieve(response.id)
    assert got.parse().id == response.id
    deleted = await aclient.responses.with_raw_response.delete(response.id)
    assert deleted.parse() is None and deleted.status_code == 200
    page = await aclient.models.with_raw_response.list()
    first = next(iter(page.parse()))
    model = await aclient.models.with_raw_response.retrieve(first.id)
    assert model.parse().id == first.id


# --- with_streaming_response -------------------------------------------------------------


def test_streaming_response_lines_of_a_chat_stream(client: rillet.OpenAI) -> None:
    with client.chat.completions.with_streaming_response.create(
        model="m", messages=MESSAGES, stream=True
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.http_request.method == "POST"
        lines = list(response.iter_lines())
    assert "data: [DONE]" in lines
    assert text_of([ChatCompletionChunk.construct(d) for d in sse_data(lines)])
    assert response.is_closed


def test_streaming_response_bytes_and_parse(client: rillet.OpenAI) -> None:
    with client.chat.completions.with_streaming_response.create(
        model="m", messages=MESSAGES, stream=True
    ) as response:
        body = b"".join(response.iter_bytes())
    assert body.endswith(b"data: [DONE]\n\n")

    with client.chat.completions.with_streaming_response.create(
        model="m", messages=MESSAGES, stream=True
    ) as response:
        stream = response.parse()
        assert isinstance(stream, rillet.Stream)
        first = next(iter(stream))
        assert isinstance(first, ChatCompletionChunk)
    # leaving the block early closes the stream and its connection
    assert response.is_closed


def test_streaming_response_of_a_plain_call(client: rillet.OpenAI) -> None:
    with client.chat.completions.with_streaming_response.create(
        model="m", messages=MESSAGES
    ) as response:
        completion = response.parse()
        assert isinstance(completion, ChatCompletion)
        assert orjson.loads(response.read())["id"] == completion.id
        assert response.json() == orjson.loads(b"".join(response.iter_bytes()))
        assert response.text().startswith("{")
    with client.with_streaming_response.models.list() as page:
        assert list(page.parse())
    with client.responses.with_streaming_response.create(model="m", input="Hi.") as made:
        response_id = made.parse().id
    with client.responses.with_streaming_response.delete(response_id) as deleted:
        assert deleted.parse() is None


def test_streaming_response_of_a_responses_stream(client: rillet.OpenAI) -> None:
    with client.responses.with_streaming_response.create(
        model="m", input="Hi.", stream=True
    ) as response:
        events = sse_data(list(response.iter_lines()))
    assert events[-1]["type"] == "response.completed"


async def test_async_streaming_response(aclient: rillet.AsyncOpenAI) -> None:
    async with aclient.chat.completions.with_streaming_response.create(
        model="m", messages=MESSAGES, stream=True
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line async for line in response.aiter_lines()]
    assert "data: [DONE]" in lines and response.is_closed

    async with aclient.chat.completions.with_streaming_response.create(
        model="m", messages=MESSAGES, stream=True
    ) as response:
        body = b"".join([b async for b in response.iter_bytes()])
    assert body.endswith(b"data: [DONE]\n\n")

    async with aclient.chat.completions.with_streaming_response.create(
        model="m", messages=MESSAGES, stream=True
    ) as response:
        stream = await response.parse()
        assert isinstance(stream, rillet.AsyncStream)
        assert text_of([chunk async for chunk in stream])

    async with aclient.with_streaming_response.chat.completions.create(
        model="m", messages=MESSAGES
    ) as response:
        completion = await response.parse()
        assert isinstance(completion, ChatCompletion)
        assert (await response.json())["id"] == completion.id
        assert [b async for b in response.aiter_bytes()] == [await response.read()]

    async with aclient.models.with_streaming_response.list() as page:
        assert list(await page.parse())
    async with aclient.responses.with_streaming_response.create(model="m", input="Hi.") as made:
        assert isinstance(await made.parse(), Response)


async def test_async_streaming_response_errors_on_entry(aclient: rillet.AsyncOpenAI) -> None:
    manager = aclient.responses.with_streaming_response.retrieve("resp_no_such_response")
    with pytest.raises(rillet.NotFoundError):
        async with manager:
            pass  # pragma: no cover


# --- the official sentinels on real calls ------------------------------------------------


def test_official_sentinels_on_real_calls(client: rillet.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="m",
        messages=MESSAGES,
        temperature=openai.NOT_GIVEN,
        max_tokens=openai.not_given,
        tools=openai.omit,
        stream=openai.NOT_GIVEN,
        timeout=openai.NOT_GIVEN,
        extra_headers={"X-Stainless-Lang": openai.omit, "User-Agent": openai.NOT_GIVEN},
    )
    assert isinstance(completion, ChatCompletion)
    stream = client.chat.completions.create(
        model="m",
        messages=MESSAGES,
        stream=True,
        stream_options=openai.NOT_GIVEN,
    )
    assert text_of(list(stream))
    response = client.responses.create(
        model="m",
        input="Hi.",
        instructions=openai.NOT_GIVEN,
        tools=openai.omit,
    )
    assert response.output_text


async def test_async_official_sentinels_on_real_calls(aclient: rillet.AsyncOpenAI) -> None:
    completion = await aclient.chat.completions.create(
        model="m",
        messages=MESSAGES,
        seed=openai.NOT_GIVEN,
        max_retries=openai.NOT_GIVEN,
    )
    assert completion.choices[0].message.content

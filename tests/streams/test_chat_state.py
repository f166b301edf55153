"""`ChatCompletionStreamState` against the official client's on the same chunks."""

from __future__ import annotations

import copy
from typing import Any

import openai
import pydantic
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState as OfficialState
from openai.types.chat import ChatCompletionChunk as OfficialChunk

import rillet
from rillet._streams.chat_state import ChatCompletionStreamState
from rillet.types.chat import ChatCompletionChunk

BASE = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}


def chunk(*choices: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**BASE, "choices": list(choices), **extra}


def choice(index: int = 0, finish: str | None = None, logprobs: Any = None, **delta: Any) -> Any:
    return {"index": index, "delta": delta, "finish_reason": finish, "logprobs": logprobs}


def tool(index: int, arguments: str, name: str | None = None, id: str | None = None) -> Any:
    piece: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if name is not None:
        piece.update(id=id, type="function")
        piece["function"]["name"] = name
    return piece


def lp(token: str) -> dict[str, Any]:
    return {"token": token, "logprob": -0.5, "bytes": None, "top_logprobs": []}


TEXT = [
    chunk(choice(role="assistant", content=""), choice(1, role="assistant", content="")),
    chunk(choice(content="Hello"), choice(1, content="Hi")),
    chunk(choice(content=" there"), choice(1, finish="length")),
    chunk(choice(finish="stop")),
    chunk(usage={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}),
]
TOOLS = [
    chunk(choice(role="assistant", content=None)),
    chunk(choice(tool_calls=[tool(0, "", "get_weather", "call_a")])),
    chunk(choice(tool_calls=[tool(0, '{"location": ')])),
    chunk(choice(tool_calls=[tool(0, '"Paris"}')])),
    chunk(choice(tool_calls=[tool(1, "", "get_time", "call_b")])),
    chunk(choice(tool_calls=[tool(1, '{"tz": "CET"}')])),
    chunk(choice(finish="tool_calls")),
]
TEXT_THEN_TOOL = [
    chunk(choice(role="assistant", content="Let me check.")),
    chunk(choice(tool_calls=[tool(0, '{"location": "Oslo"}', "get_weather", "call_c")])),
    chunk(choice(finish="tool_calls")),
]
REFUSAL = [
    chunk(choice(role="assistant", refusal="I can")),
    chunk(choice(refusal="not.")),
    chunk(choice(finish="stop")),
]
LOGPROBS = [
    chunk(choice(role="assistant", content="a", logprobs={"content": [lp("a")], "refusal": None})),
    chunk(choice(content="b", logprobs={"content": [lp("b")], "refusal": None})),
    chunk(choice(finish="stop")),
]
STRICT_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "strict": True,
            "parameters": {
                "type": "object",
                "properties": {"location": {"type": "string"}},
                "required": ["location"],
                "additionalProperties": False,
            },
        },
    }
]


def run_both(chunks: list[dict[str, Any]], tools: Any = None) -> tuple[Any, Any, Any, Any]:
    ours = ChatCompletionStreamState(input_tools=tools)
    official = OfficialState(input_tools=tools) if tools else OfficialState()
    our_events = [
        e
        for c in chunks
        for e in ours.handle_chunk(ChatCompletionChunk.construct(copy.deepcopy(c)))
    ]
    their_events = [
        e
        for c in chunks
        for e in official.handle_chunk(OfficialChunk.construct(**copy.deepcopy(c)))
    ]
    return ours, official, our_events, their_events


def summary(event: Any) -> tuple[Any, ...]:
    """An event's type and its plain fields (the chunk/snapshot views are compared apart)."""
    fields = ("delta", "snapshot", "content", "refusal", "name", "index", "arguments")
    values = []
    for name in fields:
        value = getattr(event, name, None)
        if isinstance(value, list):
            value = [v.token for v in value]
        elif not isinstance(value, (str, int, type(None))):
            value = None
        values.append(value)
    return (event.type, *values, getattr(event, "arguments_delta", None))


@pytest.mark.parametrize(
    "chunks", [TEXT, TOOLS, TEXT_THEN_TOOL, REFUSAL, LOGPROBS], ids=lambda c: str(len(c))
)
def test_events_match_the_official_helper(chunks: list[dict[str, Any]]) -> None:
    ours, official, our_events, their_events = run_both(chunks)
    assert [summary(e) for e in our_events] == [summary(e) for e in their_events]
    if chunks is TEXT:  # one choice ran out of tokens: both refuse to call it final
        with pytest.raises(openai.LengthFinishReasonError):
            official.get_final_completion()
        with pytest.raises(rillet.LengthFinishReasonError):
            ours.get_final_completion()
        return
    ours_final = ours.get_final_completion()
    theirs_final = official.get_final_completion()
    for mine, theirs in zip(ours_final.choices, theirs_final.choices, strict=True):
        assert mine.finish_reason == theirs.finish_reason
        assert mine.message.content == theirs.message.content
        assert mine.message.refusal == theirs.message.refusal
        assert [
            (c.id, c.function.name, c.function.arguments) for c in mine.message.tool_calls or []
        ] == [
            (c.id, c.function.name, c.function.arguments) for c in theirs.message.tool_calls or []
        ]
    assert (ours_final.usage and ours_final.usage.total_tokens) == (
        theirs_final.usage and theirs_final.usage.total_tokens
    )


def test_strict_tool_arguments_are_parsed() -> None:
    ours, _, events, _ = run_both([*TOOLS[:4], chunk(choice(finish="tool_calls"))], STRICT_TOOLS)
    done = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    assert [e.parsed_arguments for e in done] == [{"location": "Paris"}]
    call = ours.get_final_completion().choices[0].message.tool_calls[0]
    assert call.function.parsed_arguments == {"location": "Paris"}


def test_snapshot_is_a_chat_completion_that_grows() -> None:
    state = ChatCompletionStreamState()
    state.handle_chunk(ChatCompletionChunk.construct(copy.deepcopy(TEXT[0])))
    state.handle_chunk(ChatCompletionChunk.construct(copy.deepcopy(TEXT[1])))
    snapshot = state.current_completion_snapshot
    assert snapshot.object == "chat.completion"
    assert [c.message.content for c in snapshot.choices] == ["Hello", "Hi"]


def test_final_completion_before_the_end_is_an_error() -> None:
    state = ChatCompletionStreamState()
    with pytest.raises(RuntimeError, match="No chunk"):
        state.get_final_completion()
    state.handle_chunk(ChatCompletionChunk.construct(copy.deepcopy(TEXT[0])))
    with pytest.raises(RuntimeError, match="no finish_reason"):
        state.get_final_completion()


def test_a_class_as_response_format_is_refused_clearly() -> None:
    class Answer:
        pass

    with pytest.raises(TypeError, match="json_schema"):
        ChatCompletionStreamState(response_format=Answer)


class Location(pydantic.BaseModel):
    location: str


PARSED_TEXT = [
    chunk(choice(role="assistant", content="")),
    chunk(choice(content='{"loca')),
    chunk(choice(content='tion": "Par')),
    chunk(choice(content='is"}')),
    chunk(choice(finish="stop")),
]


def _parsed_events(
    chunks: list[dict[str, Any]], **state: Any
) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    """(type, parsed value) of each event, from rillet's state and the official one."""
    ours = ChatCompletionStreamState(**state)
    official = OfficialState(**state)

    def parsed(event: Any) -> Any:
        return getattr(event, "parsed", getattr(event, "parsed_arguments", None))

    mine = [
        (e.type, parsed(e))
        for c in chunks
        for e in ours.handle_chunk(ChatCompletionChunk.construct(copy.deepcopy(c)))
    ]
    theirs = [
        (e.type, parsed(e))
        for c in chunks
        for e in official.handle_chunk(OfficialChunk.construct(**copy.deepcopy(c)))
    ]
    return mine, theirs


def test_parsed_content_events_match_the_official_helper() -> None:
    mine, theirs = _parsed_events(PARSED_TEXT, response_format=Location)
    assert mine == theirs
    assert ("content.delta", {"location": "Paris"}) in mine  # partial strings are left out
    assert ("content.done", Location(location="Paris")) in mine


def test_parsed_tool_events_match_the_official_helper() -> None:
    tool = openai.pydantic_function_tool(Location, name="get_weather")  # both know its model
    mine, theirs = _parsed_events(
        [*TOOLS[:4], chunk(choice(finish="tool_calls"))], input_tools=[tool]
    )
    assert mine == theirs
    assert ("tool_calls.function.arguments.done", Location(location="Paris")) in mine


def test_a_parsed_stream_cut_by_the_token_limit_raises_at_that_chunk() -> None:
    cut = [*PARSED_TEXT[:2], chunk(choice(finish="length"))]
    for state in (ChatCompletionStreamState, OfficialState):
        handler = state(response_format=Location)
        make = ChatCompletionChunk.construct if state is ChatCompletionStreamState else None
        for c in cut[:-1]:
            data = copy.deepcopy(c)
            handler.handle_chunk(make(data) if make else OfficialChunk.construct(**data))
        last = copy.deepcopy(cut[-1])
        with pytest.raises((rillet.LengthFinishReasonError, openai.LengthFinishReasonError)):
            handler.handle_chunk(make(last) if make else OfficialChunk.construct(**last))

"""The response types: attribute access, unknown fields, round-trips and dumps."""

from __future__ import annotations

import copy
import pickle
from typing import Any, Literal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion as OfficialChatCompletion
from openai.types.chat import ChatCompletionChunk as OfficialChunk

from rillet._models import BaseModel, GenericObject, ResponseShapeError
from rillet.types import CompletionUsage, Model
from rillet.types.chat import ChatCompletion, ChatCompletionChunk
from rillet.types.chat.chat_completion_chunk import (
    Choice,
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChoiceDeltaToolCallFunction,
)


def chunk_doc(**extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "m",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}],
        **extra,
    }


TOOL_CHUNK: dict[str, Any] = {
    "id": "chatcmpl-2",
    "object": "chat.completion.chunk",
    "created": 1700000001,
    "model": "m",
    "system_fingerprint": "fp_1",
    "choices": [
        {
            "index": 0,
            "delta": {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":'},
                    },
                    {"index": 1, "function": {"arguments": '"Oslo"}'}},
                ]
            },
            "finish_reason": None,
            "logprobs": None,
        }
    ],
}

USAGE_CHUNK: dict[str, Any] = {
    "id": "chatcmpl-3",
    "object": "chat.completion.chunk",
    "created": 1700000002,
    "model": "m",
    "choices": [],
    "usage": {
        "prompt_tokens": 11,
        "completion_tokens": 7,
        "total_tokens": 18,
        "completion_tokens_details": {"reasoning_tokens": 3, "x_vendor": [1, 2]},
        "prompt_tokens_details": {"cached_tokens": 4},
    },
}

REASONING_CHUNK: dict[str, Any] = {
    "id": "chatcmpl-4",
    "object": "chat.completion.chunk",
    "created": 1700000003,
    "model": "deepseek",
    "choices": [
        {
            "index": 0,
            "delta": {"content": None, "reasoning_content": "think", "x_nested": {"a": [1]}},
            "finish_reason": "stop",
            "x_choice_extra": True,
            "logprobs": {
                "content": [
                    {
                        "token": "a",
                        "logprob": -0.5,
                        "bytes": [97],
                        "top_logprobs": [{"token": "a", "logprob": -0.5, "bytes": [97]}],
                    }
                ],
                "refusal": None,
            },
        }
    ],
    "x_top_level": {"deep": [{"k": None}]},
}

COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-5",
    "object": "chat.completion",
    "created": 1700000004,
    "model": "m",
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "logprobs": None,
            "message": {
                "role": "assistant",
                "content": None,
                "reasoning_content": "why",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "f", "arguments": "{}"},
                        "x_tc": 1,
                    }
                ],
            },
        }
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    "x_extra": "kept",
}

CHUNK_DOCS = [chunk_doc(), TOOL_CHUNK, USAGE_CHUNK, REASONING_CHUNK]


def chunk(doc: dict[str, Any]) -> ChatCompletionChunk:
    return ChatCompletionChunk.construct(copy.deepcopy(doc))


# -- attribute access ----------------------------------------------------------------------


def test_content_delta_reads_like_the_official_client() -> None:
    c = chunk(chunk_doc())
    assert c.id == "chatcmpl-1"
    assert c.object == "chat.completion.chunk"
    assert c.created == 1700000000
    assert isinstance(c.choices, list)
    assert isinstance(c.choices[0], Choice)
    assert isinstance(c.choices[0].delta, ChoiceDelta)
    assert c.choices[0].delta.content == "Hel"
    assert c.choices[0].delta.role == "assistant"
    assert c.choices[0].index == 0


def test_tool_call_deltas_are_views() -> None:
    c = chunk(TOOL_CHUNK)
    calls = c.choices[0].delta.tool_calls
    assert calls is not None
    assert [type(tc) for tc in calls] == [ChoiceDeltaToolCall, ChoiceDeltaToolCall]
    first, second = calls
    assert first.id == "call_a"
    assert first.type == "function"
    assert isinstance(first.function, ChoiceDeltaToolCallFunction)
    assert first.function.name == "get_weather"
    assert first.function.arguments == '{"city":'
    assert second.index == 1
    assert second.id is None
    assert second.type is None
    assert second.function is not None
    assert second.function.name is None
    assert second.function.arguments == '"Oslo"}'
    assert "".join(tc.function.arguments or "" for tc in calls if tc.function) == (
        '{"city":"Oslo"}'
    )
    assert c.system_fingerprint == "fp_1"


def test_usage_is_a_view() -> None:
    c = chunk(USAGE_CHUNK)
    assert c.choices == []
    assert isinstance(c.usage, CompletionUsage)
    assert (c.usage.prompt_tokens, c.usage.completion_tokens, c.usage.total_tokens) == (11, 7, 18)
    details = c.usage.completion_tokens_details
    assert details is not None
    assert details.reasoning_tokens == 3
    assert details.audio_tokens is None
    assert details.x_vendor == [1, 2]  # type: ignore[attr-defined]
    assert c.usage.prompt_tokens_details is not None
    assert c.usage.prompt_tokens_details.cached_tokens == 4


def test_absent_optional_fields_read_as_none() -> None:
    c = chunk(chunk_doc())
    assert c.usage is None
    assert c.service_tier is None
    assert c.system_fingerprint is None
    choice = c.choices[0]
    assert choice.finish_reason is None
    assert choice.logprobs is None
    delta = choice.delta
    assert delta.tool_calls is None
    assert delta.function_call is None
    assert delta.refusal is None
    # ... but reading them does not invent them.
    assert "usage" not in c.to_dict()
    assert "tool_calls" not in c.to_dict()["choices"][0]["delta"]


def test_unknown_attributes_are_still_attribute_errors() -> None:
    c = chunk(chunk_doc())
    with pytest.raises(AttributeError):
        _ = c.not_a_field  # type: ignore[attr-defined]


def test_unknown_fields_are_kept_at_every_level() -> None:
    c = chunk(REASONING_CHUNK)
    assert c.x_top_level == {"deep": [{"k": None}]}  # type: ignore[attr-defined]
    choice = c.choices[0]
    assert choice.x_choice_extra is True  # type: ignore[attr-defined]
    assert choice.delta.reasoning_content == "think"  # type: ignore[attr-defined]
    assert choice.delta.x_nested == {"a": [1]}  # type: ignore[attr-defined]
    assert choice.delta.content is None
    assert choice.finish_reason == "stop"
    assert choice.logprobs is not None
    assert choice.logprobs.content is not None
    assert choice.logprobs.content[0].top_logprobs[0].token == "a"
    assert choice.logprobs.content[0].bytes == [97]


def test_chat_completion_views() -> None:
    cc = ChatCompletion.construct(copy.deepcopy(COMPLETION))
    msg = cc.choices[0].message
    assert msg.role == "assistant"
    assert msg.content is None
    assert msg.reasoning_content == "why"  # type: ignore[attr-defined]
    assert msg.tool_calls is not None
    assert msg.tool_calls[0].function.name == "f"
    assert msg.tool_calls[0].function.arguments == "{}"
    assert msg.tool_calls[0].x_tc == 1  # type: ignore[attr-defined]
    assert cc.usage is not None and cc.usage.total_tokens == 3
    assert cc.usage.completion_tokens_details is None
    assert cc.x_extra == "kept"  # type: ignore[attr-defined]
    assert cc.to_dict() == COMPLETION


def test_model_type() -> None:
    m = Model.construct({"id": "m", "object": "model", "created": 1, "owned_by": "me"})
    assert (m.id, m.object, m.created, m.owned_by) == ("m", "model", 1, "me")


# -- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("doc", [*CHUNK_DOCS, chunk_doc(x_a=None, x_b=[{"c": {}}])])
def test_to_dict_returns_exactly_what_was_sent(doc: dict[str, Any]) -> None:
    original = copy.deepcopy(doc)
    c = ChatCompletionChunk.construct(copy.deepcopy(doc))
    out = c.to_dict()
    assert out == original
    assert orjson.dumps(out) == orjson.dumps(original)  # same key order, too
    # to_dict() is a plain-JSON copy: no views left, and changing it leaves the model alone.
    assert type(out["choices"]) is list
    for choice in out["choices"]:
        assert type(choice) is dict
        assert type(choice["delta"]) is dict
    out["id"] = "changed"
    assert c.id == original["id"]


@pytest.mark.parametrize("doc", [*CHUNK_DOCS, COMPLETION])
def test_to_json_parses_back_equal(doc: dict[str, Any]) -> None:
    cls = ChatCompletion if doc["object"] == "chat.completion" else ChatCompletionChunk
    m = cls.construct(copy.deepcopy(doc))
    assert orjson.loads(m.to_json()) == doc
    assert orjson.loads(m.to_json(indent=None)) == doc
    assert "\n" in m.to_json()
    assert "\n" not in m.to_json(indent=None)


_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
# Extra keys never collide with declared fields or the models' own methods.
_extras = st.dictionaries(st.from_regex(r"\Ax_[a-z0-9_]{1,8}\Z"), _json_values, max_size=3)
_opt_text = st.none() | st.text(max_size=10)


@st.composite
def _chunk_documents(draw: st.DrawFn) -> dict[str, Any]:
    def with_extras(obj: dict[str, Any]) -> dict[str, Any]:
        return {**obj, **draw(_extras)}

    def function() -> dict[str, Any]:
        return with_extras({"name": draw(_opt_text), "arguments": draw(_opt_text)})

    def tool_call(i: int) -> dict[str, Any]:
        obj: dict[str, Any] = {"index": i}
        if draw(st.booleans()):
            obj["id"] = draw(st.text(max_size=6))
            obj["type"] = "function"
        if draw(st.booleans()):
            obj["function"] = function()
        return with_extras(obj)

    def delta() -> dict[str, Any]:
        obj: dict[str, Any] = {}
        if draw(st.booleans()):
            obj["content"] = draw(_opt_text)
        if draw(st.booleans()):
            obj["role"] = "assistant"
        if draw(st.booleans()):
            obj["tool_calls"] = [tool_call(i) for i in range(draw(st.integers(0, 2)))]
        if draw(st.booleans()):
            obj["function_call"] = function()
        return with_extras(obj)

    def choice(i: int) -> dict[str, Any]:
        obj: dict[str, Any] = {"index": i, "delta": delta()}
        if draw(st.booleans()):
            obj["finish_reason"] = draw(st.sampled_from([None, "stop", "length", "tool_calls"]))
        if draw(st.booleans()):
            obj["logprobs"] = None
        return with_extras(obj)

    doc: dict[str, Any] = {
        "id": draw(st.text(max_size=8)),
        "object": "chat.completion.chunk",
        "created": draw(st.integers(0, 2**40)),
        "model": draw(st.text(max_size=8)),
        "choices": [choice(i) for i in range(draw(st.integers(0, 3)))],
    }
    if draw(st.booleans()):
        doc["usage"] = with_extras({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3})
    return with_extras(doc)


@settings(max_examples=150, deadline=None)
@given(_chunk_documents())
def test_round_trip_with_extras_at_every_level(doc: dict[str, Any]) -> None:
    original = copy.deepcopy(doc)
    c = ChatCompletionChunk.construct(doc)
    assert c.to_dict() == original
    assert orjson.loads(c.to_json()) == original
    assert ChatCompletionChunk.model_validate(copy.deepcopy(original)) == c
    for key in original:
        if key.startswith("x_"):
            assert getattr(c, key) == original[key]
    for choice, raw in zip(c.choices, original["choices"], strict=True):
        assert isinstance(choice.delta, ChoiceDelta)
        for key, value in raw["delta"].items():
            if key.startswith("x_"):
                assert getattr(choice.delta, key) == value
    # The dump matches the official client's, declared fields and extras alike.
    official = OfficialChunk.model_validate(copy.deepcopy(original)).model_dump()
    assert c.model_dump() == official


# -- model_dump: as the official client's pydantic models ----------------------------------

_DUMP_DOCS = [
    *CHUNK_DOCS,
    chunk_doc(x_none=None, x_dict={"a": None, "b": [{"c": None}]}),
    {
        **chunk_doc(),
        "choices": [
            {
                "index": 0,
                "delta": {"content": None, "x": None, "y": {"z": None}},
                "finish_reason": None,
            }
        ],
    },
]
_DUMP_OPTIONS: list[dict[str, Any]] = [
    {},
    {"exclude_none": True},
    {"exclude_unset": True},
    {"exclude_unset": True, "exclude_none": True},
]


@pytest.mark.parametrize("options", _DUMP_OPTIONS, ids=str)
@pytest.mark.parametrize("doc", _DUMP_DOCS)
def test_model_dump_matches_the_official_chunk(
    doc: dict[str, Any], options: dict[str, Any]
) -> None:
    ours = chunk(doc).model_dump(**options)
    theirs = OfficialChunk.model_validate(copy.deepcopy(doc)).model_dump(**options)
    assert ours == theirs


@pytest.mark.parametrize("options", _DUMP_OPTIONS, ids=str)
def test_model_dump_matches_the_official_completion(options: dict[str, Any]) -> None:
    ours = ChatCompletion.construct(copy.deepcopy(COMPLETION)).model_dump(**options)
    theirs = OfficialChatCompletion.model_validate(copy.deepcopy(COMPLETION)).model_dump(**options)
    assert ours == theirs


def test_model_dump_fills_declared_fields_at_every_level() -> None:
    dumped = chunk(TOOL_CHUNK).model_dump()
    assert dumped["usage"] is None
    assert dumped["service_tier"] is None
    delta = dumped["choices"][0]["delta"]
    assert delta["content"] is None
    assert delta["role"] is None
    second = delta["tool_calls"][1]
    assert second["id"] is None
    assert second["type"] is None
    assert second["function"] == {"name": None, "arguments": '"Oslo"}'}
    # The model itself is unchanged by dumping.
    assert chunk(TOOL_CHUNK).to_dict() == TOOL_CHUNK


def test_model_dump_keeps_extras_and_exclude_none_drops_them() -> None:
    c = chunk(chunk_doc(x_keep=1, x_none=None))
    assert c.model_dump()["x_keep"] == 1
    assert c.model_dump()["x_none"] is None
    assert "x_none" not in c.model_dump(exclude_none=True)
    assert "usage" not in c.model_dump(exclude_unset=True)
    assert "usage" not in c.model_dump(exclude_none=True)


def test_model_dump_json_parses_to_model_dump() -> None:
    c = chunk(REASONING_CHUNK)
    assert orjson.loads(c.model_dump_json()) == c.model_dump()
    assert orjson.loads(c.model_dump_json(exclude_none=True)) == c.model_dump(exclude_none=True)


# -- equality, repr, construction, pickling ------------------------------------------------


def test_equality_and_inequality() -> None:
    a = chunk(TOOL_CHUNK)
    b = chunk(TOOL_CHUNK)
    assert a == b
    assert (a != b) is False
    assert a is not b
    assert a != chunk(chunk_doc())
    changed = copy.deepcopy(TOOL_CHUNK)
    changed["choices"][0]["delta"]["tool_calls"][1]["function"]["arguments"] = "}"
    assert a != chunk(changed)
    assert a != chunk({**TOOL_CHUNK, "x_extra": 1})  # extras count
    assert a != a.to_dict()  # a model is not its dict
    assert a.choices[0] == b.choices[0]
    assert a.choices[0] != a  # different types


def test_models_are_unhashable_like_mutable_dicts() -> None:
    with pytest.raises(TypeError):
        hash(chunk(chunk_doc()))


def test_repr_is_readable() -> None:
    r = repr(chunk(chunk_doc(x_extra="e")))
    assert r.startswith("ChatCompletionChunk(")
    assert "id='chatcmpl-1'" in r
    assert "model='m'" in r
    assert "usage=None" in r  # declared fields are listed even when absent
    assert "x_extra='e'" in r  # extras too
    assert "ChoiceDelta(" in r
    assert "content='Hel'" in r
    assert r.index("id=") < r.index("x_extra=")


def test_repr_of_nested_views() -> None:
    r = repr(chunk(TOOL_CHUNK).choices[0].delta.tool_calls)
    assert "ChoiceDeltaToolCall(index=0, id='call_a'" in r
    assert "ChoiceDeltaToolCallFunction(arguments='{\"city\":', name='get_weather')" in r


def test_keyword_constructor() -> None:
    c = ChatCompletionChunk(
        id="x",
        object="chat.completion.chunk",
        created=1,
        model="m",
        choices=[{"index": 0, "delta": {"content": "a", "x_extra": 1}}],
    )
    assert c.id == "x"
    assert isinstance(c.choices[0], Choice)
    assert c.choices[0].delta.content == "a"
    assert c.choices[0].delta.x_extra == 1  # type: ignore[attr-defined]
    assert c == chunk(
        {
            "id": "x",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": "a", "x_extra": 1}}],
        }
    )


def test_keyword_constructor_accepts_views_and_copies_them() -> None:
    delta = ChoiceDelta(content="a")
    choice = Choice(index=0, delta=delta)
    c = ChatCompletionChunk(id="x", choices=[choice])
    assert isinstance(c.choices[0].delta, ChoiceDelta)
    assert c.choices[0].delta.content == "a"
    assert c.choices[0] == choice
    assert c.choices[0] is not choice  # copied, so the caller's view is not shared
    assert c.to_dict() == {"id": "x", "choices": [{"index": 0, "delta": {"content": "a"}}]}


def test_model_validate_does_not_adopt_the_callers_dict() -> None:
    doc = copy.deepcopy(TOOL_CHUNK)
    c = ChatCompletionChunk.model_validate(doc)
    assert doc == TOOL_CHUNK  # untouched: no views written into it
    assert isinstance(c.choices[0], Choice)


@pytest.mark.parametrize("doc", [*CHUNK_DOCS, COMPLETION])
def test_pickle_round_trip(doc: dict[str, Any]) -> None:
    cls = ChatCompletion if doc["object"] == "chat.completion" else ChatCompletionChunk
    m = cls.construct(copy.deepcopy(doc))
    back = pickle.loads(pickle.dumps(m))
    assert type(back) is cls
    assert back == m
    assert back.to_dict() == doc
    for choice, original in zip(back.choices, m.choices, strict=True):
        assert type(choice) is type(original)
        assert choice == original


# -- shape errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        chunk_doc(choices={"index": 0}),
        chunk_doc(choices="nope"),
        chunk_doc(choices=["not an object"]),
        chunk_doc(choices=[{"index": 0, "delta": []}]),
        chunk_doc(choices=[{"index": 0, "delta": {"tool_calls": {"index": 0}}}]),
        chunk_doc(choices=[{"index": 0, "delta": {"tool_calls": [7]}}]),
        chunk_doc(usage=[1, 2]),
        chunk_doc(usage="many"),
    ],
)
def test_shape_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(ResponseShapeError):
        ChatCompletionChunk.construct(bad)


def test_top_level_must_be_an_object() -> None:
    with pytest.raises(ResponseShapeError, match="ChatCompletionChunk"):
        ChatCompletionChunk.construct([])  # type: ignore[arg-type]
    with pytest.raises(ResponseShapeError):
        ChatCompletionChunk.model_validate("x")  # type: ignore[arg-type]


def test_shape_error_is_a_value_error() -> None:
    assert issubclass(ResponseShapeError, ValueError)


def test_null_nested_values_are_allowed() -> None:
    c = chunk(chunk_doc(usage=None, choices=[{"index": 0, "delta": {"tool_calls": None}}]))
    assert c.usage is None
    assert c.choices[0].delta.tool_calls is None


# -- discriminated unions ------------------------------------------------------------------


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ImagePart(BaseModel):
    type: Literal["image", "picture"]
    url: str


class Envelope(BaseModel):
    part: TextPart | ImagePart | None
    parts: list[TextPart | ImagePart]


def test_discriminated_union_picks_the_model_by_type() -> None:
    doc = {
        "part": {"type": "text", "text": "hi"},
        "parts": [
            {"type": "image", "url": "u1"},
            {"type": "picture", "url": "u2"},
            {"type": "text", "text": "t"},
        ],
    }
    env = Envelope.construct(copy.deepcopy(doc))
    assert isinstance(env.part, TextPart)
    assert env.part.text == "hi"
    assert [type(p) for p in env.parts] == [ImagePart, ImagePart, TextPart]
    assert isinstance(env.parts[1], ImagePart) and env.parts[1].url == "u2"
    assert env.to_dict() == doc


@pytest.mark.parametrize(
    "part", [{"type": "video", "src": "v"}, {"src": "v"}, {"type": 3, "src": "v"}]
)
def test_discriminated_union_keeps_unknown_kinds_generic(part: dict[str, Any]) -> None:
    env: Any = Envelope.construct({"part": dict(part), "parts": [dict(part)]})
    assert env.part.src == "v"
    assert type(env.part) is GenericObject
    assert type(env.parts[0]) is GenericObject
    assert env.to_dict() == {"part": part, "parts": [part]}


@pytest.mark.parametrize("bad", [{"part": "text"}, {"parts": [["text"]]}, {"parts": {}}])
def test_discriminated_union_shape_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(ResponseShapeError):
        Envelope.construct(bad)


def test_discriminated_union_model_dump() -> None:
    env = Envelope.construct({"parts": [{"type": "text", "text": "a", "x": 1}]})
    assert env.model_dump() == {
        "part": None,
        "parts": [{"type": "text", "text": "a", "x": 1}],
    }
    assert env.model_dump(exclude_unset=True) == {"parts": [{"type": "text", "text": "a", "x": 1}]}


def test_fields_are_inherited_in_order() -> None:
    class Base(BaseModel):
        a: int
        b: str | None

    class Child(Base):
        c: int

    assert Child.__fields__ == ("a", "b", "c")
    child: Any = Child.construct({"c": 1})
    assert (child.a, child.b, child.c) == (None, None, 1)
    assert child.model_dump() == {"a": None, "b": None, "c": 1}


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"exclude_none": True},
        {"exclude_unset": False},
        {"exclude_unset": False, "exclude_none": True},
    ],
    ids=str,
)
@pytest.mark.parametrize("doc", [TOOL_CHUNK, REASONING_CHUNK])
def test_to_dict_options_match_the_official_client(
    doc: dict[str, Any], options: dict[str, Any]
) -> None:
    ours = chunk(doc)
    theirs = OfficialChunk.model_validate(copy.deepcopy(doc))
    assert ours.to_dict(**options) == theirs.to_dict(**options)
    assert orjson.loads(ours.to_json(**options)) == orjson.loads(theirs.to_json(**options))

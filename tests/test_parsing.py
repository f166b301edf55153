"""`rillet._parsing`, the I/O-free core of structured outputs: the strict schemas it makes
are the official client's, and answers are parsed (or refused) as officially."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Literal

import pydantic
import pytest
from openai.lib._pydantic import to_strict_json_schema as official_strict_schema
from pydantic import Field

import rillet
from rillet._encode import InvalidParameterError
from rillet._parsing import Parser, pydantic_responses_function_tool, to_strict_json_schema
from rillet.types.chat import ParsedChatCompletion
from rillet.types.responses import ParsedResponse


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(pydantic.BaseModel):
    street: str
    city: str = "Oslo"


class Person(pydantic.BaseModel):
    """Someone."""

    name: str = Field(description="Full name")
    age: int | None = None
    home: Address = Field(description="Where they live")  # a $ref with a sibling
    other: list[Address]
    colour: Colour
    kind: Literal["a", "b"]
    either: int | str


@pydantic.dataclasses.dataclass
class Point:
    x: float
    y: float


class Tree(pydantic.BaseModel):
    label: str
    children: list[Tree]


@pytest.mark.parametrize("model", [Person, Address, Tree], ids=lambda m: m.__name__)
def test_strict_schema_is_the_official_clients(model: type[pydantic.BaseModel]) -> None:
    assert to_strict_json_schema(model) == official_strict_schema(model)


def test_strict_schema_of_a_pydantic_dataclass() -> None:
    expected = official_strict_schema(pydantic.TypeAdapter(Point))
    assert to_strict_json_schema(Point) == expected
    assert expected["required"] == ["x", "y"] and expected["additionalProperties"] is False


class Loose(pydantic.BaseModel, extra="allow"):
    name: str


class Mapped(pydantic.BaseModel):
    scores: dict[str, float]


@pytest.mark.parametrize(
    ("model", "where"),
    [(Loose, "#"), (Mapped, "#/properties/scores")],
    ids=["extra-allow", "dict-field"],
)
def test_an_open_ended_object_cannot_be_strict(model: type, where: str) -> None:
    with pytest.raises(InvalidParameterError, match="arbitrary keys") as caught:
        to_strict_json_schema(model)
    assert f"the object at {where} " in str(caught.value)
    assert caught.value.parameter == "response_format"


def test_the_tool_helpers_match_the_official_ones() -> None:
    import openai

    assert rillet.pydantic_function_tool(Person) == openai.pydantic_function_tool(Person)
    named = rillet.pydantic_function_tool(Address, name="where", description="An address")
    assert named == openai.pydantic_function_tool(Address, name="where", description="An address")
    ours = pydantic_responses_function_tool(Person, defer_loading=True)
    assert ours == openai.pydantic_responses_function_tool(Person, defer_loading=True)
    assert ours.model is Person  # type: ignore[attr-defined]


def _completion(message: dict[str, Any], finish: str = "stop") -> ParsedChatCompletion[Any]:
    return ParsedChatCompletion.construct(
        {
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "finish_reason": finish, "message": message}],
        }
    )


def test_a_refusal_is_not_parsed() -> None:
    completion = _completion({"role": "assistant", "content": None, "refusal": "I cannot."})
    parsed = Parser(Address, None).chat_completion(completion)
    assert parsed.choices[0].message.parsed is None
    assert parsed.choices[0].message.refusal == "I cannot."


@pytest.mark.parametrize(
    ("finish", "error"),
    [
        ("length", rillet.LengthFinishReasonError),
        ("content_filter", rillet.ContentFilterFinishReasonError),
    ],
)
def test_a_cut_answer_raises(finish: str, error: type[Exception]) -> None:
    completion = _completion({"role": "assistant", "content": '{"stre'}, finish)
    with pytest.raises(error):
        Parser(Address, None).chat_completion(completion)


def test_arguments_of_tools_that_are_not_strict_are_left_alone() -> None:
    tools = [
        {"type": "function", "function": {"name": "loose", "parameters": {}}},
        {"type": "function", "function": {"name": "strict", "strict": True, "parameters": {}}},
    ]
    completion = _completion(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "1", "type": "function", "function": {"name": n, "arguments": '{"a": 1}'}}
                for n in ("loose", "strict", "unknown")
            ],
        },
        "tool_calls",
    )
    calls = Parser(None, tools).chat_completion(completion).choices[0].message.tool_calls or []
    assert [call.function.parsed_arguments for call in calls] == [None, {"a": 1}, None]


def test_a_content_filtered_response_raises() -> None:
    response = ParsedResponse.construct(
        {
            "id": "r",
            "object": "response",
            "status": "incomplete",
            "incomplete_details": {"reason": "content_filter"},
            "output": [],
        }
    )
    with pytest.raises(rillet.ContentFilterFinishReasonError):
        Parser(Address, None, responses=True).response(response)


def test_partial_arguments_only_when_pydantic_is_in_play() -> None:
    strict = [{"type": "function", "function": {"name": "f", "strict": True, "parameters": {}}}]
    assert Parser(None, strict).partial_arguments("f", '{"a": 1, "b"') is None
    with_model = [*strict, rillet.pydantic_function_tool(Address, name="g")]
    assert Parser(None, with_model).partial_arguments("f", '{"a": 1, "b"') == {"a": 1}
    assert Parser(Address, None).partial_content('{"street": "Main", "ci') == {"street": "Main"}


class Hook(pydantic.BaseModel):
    callback: Callable[[int], int]


def test_a_model_without_a_json_schema_is_refused_by_name() -> None:
    with pytest.raises(InvalidParameterError, match="Hook has no JSON schema") as caught:
        rillet.pydantic_function_tool(Hook)
    assert caught.value.parameter == "tools"

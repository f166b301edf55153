"""What a response's `output` holds: messages made of text parts, and function calls."""

from __future__ import annotations

from typing import Any, Literal

from rillet._models import BaseModel

__all__ = [
    "ResponseFunctionToolCall",
    "ResponseOutputItem",
    "ResponseOutputMessage",
    "ResponseOutputRefusal",
    "ResponseOutputText",
    "ResponseReasoningItem",
]


class ResponseOutputText(BaseModel):
    type: Literal["output_text"]
    text: str
    annotations: list[Any]
    logprobs: list[Any] | None


class ResponseOutputRefusal(BaseModel):
    type: Literal["refusal"]
    refusal: str


class ResponseOutputMessage(BaseModel):
    type: Literal["message"]
    id: str
    role: Literal["assistant"]
    status: Literal["in_progress", "completed", "incomplete"]
    content: list[ResponseOutputText | ResponseOutputRefusal]


class ResponseFunctionToolCall(BaseModel):
    type: Literal["function_call"]
    id: str | None
    call_id: str
    name: str
    arguments: str
    status: Literal["in_progress", "completed", "incomplete"] | None


class ResponseReasoningItem(BaseModel):
    type: Literal["reasoning"]
    id: str
    summary: list[Any]
    status: Literal["in_progress", "completed", "incomplete"] | None


ResponseOutputItem = ResponseOutputMessage | ResponseFunctionToolCall | ResponseReasoningItem

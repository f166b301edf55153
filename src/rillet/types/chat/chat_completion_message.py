from __future__ import annotations

from typing import Literal

from rillet._models import BaseModel

__all__ = ["ChatCompletionMessage", "ChatCompletionMessageToolCall", "Function", "FunctionCall"]


class FunctionCall(BaseModel):
    arguments: str
    name: str


class Function(BaseModel):
    arguments: str
    name: str


class ChatCompletionMessageToolCall(BaseModel):
    id: str
    function: Function
    type: Literal["function"]


class ChatCompletionMessage(BaseModel):
    content: str | None
    refusal: str | None
    role: Literal["assistant"]
    function_call: FunctionCall | None
    tool_calls: list[ChatCompletionMessageToolCall] | None

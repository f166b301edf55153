"""What `responses.input_items.list()` returns: the items a response was given, one page of
them at a time, told apart by `type` (an unknown type stays a generic object)."""

from __future__ import annotations

from typing import Any, Literal

from rillet._models import BaseModel
from rillet.types.responses.response_output_item import (
    ResponseFunctionToolCall,
    ResponseOutputRefusal,
    ResponseOutputText,
)

__all__ = [
    "ResponseFunctionToolCallItem",
    "ResponseFunctionToolCallOutputItem",
    "ResponseInputMessageItem",
    "ResponseInputText",
    "ResponseItem",
    "ResponseItemList",
]


class ResponseInputText(BaseModel):
    type: Literal["input_text"]
    text: str


class ResponseInputMessageItem(BaseModel):
    """A message given as input (any role; an assistant's holds `output_text` parts)."""

    type: Literal["message"]
    id: str
    role: str
    status: Literal["in_progress", "completed", "incomplete"] | None
    content: list[ResponseInputText | ResponseOutputText | ResponseOutputRefusal]


class ResponseFunctionToolCallItem(ResponseFunctionToolCall):
    id: str


class ResponseFunctionToolCallOutputItem(BaseModel):
    type: Literal["function_call_output"]
    id: str
    call_id: str
    output: str | list[Any]
    status: Literal["in_progress", "completed", "incomplete"] | None


ResponseItem = (
    ResponseInputMessageItem | ResponseFunctionToolCallItem | ResponseFunctionToolCallOutputItem
)


class ResponseItemList(BaseModel):
    """One page of a response's input items, as the server sent it."""

    object: Literal["list"]
    data: list[ResponseItem]
    first_id: str | None
    last_id: str | None
    has_more: bool

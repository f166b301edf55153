from __future__ import annotations

from typing import Any, Literal

from rillet._models import BaseModel
from rillet.types.responses.response_output_item import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseReasoningItem,
)
from rillet.types.responses.response_usage import ResponseUsage

__all__ = ["IncompleteDetails", "Response", "ResponseError", "ResponseStatus"]

ResponseStatus = Literal["completed", "failed", "in_progress", "cancelled", "queued", "incomplete"]


class ResponseError(BaseModel):
    code: str | None
    message: str


class IncompleteDetails(BaseModel):
    reason: str | None


class Response(BaseModel):
    id: str
    object: Literal["response"]
    created_at: float
    status: ResponseStatus | None
    model: str
    output: list[ResponseOutputMessage | ResponseFunctionToolCall | ResponseReasoningItem]
    usage: ResponseUsage | None
    error: ResponseError | None
    incomplete_details: IncompleteDetails | None
    instructions: str | list[Any] | None
    metadata: dict[str, str] | None
    parallel_tool_calls: bool
    temperature: float | None
    top_p: float | None
    tool_choice: Any
    tools: list[Any]
    max_output_tokens: int | None
    previous_response_id: str | None
    text: Any

    @property
    def output_text(self) -> str:
        """The text of every `output_text` part of every message, joined."""
        return "".join(
            part.text
            for item in self.output or ()
            if item.type == "message"
            for part in item.content or ()
            if part.type == "output_text"
        )

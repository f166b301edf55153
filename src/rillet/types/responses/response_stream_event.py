"""The events of a streamed response, told apart by `type`.

`construct_event` picks the class from the event's `type`; a type these classes do not
describe becomes a `GenericObject` that still carries every field, so a server that adds
new events never breaks a consumer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from rillet._models import BaseModel, GenericObject, by_type_converter
from rillet.types.responses.response import Response
from rillet.types.responses.response_output_item import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputRefusal,
    ResponseOutputText,
    ResponseReasoningItem,
)

__all__ = [
    "ResponseCompletedEvent",
    "ResponseContentPartAddedEvent",
    "ResponseContentPartDoneEvent",
    "ResponseCreatedEvent",
    "ResponseErrorEvent",
    "ResponseFailedEvent",
    "ResponseFunctionCallArgumentsDeltaEvent",
    "ResponseFunctionCallArgumentsDoneEvent",
    "ResponseInProgressEvent",
    "ResponseIncompleteEvent",
    "ResponseOutputItemAddedEvent",
    "ResponseOutputItemDoneEvent",
    "ResponseQueuedEvent",
    "ResponseRefusalDeltaEvent",
    "ResponseRefusalDoneEvent",
    "ResponseStreamEvent",
    "ResponseTextDeltaEvent",
    "ResponseTextDoneEvent",
    "construct_event",
]

_Item = ResponseOutputMessage | ResponseFunctionToolCall | ResponseReasoningItem
_Part = ResponseOutputText | ResponseOutputRefusal


class _ResponseEvent(BaseModel):
    response: Response
    sequence_number: int


class ResponseCreatedEvent(_ResponseEvent):
    type: Literal["response.created"]


class ResponseQueuedEvent(_ResponseEvent):
    type: Literal["response.queued"]


class ResponseInProgressEvent(_ResponseEvent):
    type: Literal["response.in_progress"]


class ResponseCompletedEvent(_ResponseEvent):
    type: Literal["response.completed"]


class ResponseIncompleteEvent(_ResponseEvent):
    type: Literal["response.incomplete"]


class ResponseFailedEvent(_ResponseEvent):
    type: Literal["response.failed"]


class _ItemEvent(BaseModel):
    item: _Item
    output_index: int
    sequence_number: int


class ResponseOutputItemAddedEvent(_ItemEvent):
    type: Literal["response.output_item.added"]


class ResponseOutputItemDoneEvent(_ItemEvent):
    type: Literal["response.output_item.done"]


class _PartEvent(BaseModel):
    item_id: str
    output_index: int
    content_index: int
    part: _Part
    sequence_number: int


class ResponseContentPartAddedEvent(_PartEvent):
    type: Literal["response.content_part.added"]


class ResponseContentPartDoneEvent(_PartEvent):
    type: Literal["response.content_part.done"]


class _TextEvent(BaseModel):
    item_id: str
    output_index: int
    content_index: int
    logprobs: list[Any] | None
    sequence_number: int


class ResponseTextDeltaEvent(_TextEvent):
    type: Literal["response.output_text.delta"]
    delta: str


class ResponseTextDoneEvent(_TextEvent):
    type: Literal["response.output_text.done"]
    text: str


class _RefusalEvent(BaseModel):
    item_id: str
    output_index: int
    content_index: int
    sequence_number: int


class ResponseRefusalDeltaEvent(_RefusalEvent):
    type: Literal["response.refusal.delta"]
    delta: str


class ResponseRefusalDoneEvent(_RefusalEvent):
    type: Literal["response.refusal.done"]
    refusal: str


class ResponseFunctionCallArgumentsDeltaEvent(BaseModel):
    type: Literal["response.function_call_arguments.delta"]
    item_id: str
    output_index: int
    delta: str
    sequence_number: int


class ResponseFunctionCallArgumentsDoneEvent(BaseModel):
    type: Literal["response.function_call_arguments.done"]
    item_id: str
    output_index: int
    arguments: str
    sequence_number: int


class ResponseErrorEvent(BaseModel):
    type: Literal["error"]
    code: str | None
    message: str
    param: str | None
    sequence_number: int


ResponseStreamEvent = (
    ResponseCreatedEvent
    | ResponseQueuedEvent
    | ResponseInProgressEvent
    | ResponseCompletedEvent
    | ResponseIncompleteEvent
    | ResponseFailedEvent
    | ResponseOutputItemAddedEvent
    | ResponseOutputItemDoneEvent
    | ResponseContentPartAddedEvent
    | ResponseContentPartDoneEvent
    | ResponseTextDeltaEvent
    | ResponseTextDoneEvent
    | ResponseRefusalDeltaEvent
    | ResponseRefusalDoneEvent
    | ResponseFunctionCallArgumentsDeltaEvent
    | ResponseFunctionCallArgumentsDoneEvent
    | ResponseErrorEvent
)

# The typed event for one decoded `data:` object (generic when its type is new).
construct_event: Callable[[dict[str, Any]], ResponseStreamEvent | GenericObject]
construct_event = by_type_converter(
    [
        ResponseCreatedEvent,
        ResponseQueuedEvent,
        ResponseInProgressEvent,
        ResponseCompletedEvent,
        ResponseIncompleteEvent,
        ResponseFailedEvent,
        ResponseOutputItemAddedEvent,
        ResponseOutputItemDoneEvent,
        ResponseContentPartAddedEvent,
        ResponseContentPartDoneEvent,
        ResponseTextDeltaEvent,
        ResponseTextDoneEvent,
        ResponseRefusalDeltaEvent,
        ResponseRefusalDoneEvent,
        ResponseFunctionCallArgumentsDeltaEvent,
        ResponseFunctionCallArgumentsDoneEvent,
        ResponseErrorEvent,
    ]
)

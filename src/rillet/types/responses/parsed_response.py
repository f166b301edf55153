"""What `responses.parse()` and `responses.stream(text_format=...)` return: a `Response`
whose text parts carry `parsed` and whose function calls carry `parsed_arguments`, with
`output_parsed` for the first parsed text, as in the official client."""

from __future__ import annotations

from typing import Generic

from rillet.types.chat.parsed_chat_completion import ContentT  # the `text_format` class
from rillet.types.responses.response import Response
from rillet.types.responses.response_output_item import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputRefusal,
    ResponseOutputText,
    ResponseReasoningItem,
)

__all__ = [
    "ParsedResponse",
    "ParsedResponseFunctionToolCall",
    "ParsedResponseOutputMessage",
    "ParsedResponseOutputText",
]


class ParsedResponseOutputText(ResponseOutputText, Generic[ContentT]):
    parsed: ContentT | None


class ParsedResponseOutputMessage(ResponseOutputMessage, Generic[ContentT]):
    content: list[ParsedResponseOutputText[ContentT] | ResponseOutputRefusal]  # type: ignore[assignment]


class ParsedResponseFunctionToolCall(ResponseFunctionToolCall):
    parsed_arguments: object


class ParsedResponse(Response, Generic[ContentT]):
    output: list[  # type: ignore[assignment]
        ParsedResponseOutputMessage[ContentT]
        | ParsedResponseFunctionToolCall
        | ResponseReasoningItem
    ]

    @property
    def output_parsed(self) -> ContentT | None:
        """The first text part's parsed value, as officially."""
        for item in self.output or ():
            if item.type == "message":
                for part in item.content or ():
                    if part.type == "output_text" and part.parsed is not None:
                        return part.parsed
        return None

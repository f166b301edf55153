"""What `chat.completions.parse()` and the `.stream()` helper's final completion return: a
`ChatCompletion` whose messages carry `parsed` (an instance of the `response_format` class)
and whose function calls carry `parsed_arguments`, named as in the official client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from rillet.types.chat.chat_completion import ChatCompletion, Choice
from rillet.types.chat.chat_completion_message import (
    ChatCompletionMessage,
    ChatCompletionMessageToolCall,
    Function,
)

__all__ = [
    "ContentT",
    "ParsedChatCompletion",
    "ParsedChatCompletionMessage",
    "ParsedChoice",
    "ParsedFunction",
    "ParsedFunctionToolCall",
]

# The `response_format` class; None when none was given (PEP 696's default, which only
# type checkers need: typing.TypeVar takes no default before Python 3.13).
if TYPE_CHECKING:
    from typing_extensions import TypeVar as _TypeVar

    ContentT = _TypeVar("ContentT", default=None)
else:
    ContentT = TypeVar("ContentT")


class ParsedFunction(Function):
    parsed_arguments: object  # the tool's model, a dict for other strict tools, else None


class ParsedFunctionToolCall(ChatCompletionMessageToolCall):
    function: ParsedFunction


# The lists below hold the parsed subclasses of what the base classes declare; a list is
# invariant, hence the ignores (the official types do the same).


class ParsedChatCompletionMessage(ChatCompletionMessage, Generic[ContentT]):
    parsed: ContentT | None
    tool_calls: list[ParsedFunctionToolCall] | None  # type: ignore[assignment]


class ParsedChoice(Choice, Generic[ContentT]):
    message: ParsedChatCompletionMessage[ContentT]


class ParsedChatCompletion(ChatCompletion, Generic[ContentT]):
    choices: list[ParsedChoice[ContentT]]  # type: ignore[assignment]

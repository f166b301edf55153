from __future__ import annotations

from typing import Literal

from rillet._models import BaseModel
from rillet.types.chat.chat_completion_token_logprob import ChatCompletionTokenLogprob
from rillet.types.completion_usage import CompletionUsage

__all__ = [
    "ChatCompletionChunk",
    "Choice",
    "ChoiceDelta",
    "ChoiceDeltaFunctionCall",
    "ChoiceDeltaToolCall",
    "ChoiceDeltaToolCallFunction",
    "ChoiceLogprobs",
]


class ChoiceDeltaFunctionCall(BaseModel):
    arguments: str | None
    name: str | None


class ChoiceDeltaToolCallFunction(BaseModel):
    arguments: str | None
    name: str | None


class ChoiceDeltaToolCall(BaseModel):
    index: int
    id: str | None
    function: ChoiceDeltaToolCallFunction | None
    type: Literal["function"] | None


class ChoiceDelta(BaseModel):
    content: str | None
    function_call: ChoiceDeltaFunctionCall | None
    refusal: str | None
    role: Literal["developer", "system", "user", "assistant", "tool"] | None
    tool_calls: list[ChoiceDeltaToolCall] | None


class ChoiceLogprobs(BaseModel):
    content: list[ChatCompletionTokenLogprob] | None
    refusal: list[ChatCompletionTokenLogprob] | None


class Choice(BaseModel):
    delta: ChoiceDelta
    finish_reason: Literal["stop", "length", "tool_calls", "content_filter", "function_call"] | None
    index: int
    logprobs: ChoiceLogprobs | None


class ChatCompletionChunk(BaseModel):
    id: str
    choices: list[Choice]
    created: int
    model: str
    object: Literal["chat.completion.chunk"]
    service_tier: str | None
    system_fingerprint: str | None
    usage: CompletionUsage | None

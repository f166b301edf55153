from __future__ import annotations

from typing import Literal

from rillet._models import BaseModel, GenericObject
from rillet.types.chat.chat_completion_token_logprob import ChatCompletionTokenLogprob
from rillet.types.completion_usage import CompletionUsage

__all__ = [
    "ChatCompletionChunk",
    "Choice",
    "ChoiceDelta",
    "ChoiceDeltaAudio",
    "ChoiceDeltaFunctionCall",
    "ChoiceDeltaToolCall",
    "ChoiceDeltaToolCallFunction",
    "ChoiceLogprobs",
    "Moderation",
]


class ChoiceDeltaAudio(BaseModel):
    id: str | None
    data: str | None
    expires_at: int | None
    transcript: str | None


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
    audio: ChoiceDeltaAudio | None
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


class Moderation(BaseModel):
    input: GenericObject
    output: GenericObject


class ChatCompletionChunk(BaseModel):
    id: str
    choices: list[Choice]
    created: int
    model: str
    object: Literal["chat.completion.chunk"]
    moderation: Moderation | None
    obfuscation: str | None
    service_tier: str | None
    system_fingerprint: str | None
    usage: CompletionUsage | None

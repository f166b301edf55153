from __future__ import annotations

from typing import Literal

from rillet._models import BaseModel
from rillet.types.chat.chat_completion_chunk import Moderation
from rillet.types.chat.chat_completion_message import ChatCompletionMessage
from rillet.types.chat.chat_completion_token_logprob import ChatCompletionTokenLogprob
from rillet.types.completion_usage import CompletionUsage

__all__ = ["ChatCompletion", "Choice", "ChoiceLogprobs"]


class ChoiceLogprobs(BaseModel):
    content: list[ChatCompletionTokenLogprob] | None
    refusal: list[ChatCompletionTokenLogprob] | None


class Choice(BaseModel):
    finish_reason: Literal["stop", "length", "tool_calls", "content_filter", "function_call"]
    index: int
    logprobs: ChoiceLogprobs | None
    message: ChatCompletionMessage


class ChatCompletion(BaseModel):
    id: str
    choices: list[Choice]
    created: int
    model: str
    object: Literal["chat.completion"]
    metadata: dict[str, str] | None
    moderation: Moderation | None
    service_tier: str | None
    system_fingerprint: str | None
    usage: CompletionUsage | None

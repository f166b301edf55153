"""Response types, laid out as in the official client (`rillet.types.chat.ChatCompletionChunk`)."""

from rillet.types import chat, responses
from rillet.types.completion_usage import CompletionUsage
from rillet.types.model import Model

__all__ = ["CompletionUsage", "Model", "chat", "responses"]

"""Response types, laid out as in the official client (`rillet.types.chat.ChatCompletionChunk`)."""

from rillet.types import chat, responses
from rillet.types.completion import Completion
from rillet.types.completion_choice import CompletionChoice
from rillet.types.completion_usage import CompletionUsage
from rillet.types.create_embedding_response import CreateEmbeddingResponse
from rillet.types.embedding import Embedding
from rillet.types.model import Model

__all__ = [
    "Completion",
    "CompletionChoice",
    "CompletionUsage",
    "CreateEmbeddingResponse",
    "Embedding",
    "Model",
    "chat",
    "responses",
]

"""`client.embeddings.create(...)`'s answer."""

from __future__ import annotations

from typing import Literal

from rillet._models import BaseModel
from rillet.types.embedding import Embedding

__all__ = ["CreateEmbeddingResponse", "Usage"]


class Usage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class CreateEmbeddingResponse(BaseModel):
    data: list[Embedding]
    model: str
    object: Literal["list"]
    usage: Usage

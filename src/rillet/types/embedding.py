from __future__ import annotations

from typing import Literal

from rillet._models import BaseModel

__all__ = ["Embedding"]


class Embedding(BaseModel):
    embedding: list[float]  # a base64 string when `encoding_format="base64"` was asked for
    index: int
    object: Literal["embedding"]

from __future__ import annotations

from typing import Literal

from rillet._models import BaseModel

__all__ = ["CompletionChoice", "Logprobs"]


class Logprobs(BaseModel):
    text_offset: list[int] | None
    token_logprobs: list[float] | None
    tokens: list[str] | None
    top_logprobs: list[dict[str, float]] | None


class CompletionChoice(BaseModel):
    finish_reason: Literal["stop", "length", "content_filter"]
    index: int
    logprobs: Logprobs | None
    text: str

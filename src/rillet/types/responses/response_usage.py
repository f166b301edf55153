from __future__ import annotations

from rillet._models import BaseModel

__all__ = ["InputTokensDetails", "OutputTokensDetails", "ResponseUsage"]


class InputTokensDetails(BaseModel):
    cached_tokens: int


class OutputTokensDetails(BaseModel):
    reasoning_tokens: int


class ResponseUsage(BaseModel):
    input_tokens: int
    input_tokens_details: InputTokensDetails | None
    output_tokens: int
    output_tokens_details: OutputTokensDetails | None
    total_tokens: int

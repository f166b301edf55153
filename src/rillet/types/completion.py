"""The legacy Completions API's answer (`client.completions.create`), and each streamed chunk."""

from __future__ import annotations

from typing import Literal

from rillet._models import BaseModel
from rillet.types.completion_choice import CompletionChoice
from rillet.types.completion_usage import CompletionUsage

__all__ = ["Completion"]


class Completion(BaseModel):
    id: str
    choices: list[CompletionChoice]
    created: int
    model: str
    object: Literal["text_completion"]
    system_fingerprint: str | None
    usage: CompletionUsage | None

from __future__ import annotations

from typing import Literal

from rillet._models import BaseModel

__all__ = [
    "Annotation",
    "AnnotationURLCitation",
    "ChatCompletionAudio",
    "ChatCompletionMessage",
    "ChatCompletionMessageToolCall",
    "Function",
    "FunctionCall",
]


class AnnotationURLCitation(BaseModel):
    end_index: int
    start_index: int
    title: str
    url: str


class Annotation(BaseModel):
    type: Literal["url_citation"]
    url_citation: AnnotationURLCitation


class ChatCompletionAudio(BaseModel):
    id: str
    data: str
    expires_at: int
    transcript: str


class FunctionCall(BaseModel):
    arguments: str
    name: str


class Function(BaseModel):
    arguments: str
    name: str


class ChatCompletionMessageToolCall(BaseModel):
    id: str
    function: Function
    type: Literal["function"]


class ChatCompletionMessage(BaseModel):
    content: str | None
    refusal: str | None
    role: Literal["assistant"]
    annotations: list[Annotation] | None
    audio: ChatCompletionAudio | None
    function_call: FunctionCall | None
    tool_calls: list[ChatCompletionMessageToolCall] | None

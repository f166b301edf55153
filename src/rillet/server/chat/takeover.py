"""Taking over a chat stream whose replica died: go on from what its log holds.

With `--store redis://`, a replica that reattaches a reader to a stream whose generating
replica stopped renewing its lease takes the stream over (docs/resume.md, "Takeover"):
it reads the events logged so far, rebuilds each choice's progress from them (the text
sent, whether the choice finished) and generates the rest with the backend, which goes on
from the text already sent (`GenerationRequest.continuation`). The new events continue the
same log with the same completion id, `created` and positions, so the client sees one
stream, every token once.

Only text can be continued: a stream whose request offers tools or asks for a JSON format
(whose grammar state cannot be rebuilt from text) is not taken over, nor one whose log is
already complete; `progress` says so by returning None.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from rillet.server.backends.base import GenerationRequest
from rillet.server.chat.request import ChatRequest


@dataclass(slots=True)
class ChoiceProgress:
    text: list[str] = field(default_factory=list)
    chunks: int = 0  # content chunks sent: the token count of a choice finished before
    opened: bool = False
    finished: bool = False


@dataclass(slots=True)
class Progress:
    """Where a logged stream stands, read back from its events."""

    completion_id: str
    created: int
    position: int  # of the last logged event (chat positions count from 1)
    choices: list[ChoiceProgress]

    def running(self) -> list[int]:
        """The choices still to finish."""
        return [index for index, choice in enumerate(self.choices) if not choice.finished]

    def request(self, generation: GenerationRequest, index: int) -> GenerationRequest:
        """Choice `index`'s request, asked to go on after the text it had sent."""
        return replace(generation, continuation="".join(self.choices[index].text))


def progress(chat: ChatRequest, logged: list[bytes]) -> Progress | None:
    """The stream's progress from its logged events, or None if it cannot be taken over."""
    generation = chat.generation
    if (generation.tool_mode != "none" and generation.functions) or generation.response_format:
        return None
    choices = [ChoiceProgress() for _ in range(chat.n)]
    completion_id: str | None = None
    created = 0
    usage_sent = False
    for event in logged:
        data = _data(event)
        if data is None or data == b"[DONE]":
            return None  # an error event or the end: the stream is over, nothing to go on
        chunk: dict[str, Any] = orjson.loads(data)
        completion_id = chunk["id"]
        created = chunk["created"]
        if chunk.get("usage") is not None and not chunk["choices"]:
            usage_sent = True
        for choice in chunk["choices"]:
            state = choices[choice["index"]]
            delta = choice.get("delta") or {}
            if "tool_calls" in delta or "function_call" in delta:
                return None
            if delta.get("role"):
                state.opened = True
            content = delta.get("content")
            if content:
                state.text.append(content)
                state.chunks += 1
                state.opened = True
            if choice.get("finish_reason") is not None:
                state.finished = True
    if completion_id is None or usage_sent:
        return None  # nothing logged yet (the client starts over), or only [DONE] was left
    return Progress(completion_id, created, len(logged), choices)


def _data(event: bytes) -> bytes | None:
    """The `data:` field of one logged SSE event with an `id:` (None: no id, an error)."""
    if not event.startswith(b"id: "):
        return None
    for line in event.split(b"\n"):
        if line.startswith(b"data: "):
            return line[6:]
    return None

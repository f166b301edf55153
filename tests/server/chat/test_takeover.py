"""Rebuilding a logged chat stream's progress, and going on from it (chat/takeover.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from rillet.server.backends.base import TextDelta
from rillet.server.backends.synthetic import SyntheticBackend
from rillet.server.chat.endpoint import ChunkEncoder, stream_chat
from rillet.server.chat.request import parse_chat_request
from rillet.server.chat.takeover import progress
from tests._sse_blocks import data

BODY: dict[str, Any] = {
    "model": "gpt-4",
    "messages": [{"role": "user", "content": "Write a story about a robot."}],
    "stream": True,
    "max_tokens": 30,
}


async def whole_stream(body: dict[str, Any]) -> list[bytes]:
    chat = parse_chat_request(body)
    chunks = ChunkEncoder("chatcmpl-t", 1700000000, chat)
    return [e async for e in stream_chat(SyntheticBackend(), chat, chunks) if e]


@pytest.mark.parametrize("cut", [1, 2, 7, 20])
@pytest.mark.parametrize(
    "extra", [{}, {"n": 2, "stream_options": {"include_usage": True}}], ids=["n1", "n2-usage"]
)
async def test_going_on_after_any_cut_gives_the_uncut_stream(
    cut: int, extra: dict[str, Any]
) -> None:
    """The synthetic backend's answer is deterministic: the continuation is byte-exact."""
    body = {**BODY, **extra}
    whole = await whole_stream(body)
    chat = parse_chat_request(body)
    state = progress(chat, whole[:cut])
    assert state is not None and state.position == cut
    chunks = ChunkEncoder(state.completion_id, state.created, chat)
    rest = [e async for e in stream_chat(SyntheticBackend(), chat, chunks, state) if e]
    assert whole[:cut] + rest == whole


async def test_a_finished_choice_is_not_generated_again() -> None:
    body = {**BODY, "n": 2, "max_tokens": 5}
    whole = await whole_stream(body)
    finished_0 = next(
        i
        for i, event in enumerate(whole)
        if isinstance(d := data(event), dict)
        and d["choices"][0]["index"] == 0
        and d["choices"][0]["finish_reason"]
    )
    chat = parse_chat_request(body)
    state = progress(chat, whole[: finished_0 + 1])
    assert state is not None and state.running() == [1]


async def test_what_cannot_be_continued() -> None:
    chat = parse_chat_request(BODY)
    whole = await whole_stream(BODY)
    assert progress(chat, []) is None  # nothing sent: the client starts over instead
    assert progress(chat, whole) is None  # [DONE] was logged: nothing to go on with
    error = b'data: {"error": {"message": "x"}}\n\n'
    assert progress(chat, [*whole[:3], error]) is None
    tools = {
        **BODY,
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}],
    }
    assert progress(parse_chat_request(tools), whole[:3]) is None
    schema = {**BODY, "response_format": {"type": "json_object"}}
    assert progress(parse_chat_request(schema), whole[:3]) is None


async def test_the_synthetic_backend_goes_on_after_a_continuation() -> None:
    chat = parse_chat_request(BODY)
    backend = SyntheticBackend()
    full = [e async for e in backend.generate(chat.generation, 0)]
    text = "".join(e.text for e in full if isinstance(e, TextDelta))
    for cut in (0, 1, 5, len(text) // 2, len(text)):
        request = replace(chat.generation, continuation=text[:cut])
        rest = [e async for e in backend.generate(request, 0)]
        assert text[:cut] + "".join(e.text for e in rest if isinstance(e, TextDelta)) == text
        assert rest[-1] == full[-1]  # the same Finish: the whole answer's tokens

"""`POST /v1/chat/completions`: backend events to chat completion chunks (or one completion).

The streamed path is the server's hot loop, so plain content chunks are built
from a precomputed byte template (only the text goes through orjson); the rarer
shapes (role, tool calls, logprobs, finish, usage) are built as dicts.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from rillet.server.backends.base import (
    Backend,
    Finish,
    GenerationEvent,
    TextDelta,
    TokenLogprob,
    ToolCallDelta,
    ToolCallStart,
)
from rillet.server.chat.request import ChatRequest, parse_chat_request
from rillet.server.context import get_context
from rillet.server.http.asgi import ClientDisconnected, run_until_disconnect
from rillet.server.http.iterators import aclose, interleave
from rillet.server.http.sse import DONE, END, EventStreamResponse, event_head
from rillet.server.http.validation import read_json
from rillet.server.ids import new_id, new_request_id

SYSTEM_FINGERPRINT = "fp_rillet"


async def chat_completions(request: Request) -> Response:
    context = get_context(request)
    request_id = new_request_id()
    body = await read_json(request.scope, request.receive, context.config.max_body_bytes)
    chat = parse_chat_request(body)
    context.check_model(chat.generation.model)
    completion_id = new_id("chatcmpl-")
    created = int(time.time())
    headers = {"x-request-id": request_id}
    if chat.stream:
        chunks = ChunkEncoder(completion_id, created, chat)
        return EventStreamResponse(
            stream_chat(context.backend, chat, chunks),
            keepalive=context.config.keepalive,
            headers=headers,
        )
    work = complete_chat(context.backend, chat, completion_id, created)
    try:
        completion = await run_until_disconnect(request.receive, work)
    except ClientDisconnected:
        return Response(status_code=499)  # nobody is listening; the status only reaches logs
    return Response(orjson.dumps(completion), media_type="application/json", headers=headers)


def _events(backend: Backend, chat: ChatRequest) -> AsyncIterator[tuple[int, GenerationEvent]]:
    return interleave([backend.generate(chat.generation, i) for i in range(chat.n)])


async def stream_chat(
    backend: Backend, chat: ChatRequest, chunks: ChunkEncoder
) -> AsyncIterator[bytes]:
    if chat.n == 1:
        # One choice needs no merging: iterating the backend directly keeps the hot path short.
        events = backend.generate(chat.generation, 0)
        try:
            async for event in events:
                yield chunks.encode(0, event)
        finally:
            await aclose(events)
    else:
        merged = _events(backend, chat)
        try:
            async for index, event in merged:
                yield chunks.encode(index, event)
        finally:
            await aclose(merged)
    if chat.include_usage:
        yield chunks.usage()
    yield DONE


@dataclass(slots=True)
class _ChoiceState:
    started: bool = False
    calls: int = 0  # tool calls begun, to drop extras in legacy single-call mode


class ChunkEncoder:
    """Formats one stream's chunks; remembers per-choice state and the token counts."""

    def __init__(self, completion_id: str, created: int, chat: ChatRequest) -> None:
        header = orjson.dumps(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": chat.generation.model,
                "system_fingerprint": SYSTEM_FINGERPRINT,
            }
        )
        self._head = event_head() + header[:-1] + b',"choices":['
        self._tail = (b'],"usage":null}' if chat.include_usage else b"]}") + END
        self._legacy = chat.legacy_functions
        self._choices = [_ChoiceState() for _ in range(chat.n)]
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def encode(self, index: int, event: GenerationEvent) -> bytes:
        state = self._choices[index]
        if type(event) is TextDelta and state.started and event.logprob is None:
            return (
                b'%s{"index":%d,"delta":{"content":%s},"logprobs":null,"finish_reason":null}%s'
                % (
                    self._head,
                    index,
                    orjson.dumps(event.text),
                    self._tail,
                )
            )
        return self._encode_other(index, state, event)

    def _encode_other(self, index: int, state: _ChoiceState, event: GenerationEvent) -> bytes:
        out = b""
        if not state.started:
            state.started = True
            if not isinstance(event, ToolCallStart):
                out = self._chunk(index, {"role": "assistant", "content": ""})
        if isinstance(event, TextDelta):
            logprobs = None
            if event.logprob is not None:
                logprobs = {"content": [logprob_entry(event.logprob)], "refusal": None}
            return out + self._chunk(index, {"content": event.text}, logprobs)
        if isinstance(event, ToolCallStart):
            state.calls += 1
            if self._legacy:
                if state.calls > 1:
                    return out
                delta: dict[str, Any] = {"function_call": {"name": event.name, "arguments": ""}}
            else:
                call = {
                    "index": event.index,
                    "id": event.call_id,
                    "type": "function",
                    "function": {"name": event.name, "arguments": ""},
                }
                delta = {"tool_calls": [call]}
            if state.calls == 1:
                delta = {"role": "assistant", "content": None, **delta}
            return out + self._chunk(index, delta)
        if isinstance(event, ToolCallDelta):
            if self._legacy:
                if event.index > 0:
                    return out
                delta = {"function_call": {"arguments": event.arguments}}
            else:
                delta = {
                    "tool_calls": [
                        {"index": event.index, "function": {"arguments": event.arguments}}
                    ]
                }
            return out + self._chunk(index, delta)
        self.prompt_tokens = event.prompt_tokens
        self.completion_tokens += event.completion_tokens
        reason = "function_call" if self._legacy and event.reason == "tool_calls" else event.reason
        return out + self._chunk(index, {}, finish_reason=reason)

    def _chunk(
        self,
        index: int,
        delta: dict[str, Any],
        logprobs: dict[str, Any] | None = None,
        finish_reason: str | None = None,
    ) -> bytes:
        choice = {
            "index": index,
            "delta": delta,
            "logprobs": logprobs,
            "finish_reason": finish_reason,
        }
        return self._head + orjson.dumps(choice) + self._tail

    def usage(self) -> bytes:
        usage = usage_dict(self.prompt_tokens, self.completion_tokens)
        return self._head + b'],"usage":' + orjson.dumps(usage) + b"}" + END


def usage_dict(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def logprob_entry(logprob: TokenLogprob) -> dict[str, Any]:
    return {
        "token": logprob.token,
        "logprob": logprob.logprob,
        "bytes": list(logprob.token.encode()),
        "top_logprobs": [
            {"token": top.token, "logprob": top.logprob, "bytes": list(top.token.encode())}
            for top in logprob.top
        ],
    }


@dataclass(slots=True)
class _Choice:
    text: list[str] = field(default_factory=list)
    logprobs: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    finish: Finish | None = None


async def complete_chat(
    backend: Backend, chat: ChatRequest, completion_id: str, created: int
) -> dict[str, Any]:
    """Run every choice to its end and assemble one `chat.completion` object."""
    choices = [_Choice() for _ in range(chat.n)]
    merged = _events(backend, chat)
    try:
        async for index, event in merged:
            choice = choices[index]
            if isinstance(event, TextDelta):
                choice.text.append(event.text)
                if event.logprob is not None:
                    choice.logprobs.append(logprob_entry(event.logprob))
            elif isinstance(event, ToolCallStart):
                choice.calls.append(
                    {
                        "id": event.call_id,
                        "type": "function",
                        "function": {"name": event.name, "arguments": ""},
                    }
                )
            elif isinstance(event, ToolCallDelta):
                choice.calls[event.index]["function"]["arguments"] += event.arguments
            else:
                choice.finish = event
    finally:
        await aclose(merged)
    prompt_tokens = 0
    completion_tokens = 0
    out = []
    for index, choice in enumerate(choices):
        finish = choice.finish
        assert finish is not None, "a backend choice ended without Finish"
        prompt_tokens = finish.prompt_tokens
        completion_tokens += finish.completion_tokens
        out.append(_final_choice(index, choice, finish, chat))
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": chat.generation.model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": out,
        "usage": usage_dict(prompt_tokens, completion_tokens),
    }


def _final_choice(index: int, choice: _Choice, finish: Finish, chat: ChatRequest) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(choice.text) if choice.text or not choice.calls else None,
        "refusal": None,
    }
    reason: str = finish.reason
    if choice.calls and chat.legacy_functions:
        message["function_call"] = choice.calls[0]["function"]
        reason = "function_call" if reason == "tool_calls" else reason
    elif choice.calls:
        message["tool_calls"] = choice.calls
    logprobs = None
    if chat.generation.logprobs:
        logprobs = {"content": choice.logprobs, "refusal": None}
    return {"index": index, "message": message, "logprobs": logprobs, "finish_reason": reason}

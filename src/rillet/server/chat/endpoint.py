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
from rillet.server.chat.takeover import Progress, progress
from rillet.server.context import get_context
from rillet.server.http.asgi import ClientDisconnected, run_until_disconnect
from rillet.server.http.iterators import aclose, interleave
from rillet.server.http.sse import DONE, END, EventStreamResponse, event_head
from rillet.server.http.validation import read_json
from rillet.server.ids import new_id, new_request_id
from rillet.server.resume.log import (
    LAST_EVENT_ID_HEADER,
    RESUMABLE_HEADER,
    StreamMeta,
    body_digest,
    check_reattach,
    event_id_prefix,
    key_digest,
    opted_in,
    parse_event_id,
)
from rillet.server.resume.run import ResumableRun

SYSTEM_FINGERPRINT = "fp_rillet"


async def chat_completions(request: Request) -> Response:
    context = get_context(request)
    request_id = new_request_id()
    body = await read_json(request.scope, request.receive, context.config.max_body_bytes)
    headers = {"x-request-id": request_id}
    last_event_id = request.headers.get(LAST_EVENT_ID_HEADER)
    if last_event_id is not None:
        return await _reattach(request, body, last_event_id, headers)
    chat = parse_chat_request(body)
    context.check_model(chat.generation.model)
    completion_id = new_id("chatcmpl-")
    created = int(time.time())
    if chat.stream:
        chunks = ChunkEncoder(completion_id, created, chat)
        events = stream_chat(context.backend, chat, chunks)
        if opted_in(request.headers):
            return await _resumable(request, body, completion_id, events, headers)
        return EventStreamResponse(events, keepalive=context.config.keepalive, headers=headers)
    work = complete_chat(context.backend, chat, completion_id, created)
    try:
        completion = await run_until_disconnect(request.receive, work)
    except ClientDisconnected:
        return Response(status_code=499)  # nobody is listening; the status only reaches logs
    return Response(orjson.dumps(completion), media_type="application/json", headers=headers)


async def _resumable(
    request: Request,
    body: dict[str, Any],
    completion_id: str,
    events: AsyncIterator[bytes],
    headers: dict[str, str],
) -> Response:
    """Generate in a task of its own into the event log; this connection only follows it."""
    context = get_context(request)
    log = context.resume
    run = ResumableRun(completion_id, events, log.window)
    follower = run.log.follow(0)  # a reader from the start, so the run is not abandoned
    key = key_digest(request.headers.get("authorization"))
    meta = StreamMeta(completion_id, key, body_digest(body))
    try:
        await log.open(meta, run)
    except BaseException:
        await follower.aclose()
        await aclose(events)
        raise
    run.start()
    return EventStreamResponse(
        follower,
        keepalive=context.config.keepalive,
        headers={**headers, RESUMABLE_HEADER: "1"},
    )


async def _reattach(
    request: Request, body: dict[str, Any], last_event_id: str, headers: dict[str, str]
) -> Response:
    """`Last-Event-ID: <id>:<n>`: the stream's events after n, then live ones."""
    context = get_context(request)
    stream_id, after = parse_event_id(last_event_id)
    log = context.resume
    meta = await log.lookup(stream_id)
    check_reattach(
        meta, stream_id, key_digest(request.headers.get("authorization")), body_digest(body)
    )
    chat = parse_chat_request(body)  # the original body: it parsed once already

    def take_over(logged: list[bytes]) -> AsyncIterator[bytes] | None:
        """The rest of the stream, should its replica have died (chat/takeover.py)."""
        state = progress(chat, logged)
        if state is None:
            return None
        chunks = ChunkEncoder(state.completion_id, state.created, chat)
        return stream_chat(context.backend, chat, chunks, state)

    return EventStreamResponse(
        log.follow(stream_id, after, take_over),
        keepalive=context.config.keepalive,
        headers={**headers, RESUMABLE_HEADER: "1"},
    )


async def cancel_chat_completion(request: Request) -> Response:
    """`POST /v1/chat/completions/{id}/cancel`: stop a resumable stream's generation now."""
    context = get_context(request)
    stream_id = request.path_params["completion_id"]
    meta = await context.resume.lookup(stream_id)
    key = key_digest(request.headers.get("authorization"))
    check_reattach(meta, stream_id, key, None, param=None)
    cancelled = await context.resume.cancel(stream_id)
    result = {
        "id": stream_id,
        "object": "chat.completion.stream",
        "status": "cancelled" if cancelled else "finished",
    }
    return Response(
        orjson.dumps(result),
        media_type="application/json",
        headers={"x-request-id": new_request_id()},
    )


def _events(backend: Backend, chat: ChatRequest) -> AsyncIterator[tuple[int, GenerationEvent]]:
    return interleave([backend.generate(chat.generation, i) for i in range(chat.n)])


async def stream_chat(
    backend: Backend, chat: ChatRequest, chunks: ChunkEncoder, resume: Progress | None = None
) -> AsyncIterator[bytes]:
    """The stream's events, one SSE event per item (b"" for an event that makes no chunk).

    `resume`: a logged stream's progress, to go on from (a takeover, chat/takeover.py).
    """
    if chat.n == 1 and resume is None:
        # One choice needs no merging: iterating the backend directly keeps the hot path short.
        events = backend.generate(chat.generation, 0)
        started = False
        try:
            async for event in events:
                if not started:
                    started = True
                    opening = chunks.role(0, event)
                    if opening:
                        yield opening
                yield chunks.encode(0, event)
        finally:
            await aclose(events)
    else:
        if resume is None:
            running = list(range(chat.n))
            sources = [backend.generate(chat.generation, i) for i in running]
        else:
            chunks.resume(resume)
            running = resume.running()
            sources = [backend.generate(resume.request(chat.generation, i), i) for i in running]
        merged = interleave(sources)
        opened = chunks.opened()
        try:
            async for k, event in merged:
                index = running[k]
                if not opened[index]:
                    opened[index] = True
                    opening = chunks.role(index, event)
                    if opening:
                        yield opening
                yield chunks.encode(index, event)
        finally:
            await aclose(merged)
    if chat.include_usage:
        yield chunks.usage()
    yield chunks.done()


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
        self._id = event_id_prefix(completion_id)  # `id: chatcmpl-...:`, then the position
        self.position = 0  # of the last event made, counting from 1
        self._head = event_head() + header[:-1] + b',"choices":['
        self._tail = (b'],"usage":null}' if chat.include_usage else b"]}") + END
        self._legacy = chat.legacy_functions
        self._choices = [_ChoiceState() for _ in range(chat.n)]
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def encode(self, index: int, event: GenerationEvent) -> bytes:
        """One event's chunk (its role chunk, if any, comes first from `role`)."""
        state = self._choices[index]
        if type(event) is TextDelta and state.started and event.logprob is None:
            self.position += 1
            return (
                b'%s%d\n%s{"index":%d,"delta":{"content":%s},"logprobs":null,"finish_reason":null}%s'
                % (
                    self._id,
                    self.position,
                    self._head,
                    index,
                    orjson.dumps(event.text),
                    self._tail,
                )
            )
        return self._encode_other(index, state, event)

    def opened(self) -> list[bool]:
        """Which choices have begun (sent their opening chunk)."""
        return [state.started for state in self._choices]

    def resume(self, progress: Progress) -> None:
        """Go on numbering and counting after a logged stream's events (a takeover)."""
        self.position = progress.position
        for state, choice in zip(self._choices, progress.choices, strict=True):
            state.started = choice.opened
            if choice.finished:  # its Finish was logged, not seen here: count its chunks
                self.completion_tokens += choice.chunks

    def role(self, index: int, event: GenerationEvent) -> bytes:
        """The chunk that opens a choice (`role: assistant`) before its first event, if any.

        Its own event (with its own id) rather than a prefix of the first chunk, so that
        every entry of a stream's log is one event.
        """
        self._choices[index].started = True
        if isinstance(event, ToolCallStart):
            return b""  # the first tool call chunk carries the role itself
        return self._chunk(index, {"role": "assistant", "content": ""})

    def _encode_other(self, index: int, state: _ChoiceState, event: GenerationEvent) -> bytes:
        state.started = True
        if isinstance(event, TextDelta):
            logprobs = None
            if event.logprob is not None:
                logprobs = {"content": [logprob_entry(event.logprob)], "refusal": None}
            return self._chunk(index, {"content": event.text}, logprobs)
        if isinstance(event, ToolCallStart):
            state.calls += 1
            if self._legacy:
                if state.calls > 1:
                    return b""
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
            return self._chunk(index, delta)
        if isinstance(event, ToolCallDelta):
            if self._legacy:
                if event.index > 0:
                    return b""
                delta = {"function_call": {"arguments": event.arguments}}
            else:
                delta = {
                    "tool_calls": [
                        {"index": event.index, "function": {"arguments": event.arguments}}
                    ]
                }
            return self._chunk(index, delta)
        self.prompt_tokens = event.prompt_tokens
        self.completion_tokens += event.completion_tokens
        reason = "function_call" if self._legacy and event.reason == "tool_calls" else event.reason
        return self._chunk(index, {}, finish_reason=reason)

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
        return self._next_id() + self._head + orjson.dumps(choice) + self._tail

    def _next_id(self) -> bytes:
        self.position += 1
        return b"%s%d\n" % (self._id, self.position)

    def usage(self) -> bytes:
        usage = usage_dict(self.prompt_tokens, self.completion_tokens)
        return self._next_id() + self._head + b'],"usage":' + orjson.dumps(usage) + b"}" + END

    def done(self) -> bytes:
        return self._next_id() + DONE


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

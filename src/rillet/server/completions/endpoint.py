"""`POST /v1/completions`: backend events on raw prompts to `text_completion` objects.

Streamed and non-streamed answers share one shape (upstream's, unlike chat's): a stream
sends `text_completion` chunks with `choices[].text`, a choice's last one carrying its
`finish_reason`, then the usage chunk if asked for, then `[DONE]`. The backend's first
event is awaited before answering, so a prompt it refuses (too long, token ids outside
its vocabulary) gets a plain 400 rather than a stream that fails at once.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from rillet.server.backends.base import Backend, Finish, GenerationEvent, TextDelta, TokenLogprob
from rillet.server.chat.endpoint import SYSTEM_FINGERPRINT, usage_dict
from rillet.server.completions.request import CompletionRequest, parse_completion_request
from rillet.server.context import get_context
from rillet.server.http.asgi import ClientDisconnected, first_item, run_until_disconnect
from rillet.server.http.iterators import aclose, interleave
from rillet.server.http.sse import DONE, EventStreamResponse, encode_event
from rillet.server.http.validation import read_json
from rillet.server.ids import new_id, new_request_id

Tagged = tuple[int, GenerationEvent]


async def completions(request: Request) -> Response:
    context = get_context(request)
    body = await read_json(request.scope, request.receive, context.config.max_body_bytes)
    parsed = parse_completion_request(body)
    context.check_model(parsed.generation.model)
    encoder = CompletionEncoder(new_id("cmpl-"), int(time.time()), parsed)
    headers = {"x-request-id": new_request_id()}
    events = choice_events(context.backend, parsed)
    try:
        first = await first_item(request.receive, events)
    except ClientDisconnected:
        return Response(status_code=499)  # nobody is listening; the status only reaches logs
    if parsed.stream:
        chunks = stream_completion(_prepend(first, events), encoder)
        return EventStreamResponse(chunks, keepalive=context.config.keepalive, headers=headers)
    work = collect(_prepend(first, events), encoder)
    try:
        completion = await run_until_disconnect(request.receive, work)
    except ClientDisconnected:
        return Response(status_code=499)
    return Response(orjson.dumps(completion), media_type="application/json", headers=headers)


def choice_events(backend: Backend, parsed: CompletionRequest) -> AsyncIterator[Tagged]:
    """Every choice's events, tagged with its index: answer `j` to prompt `i` is `i * n + j`."""
    if parsed.choices == 1:
        return _tag(backend.generate(parsed.for_prompt(0), 0))
    requests = [parsed.for_prompt(i) for i in range(len(parsed.prompts))]
    return interleave(
        [backend.generate(requests[c // parsed.n], c % parsed.n) for c in range(parsed.choices)]
    )


async def _tag(events: AsyncIterator[GenerationEvent]) -> AsyncIterator[Tagged]:
    try:
        async for event in events:
            yield 0, event
    finally:
        await aclose(events)


async def _prepend(first: Tagged, rest: AsyncIterator[Tagged]) -> AsyncIterator[Tagged]:
    try:
        yield first
        async for item in rest:
            yield item
    finally:
        await aclose(rest)


async def stream_completion(
    events: AsyncIterator[Tagged], encoder: CompletionEncoder
) -> AsyncIterator[bytes]:
    try:
        async for index, event in events:
            opening = encoder.open(index)
            if opening:
                yield opening
            yield encoder.chunk(index, event)
    finally:
        await aclose(events)
    if encoder.include_usage:
        yield encoder.usage_chunk()
    yield DONE


async def collect(events: AsyncIterator[Tagged], encoder: CompletionEncoder) -> dict[str, Any]:
    """Run every choice to its end and assemble one `text_completion` object."""
    try:
        async for index, event in events:
            encoder.open(index)
            encoder.add(index, event)
    finally:
        await aclose(events)
    return encoder.completion()


@dataclass(slots=True)
class _Choice:
    opened: bool = False
    text: list[str] = field(default_factory=list)
    length: int = 0  # characters of the choice's text so far (the echoed prompt included)
    logprobs: dict[str, list[Any]] | None = None
    finish: Finish | None = None


class CompletionEncoder:
    """One answer's choices: their chunks as they stream, or the whole object at the end."""

    def __init__(self, completion_id: str, created: int, parsed: CompletionRequest) -> None:
        self._parsed = parsed
        self._head = {
            "id": completion_id,
            "object": "text_completion",
            "created": created,
            "model": parsed.generation.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }
        self.include_usage = parsed.include_usage
        self._choices = [_Choice() for _ in range(parsed.choices)]

    def open(self, index: int) -> bytes:
        """Start a choice before its first event: with `echo`, its prompt opens its text."""
        choice = self._choices[index]
        if choice.opened:
            return b""
        choice.opened = True
        if self._parsed.logprobs is not None:
            choice.logprobs = {"tokens": [], "token_logprobs": [], "top_logprobs": [],
                               "text_offset": []}  # fmt: skip
        if not self._parsed.echo:
            return b""
        prompt = self._parsed.prompts[index // self._parsed.n]
        assert isinstance(prompt, str), "echo of a token array is refused when parsing"
        choice.text.append(prompt)
        choice.length = len(prompt)
        return self._encode(index, prompt, None, None)

    def add(self, index: int, event: GenerationEvent) -> dict[str, list[Any]] | None:
        """Record one event; the logprobs of its text, if asked for."""
        choice = self._choices[index]
        if isinstance(event, Finish):
            choice.finish = event
            return None
        if not isinstance(event, TextDelta):  # tool calls: none are offered on this endpoint
            return None
        choice.text.append(event.text)
        piece = None
        if choice.logprobs is not None:
            piece = _logprobs(event.logprob, event.text, choice.length)
            for key, values in piece.items():
                choice.logprobs[key].extend(values)
        choice.length += len(event.text)
        return piece

    def chunk(self, index: int, event: GenerationEvent) -> bytes:
        piece = self.add(index, event)
        if isinstance(event, Finish):
            return self._encode(index, "", None, event.reason)
        if not isinstance(event, TextDelta):
            return b""
        return self._encode(index, event.text, piece, None)

    def _encode(
        self, index: int, text: str, logprobs: dict[str, Any] | None, finish: str | None
    ) -> bytes:
        choice = {"text": text, "index": index, "logprobs": logprobs, "finish_reason": finish}
        return encode_event({**self._head, "choices": [choice]})

    def usage(self) -> dict[str, int]:
        """Each prompt's tokens once (they are read once), every choice's own tokens."""
        finishes = [choice.finish for choice in self._choices]
        prompt = sum(f.prompt_tokens for f in finishes[:: self._parsed.n] if f is not None)
        completion = sum(f.completion_tokens for f in finishes if f is not None)
        return usage_dict(prompt, completion)

    def usage_chunk(self) -> bytes:
        return encode_event({**self._head, "choices": [], "usage": self.usage()})

    def completion(self) -> dict[str, Any]:
        choices = []
        for index, choice in enumerate(self._choices):
            assert choice.finish is not None, "a backend choice ended without Finish"
            choices.append({
                "text": "".join(choice.text),
                "index": index,
                "logprobs": choice.logprobs,
                "finish_reason": choice.finish.reason,
            })  # fmt: skip
        return {**self._head, "choices": choices, "usage": self.usage()}


def _logprobs(logprob: TokenLogprob | None, text: str, offset: int) -> dict[str, list[Any]]:
    """Upstream's legacy logprobs of one piece: the token, its logprob, the alternatives
    (the chosen token among them, as upstream lists it) and where the token starts."""
    if logprob is None:  # a backend that sent none: the piece, with nothing known of it
        return {"tokens": [text], "token_logprobs": [None], "top_logprobs": [None],
                "text_offset": [offset]}  # fmt: skip
    top = {alt.token: alt.logprob for alt in logprob.top}
    top.setdefault(logprob.token, logprob.logprob)
    return {
        "tokens": [logprob.token],
        "token_logprobs": [logprob.logprob],
        "top_logprobs": [top],
        "text_offset": [offset],
    }

"""A deterministic, dependency-free backend for tests, demos and benchmarks.

Everything a request will produce is planned up front (text, tool calls, stop
and length cuts, logprobs, usage) and cached, so streaming is a walk over a
tuple of ready events: cheap enough to benchmark the HTTP layer rather than
the backend. The same request and seed always give the same events.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import OrderedDict
from collections.abc import AsyncGenerator, Hashable, Sequence
from dataclasses import replace
from typing import Any

import orjson

from rillet.server.backends.base import (
    Embedded,
    EmbeddingInput,
    Finish,
    FinishReason,
    GenerationEvent,
    GenerationRequest,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
)
from rillet.server.backends.stops import first_stop
from rillet.server.backends.synthetic.embeddings import DIMENSIONS, SyntheticEmbedder
from rillet.server.backends.synthetic.jsonschema import Hints, generate
from rillet.server.backends.synthetic.prompt import Prompt, message_text, read_prompt
from rillet.server.backends.synthetic.sampler import Sampler, token_logprobs
from rillet.server.backends.synthetic.text import compose, compose_json_object
from rillet.server.backends.synthetic.tokens import count_tokens, tokenize
from rillet.server.backends.synthetic.tools import PlannedCall, plan_calls

sleep = asyncio.sleep  # one name to patch when a test counts pauses

_YIELD_EVERY = 8  # unpaced streams still let other streams run this often
_CACHE_SIZE = 256


class SyntheticBackend:
    """Readable text and schema-valid tool calls, the same every time."""

    name = "synthetic"
    embedding_dimensions = DIMENSIONS
    shortens_embeddings = True

    def __init__(self, *, tokens_per_second: float | None = None, ttft_ms: float = 0.0) -> None:
        if tokens_per_second is not None and tokens_per_second <= 0:
            raise ValueError("tokens_per_second must be positive (or None for no limit)")
        if ttft_ms < 0:
            raise ValueError("ttft_ms must not be negative")
        self.tokens_per_second = tokens_per_second
        self.ttft_ms = ttft_ms
        self._plans: OrderedDict[Hashable, tuple[GenerationEvent, ...]] = OrderedDict()
        self._embedder = SyntheticEmbedder()

    async def embed(self, model: str, inputs: Sequence[EmbeddingInput]) -> Embedded:
        """Deterministic vectors from the text (see `embeddings`), whatever the model name."""
        return self._embedder.embed_all(inputs)

    def model_ids(self) -> list[str]:
        return ["synthetic"]

    async def aclose(self) -> None:
        self._plans.clear()

    async def generate(
        self, request: GenerationRequest, choice: int
    ) -> AsyncGenerator[GenerationEvent, None]:
        events = self.plan(request, choice)
        if request.continuation:
            events = _after(events, request.continuation)
        if self.ttft_ms:
            await sleep(self.ttft_ms / 1000)
        if self.tokens_per_second is None:
            for i, event in enumerate(events):
                yield event
                if i % _YIELD_EVERY == _YIELD_EVERY - 1:
                    await sleep(0)
            return
        loop = asyncio.get_running_loop()
        interval = 1.0 / self.tokens_per_second
        start = loop.time()
        for i, event in enumerate(events):
            if i and not isinstance(event, Finish):
                await sleep(max(0.0, start + i * interval - loop.time()))
            yield event

    def plan(self, request: GenerationRequest, choice: int = 0) -> tuple[GenerationEvent, ...]:
        """Every event of one choice, computed once per distinct request."""
        if request.continuation:
            request = replace(request, continuation="")
        fingerprint = _fingerprint(request)
        key = (
            fingerprint, request.seed, request.temperature, request.top_p, choice,
            request.max_tokens, request.stop, request.logprobs, request.top_logprobs,
            request.parallel_tool_calls,
        )  # fmt: skip
        events = self._plans.get(key)
        if events is None:
            events = _Planner(request, choice, fingerprint).events()
            self._plans[key] = events
            if len(self._plans) > _CACHE_SIZE:
                self._plans.popitem(last=False)
        else:
            self._plans.move_to_end(key)
        return events


class _Planner:
    """Turns one request and choice into its events."""

    def __init__(self, request: GenerationRequest, choice: int, fingerprint: int) -> None:
        self.request = request
        self.choice = choice
        self.fingerprint = fingerprint
        self.prompt: Prompt = read_prompt(_conversation(request))
        temperature = 1.0 if request.temperature is None else request.temperature
        top_p = 1.0 if request.top_p is None else request.top_p
        self.sampler = Sampler(fingerprint, _mix(fingerprint, request.seed, choice), temperature,
                               top_p)  # fmt: skip
        self.prompt_tokens = _prompt_tokens(request)

    def events(self) -> tuple[GenerationEvent, ...]:
        calls = plan_calls(self.request, self.prompt, self.sampler.index)
        if calls:
            return self.tool_call_events(calls)
        return self.text_events(self.text())

    def text(self) -> str:
        response_format = self.request.response_format or {}
        kind = response_format.get("type")
        if kind == "json_schema":
            spec = response_format.get("json_schema") or {}
            hints = Hints(
                text=self.prompt.text,
                subject=self.prompt.subject,
                places=[place for _, place in self.prompt.places],
                numbers=[value for _, value in self.prompt.numbers],
                sentence=compose(self.prompt, self.sampler).split("\n")[0][:200],
            )
            value = generate(spec.get("schema") or {}, hints, pick=self.sampler.index,
                             fill_optional=True)  # fmt: skip
            return json.dumps(value, ensure_ascii=False)
        if kind == "json_object":
            return json.dumps(compose_json_object(self.prompt, self.sampler), ensure_ascii=False)
        return compose(self.prompt, self.sampler)

    def text_events(self, text: str) -> tuple[GenerationEvent, ...]:
        pieces = tokenize(text)
        reason: FinishReason = "stop"
        # The token holding a stop string is generated too; when the string starts a token,
        # that token comes after the ones kept, and may be one past max_tokens.
        stop_token_after = False
        cut = first_stop(text, self.request.stop)
        if cut is not None:
            pieces, stop_token_after = _cut_at(pieces, cut)
        limit = self.request.max_tokens
        needed = len(pieces) + stop_token_after
        if limit is not None and needed > limit:
            pieces, reason = pieces[:limit], "length"
        if self.request.logprobs:
            seed = _mix(self.fingerprint, "logprobs", self.choice)
            logprobs = token_logprobs(pieces, self.request.top_logprobs, seed)
            deltas: list[GenerationEvent] = [
                TextDelta(p, lp) for p, lp in zip(pieces, logprobs, strict=True)
            ]
        else:
            deltas = [TextDelta(p) for p in pieces]
        deltas.append(Finish(reason, self.prompt_tokens, len(pieces)))
        return tuple(deltas)

    def tool_call_events(self, calls: Sequence[PlannedCall]) -> tuple[GenerationEvent, ...]:
        budget = self.request.max_tokens
        used = 0
        events: list[GenerationEvent] = []
        for index, call in enumerate(calls):
            if budget is not None and used >= budget:
                break
            call_id = "call_" + _digest(self.fingerprint, self.choice, index)[:24]
            events.append(ToolCallStart(index, call_id, call.name))
            used += count_tokens(call.name)
            for piece in _json_pieces(call.arguments):
                size = count_tokens(piece)
                if budget is not None and used + size > budget:
                    piece = "".join(tokenize(piece)[: max(budget - used, 0)])
                    size = count_tokens(piece)
                if piece:
                    events.append(ToolCallDelta(index, piece))
                used += size
                if budget is not None and used >= budget:
                    break
        complete = budget is None or (used <= budget and _all_sent(events, calls))
        events.append(Finish("tool_calls" if complete else "length", self.prompt_tokens, used))
        return tuple(events)


def _all_sent(events: Sequence[GenerationEvent], calls: Sequence[PlannedCall]) -> bool:
    sent = "".join(e.arguments for e in events if isinstance(e, ToolCallDelta))
    return sent == "".join(call.arguments for call in calls)


def _json_pieces(arguments: str) -> list[str]:
    """Argument JSON in streamable pieces: each word alone, runs of punctuation together."""
    pieces: list[str] = []
    for token in tokenize(arguments):
        if pieces and not token.strip()[-1:].isalnum() and not pieces[-1].strip()[-1:].isalnum():
            pieces[-1] += token
        else:
            pieces.append(token)
    return pieces


def _cut_at(pieces: list[str], cut: int) -> tuple[list[str], bool]:
    """The pieces of the text before character `cut` (the last one shortened if needed),
    and whether `cut` falls between two pieces."""
    kept, length = [], 0
    for piece in pieces:
        if length + len(piece) > cut:
            if cut > length:
                kept.append(piece[: cut - length])
                return kept, False
            break
        kept.append(piece)
        length += len(piece)
    return kept, True


def _after(events: tuple[GenerationEvent, ...], sent: str) -> tuple[GenerationEvent, ...]:
    """The events that follow the text `sent`: the same answer, taken over where it stood.

    The plan is deterministic, so the answer goes on exactly as it would have. Text that
    does not match the plan's (a continuation written by another backend) is not this
    plan's: it then goes on from the same length."""
    rest: list[GenerationEvent] = []
    skip = len(sent)
    for event in events:
        if skip and isinstance(event, TextDelta):
            if len(event.text) <= skip:
                skip -= len(event.text)
                continue
            event = replace(event, text=event.text[skip:], logprob=None)
            skip = 0
        rest.append(event)
    return tuple(rest)


def _conversation(request: GenerationRequest) -> list[dict[str, Any]]:
    """The messages the answer follows; a raw prompt reads as one user turn."""
    prompt = request.prompt
    if prompt is None:
        return request.messages
    text = prompt if isinstance(prompt, str) else " ".join(f"#{token}" for token in prompt)
    return [{"role": "user", "content": text}]


def _prompt_tokens(request: GenerationRequest) -> int:
    if isinstance(request.prompt, tuple):
        return len(request.prompt)
    if isinstance(request.prompt, str):
        return count_tokens(request.prompt)
    total = sum(count_tokens(message_text(m)) for m in request.messages)
    for spec in request.functions:
        total += count_tokens(spec.name) + count_tokens(spec.description or "")
        total += count_tokens(json.dumps(spec.parameters))
    return total


def _fingerprint(request: GenerationRequest) -> int:
    """A hash of what the answer is about; the seed, limits and stops are not part of it."""
    content: dict[str, Any] = {
        "messages": request.messages,
        "functions": [(f.name, f.description, f.parameters, f.strict) for f in request.functions],
        "tool_mode": request.tool_mode,
        "tool_name": request.tool_name,
        "response_format": request.response_format,
    }
    if request.prompt is not None:  # only then: chat answers stay those they always were
        content["prompt"] = request.prompt
    try:
        data = orjson.dumps(content, option=orjson.OPT_SORT_KEYS, default=str)
    except orjson.JSONEncodeError:  # integers past 64 bits, say; slower but still stable
        data = repr(content).encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def _digest(*parts: object) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def _mix(*parts: object) -> int:
    return int(_digest(*parts), 16)

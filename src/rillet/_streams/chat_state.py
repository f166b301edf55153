"""Chunks in, a growing `ChatCompletion` and meaningful events out.

`ChatCompletionStreamState` is what `chat.completions.stream()` runs on, and what users may
run on chunks themselves. The snapshot is built from views whose JSON dicts are extended in
place, so each chunk costs in proportion to its own size, not to the text so far.
"""

from __future__ import annotations

from typing import Any, Generic

from rillet._parsing import Parser, check_finish
from rillet.types.chat.chat_completion import ChoiceLogprobs
from rillet.types.chat.chat_completion_chunk import ChatCompletionChunk
from rillet.types.chat.chat_completion_chunk import Choice as ChunkChoice
from rillet.types.chat.chat_completion_stream_event import (
    ChatCompletionStreamEvent,
    ChunkEvent,
    ContentDeltaEvent,
    ContentDoneEvent,
    FunctionToolCallArgumentsDeltaEvent,
    FunctionToolCallArgumentsDoneEvent,
    LogprobsContentDeltaEvent,
    LogprobsContentDoneEvent,
    LogprobsRefusalDeltaEvent,
    LogprobsRefusalDoneEvent,
    RefusalDeltaEvent,
    RefusalDoneEvent,
)
from rillet.types.chat.parsed_chat_completion import (
    ContentT,
    ParsedChatCompletion,
    ParsedChoice,
    ParsedFunctionToolCall,
)

__all__ = ["ChatCompletionStreamState"]

_COPIED = ("id", "created", "model", "system_fingerprint", "service_tier")
_CUT = ("length", "content_filter")


class ChatCompletionStreamState(Generic[ContentT]):
    """Accumulates chunks; `handle_chunk` returns the events each one gives rise to.

    With a pydantic class as `response_format` (or strict tools), messages and calls are
    parsed as `chat.completions.parse()` parses them: partial JSON in the deltas' `parsed`,
    the class's instance once content is done, and a finish by the token limit or the
    content filter raises at the chunk that says so, as officially."""

    def __init__(
        self, *, input_tools: object = None, response_format: type[ContentT] | object = None
    ) -> None:
        self._parser: Parser[ContentT] = Parser.of(response_format, input_tools)
        self._snapshot: ParsedChatCompletion[ContentT] | None = None
        self._choices: dict[int, _ChoiceState] = {}

    @property
    def current_completion_snapshot(self) -> ParsedChatCompletion[ContentT]:
        if self._snapshot is None:
            raise RuntimeError("No chunk has arrived yet")
        return self._snapshot

    def get_final_completion(self) -> ParsedChatCompletion[ContentT]:
        snapshot = self.current_completion_snapshot
        unfinished = [c.index for c in snapshot.choices if c.finish_reason is None]
        if unfinished:
            raise RuntimeError(f"Choice(s) {unfinished} have no finish_reason yet")
        check_finish(snapshot)
        return snapshot

    def handle_chunk(self, chunk: ChatCompletionChunk) -> list[ChatCompletionStreamEvent]:
        snapshot = self._snapshot
        if snapshot is None:
            snapshot = self._snapshot = ParsedChatCompletion.construct(
                {"object": "chat.completion", "choices": []}
            )
        data = snapshot.__dict__
        for name in _COPIED:
            value = chunk.__dict__.get(name)
            if value is not None:
                data[name] = value
        if chunk.usage is not None:
            data["usage"] = chunk.usage
        events: list[ChatCompletionStreamEvent] = [
            ChunkEvent.construct({"type": "chunk", "chunk": chunk, "snapshot": snapshot})
        ]
        for choice in chunk.choices:
            state = self._choices.get(choice.index)
            if state is None:
                state = self._choices[choice.index] = _ChoiceState(choice.index, self._parser)
                snapshot.choices.append(state.snapshot)
                snapshot.choices.sort(key=lambda c: c.index)
            state.apply(choice, events)
            if choice.finish_reason in _CUT and self._parser.parses:
                check_finish(snapshot)  # what was cut short cannot be parsed
        return events


class _ChoiceState:
    """One choice's snapshot, and which of its parts are already reported done."""

    def __init__(self, index: int, parser: Parser[Any]) -> None:
        self.snapshot: ParsedChoice[Any] = ParsedChoice.construct(
            {
                "index": index,
                "finish_reason": None,
                "logprobs": None,
                "message": {"role": "assistant", "content": None, "refusal": None, "parsed": None},
            }
        )
        self._parser = parser
        self._done: set[str] = set()
        self._tools_done: set[int] = set()
        self._current_tool: int | None = None

    def apply(self, choice: ChunkChoice, events: list[ChatCompletionStreamEvent]) -> None:
        message = self.snapshot.message.__dict__
        delta = choice.delta
        if delta.role is not None:
            message["role"] = delta.role
        if delta.content is not None:
            message["content"] = (message["content"] or "") + delta.content
            if self._parser.content is not None and not message["refusal"]:
                message["parsed"] = self._parser.partial_content(message["content"])
            events.append(
                ContentDeltaEvent.construct(
                    {
                        "type": "content.delta",
                        "delta": delta.content,
                        "snapshot": message["content"],
                        "parsed": message["parsed"],
                    }
                )
            )
        if delta.refusal is not None:
            message["refusal"] = (message["refusal"] or "") + delta.refusal
            events.append(
                RefusalDeltaEvent.construct(
                    {
                        "type": "refusal.delta",
                        "delta": delta.refusal,
                        "snapshot": message["refusal"],
                    }
                )
            )
        if delta.function_call is not None:
            call = message.setdefault("function_call", {"name": "", "arguments": ""})
            call["name"] += delta.function_call.name or ""
            call["arguments"] += delta.function_call.arguments or ""
        for piece in delta.tool_calls or ():
            call = self._tool_call(piece.index)
            if piece.id:
                call.__dict__["id"] = piece.id
            function = call.function.__dict__
            if piece.function is not None:
                function["name"] += piece.function.name or ""
                function["arguments"] += piece.function.arguments or ""
                partial = self._parser.partial_arguments(function["name"], function["arguments"])
                function["parsed_arguments"] = partial
            pieces = piece.function.arguments if piece.function is not None else None
            events.append(
                FunctionToolCallArgumentsDeltaEvent.construct(
                    {
                        "type": "tool_calls.function.arguments.delta",
                        "name": function["name"],
                        "index": piece.index,
                        "arguments": function["arguments"],
                        "parsed_arguments": function.get("parsed_arguments"),
                        "arguments_delta": pieces or "",
                    }
                )
            )
        if choice.logprobs is not None:
            self._logprobs(choice, events)
        # What this chunk completed is reported after its deltas: everything at a finish,
        # the text and the previous call when a new call begins.
        if choice.finish_reason is not None:
            self.snapshot.__dict__["finish_reason"] = choice.finish_reason
            self._content_done(events)
            if self._current_tool is not None:
                self._tool_done(self._current_tool, events)
        for piece in delta.tool_calls or ():
            if self._current_tool != piece.index:
                self._content_done(events)
                if self._current_tool is not None:
                    self._tool_done(self._current_tool, events)
            self._current_tool = piece.index

    def _tool_call(self, index: int) -> ParsedFunctionToolCall:
        message = self.snapshot.message
        calls = message.tool_calls
        if calls is None:
            calls = message.__dict__["tool_calls"] = []
        while len(calls) <= index:
            calls.append(
                ParsedFunctionToolCall.construct(
                    {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
                )
            )
        return calls[index]

    def _logprobs(self, choice: ChunkChoice, events: list[ChatCompletionStreamEvent]) -> None:
        assert choice.logprobs is not None
        snapshot = self.snapshot
        if snapshot.logprobs is None:
            snapshot.__dict__["logprobs"] = ChoiceLogprobs.construct(
                {"content": None, "refusal": None}
            )
        total = snapshot.logprobs.__dict__
        for field, event in (
            ("content", LogprobsContentDeltaEvent),
            ("refusal", LogprobsRefusalDeltaEvent),
        ):
            pieces = choice.logprobs.__dict__.get(field)
            if pieces:
                total[field] = [*(total[field] or ()), *pieces]
                events.append(
                    event.construct(
                        {"type": f"logprobs.{field}.delta", field: pieces, "snapshot": total[field]}
                    )
                )

    def _content_done(self, events: list[ChatCompletionStreamEvent]) -> None:
        message = self.snapshot.message.__dict__
        if message["content"] and "content" not in self._done:
            self._done.add("content")
            parsed = None
            if self.snapshot.finish_reason not in _CUT:  # cut short: not parsed, it raises
                parsed = self._parser.parse_content(message["content"], message["refusal"])
            message["parsed"] = parsed
            events.append(
                ContentDoneEvent.construct(
                    {"type": "content.done", "content": message["content"], "parsed": parsed}
                )
            )
        if message["refusal"] is not None and "refusal" not in self._done:
            self._done.add("refusal")
            events.append(
                RefusalDoneEvent.construct({"type": "refusal.done", "refusal": message["refusal"]})
            )
        logprobs = self.snapshot.logprobs
        for field, event in (
            ("content", LogprobsContentDoneEvent),
            ("refusal", LogprobsRefusalDoneEvent),
        ):
            pieces = logprobs.__dict__.get(field) if logprobs is not None else None
            if pieces is not None and f"logprobs.{field}" not in self._done:
                self._done.add(f"logprobs.{field}")
                events.append(event.construct({"type": f"logprobs.{field}.done", field: pieces}))

    def _tool_done(self, index: int, events: list[ChatCompletionStreamEvent]) -> None:
        if index in self._tools_done:
            return
        self._tools_done.add(index)
        function = self._tool_call(index).function
        parsed = None
        if self.snapshot.finish_reason not in _CUT:
            parsed = self._parser.parse_arguments(function.name, function.arguments)
        function.__dict__["parsed_arguments"] = parsed
        events.append(
            FunctionToolCallArgumentsDoneEvent.construct(
                {
                    "type": "tool_calls.function.arguments.done",
                    "name": function.name,
                    "index": index,
                    "arguments": function.arguments,
                    "parsed_arguments": parsed,
                }
            )
        )

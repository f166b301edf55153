"""Backend events to Responses API stream events, and the `Response` object they describe.

A :class:`ResponseBuilder` is fed one response's generation events and keeps
two things in step: the encoded SSE events (``event: <type>`` plus JSON data,
numbered from 0 by ``sequence_number``) and the `Response` object. The events
are kept, not just sent, so a stored response can be replayed; text deltas,
the hot path, are built from a byte template with only the text going through
orjson.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from rillet.server.backends.base import Finish, GenerationEvent, TextDelta, ToolCallStart
from rillet.server.http.errors import APIError
from rillet.server.http.sse import END, encode_event, event_head
from rillet.server.ids import new_id
from rillet.server.resume.log import event_id_prefix

SERVER_ERROR_MESSAGE = "The server had an error while processing your request."
_INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}
ID_BYTES = 24  # responses and their items have longer ids than chat completions


def usage_object(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


# A text delta's bytes around its sequence number, item and text (see `_open_message`).
_DELTA_HEAD = (
    event_head("response.output_text.delta")
    + b'{"type":"response.output_text.delta","sequence_number":'
)
_DELTA_TAIL = b',"logprobs":[]}' + END


@dataclass(slots=True)
class _Item:
    """The output item being streamed: a message's text or a call's arguments, in pieces."""

    body: dict[str, Any]  # the item as in `output`, updated when it is done
    index: int
    pieces: list[str] = field(default_factory=list)

    @property
    def is_message(self) -> bool:
        kind: str = self.body["type"]
        return kind == "message"


class ResponseBuilder:
    """Formats one response's events and keeps its `Response` object current."""

    def __init__(
        self,
        *,
        model: str,
        echo: dict[str, Any],
        previous_response_id: str | None = None,
        store: bool = True,
        background: bool = False,
    ) -> None:
        self.id = new_id("resp_", ID_BYTES)
        self._id_head = event_id_prefix(self.id)  # each event's `id: resp_...:<sequence>`
        self.events: list[bytes] = []
        self.response: dict[str, Any] = {
            "id": self.id,
            "object": "response",
            "created_at": int(time.time()),
            "status": "in_progress",
            "background": background,
            "error": None,
            "incomplete_details": None,
            "instructions": echo.get("instructions"),
            "max_output_tokens": echo.get("max_output_tokens"),
            "max_tool_calls": None,
            "model": model,
            "output": [],
            "parallel_tool_calls": echo.get("parallel_tool_calls", True),
            "previous_response_id": previous_response_id,
            "reasoning": {"effort": None, "summary": None},
            "service_tier": "default",
            "store": store,
            "temperature": echo.get("temperature", 1.0),
            "text": echo.get("text", {"format": {"type": "text"}}),
            "tool_choice": echo.get("tool_choice", "auto"),
            "tools": echo.get("tools", []),
            "top_logprobs": 0,
            "top_p": echo.get("top_p", 1.0),
            "truncation": "disabled",
            # `usage` joins when the response ends; `user` (deprecated upstream) never: the
            # spec types both as objects/strings that are absent rather than null.
            "metadata": echo.get("metadata", {}),
        }
        self._item: _Item | None = None
        self._calls: dict[int, _Item] = {}  # backend call index -> its output item
        self._delta_mid = b""  # this message's part of the text delta template

    def _emit(self, data: dict[str, Any]) -> None:
        number = data["sequence_number"] = len(self.events)
        # `event:` repeats the type; `id:` names the response and the sequence number.
        self.events.append(b"%s%d\n%s" % (self._id_head, number, encode_event(data, data["type"])))

    def _emit_response(self, kind: str) -> None:
        self._emit({"type": kind, "response": self.snapshot()})

    def start(self) -> None:
        self._emit_response("response.created")
        self._emit_response("response.in_progress")

    def feed(self, event: GenerationEvent) -> None:
        if type(event) is TextDelta and self._item is not None and self._item.is_message:
            self._item.pieces.append(event.text)
            number = len(self.events)
            self.events.append(
                b"%s%d\n%s%d%s%s%s"
                % (
                    self._id_head,
                    number,
                    _DELTA_HEAD,
                    number,
                    self._delta_mid,
                    orjson.dumps(event.text),
                    _DELTA_TAIL,
                )
            )
        elif isinstance(event, TextDelta):
            self._open_message()
            self.feed(event)
        elif isinstance(event, ToolCallStart):
            self._open_call(event)
        elif isinstance(event, Finish):
            self._finish(event)
        else:
            item = self._calls[event.index]
            if item is not self._item:
                raise RuntimeError("a backend interleaved the arguments of two calls")
            item.pieces.append(event.arguments)
            self._emit(
                {
                    "type": "response.function_call_arguments.delta",
                    "item_id": item.body["id"],
                    "output_index": item.index,
                    "delta": event.arguments,
                }
            )

    def _open_message(self) -> None:
        self._close_item("completed")
        body: dict[str, Any] = {
            "id": new_id("msg_", ID_BYTES),
            "type": "message",
            "status": "in_progress",
            "content": [],
            "role": "assistant",
        }
        item = self._add_item(body)
        self._emit(
            {
                "type": "response.content_part.added",
                "item_id": body["id"],
                "output_index": item.index,
                "content_index": 0,
                "part": _text_part(""),
            }
        )
        item_id: str = body["id"]
        self._delta_mid = b',"item_id":"%s","output_index":%d,"content_index":0,"delta":' % (
            item_id.encode(),
            item.index,
        )

    def _open_call(self, event: ToolCallStart) -> None:
        self._close_item("completed")
        body: dict[str, Any] = {
            "id": new_id("fc_", ID_BYTES),
            "type": "function_call",
            "status": "in_progress",
            "arguments": "",
            "call_id": event.call_id,
            "name": event.name,
        }
        self._calls[event.index] = self._add_item(body)

    def _add_item(self, body: dict[str, Any]) -> _Item:
        item = _Item(body, len(self.response["output"]))
        self.response["output"].append(body)
        self._item = item
        self._emit(
            {
                "type": "response.output_item.added",
                "output_index": item.index,
                "item": _current(item),
            }
        )
        return item

    def _close_item(self, status: str) -> None:
        item, self._item = self._item, None
        if item is None:
            return
        body, joined = item.body, "".join(item.pieces)
        ids = {"item_id": body["id"], "output_index": item.index}
        if item.is_message:
            part = _text_part(joined)
            self._emit({"type": "response.output_text.done", **ids, "content_index": 0,
                        "text": joined, "logprobs": []})  # fmt: skip
            self._emit({"type": "response.content_part.done", **ids, "content_index": 0,
                        "part": part})  # fmt: skip
            body["content"] = [part]
        else:
            self._emit({"type": "response.function_call_arguments.done", **ids,
                        "name": body["name"], "arguments": joined})  # fmt: skip
            body["arguments"] = joined
        body["status"] = status
        self._emit({"type": "response.output_item.done", "output_index": item.index,
                    "item": body})  # fmt: skip

    def _finish(self, finish: Finish) -> None:
        reason = _INCOMPLETE_REASONS.get(finish.reason)
        self._close_item("incomplete" if reason else "completed")
        self.response["usage"] = usage_object(finish.prompt_tokens, finish.completion_tokens)
        if reason:
            self.response["status"] = "incomplete"
            self.response["incomplete_details"] = {"reason": reason}
            self._emit_response("response.incomplete")
        else:
            self.response["status"] = "completed"
            self.response["completed_at"] = int(time.time())
            self._emit_response("response.completed")

    def fail(self, error: APIError) -> None:
        """The request could not be served: an `error` event (the client raises on it)."""
        self.response["status"] = "failed"
        self.response["error"] = {"code": error.code or "invalid_request", "message": error.message}
        self._emit(
            {"type": "error", "code": error.code, "message": error.message, "param": error.param}
        )

    def fail_server(self) -> None:
        """Generation broke on our side: `response.failed`, details in the server log only."""
        self.response["status"] = "failed"
        self.response["error"] = {"code": "server_error", "message": SERVER_ERROR_MESSAGE}
        self._emit_response("response.failed")

    def cancel(self) -> None:
        """Generation stopped for want of readers (or on request); no event marks it."""
        self.response["status"] = "cancelled"

    def snapshot(self) -> dict[str, Any]:
        """The `Response` as of now, the item being streamed included with its text so far."""
        response = dict(self.response)
        if self._item is not None:
            output = list(response["output"])
            output[self._item.index] = _current(self._item)
            response["output"] = output
        return response


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def _current(item: _Item) -> dict[str, Any]:
    """An in-progress item as it stands (its body is only updated once it is done)."""
    joined = "".join(item.pieces)
    if item.is_message:
        return {**item.body, "content": [_text_part(joined)] if item.pieces else []}
    return {**item.body, "arguments": joined}

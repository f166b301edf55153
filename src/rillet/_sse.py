"""Incremental Server-Sent Events decoding, per the WHATWG event-stream parsing rules.

The decoder sits on the per-chunk hot path of streaming responses, so it works on bytes
and leaves as much as it can to C: CR and CRLF line ends are rewritten to LF up front,
the usual run of one-line ``data: `` events is cut apart by a single split on
``b"\\n\\ndata: "``, and anything else goes through the full field rules one event
(blank-line-separated block) at a time. Text is decoded only when asked for, because
the JSON path hands ``raw_data`` straight to orjson.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["SSEDecoder", "ServerSentEvent"]

_BOM = b"\xef\xbb\xbf"
_CR, _LF = 13, 10  # `int in bytes` is a bare memchr; `bytes in bytes` costs several times more


class ServerSentEvent:
    """One dispatched event, read-only.

    ``raw_data`` holds the data bytes as received; ``data`` is their UTF-8 decoding (invalid
    bytes become U+FFFD, as the spec says), made on first use so JSON consumers never pay
    for it. ``ServerSentEvent("text")`` or ``ServerSentEvent(b"bytes")`` builds one by hand.
    """

    __slots__ = ("_data", "_event", "_id", "_raw", "_retry")

    _data: str | None
    _event: str
    _id: str | None
    _raw: bytes
    _retry: int | None

    def __init__(
        self,
        data: str | bytes = "",
        event: str = "message",
        id: str | None = None,
        retry: int | None = None,
    ) -> None:
        if isinstance(data, str):
            self._data, self._raw = data, data.encode()
        else:
            self._data, self._raw = None, data
        self._event = event
        self._id = id
        self._retry = retry

    @property
    def event(self) -> str:
        return self._event

    @property
    def data(self) -> str:
        text = self._data
        if text is None:
            # The spec decodes the stream as UTF-8 with replacement for invalid bytes.
            text = self._data = self._raw.decode("utf-8", "replace")
        return text

    @property
    def raw_data(self) -> bytes:
        return self._raw

    @property
    def id(self) -> str | None:
        return self._id

    @property
    def retry(self) -> int | None:
        return self._retry

    def json(self) -> Any:
        return orjson.loads(self._raw)

    def _key(self) -> tuple[str, str, str | None, int | None]:
        return (self._event, self.data, self._id, self._retry)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServerSentEvent):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"ServerSentEvent(event={self._event!r}, data={self.data!r}, "
            f"id={self._id!r}, retry={self._retry!r})"
        )


_new_event = object.__new__


def _data_event(raw: bytes, last_id: str | None) -> ServerSentEvent:
    """Build a plain ``message`` event without the public constructor's type check."""
    ev: ServerSentEvent = _new_event(ServerSentEvent)
    ev._raw = raw
    ev._data = None
    ev._event = "message"
    ev._id = last_id
    ev._retry = None
    return ev


class SSEDecoder:
    """Turns a byte stream, fed in arbitrary pieces, into :class:`ServerSentEvent` objects.

    Complete events are parsed as soon as their blank line arrives; bytes of an unfinished
    event wait in ``_parts`` (a list, so a huge event arriving in small reads is joined
    once rather than re-copied on every feed). At the end of the stream there is nothing to
    flush: the spec discards an event whose blank line never came.
    """

    __slots__ = ("_bom_pending", "_last_id", "_parts", "_retry", "_skip_lf")

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._bom_pending = True  # the stream's first bytes have not been checked for a BOM
        self._skip_lf = False  # the previous chunk ended in CR: a leading LF completes a CRLF
        self._last_id: str | None = None
        self._retry: int | None = None

    @property
    def last_event_id(self) -> str | None:
        """The last event ID set by the stream (what a reconnect sends as Last-Event-ID)."""
        return self._last_id

    @property
    def reconnection_time(self) -> int | None:
        """The last valid ``retry`` value in ms, kept even if its event was never dispatched."""
        return self._retry

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        if self._bom_pending or self._skip_lf:
            chunk = self._strip_prefix(chunk)
        if _CR in chunk:
            self._skip_lf = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        parts = self._parts
        if chunk.rfind(b"\n\n") < 0 and not (
            parts and chunk.startswith(b"\n") and parts[-1].endswith(b"\n")
        ):
            if chunk:  # no event can end in this chunk: keep it without copying
                parts.append(chunk)
            return []
        if parts:
            parts.append(chunk)
            chunk = b"".join(parts)
        self._parts = []

        events: list[ServerSentEvent] = []
        if chunk.startswith(b"data: "):
            # Fast path: cutting at every blank line followed by "data: " leaves the
            # payloads of the leading single-line data events, unless one holds an LF.
            payloads = chunk.split(b"\n\ndata: ")
            payloads[0] = payloads[0][6:]
            rest = payloads.pop()
            if _LF not in b"".join(payloads):
                last_id = self._last_id
                events = [_data_event(payload, last_id) for payload in payloads]
                if _LF not in rest:  # the usual ending: half an event, cut mid-payload
                    self._parts = [b"data: ", rest]
                    return events
                chunk = b"data: " + rest
        blocks = chunk.split(b"\n\n")
        tail = blocks.pop()
        if tail:
            self._parts = [tail]
        for block in blocks:
            if block.startswith(b"event: "):
                # Fast path for the Responses API's framing: one `event:` line, one `data:`.
                head, found, payload = block.partition(b"\ndata: ")
                if found and _LF not in payload and _LF not in head:
                    kind = head[7:].decode("utf-8", "replace") or "message"
                    events.append(ServerSentEvent(payload, kind, self._last_id))
                    continue
            event = self._parse_block(block)
            if event is not None:
                events.append(event)
        return events

    def _strip_prefix(self, chunk: bytes) -> bytes:
        """Drop a BOM at the very start of the stream, and the LF of a CRLF split across feeds."""
        if self._bom_pending:
            head = b"".join(self._parts) + chunk
            if len(head) < len(_BOM) and _BOM.startswith(head):
                self._parts = [head] if head else []
                return b""
            self._parts = []
            self._bom_pending = False
            chunk = head[len(_BOM) :] if head.startswith(_BOM) else head
        if self._skip_lf and chunk:
            self._skip_lf = False
            if chunk.startswith(b"\n"):
                chunk = chunk[1:]
        return chunk

    def _parse_block(self, block: bytes) -> ServerSentEvent | None:
        """Apply the field rules to one event's LF-separated lines, then dispatch it."""
        data: list[bytes] = []
        event_type = b""
        retry: int | None = None
        for line in block.split(b"\n"):
            name, _, value = line.partition(b":")
            if not name:  # a comment, or the blank line that ended the previous event
                continue
            if value.startswith(b" "):
                value = value[1:]
            if name == b"data":
                data.append(value)
            elif name == b"event":
                event_type = value
            elif name == b"id":
                if b"\0" not in value:
                    self._last_id = value.decode("utf-8", "replace")
            elif name == b"retry" and value.isdigit():  # bytes.isdigit is ASCII-only
                retry = self._retry = int(value)
        if not data:
            return None
        event = event_type.decode("utf-8", "replace") if event_type else "message"
        return ServerSentEvent(b"\n".join(data), event, self._last_id, retry)

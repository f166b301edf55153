"""Reading raw SSE events in resume tests: exact bytes, one block per event."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import orjson


def blocks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Each event of a byte stream, with its trailing blank line; comments skipped."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            if not block.startswith(b":"):
                yield block + b"\n\n"


def event_id(block: bytes) -> str | None:
    for line in block.split(b"\n"):
        if line.startswith(b"id: "):
            return line[4:].decode()
    return None


def data(block: bytes) -> object:
    for line in block.split(b"\n"):
        if line.startswith(b"data: "):
            payload = line[6:]
            return payload.decode() if payload == b"[DONE]" else orjson.loads(payload)
    raise AssertionError(f"no data in {block!r}")


def text_of(events: Iterable[bytes]) -> str:
    """The content of a chat stream's chunks, concatenated."""
    out = []
    for block in events:
        payload = data(block)
        if isinstance(payload, dict) and payload.get("choices"):
            out.append(payload["choices"][0]["delta"].get("content") or "")
    return "".join(out)

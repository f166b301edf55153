"""Reading raw SSE events in resume tests: exact bytes, one block per event."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import httpx
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


def chat_head(url: str, body: dict[str, Any], count: int, headers: dict[str, str]) -> list[bytes]:
    """The first `count` events of a resumable chat stream; then the connection is dropped."""
    head: list[bytes] = []
    with httpx.stream(
        "POST",
        f"{url}/chat/completions",
        json=body,
        headers={"X-Rillet-Resumable": "1", **headers},
        timeout=30,
    ) as response:
        assert response.headers["x-rillet-resumable"] == "1"
        for block in blocks(response.iter_raw()):
            head.append(block)
            if len(head) == count:
                break
    return head


def chat_rest(url: str, body: dict[str, Any], last: str, headers: dict[str, str]) -> list[bytes]:
    """The events after `last` (an event id), reattached with the same body."""
    with httpx.stream(
        "POST",
        f"{url}/chat/completions",
        json=body,
        headers={"Last-Event-ID": last, **headers},
        timeout=60,
    ) as response:
        assert response.status_code == 200
        return list(blocks(response.iter_raw()))


def last_id(events: list[bytes]) -> str:
    last = event_id(events[-1])
    assert last is not None
    return last


def assert_whole_chat(events: list[bytes]) -> str:
    """Every position of one chat stream once, in order, up to `[DONE]`; its id."""
    stream_id = last_id(events).rsplit(":", 1)[0]
    assert [event_id(e) for e in events] == [f"{stream_id}:{n}" for n in range(1, len(events) + 1)]
    assert data(events[-1]) == "[DONE]"
    return stream_id

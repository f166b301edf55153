"""Small ASGI helpers shared by every endpoint: whole responses, bounded bodies, disconnects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Mapping
from typing import Any, TypeVar

from starlette.types import Receive, Scope, Send

from rillet.server.http.iterators import aclose

__all__ = [
    "ClientDisconnected",
    "Receive",
    "Scope",
    "Send",
    "read_body",
    "run_until_disconnect",
    "send_bytes",
]

T = TypeVar("T")


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    headers: Mapping[str, str] | None = None,
) -> None:
    raw = [
        (b"content-type", content_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode("latin-1")),
    ]
    if headers:
        raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    """The request body exceeds the configured limit."""


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """Read the whole request body, refusing more than `limit` bytes.

    Returns None when the client disconnected before sending it all. The declared
    Content-Length is checked first so an oversized upload is refused unread.
    """
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                declared = 0
            if declared > limit:
                raise BodyTooLarge
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


class ClientDisconnected(Exception):
    """The client went away before its answer was ready."""


async def run_until_disconnect(receive: Receive, work: Coroutine[Any, Any, T]) -> T:
    """Run `work`, cancelling it as soon as the client disconnects.

    For answers sent in one piece: without this, a client that gives up on a long
    non-streamed generation would leave the backend generating for nobody.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        raise ClientDisconnected
    finally:
        for pending in (task, watcher):
            if not pending.done():
                pending.cancel()
        await asyncio.gather(task, watcher, return_exceptions=True)


async def first_item(receive: Receive, items: AsyncIterator[T]) -> T:
    """The first item of `items`, awaited as `run_until_disconnect` awaits work.

    Endpoints wait for a backend's first event before answering, so that a request it
    refuses gets a plain 400; on any failure (the client gone included) `items` is closed.
    """
    try:
        return await run_until_disconnect(receive, _next(items))
    except BaseException:
        await aclose(items)
        raise


async def _next(items: AsyncIterator[T]) -> T:
    return await anext(items)


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass

"""A lean Server-Sent Events response for already-encoded events.

Endpoints hand it an async iterator of complete ``data: ...\\n\\n`` byte strings;
it sends each one as its own ASGI body message the moment it is produced. Three
properties matter more than anything else here:

- *Backpressure*: each ``send`` is awaited, and the server's ``send`` waits while
  the socket's write buffer is full, so a slow reader pauses generation instead
  of growing a buffer.
- *Disconnects*: a watcher task waits for ``http.disconnect`` and cancels the
  stream at once (also during long silences), and the event iterator is closed,
  which closes the backend's generator and frees what it holds.
- *Keep-alive*: during silences longer than ``keepalive`` seconds a comment line
  is sent so proxies and clients do not time the connection out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping

import orjson
from starlette.responses import Response

from rillet.server.backends.base import InvalidRequest
from rillet.server.http.asgi import Receive, Scope, Send
from rillet.server.http.errors import APIError, from_backend, internal_error, shutting_down
from rillet.server.http.iterators import aclose

logger = logging.getLogger("rillet.server")

DATA = b"data: "
END = b"\n\n"  # the blank line that ends an event
DONE = DATA + b"[DONE]" + END
KEEPALIVE = b": keep-alive" + END


def event_head(event: str | None = None) -> bytes:
    """What precedes an event's data: its `event:` field when it is named, then `data: `."""
    return DATA if event is None else b"event: " + event.encode() + b"\n" + DATA


def encode_event(data: object, event: str | None = None) -> bytes:
    """One SSE event carrying `data` as compact JSON.

    The hot paths (chat chunks, Responses text deltas) fill byte templates instead, built
    from `event_head` and `END` so that the framing is written here only.
    """
    return event_head(event) + orjson.dumps(data) + END


def error_event(error: APIError) -> bytes:
    """The in-band error once headers are gone: OpenAI clients raise on an `error` payload."""
    return encode_event(error.body())


class EventStreamResponse(Response):
    media_type = "text/event-stream"

    def __init__(
        self,
        events: AsyncIterator[bytes],
        *,
        keepalive: float | None = 15.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.events = events
        self.keepalive = keepalive
        self.status_code = 200
        self.background = None
        raw = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        if headers:
            raw.extend(
                (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
            )
        self.raw_headers = raw
        self._disconnected = False
        self._finished = False
        self._sending = False
        self._sent = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        watcher = asyncio.create_task(self._watch_disconnect(receive, task))
        pinger = asyncio.create_task(self._keep_alive(send)) if self.keepalive else None
        try:
            await self._pump(send)
        except asyncio.CancelledError:
            task.uncancel()
            if not self._disconnected:
                # The server is stopping and its grace period is over: say so, end cleanly.
                with contextlib.suppress(Exception):
                    await send({"type": "http.response.body", "body": error_event(shutting_down())})
        finally:
            self._finished = True
            watcher.cancel()
            if pinger is not None:
                pinger.cancel()
            await aclose(self.events)

    async def _pump(self, send: Send) -> None:
        try:
            async for chunk in self.events:
                self._sent += 1
                self._sending = True
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                self._sending = False
        except (APIError, InvalidRequest) as exc:
            error = exc if isinstance(exc, APIError) else from_backend(exc)
            await send(
                {"type": "http.response.body", "body": error_event(error), "more_body": True}
            )
        except Exception:
            logger.exception("stream failed after the response started")
            body = error_event(internal_error())
            await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _watch_disconnect(self, receive: Receive, task: asyncio.Task[object]) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
        if not self._finished:
            self._disconnected = True
            task.cancel()

    async def _keep_alive(self, send: Send) -> None:
        assert self.keepalive is not None
        seen = self._sent
        while True:
            await asyncio.sleep(self.keepalive)
            if self._sent == seen and not self._sending:
                self._sending = True
                with contextlib.suppress(OSError):
                    await send({"type": "http.response.body", "body": KEEPALIVE, "more_body": True})
                self._sending = False
            seen = self._sent

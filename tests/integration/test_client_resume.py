"""Streams that lose their connection mid-way and are reattached, against canned servers.

Each scenario plays a resumable server (docs/resume.md): events with `id: <stream>:<n>`,
`X-Rillet-Resumable: 1` echoed; the first connection fails (cut mid-event, reset, a clean
end before the end of the answer, a stall past the idle timeout) and a reattach
(`Last-Event-ID` for chat, `GET /responses/{id}?stream=true&starting_after=N`) gets the rest,
starting one event early so the client has a duplicate to drop. Sync and async each.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

import rillet
from tests._server import run_server
from tests._wait import wait_until_async
from tests.integration.canned import (
    CannedServer,
    Connection,
    Request,
    canned_server,
    story,
)
from tests.integration.test_client_responses import DELTAS, haiku_events

MODES = ("sync", "async")
CHAT = "chatcmpl-canned"
RESP = "resp_canned"
WORDS = 6
TEXT = "".join(f"w{i} " for i in range(WORDS))
MESSAGES = [{"role": "user", "content": "Hello!"}]


def chat_events(ids: bool = True) -> list[tuple[int, bytes]]:
    """A whole chat stream: positions 1.. over the data events, `[DONE]` included."""
    out = []
    for position, raw in enumerate(story(WORDS), start=1):
        head = f"id: {CHAT}:{position}\n".encode() if ids else b""
        out.append((position, head + raw))
    return out


def response_events(ids: bool = True, background: bool = False) -> list[tuple[int, bytes]]:
    """A whole Responses stream, numbered from 0; ids as rillet sends them, or none (OpenAI)."""
    out = []
    for number, event in enumerate(haiku_events()):
        event = {**event, "sequence_number": number}
        if "response" in event:
            event["response"] = {**event["response"], "background": background}
        head = f"id: {RESP}:{number}\n".encode() if ids else b""
        frame = f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
        out.append((number, head + frame))
    return out


class Resumable:
    """Plays one resumable stream: the first connection sends `after` events then fails as
    `fail` says; a reattach (failing again `failures - 1` times) gets the events from one
    before the position asked for. `/cancel` is answered and recorded."""

    def __init__(
        self,
        events: list[tuple[int, bytes]],
        *,
        fail: str = "cut",
        after: int = 3,
        echo: bool = True,
        retry: bytes = b"retry: 0\n\n",
        failures: int = 1,
        reattach_status: int | None = None,
        again: bool = False,
        cancel_gate: threading.Event | None = None,
    ) -> None:
        """`again`: a first request made again (no id was seen) gets the whole stream."""
        self.events = events
        self.again = again
        self.cancel_gate = cancel_gate  # set: /cancel is answered only once it is set
        self.cancels_answered = 0
        self.fail = fail
        self.after = after
        self.echo = echo
        self.retry = retry
        self.failures = failures
        self.reattach_status = reattach_status
        self.failed = 0
        self.reattaches: list[Request] = []
        self.cancels: list[Request] = []
        self.release = threading.Event()  # ends a "hold" or "stall"
        self.lock = threading.Lock()

    def __call__(self, conn: Connection, request: Request) -> bool:
        if request.path.endswith("/cancel"):
            with self.lock:
                self.cancels.append(request)
            if self.cancel_gate is not None:
                self.cancel_gate.wait(10)
            conn.json(200, {"id": CHAT, "object": "chat.completion.stream", "status": "cancelled"})
            self.cancels_answered += 1
            return True
        position = self._asked(request)
        if position is None and self.again and self.failed >= self.failures:
            position = 0  # the stream asked for again from its start: all of it, this time
        elif position is None:
            return self._first(conn)
        with self.lock:
            self.reattaches.append(request)
        if self.reattach_status is not None:
            error = {"message": "No such stream", "type": "invalid_request_error"}
            body = {"error": {**error, "param": "Last-Event-ID", "code": "stream_not_found"}}
            conn.json(self.reattach_status, body)
            return True
        self._start(conn)
        if self.failed < self.failures:
            self.failed += 1
            return self._fail(conn, [])
        for number, raw in self.events:
            if number >= position:  # one event early: the client drops the repeat
                conn.piece(raw)
        conn.end()
        return True

    @staticmethod
    def _asked(request: Request) -> int | None:
        """The position a reattach asks to follow, or None for the first request."""
        last = request.headers.get("last-event-id")
        if last is not None:
            return int(last.rpartition(":")[2])
        query = parse_qs(request.query)
        if request.method == "GET" and "starting_after" in query:
            return int(query["starting_after"][0])
        return None

    def _start(self, conn: Connection) -> None:
        conn.start_sse(**({"x_rillet_resumable": "1"} if self.echo else {}))
        if self.retry:
            conn.piece(self.retry)

    def _first(self, conn: Connection) -> bool:
        self.failed += 1
        self._start(conn)
        sent = [raw for _, raw in self.events[: self.after]]
        return self._fail(conn, sent)

    def _fail(self, conn: Connection, sent: list[bytes]) -> bool:
        for raw in sent:
            conn.piece(raw)
        if self.fail == "cut":
            conn.piece(self.events[self.after][1][:17])  # half an event
            conn.sock.shutdown(socket.SHUT_RDWR)
            return False
        if self.fail == "reset":
            conn.reset()
            return False
        if self.fail == "end":
            conn.end()  # a clean end before the end of the answer
            return True
        # "hold" (the stream is left open, then finished) or "stall" (idle, then dropped)
        self.release.wait(10)
        if self.fail == "stall":
            return False
        try:
            for _, raw in self.events[self.after :]:
                conn.piece(raw)
            conn.end()
        except OSError:
            return False
        return True


@pytest.fixture
def serve() -> Iterator[Callable[[Resumable], CannedServer]]:
    handlers: list[Resumable] = []
    with contextlib.ExitStack() as stack:

        def start(handler: Resumable) -> CannedServer:
            handlers.append(handler)
            return stack.enter_context(canned_server({"s": handler}))

        try:
            yield start
        finally:
            for handler in handlers:  # no handler thread is left waiting
                handler.release.set()


def settings(server: CannedServer, **extra: Any) -> dict[str, Any]:
    return {"api_key": "sk-test", "base_url": server.base_url("s"), "max_retries": 0, **extra}


def chat(
    mode: str, server: CannedServer, client: dict[str, Any] | None = None, **create: Any
) -> tuple[list[Any], int]:
    """Every chunk of one streamed chat completion, and how many times it was resumed."""
    create = {"model": "gpt-4", "messages": MESSAGES, **create}
    if mode == "sync":
        with rillet.OpenAI(**settings(server, **(client or {}))) as c:
            stream = c.chat.completions.create(stream=True, **create)
            return list(stream), stream.resumes

    async def main() -> tuple[list[Any], int]:
        async with rillet.AsyncOpenAI(**settings(server, **(client or {}))) as c:
            stream = await c.chat.completions.create(stream=True, **create)
            return [chunk async for chunk in stream], stream.resumes

    return asyncio.run(main())


def responses(mode: str, server: CannedServer, **create: Any) -> tuple[list[Any], int]:
    create = {"model": "gpt-5.2", "input": "a haiku", **create}
    if mode == "sync":
        with rillet.OpenAI(**settings(server)) as c:
            stream = c.responses.create(stream=True, **create)
            return list(stream), stream.resumes

    async def main() -> tuple[list[Any], int]:
        async with rillet.AsyncOpenAI(**settings(server)) as c:
            stream = await c.responses.create(stream=True, **create)
            return [event async for event in stream], stream.resumes

    return asyncio.run(main())


def text_of(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# --- chat ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fail", ["cut", "reset", "end"])
def test_a_chat_stream_is_resumed_seamlessly(
    serve: Callable[[Resumable], CannedServer], mode: str, fail: str
) -> None:
    handler = Resumable(chat_events(), fail=fail)
    server = serve(handler)
    chunks, resumes = chat(mode, server)
    assert text_of(chunks) == TEXT
    assert len(chunks) == WORDS + 1  # no duplicates: each content chunk once, then the finish
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert resumes == 1
    (reattach,) = handler.reattaches
    assert reattach.headers["last-event-id"] == f"{CHAT}:3"
    assert reattach.method == "POST" and reattach.json()["stream"] is True
    first = server.requests[0]
    assert first.headers["x-rillet-resumable"] == "1"
    assert reattach.body == first.body
    assert reattach.headers["authorization"] == "Bearer sk-test"


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_cut_before_its_first_event_is_asked_again_from_the_start(
    serve: Callable[[Resumable], CannedServer], mode: str
) -> None:
    """Nothing delivered, so nothing can be lost or repeated: the same request again."""
    handler = Resumable(chat_events(), after=0, again=True)
    server = serve(handler)
    chunks, resumes = chat(mode, server)
    assert text_of(chunks) == TEXT and len(chunks) == WORDS + 1
    assert resumes == 1
    first, again = server.requests
    assert again.body == first.body and "last-event-id" not in again.headers


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_cut_before_its_first_event_without_the_opt_in_raises(
    serve: Callable[[Resumable], CannedServer], mode: str
) -> None:
    server = serve(Resumable(chat_events(), after=0, echo=False, again=True))
    with pytest.raises(rillet.APIConnectionError):
        chat(mode, server)
    assert len(server.requests) == 1


@pytest.mark.parametrize("mode", MODES)
def test_an_idle_stream_is_resumed(serve: Callable[[Resumable], CannedServer], mode: str) -> None:
    handler = Resumable(chat_events(), fail="stall")
    server = serve(handler)
    chunks, resumes = chat(mode, server, {"stream_idle_timeout": 0.2})
    assert (text_of(chunks), resumes) == (TEXT, 1)


@pytest.mark.parametrize("mode", MODES)
def test_a_reattach_that_fails_too_is_tried_again(
    serve: Callable[[Resumable], CannedServer], mode: str
) -> None:
    handler = Resumable(chat_events(), failures=3)
    server = serve(handler)
    chunks, resumes = chat(mode, server)
    assert (text_of(chunks), resumes) == (TEXT, 3)
    assert [r.headers["last-event-id"] for r in handler.reattaches] == [f"{CHAT}:3"] * 3


@pytest.mark.parametrize("mode", MODES)
def test_after_the_last_attempt_the_connection_error_is_raised(
    serve: Callable[[Resumable], CannedServer], mode: str
) -> None:
    handler = Resumable(chat_events(), failures=10)
    server = serve(handler)
    with pytest.raises(rillet.APIConnectionError, match="incomplete chunked read"):
        chat(mode, server, {"max_stream_resumes": 2})
    assert len(handler.reattaches) == 2


@pytest.mark.parametrize("mode", MODES)
def test_max_stream_resumes_0_raises_as_before_and_does_not_opt_in(
    serve: Callable[[Resumable], CannedServer], mode: str
) -> None:
    handler = Resumable(chat_events())
    server = serve(handler)
    with pytest.raises(rillet.APIConnectionError, match="incomplete chunked read"):
        chat(mode, server, {"max_stream_resumes": 0})
    with pytest.raises(rillet.APIConnectionError):
        chat(mode, server, max_stream_resumes=0)  # per call
    assert handler.reattaches == []
    assert all("x-rillet-resumable" not in r.headers for r in server.requests)


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_without_ids_raises_as_before(
    serve: Callable[[Resumable], CannedServer], mode: str
) -> None:
    handler = Resumable(chat_events(ids=False))
    server = serve(handler)
    with pytest.raises(rillet.APIConnectionError, match="incomplete chunked read"):
        chat(mode, server)
    assert len(server.requests) == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_server_that_does_not_keep_the_stream_is_not_asked_again(
    serve: Callable[[Resumable], CannedServer], mode: str
) -> None:
    """Ids, but no `X-Rillet-Resumable` answer: resending the POST would start a new answer."""
    handler = Resumable(chat_events(), echo=False)
    server = serve(handler)
    with pytest.raises(rillet.APIConnectionError):
        chat(mode, server)
    assert len(server.requests) == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_reattach_answered_404_raises_not_found(
    serve: Callable[[Resumable], CannedServer], mode: str
) -> None:
    handler = Resumable(chat_events(), reattach_status=404)
    server = serve(handler)
    with pytest.raises(rillet.NotFoundError) as info:
        chat(mode, server)
    assert info.value.code == "stream_not_found"
    assert isinstance(info.value.__cause__, rillet.APIConnectionError)
    assert len(handler.reattaches) == 1


@pytest.mark.parametrize("mode", MODES)
def test_the_helper_and_its_final_completion_see_one_stream(
    serve: Callable[[Resumable], CannedServer], mode: str
) -> None:
    server = serve(Resumable(chat_events(), fail="reset"))
    create: dict[str, Any] = {"model": "gpt-4", "messages": MESSAGES}
    if mode == "sync":
        with (
            rillet.OpenAI(**settings(server)) as c,
            c.chat.completions.stream(**create) as stream,
        ):
            deltas = [e.delta for e in stream if e.type == "content.delta"]
            final = stream.get_final_completion()
            resumes = stream.resumes
    else:

        async def main() -> tuple[list[str], Any, int]:
            async with (
                rillet.AsyncOpenAI(**settings(server)) as c,
                c.chat.completions.stream(**create) as stream,
            ):
                deltas = [e.delta async for e in stream if e.type == "content.delta"]
                return deltas, await stream.get_final_completion(), stream.resumes

        deltas, final, resumes = asyncio.run(main())
    assert "".join(deltas) == TEXT and len(deltas) == WORDS
    assert final.choices[0].message.content == TEXT
    assert final.choices[0].finish_reason == "stop"
    assert resumes == 1


# --- Responses -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("ids", "background"),
    [(True, False), (False, True)],
    ids=["rillet-ids", "openai-background"],
)
def test_a_responses_stream_is_resumed_by_starting_after(
    serve: Callable[[Resumable], CannedServer], mode: str, ids: bool, background: bool
) -> None:
    """With rillet's ids and opt-in, or, as on the OpenAI API, a background response
    without SSE ids: the position is then the events' `sequence_number` and the response
    id comes from `response.created`."""
    handler = Resumable(response_events(ids, background), after=6, echo=ids)
    server = serve(handler)
    create = {"background": True} if background else {}
    events, resumes = responses(mode, server, **create)
    numbers = [e.sequence_number for e in events]
    assert numbers == list(range(len(haiku_events())))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "".join(DELTAS)
    assert resumes == 1
    (reattach,) = handler.reattaches
    assert reattach.method == "GET"
    assert reattach.path == f"/s/v1/responses/{RESP}"
    assert parse_qs(reattach.query) == {"stream": ["true"], "starting_after": ["5"]}


@pytest.mark.parametrize("mode", MODES)
def test_a_foreground_response_without_the_opt_in_is_not_reattached(
    serve: Callable[[Resumable], CannedServer], mode: str
) -> None:
    handler = Resumable(response_events(ids=False), after=6, echo=False)
    server = serve(handler)
    with pytest.raises(rillet.APIConnectionError):
        responses(mode, server)
    assert len(server.requests) == 1


@pytest.mark.parametrize("mode", MODES)
def test_the_responses_helper_gets_its_final_response(
    serve: Callable[[Resumable], CannedServer], mode: str
) -> None:
    server = serve(Resumable(response_events(), after=6, fail="reset"))
    create: dict[str, Any] = {"model": "gpt-5.2", "input": "a haiku"}
    if mode == "sync":
        with rillet.OpenAI(**settings(server)) as c, c.responses.stream(**create) as stream:
            snapshots = [e.snapshot for e in stream if e.type == "response.output_text.delta"]
            final = stream.get_final_response()
    else:

        async def main() -> tuple[list[str], Any]:
            async with (
                rillet.AsyncOpenAI(**settings(server)) as c,
                c.responses.stream(**create) as stream,
            ):
                snaps = [e.snapshot async for e in stream if e.type == "response.output_text.delta"]
                return snaps, await stream.get_final_response()

        snapshots, final = asyncio.run(main())
    assert snapshots[-1] == "".join(DELTAS) and len(snapshots) == len(DELTAS)
    assert final.output_text == "".join(DELTAS)


# --- cancel on close -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_closing_before_the_end_cancels_the_stream(
    serve: Callable[[Resumable], CannedServer], mode: str
) -> None:
    handler = Resumable(chat_events(), fail="hold")
    server = serve(handler)
    create: dict[str, Any] = {"model": "gpt-4", "messages": MESSAGES, "stream": True}
    if mode == "sync":
        with rillet.OpenAI(**settings(server)) as c:
            with c.chat.completions.create(**create) as stream:
                first = [next(stream), next(stream)]
            stream.close()  # a second close sends nothing more
    else:

        async def main() -> list[Any]:
            async with rillet.AsyncOpenAI(**settings(server)) as c:
                async with await c.chat.completions.create(**create) as stream:
                    got = [await stream.__anext__(), await stream.__anext__()]
                await stream.close()
                return got

        first = asyncio.run(main())
    assert len(first) == 2
    (cancel,) = handler.cancels
    assert (cancel.method, cancel.path) == ("POST", f"/s/v1/chat/completions/{CHAT}/cancel")
    assert cancel.headers["authorization"] == "Bearer sk-test"


def test_a_task_cancelled_mid_stream_ends_at_once_and_the_server_is_still_told(
    serve: Callable[[Resumable], CannedServer],
) -> None:
    """`task.cancel()` inside `async with stream`: the close does not keep the cancelled
    task waiting on the cancel request (its canceller awaits it); the request goes out
    from a task of its own."""
    gate = threading.Event()
    handler = Resumable(chat_events(), fail="hold", cancel_gate=gate)
    server = serve(handler)
    create: dict[str, Any] = {"model": "gpt-4", "messages": MESSAGES, "stream": True}

    async def main() -> None:
        async with rillet.AsyncOpenAI(**settings(server)) as c:
            started = asyncio.Event()

            async def read() -> None:
                async with await c.chat.completions.create(**create) as stream:
                    async for _ in stream:
                        started.set()

            task = asyncio.create_task(read())
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # Done while the server holds the cancel request, which is in flight from a task
            # of its own.
            assert handler.cancels_answered == 0 and stream_tasks()
            await wait_until_async(lambda: len(handler.cancels) == 1)
            gate.set()
            await wait_until_async(lambda: not stream_tasks())

    asyncio.run(main())
    (cancel,) = handler.cancels
    assert cancel.path == f"/s/v1/chat/completions/{CHAT}/cancel"


def stream_tasks() -> set[asyncio.Task[None]]:
    from rillet._streams.stream import _pending_closes

    return _pending_closes


@pytest.mark.parametrize("mode", MODES)
def test_no_cancel_after_the_end_or_when_dropped(
    serve: Callable[[Resumable], CannedServer], mode: str
) -> None:
    whole = Resumable(chat_events(), after=len(chat_events()) - 1, fail="hold")
    whole.release.set()
    server = serve(whole)
    chunks, _ = chat(mode, server)
    assert text_of(chunks) == TEXT and whole.cancels == []

    held = Resumable(chat_events(), fail="hold")
    server = serve(held)
    create: dict[str, Any] = {"model": "gpt-4", "messages": MESSAGES, "stream": True}
    if mode == "sync":
        with rillet.OpenAI(**settings(server)) as c:
            stream = c.chat.completions.create(**create)
            next(stream)
            del stream  # garbage collection closes the connection, and sends nothing
            gc.collect()
    else:

        async def main() -> None:
            async with rillet.AsyncOpenAI(**settings(server)) as c:
                stream = await c.chat.completions.create(**create)
                await stream.__anext__()
                del stream
                gc.collect()

        asyncio.run(main())
    held.release.set()
    assert held.cancels == []


@pytest.mark.parametrize("mode", MODES)
def test_a_failing_cancel_is_swallowed(
    serve: Callable[[Resumable], CannedServer], mode: str
) -> None:
    handler = Resumable(chat_events(), fail="hold")
    server = serve(handler)

    def refuse(conn: Connection, request: Request) -> bool:
        if request.path.endswith("/cancel"):
            conn.json(500, {"error": {"message": "no", "type": "server_error"}})
            return True
        return handler(conn, request)

    server.scenarios["s"] = refuse
    create: dict[str, Any] = {"model": "gpt-4", "messages": MESSAGES, "stream": True}
    if mode == "sync":
        with rillet.OpenAI(**settings(server, max_retries=2)) as c:
            stream = c.chat.completions.create(**create)
            next(stream)
            stream.close()
    else:

        async def main() -> None:
            async with rillet.AsyncOpenAI(**settings(server, max_retries=2)) as c:
                stream = await c.chat.completions.create(**create)
                await stream.__anext__()
                await stream.close()

        asyncio.run(main())
    assert sum(r.path.endswith("/cancel") for r in server.requests) == 1  # tried once


# --- end to end: a real `rillet serve` behind a proxy that cuts the first connection ----------


class CuttingProxy:
    """A loopback TCP proxy to `upstream` that cuts its first connection once `limit` bytes
    of the server's answer went through (both sockets closed); later ones pass whole."""

    def __init__(self, upstream: tuple[str, int], limit: int) -> None:
        self.upstream = upstream
        self.limit = limit
        self.connections = 0
        self.cut = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            limit = self.limit if self.connections == 1 else None
            server = socket.create_connection(self.upstream)
            pair = (client, server)
            threading.Thread(
                target=self._pipe, args=(client, server, None, pair), daemon=True
            ).start()
            threading.Thread(
                target=self._pipe, args=(server, client, limit, pair), daemon=True
            ).start()

    def _pipe(
        self,
        source: socket.socket,
        sink: socket.socket,
        limit: int | None,
        pair: tuple[socket.socket, socket.socket],
    ) -> None:
        sent = 0
        try:
            while data := source.recv(65536):
                if limit is not None and sent + len(data) >= limit:
                    sink.sendall(data[: limit - sent])
                    self.cut.set()
                    break
                sink.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for sock in pair:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@pytest.fixture(scope="module")
def paced_server() -> Iterator[str]:
    with run_server("--backend", "synthetic", "--tokens-per-second", "200") as url:
        yield url


@pytest.fixture
def cutting(paced_server: str) -> Iterator[Callable[[int], str]]:
    """A proxy in front of the paced server cutting after `limit` bytes: its base URL."""
    proxies: list[CuttingProxy] = []
    address = paced_server.split("//", 1)[1].split("/", 1)[0]
    host, port = address.rsplit(":", 1)

    def start(limit: int) -> str:
        proxy = CuttingProxy((host, int(port)), limit)
        proxies.append(proxy)
        return f"http://127.0.0.1:{proxy.port}/v1"

    yield start
    for proxy in proxies:
        proxy.close()


E2E_CHAT: dict[str, Any] = {
    "model": "gpt-4",
    "messages": [{"role": "user", "content": "Write a story about a robot."}],
    "max_tokens": 60,
    "seed": 7,
}
E2E_RESPONSE: dict[str, Any] = {
    "model": "gpt-4",
    "input": "Write a story about a robot.",
    "max_output_tokens": 60,
    "seed": 7,
}


def e2e_chat(mode: str, base_url: str) -> tuple[str, int]:
    if mode == "sync":
        with rillet.OpenAI(api_key="sk-e2e", base_url=base_url, max_retries=0) as c:
            stream = c.chat.completions.create(stream=True, **E2E_CHAT)
            return text_of(list(stream)), stream.resumes

    async def main() -> tuple[str, int]:
        async with rillet.AsyncOpenAI(api_key="sk-e2e", base_url=base_url, max_retries=0) as c:
            stream = await c.chat.completions.create(stream=True, **E2E_CHAT)
            return text_of([chunk async for chunk in stream]), stream.resumes

    return asyncio.run(main())


def e2e_response(mode: str, base_url: str) -> tuple[str, int]:
    def text(events: list[Any]) -> str:
        return "".join(e.delta for e in events if e.type == "response.output_text.delta")

    if mode == "sync":
        with rillet.OpenAI(api_key="sk-e2e", base_url=base_url, max_retries=0) as c:
            stream = c.responses.create(stream=True, **E2E_RESPONSE)
            return text(list(stream)), stream.resumes

    async def main() -> tuple[str, int]:
        async with rillet.AsyncOpenAI(api_key="sk-e2e", base_url=base_url, max_retries=0) as c:
            stream = await c.responses.create(stream=True, **E2E_RESPONSE)
            return text([event async for event in stream]), stream.resumes

    return asyncio.run(main())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["chat", "responses"])
def test_rillet_serve_stream_cut_by_a_proxy_reads_the_same_text(
    paced_server: str, cutting: Callable[[int], str], mode: str, kind: str
) -> None:
    read = e2e_chat if kind == "chat" else e2e_response
    whole, untouched = read(mode, paced_server)
    assert untouched == 0 and len(whole) > 100
    proxy_url = cutting(2500)
    text, resumes = read(mode, proxy_url)
    assert text == whole
    assert resumes >= 1


@pytest.mark.parametrize("mode", MODES)
def test_rillet_serve_stream_closed_early_is_cancelled(paced_server: str, mode: str) -> None:
    long = {**E2E_CHAT, "max_tokens": 2000}  # 10 s at 200 tokens/s: still running at close
    if mode == "sync":
        with (
            rillet.OpenAI(api_key="sk-e2e", base_url=paced_server) as c,
            c.chat.completions.create(stream=True, **long) as stream,
        ):
            stream_id = next(stream).id
            next(stream)
    else:

        async def main() -> str:
            async with rillet.AsyncOpenAI(api_key="sk-e2e", base_url=paced_server) as c:
                async with await c.chat.completions.create(stream=True, **long) as stream:
                    found: str = (await stream.__anext__()).id
                    await stream.__anext__()
                return found

        stream_id = asyncio.run(main())
    again = httpx.post(
        f"{paced_server}/chat/completions/{stream_id}/cancel",
        headers={"Authorization": "Bearer sk-e2e"},
        timeout=10,
    )
    assert again.status_code == 200
    assert again.json()["status"] == "finished"  # the client's close cancelled it already


@pytest.mark.parametrize("mode", MODES)
def test_rillet_serve_response_stream_closed_early_is_cancelled(
    paced_server: str, mode: str
) -> None:
    """A resumable Responses stream goes on for the window after a drop, but an explicit
    close stops it: the client's cancel is honoured for it, not only for background ones."""
    long = {**E2E_RESPONSE, "max_output_tokens": 2000}  # still running at the close
    if mode == "sync":
        with (
            rillet.OpenAI(api_key="sk-e2e", base_url=paced_server) as c,
            c.responses.create(stream=True, **long) as stream,
        ):
            response_id = next(stream).response.id  # type: ignore[union-attr]
            next(stream)
    else:

        async def main() -> str:
            async with rillet.AsyncOpenAI(api_key="sk-e2e", base_url=paced_server) as c:
                async with await c.responses.create(stream=True, **long) as stream:
                    found: str = (await stream.__anext__()).response.id  # type: ignore[union-attr]
                    await stream.__anext__()
                return found

        response_id = asyncio.run(main())
    stored = httpx.get(
        f"{paced_server}/responses/{response_id}",
        headers={"Authorization": "Bearer sk-e2e"},
        timeout=10,
    )
    assert stored.json()["status"] == "cancelled"

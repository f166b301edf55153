"""Stream hygiene: flushing, keep-alives, disconnects and backpressure, over real sockets."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import orjson
import pytest

from rillet.server.app import create_app
from rillet.server.backends.base import GenerationEvent, GenerationRequest
from rillet.server.context import ServerConfig
from tests._wait import settle, wait_until

from ..fakes import ScriptedBackend, serve_app

BODY = {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}], "stream": True}


@pytest.fixture
def slow() -> ScriptedBackend:
    return ScriptedBackend(length=1000, delay=0.05)


@pytest.fixture
def slow_url(slow: ScriptedBackend) -> Iterator[str]:
    with serve_app(create_app(slow, ServerConfig(keepalive=0.02))) as url:
        yield url


def content_chunks(response: httpx.Response) -> Iterator[str]:
    for line in response.iter_lines():
        if line.startswith("data: {"):
            delta = orjson.loads(line[6:])["choices"][0]["delta"]
            if delta.get("content"):
                yield delta["content"]


def test_each_chunk_is_flushed_as_produced(slow_url: str, slow: ScriptedBackend) -> None:
    with httpx.stream("POST", f"{slow_url}/chat/completions", json=BODY) as response:
        for seen, _ in enumerate(content_chunks(response), start=1):
            # A buffering server would deliver the first chunk only after many more tokens.
            assert slow.generated <= seen + 5
            if seen == 3:
                break


def test_keepalive_comments_during_silence(slow_url: str) -> None:
    with httpx.stream("POST", f"{slow_url}/chat/completions", json=BODY) as response:
        lines = []
        for line in response.iter_lines():
            lines.append(line)
            if sum(line.startswith("data: {") for line in lines) >= 4:
                break
    assert ": keep-alive" in lines


@pytest.mark.parametrize("n", [1, 2])
def test_disconnect_stops_generation(slow_url: str, slow: ScriptedBackend, n: int) -> None:
    with httpx.stream("POST", f"{slow_url}/chat/completions", json={**BODY, "n": n}) as response:
        for seen, _ in enumerate(content_chunks(response), start=1):
            if seen == 3:
                break
        closed_at = time.monotonic()
    wait_until(lambda: slow.active == 0)
    after = [t for t in slow.stamps if t > closed_at]
    # Within one token's time: at most the token in flight per choice completes.
    assert len(after) <= n
    assert slow.closed == n
    assert slow.generated < 100


@dataclass
class LoopBackend(ScriptedBackend):
    """Also notes the server's event loop, so a test can look at generation from inside it."""

    loop: asyncio.AbstractEventLoop | None = None

    def generate(self, request: GenerationRequest, choice: int) -> AsyncIterator[GenerationEvent]:
        self.loop = asyncio.get_running_loop()
        return super().generate(request, choice)

    def stalled_at(self) -> int | None:
        """`generated` if it did not move while the server's loop went round many times.

        Unthrottled, this backend makes a token every round or two, so no progress over
        `settle()`'s rounds means its consumer is blocked on something outside the loop.
        """

        async def probe() -> int | None:
            before = self.generated
            await settle()
            return before if self.generated == before else None

        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(probe(), self.loop).result(5)


@pytest.fixture
def fast() -> LoopBackend:
    return LoopBackend(length=10**8)


@pytest.fixture
def fast_url(fast: LoopBackend) -> Iterator[str]:
    with serve_app(create_app(fast)) as url:
        yield url


def test_slow_reader_pauses_generation(fast_url: str, fast: LoopBackend) -> None:
    port = int(fast_url.rsplit(":", 1)[1].split("/")[0])
    body = orjson.dumps(BODY)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        assert sock.recv(1024).startswith(b"HTTP/1.1 200")
        # Stop reading: socket buffers fill up, then the server must stop generating.
        wait_until(lambda: fast.generated > 0)
        wait_until(lambda: fast.stalled_at() is not None, timeout=30)
        paused_at = fast.generated
        assert fast.stalled_at() == paused_at  # and it stays paused
        assert paused_at < 200_000, "the server buffered far more than the socket holds"
        # Reading again resumes generation.
        sock.settimeout(5)
        for _ in range(200):
            sock.recv(65536)
        wait_until(lambda: fast.generated > paused_at)
    wait_until(lambda: fast.active == 0)


def test_shutdown_ends_open_requests_with_an_error() -> None:
    backend = ScriptedBackend(length=1000, delay=0.05)
    results: list[str] = []

    def request(stream: bool) -> None:
        response = httpx.post(
            f"{url}/chat/completions", json={**BODY, "stream": stream}, timeout=10
        )
        results.append(f"{response.status_code} {response.text}")

    with serve_app(create_app(backend), shutdown_grace=1) as url:
        threads = [threading.Thread(target=request, args=(s,)) for s in (True, False)]
        for thread in threads:
            thread.start()
        wait_until(lambda: backend.generated >= 4)
    for thread in threads:
        thread.join(10)
    assert len(results) == 2
    for result in results:
        assert "server_shutting_down" in result
    # The stream still ends as a well-formed event stream with the error as its last event.
    streamed = next(r for r in results if r.startswith("200"))
    assert streamed.rstrip().split("\n\n")[-1].startswith('data: {"error"')
    assert any(r.startswith("503") for r in results)
    assert backend.active == 0


def test_disconnect_stops_a_non_streamed_generation(slow_url: str, slow: ScriptedBackend) -> None:
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{slow_url}/chat/completions", json={**BODY, "stream": False}, timeout=0.3)
    closed_at = time.monotonic()
    wait_until(lambda: slow.closed == 1)
    assert len([t for t in slow.stamps if t > closed_at]) <= 1
    assert slow.active == 0

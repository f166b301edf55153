"""A small scripted backend and an in-thread uvicorn server for the HTTP layer's tests."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import uvicorn
from starlette.types import ASGIApp

from rillet.server.backends.base import (
    Finish,
    GenerationEvent,
    GenerationRequest,
    InvalidRequest,
    TextDelta,
    TokenLogprob,
    ToolCallDelta,
    ToolCallStart,
    TopLogprob,
)
from tests._wait import wait_until

WORDS = ("Once", " upon", " a", " time", ",", " a", " robot", " learned", " to", " sing", ".")


@dataclass
class ScriptedBackend:
    """Emits WORDS (cycled up to `length` tokens) or tool calls, and counts what it produced."""

    name: str = "scripted"
    length: int = len(WORDS)
    delay: float = 0.0  # seconds before each token
    fail_after: int | None = None  # raise RuntimeError after this many tokens
    reject: str | None = None  # raise InvalidRequest with this message before any token
    generated: int = 0
    closed: int = 0  # choices whose generator was closed or finished
    active: int = 0
    requests: list[GenerationRequest] = field(default_factory=list)
    stamps: list[float] = field(default_factory=list)  # time.monotonic() of each token

    def model_ids(self) -> list[str]:
        return ["scripted-1"]

    async def aclose(self) -> None:
        pass

    def generate(self, request: GenerationRequest, choice: int) -> AsyncIterator[GenerationEvent]:
        self.requests.append(request)
        return self._run(request, choice)

    async def _run(self, request: GenerationRequest, choice: int) -> AsyncIterator[GenerationEvent]:
        self.active += 1
        try:
            if self.reject is not None:
                raise InvalidRequest(self.reject, "response_format", "schema_unsatisfiable")
            if request.tool_mode != "none":
                async for event in self._calls(request):
                    yield event
                return
            text = ""
            count = 0
            limit = (
                self.length if request.max_tokens is None else min(self.length, request.max_tokens)
            )
            reason: str = "stop"
            for i in range(self.length):
                if i >= limit:
                    reason = "length"
                    break
                if self.delay:  # a slow model: pacing is the behaviour under test
                    await asyncio.sleep(self.delay)
                else:
                    await asyncio.sleep(0)
                if self.fail_after is not None and i >= self.fail_after:
                    raise RuntimeError("scripted failure")
                word = WORDS[i % len(WORDS)]
                if choice:
                    word = word.upper()
                if any(stop in text + word for stop in request.stop):
                    break
                text += word
                count += 1
                self.generated += 1
                self.stamps.append(time.monotonic())
                logprob = None
                if request.logprobs:
                    top = tuple(
                        TopLogprob(f"{word}{k}" if k else word, -0.1 * (k + 1))
                        for k in range(request.top_logprobs)
                    )
                    logprob = TokenLogprob(word, -0.1, top)
                yield TextDelta(word, logprob)
            yield Finish(reason, 7, count)  # type: ignore[arg-type]
        finally:
            self.active -= 1
            self.closed += 1

    async def _calls(self, request: GenerationRequest) -> AsyncIterator[GenerationEvent]:
        if request.tool_mode == "named":
            names = [request.tool_name or ""]
        elif request.parallel_tool_calls:
            names = [spec.name for spec in request.functions]
        else:
            names = [request.functions[0].name]
        for index, name in enumerate(names):
            yield ToolCallStart(index, f"call_{index}", name)
            for piece in ('{"location', '": "Tok', 'yo"}'):
                await asyncio.sleep(0)
                yield ToolCallDelta(index, piece)
        yield Finish("tool_calls", 7, 3 * len(names))


@contextlib.contextmanager
def serve_app(app: ASGIApp, shutdown_grace: int | None = None) -> Iterator[str]:
    """Run `app` on a free loopback port in a thread; yield the base URL (ending in /v1)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="critical", lifespan="on", timeout_graceful_shutdown=shutdown_grace
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), timeout=10)
    if not server.started:
        raise RuntimeError("test server did not start")
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def sse_data(text: str) -> list[str]:
    """The `data` payloads of a complete event stream, comments skipped."""
    payloads = []
    for block in text.split("\n\n"):
        lines = [line[6:] for line in block.split("\n") if line.startswith("data: ")]
        if lines:
            payloads.append("\n".join(lines))
    return payloads


def assert_openai_error(payload: object, status: int, response_status: int) -> None:
    """`payload` is exactly OpenAI's error shape and the status is the expected one."""
    assert response_status == status, payload
    assert isinstance(payload, dict) and set(payload) == {"error"}, payload
    error = payload["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str)
    assert "Traceback" not in error["message"]

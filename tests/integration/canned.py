"""A loopback HTTP/1.1 server that plays scripted answers, good and broken, over real sockets.

The first path segment picks the scenario (`base_url=f"{server.url}/<scenario>/v1"`), so
one server serves every test. Written on raw sockets so a test can cut a body mid-event,
reset a connection, or stall, exactly as a failing network or server would.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def chunk(
    index: int,
    content: str | None = None,
    finish: str | None = None,
    *,
    choice: int = 0,
    **extra: Any,
) -> dict[str, Any]:
    delta: dict[str, Any] = {} if content is None else {"content": content}
    if index == 0:
        delta["role"] = "assistant"
    return {
        "id": "chatcmpl-canned",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "canned-model",
        "system_fingerprint": "fp_canned",
        "choices": [{"index": choice, "delta": delta, "finish_reason": finish, "logprobs": None}],
        **extra,
    }


def sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def story(count: int) -> list[bytes]:
    """A well-formed stream: `count` content chunks, a finishing chunk, [DONE]."""
    events = [sse(chunk(i, f"w{i} ")) for i in range(count)]
    events.append(sse(chunk(count, None, "stop")))
    events.append(b"data: [DONE]\n\n")
    return events


Handler = Callable[["Connection", Request], bool]


@dataclass
class Connection:
    sock: socket.socket

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def head(self, status: int, headers: dict[str, str]) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode())

    def whole(
        self, status: int, body: bytes, content_type: str = "application/json", **headers: str
    ) -> None:
        extra = {k.replace("_", "-"): v for k, v in headers.items()}
        self.head(status, {"content-type": content_type, "content-length": str(len(body)), **extra})
        self.send(body)

    def json(self, status: int, obj: Any, **headers: str) -> None:
        self.whole(status, json.dumps(obj).encode(), **headers)

    def start_sse(self, **headers: str) -> None:
        extra = {k.replace("_", "-"): v for k, v in headers.items()}
        self.head(
            200,
            {
                "content-type": "text/event-stream",
                "transfer-encoding": "chunked",
                "x-request-id": "req_canned",
                **extra,
            },
        )

    def piece(self, data: bytes) -> None:
        """One chunk of a chunked body."""
        self.send(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def end(self) -> None:
        self.send(b"0\r\n\r\n")

    def reset(self) -> None:
        """Abort with a TCP RST instead of an orderly close."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass
class CannedServer:
    scenarios: dict[str, Handler] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    open_connections: int = 0

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.listen(256)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def base_url(self, scenario: str) -> str:
        return f"{self.url}/{scenario}/v1"

    def count(self, scenario: str) -> int:
        return sum(1 for r in self.requests if r.path.startswith(f"/{scenario}/"))

    def close(self) -> None:
        self._stopping = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopping:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        with self._lock:
            self.open_connections += 1
        reader = sock.makefile("rb")
        try:
            while True:
                request = _read_request(reader)
                if request is None:
                    return
                with self._lock:
                    self.requests.append(request)
                name = request.path.strip("/").split("/", 1)[0]
                handler = self.scenarios.get(name)
                conn = Connection(sock)
                if handler is None:
                    conn.json(404, {"error": {"message": f"no scenario {name}", "type": "x"}})
                    continue
                if not handler(conn, request):
                    return
        except OSError:
            return
        finally:
            with self._lock:
                self.open_connections -= 1
            with contextlib.suppress(OSError):
                reader.close()
                sock.close()


def _read_request(reader: Any) -> Request | None:
    line = reader.readline()
    if not line:
        return None
    method, target, _ = line.decode().split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        raw = reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        key, _, value = raw.decode().partition(":")
        headers[key.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length", "0") or 0))
    path, _, query = target.partition("?")
    return Request(method, path, query, headers, body)


def stream_events(events: list[bytes], *, delay: float = 0.0) -> Handler:
    """A scenario that streams `events` as chunked-body pieces and keeps the connection."""

    def handler(conn: Connection, request: Request) -> bool:
        conn.start_sse()
        for event in events:
            conn.piece(event)
            if delay:  # a slow server: the pace is the behaviour under test
                time.sleep(delay)
        conn.end()
        return True

    return handler


@contextlib.contextmanager
def canned_server(scenarios: dict[str, Handler]) -> Iterator[CannedServer]:
    server = CannedServer(scenarios)
    try:
        yield server
    finally:
        server.close()

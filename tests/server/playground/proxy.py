"""A loopback HTTP/1.1 proxy that cuts the playground's event streams the way a network does.

A browser keeps its connections alive and sends the page, the model list and the streams
over the same few of them, so a plan per connection would cut the wrong answer. This proxy
looks at the requests instead: the n-th stream request it relays (a streamed chat or
Responses POST, or a reattaching `GET /v1/responses/{id}?stream=true`) gets `plan[n]`, the
number of answer bytes it may pass before both sides of the connection are closed (None:
relay all). Closing mid-body is what a dropped connection looks like to `fetch`: the body's
reader fails with a network error.

`strip_resumable` also drops the server's `X-Rillet-Resumable: 1` answer header, which makes
the server look like one that cannot resume a stream.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Iterator, Sequence

REQUEST_LINE = re.compile(rb"[A-Z]+ /\S* HTTP/1\.1\r\n")
STREAM_REQUEST = re.compile(
    rb"(?:POST /v1/chat/completions|POST /v1/responses|GET /v1/responses/[^ ]*stream=true[^ ]*)"
    rb" HTTP/1\.1\r\n"
)
RESUMABLE_HEADER = re.compile(rb"\r\nx-rillet-resumable: *1", re.IGNORECASE)


class CutProxy:
    """Relays 127.0.0.1:<port> to `upstream`, cutting stream answers as `plan` says.

    `streams` counts the stream requests seen, `cuts` the connections it cut.
    """

    def __init__(
        self,
        upstream: tuple[str, int],
        plan: Sequence[int | None],
        *,
        strip_resumable: bool = False,
    ) -> None:
        self.upstream = upstream
        self.plan = list(plan)
        self.strip_resumable = strip_resumable
        self.streams = 0
        self.cuts = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._open.update((client, server))
            Connection(self, client, server).start()

    def next_budget(self) -> int | None:
        """The byte budget of the stream request just seen (None: not cut)."""
        with self._lock:
            number = self.streams
            self.streams += 1
        return self.plan[number] if number < len(self.plan) else None

    def forget(self, *sockets: socket.socket) -> None:
        with self._lock:
            for sock in sockets:
                self._open.discard(sock)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def __enter__(self) -> CutProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            sockets = list(self._open)
        self.forget(*sockets)
        self._thread.join(5)


class Connection:
    """One browser connection and its upstream twin, relayed by two threads."""

    def __init__(self, proxy: CutProxy, client: socket.socket, server: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.server = server
        self.budget: int | None = None  # answer bytes the current stream may still pass
        self.lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self._requests, daemon=True).start()
        threading.Thread(target=self._answers, daemon=True).start()

    def _requests(self) -> None:
        with contextlib.suppress(OSError):
            while data := self.client.recv(65536):
                if REQUEST_LINE.match(data):  # a new request: its answer's budget
                    stream = STREAM_REQUEST.match(data) is not None
                    with self.lock:
                        self.budget = self.proxy.next_budget() if stream else None
                self.server.sendall(data)
        self.proxy.forget(self.client, self.server)

    def _answers(self) -> None:
        with contextlib.suppress(OSError):
            while data := self.server.recv(65536):
                if self.proxy.strip_resumable:
                    data = RESUMABLE_HEADER.sub(b"", data)
                with self.lock:
                    budget = self.budget
                    if budget is not None:
                        self.budget = budget - len(data)
                if budget is not None and len(data) >= budget:
                    self.client.sendall(data[: max(budget, 0)])
                    with self.proxy._lock:
                        self.proxy.cuts += 1
                    break
                self.client.sendall(data)
        self.proxy.forget(self.client, self.server)


@contextlib.contextmanager
def cut_proxy(
    page_url: str, plan: Sequence[int | None], *, strip_resumable: bool = False
) -> Iterator[tuple[str, CutProxy]]:
    """A proxy in front of the server at `page_url` (…/): (the page's URL through it, proxy)."""
    host, _, port = page_url.split("//", 1)[1].rstrip("/").partition(":")
    with CutProxy((host, int(port)), plan, strip_resumable=strip_resumable) as proxy:
        yield f"http://127.0.0.1:{proxy.port}/", proxy

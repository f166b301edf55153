"""rillet's HTTP/1.1 transports over real loopback sockets, sync and async alike.

Each test is written once against `Driver`, which runs it through `httpx.Client` on
`HTTP11Transport` or `httpx.AsyncClient` on `AsyncHTTP11Transport`. Scenarios that must
show which connection served a request answer with the client's port.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import rillet
import rillet._transports.http11 as rillet_http11
from rillet._transports.http11 import AsyncHTTP11Transport, HTTP11Transport
from rillet._transports.wire import encode_chunk
from tests._wait import wait_until, wait_until_async
from tests.integration.canned import CannedServer, Connection, Handler, Request, canned_server

KINDS = ("sync", "async")
# Set by a test once its client has read what comes first; the handler then goes on.
PORT_READ = threading.Event()  # short-stream
HEAD_READ = threading.Event()  # reset
CUE_TIMEOUT = 5.0  # a handler whose test failed before its cue goes on after this


def _port(conn: Connection) -> bytes:
    return str(conn.sock.getpeername()[1]).encode()


def _hello(conn: Connection, request: Request) -> bool:
    conn.whole(200, _port(conn), "text/plain")
    return True


def _close(conn: Connection, request: Request) -> bool:
    conn.whole(200, _port(conn), "text/plain", connection="close")
    return False


def _then_hang_up(conn: Connection, request: Request) -> bool:
    """Answers as if keeping the connection, then closes it while it idles."""
    conn.whole(200, _port(conn), "text/plain")
    return False


def _echo(conn: Connection, request: Request) -> bool:
    conn.whole(200, request.method.encode() + b" " + request.body, "text/plain")
    return True


def _stream(conn: Connection, request: Request) -> bool:
    conn.head(200, {"transfer-encoding": "chunked"})
    try:
        conn.piece(_port(conn) + b"\n")
        for _ in range(2000):
            conn.piece(b"x" * 100)
        conn.end()
    except OSError:
        return False
    return True


def _short_stream(conn: Connection, request: Request) -> bool:
    """The port first; once it was read, the last events and the end of the body, together."""
    conn.head(200, {"transfer-encoding": "chunked"})
    conn.piece(_port(conn) + b"\n")
    PORT_READ.wait(CUE_TIMEOUT)
    PORT_READ.clear()
    conn.send(encode_chunk(b"a") + encode_chunk(b"b") + b"0\r\n\r\n")
    return True


def _stall_head(conn: Connection, request: Request) -> bool:
    time.sleep(1.0)  # the stall is the behaviour under test: read timeouts of 0.2 s fire
    conn.whole(200, b"late", "text/plain")
    return True


def _stall_body(conn: Connection, request: Request) -> bool:
    conn.head(200, {"transfer-encoding": "chunked"})
    conn.piece(b"first")
    time.sleep(1.0)  # the stall is the behaviour under test, as in _stall_head
    conn.piece(b"second")
    conn.end()
    return True


def _reset(conn: Connection, request: Request) -> bool:
    """A reset mid-body: after the head and a piece, once the client has read the head."""
    conn.head(200, {"transfer-encoding": "chunked"})
    conn.piece(b"first")
    HEAD_READ.wait(CUE_TIMEOUT)
    HEAD_READ.clear()
    conn.reset()
    return False


def _gzip_framing(conn: Connection, request: Request) -> bool:
    conn.head(200, {"transfer-encoding": "gzip"})
    return False


def _nothing(conn: Connection, request: Request) -> bool:
    return False  # closes without answering


class StaleKeepAlive:
    """Every request is answered with the client's port and `Connection: keep-alive`.

    The first connection, once answered, idles until `close_now` is set; the server then
    closes it without a word, as a server whose keep-alive timeout ran out does, and sets
    `closed`. A request written to it is never read: `requests` counts the ones answered.
    With `cut`, the second request (on the first connection) gets part of a response head
    before the close instead.
    """

    def __init__(self, *, cut: bool = False) -> None:
        self.cut = cut
        self.close_now = threading.Event()
        self.closed = threading.Event()
        self.requests = 0
        self._lock = threading.Lock()

    def __call__(self, conn: Connection, request: Request) -> bool:
        with self._lock:
            self.requests += 1
            count = self.requests
        if self.cut and count == 2:
            conn.send(b"HTTP/1.1 200 OK\r\ncontent-le")  # some of an answer, then the close
            return self._hang_up(conn)
        conn.whole(200, _port(conn), "text/plain", connection="keep-alive")
        if count > 1 or self.cut:
            return True
        self.close_now.wait(CUE_TIMEOUT)
        return self._hang_up(conn)

    def _hang_up(self, conn: Connection) -> bool:
        conn.sock.shutdown(socket.SHUT_RDWR)  # the FIN goes now (the serve loop closes later)
        self.closed.set()
        return False


_dynamic = iter(range(1_000_000))


def _install(server: CannedServer, handler: Handler) -> str:
    name = f"dyn{next(_dynamic)}"
    server.scenarios[name] = handler
    return name


def _close_after_the_poll(monkeypatch: pytest.MonkeyPatch, stale: StaleKeepAlive) -> None:
    """The stale keep-alive race, made deterministic: the pool's check of an idle connection
    (`is_clean`) runs and finds it open, and only then does the server close it, before the
    request is written. The client cannot have noticed: its look came first."""
    for kind in (rillet_http11._SyncConnection, rillet_http11._AsyncConnection):

        def is_clean(conn: Any, original: Callable[[Any], bool] = kind.is_clean) -> bool:
            clean = original(conn)
            stale.close_now.set()
            assert stale.closed.wait(CUE_TIMEOUT), "the server did not close"
            return clean

        monkeypatch.setattr(kind, "is_clean", is_clean)


SCENARIOS: dict[str, Handler] = {
    "hello": _hello,
    "close": _close,
    "hang-up": _then_hang_up,
    "echo": _echo,
    "stream": _stream,
    "short-stream": _short_stream,
    "stall-head": _stall_head,
    "stall-body": _stall_body,
    "reset": _reset,
    "gzip-framing": _gzip_framing,
    "nothing": _nothing,
}


@pytest.fixture(scope="module")
def server() -> Iterator[CannedServer]:
    with canned_server(SCENARIOS) as running:
        yield running


class Driver:
    """One test body for both kinds of client: every call is awaited either way."""

    def __init__(self, kind: str, **options: Any) -> None:
        self.kind = kind
        limits = options.pop("limits", httpx.Limits())
        verify = options.pop("verify", True)
        if kind == "sync":
            self.transport: Any = HTTP11Transport(limits=limits, verify=verify)
            self.http: Any = httpx.Client(transport=self.transport, **options)
        else:
            self.transport = AsyncHTTP11Transport(limits=limits, verify=verify)
            self.http = httpx.AsyncClient(transport=self.transport, **options)

    async def _call(self, value: Any) -> Any:
        return await value if self.kind == "async" else value

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response: httpx.Response = await self._call(self.http.request(method, url, **kwargs))
        return response

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def open(self, url: str, **kwargs: Any) -> httpx.Response:
        """A response whose body is not read yet."""
        request = self.http.build_request("GET", url, **kwargs)
        response: httpx.Response = await self._call(self.http.send(request, stream=True))
        return response

    async def first_piece(self, response: httpx.Response) -> bytes:
        """The body's first piece; the iterator is kept, so the body is not closed by it."""
        if self.kind == "async":
            self._pieces: Any = response.aiter_raw()
            piece: bytes = await self._pieces.__anext__()
            return piece
        self._pieces = response.iter_raw()
        return next(self._pieces)  # type: ignore[no-any-return]

    async def read(self, response: httpx.Response) -> bytes:
        if self.kind == "async":
            return await response.aread()
        return response.read()

    async def wait_until(self, condition: Callable[[], object]) -> None:
        """The async client's socket is read only while its loop runs: let it run meanwhile."""
        if self.kind == "async":
            await wait_until_async(condition)
        else:
            wait_until(condition)

    async def wait_for_body_end(self, response: httpx.Response, end: bytes) -> None:
        """Until the body up to `end` is at the client: in its connection's buffer, or (the
        sync client reads only when asked) in its socket."""
        conn = response.stream._stream._conn  # type: ignore[attr-defined]  # httpx's wrapper

        def arrived() -> bool:
            if conn.buffer.endswith(end):
                return True
            if self.kind == "async":
                return False
            try:
                waiting = conn._sock.recv(65536, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                return False
            return bool(waiting.endswith(end))

        await self.wait_until(arrived)

    def idle_connections(self) -> list[Any]:
        return list(self.transport._pool._slots.idle)

    async def close_response(self, response: httpx.Response) -> None:
        if self.kind == "async":
            await response.aclose()
        else:
            response.close()

    async def close(self) -> None:
        if self.kind == "async":
            await self.http.aclose()
        else:
            self.http.close()


@pytest.fixture(params=KINDS)
async def driver(request: pytest.FixtureRequest) -> AsyncIterator[Driver]:
    made = Driver(request.param)
    yield made
    await made.close()


@contextlib.asynccontextmanager
async def _driver(kind: str, **options: Any) -> AsyncIterator[Driver]:
    made = Driver(kind, **options)
    try:
        yield made
    finally:
        await made.close()


async def test_keep_alive_serves_requests_on_one_connection(
    server: CannedServer, driver: Driver
) -> None:
    first = await driver.get(f"{server.url}/hello/")
    second = await driver.get(f"{server.url}/hello/")
    assert first.status_code == 200 and first.reason_phrase == "OK"
    assert first.http_version == "HTTP/1.1"
    assert first.headers["content-type"] == "text/plain"
    assert first.content == second.content  # the same client port


async def test_connection_close_is_honoured(server: CannedServer, driver: Driver) -> None:
    first = await driver.get(f"{server.url}/close/")
    second = await driver.get(f"{server.url}/close/")
    assert first.content != second.content


async def test_a_connection_the_server_closed_while_idle_is_replaced(
    server: CannedServer, driver: Driver
) -> None:
    first = await driver.get(f"{server.url}/hang-up/")
    # Until the server's close has reached the idle connection (else reusing it is a race).
    await driver.wait_until(lambda: not any(c.is_clean() for c in driver.idle_connections()))
    second = await driver.get(f"{server.url}/hello/")
    assert second.status_code == 200 and second.content != first.content


async def test_request_bodies_and_methods(server: CannedServer, driver: Driver) -> None:
    posted = await driver.request("POST", f"{server.url}/echo/", json={"a": 1})
    assert posted.content == b'POST {"a":1}'
    deleted = await driver.request("DELETE", f"{server.url}/echo/")
    assert deleted.content == b"DELETE "


@pytest.mark.parametrize("kind", KINDS)
async def test_closing_a_response_mid_body_drops_its_connection(
    server: CannedServer, kind: str
) -> None:
    async with _driver(kind, limits=httpx.Limits(max_connections=1)) as driver:
        response = await driver.open(f"{server.url}/stream/")
        port = (await driver.first_piece(response)).strip()
        await driver.close_response(response)
        after = await driver.get(f"{server.url}/hello/", timeout=httpx.Timeout(5.0, pool=1.0))
        assert after.content != port  # a new connection, not the half-read one


async def test_closing_once_the_whole_body_has_arrived_keeps_the_connection(
    server: CannedServer, driver: Driver
) -> None:
    """Streams close right after their last event; the end of the body is then already here."""
    response = await driver.open(f"{server.url}/short-stream/")
    port = (await driver.first_piece(response)).split(b"\n")[0]
    PORT_READ.set()
    await driver.wait_for_body_end(response, b"0\r\n\r\n")
    await driver.close_response(response)
    after = await driver.get(f"{server.url}/hello/")
    assert after.content == port


@pytest.mark.parametrize("kind", KINDS)
async def test_a_body_read_to_the_end_gives_its_connection_back(
    server: CannedServer, kind: str
) -> None:
    async with _driver(kind, limits=httpx.Limits(max_connections=1)) as driver:
        response = await driver.open(f"{server.url}/stream/")
        body = await driver.read(response)
        assert len(body) == body.index(b"\n") + 1 + 2000 * 100
        after = await driver.get(f"{server.url}/hello/", timeout=httpx.Timeout(5.0, pool=1.0))
        assert after.content == body.split(b"\n")[0]


@pytest.mark.parametrize("kind", KINDS)
async def test_max_connections_makes_requests_wait_for_the_pool(
    server: CannedServer, kind: str
) -> None:
    limits = httpx.Limits(max_connections=1)
    async with _driver(kind, limits=limits, timeout=httpx.Timeout(5.0, pool=0.2)) as driver:
        held = await driver.open(f"{server.url}/stream/")
        with pytest.raises(httpx.PoolTimeout):
            await driver.get(f"{server.url}/hello/")
        await driver.close_response(held)
        assert (await driver.get(f"{server.url}/hello/")).status_code == 200


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "limits",
    [
        httpx.Limits(max_keepalive_connections=0),
        httpx.Limits(keepalive_expiry=0.05),
    ],
)
async def test_keepalive_limits(server: CannedServer, kind: str, limits: httpx.Limits) -> None:
    async with _driver(kind, limits=limits) as driver:
        first = await driver.get(f"{server.url}/hello/")
        time.sleep(0.1)  # past keepalive_expiry: the time passing is the behaviour under test
        second = await driver.get(f"{server.url}/hello/")
        assert first.content != second.content


async def test_read_timeout_before_the_head(server: CannedServer, driver: Driver) -> None:
    with pytest.raises(httpx.ReadTimeout):
        await driver.get(f"{server.url}/stall-head/", timeout=httpx.Timeout(5.0, read=0.2))


async def test_read_timeout_changed_after_the_head_applies_to_the_body(
    server: CannedServer, driver: Driver
) -> None:
    """As `_send.start_stream` arms the idle timeout: by mutating the request's dict."""
    response = await driver.open(f"{server.url}/stall-body/", timeout=httpx.Timeout(5.0))
    response.request.extensions["timeout"]["read"] = 0.2
    with pytest.raises(httpx.ReadTimeout):
        await driver.read(response)
    # Left alone, the same stall is waited out.
    whole = await driver.get(f"{server.url}/stall-body/", timeout=httpx.Timeout(5.0))
    assert whole.content == b"firstsecond"


async def test_a_reset_mid_body_is_a_read_error(server: CannedServer, driver: Driver) -> None:
    response = await driver.open(f"{server.url}/reset/")
    HEAD_READ.set()
    with pytest.raises(httpx.ReadError):
        await driver.read(response)


async def test_no_answer_at_all_is_a_protocol_error(server: CannedServer, driver: Driver) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        await driver.get(f"{server.url}/nothing/")


async def test_a_failed_fresh_connection_is_not_sent_again(
    server: CannedServer, driver: Driver
) -> None:
    before = server.count("nothing")
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        await driver.get(f"{server.url}/nothing/")
    assert server.count("nothing") == before + 1  # the server may have seen it: not again


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_request_on_a_connection_closed_after_the_poll_is_sent_again(
    server: CannedServer, driver: Driver, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    """The server closed the pooled connection before any byte of an answer: the request
    goes once more, on a new connection, whatever its method."""
    stale = StaleKeepAlive()
    url = f"{server.url}/{_install(server, stale)}/"
    first = await driver.request(method, url, content=b"{}")
    assert len(driver.idle_connections()) == 1
    _close_after_the_poll(monkeypatch, stale)
    second = await driver.request(method, url, content=b"{}")
    assert stale.closed.is_set()
    assert second.status_code == 200 and second.content != first.content  # a new connection
    assert stale.requests == 2  # the one written to the closed connection never arrived


async def test_a_connection_that_dies_mid_answer_is_not_sent_again(
    server: CannedServer, driver: Driver
) -> None:
    """Part of a response head arrived: the server had begun to answer; that is raised."""
    stale = StaleKeepAlive(cut=True)
    url = f"{server.url}/{_install(server, stale)}/"
    await driver.get(url)
    with pytest.raises(httpx.RemoteProtocolError):
        await driver.get(url)  # on the pooled connection, which gets some bytes, then a close
    assert stale.requests == 2


async def test_a_streamed_request_body_is_not_sent_again(
    server: CannedServer, driver: Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body the caller streams is spent by the first try, so it cannot go again."""
    stale = StaleKeepAlive()
    url = f"{server.url}/{_install(server, stale)}/"
    await driver.get(url)
    _close_after_the_poll(monkeypatch, stale)

    def pieces() -> Iterator[bytes]:
        yield b"{}"

    async def apieces() -> AsyncIterator[bytes]:
        yield b"{}"

    body = pieces() if driver.kind == "sync" else apieces()
    with pytest.raises((httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)):
        await driver.request("POST", url, content=body)
    assert stale.requests == 1


@pytest.mark.parametrize("kind", KINDS)
def test_a_stale_pooled_connection_with_max_retries_0(
    server: CannedServer, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through rillet's client, with no retries allowed: the re-send is the transport's."""
    stale = StaleKeepAlive()
    base_url = f"{server.url}/{_install(server, stale)}/v1"
    settings: dict[str, Any] = {"api_key": "k", "base_url": base_url, "max_retries": 0}

    def post(client: Any) -> Any:
        return client.post("/chat/completions", cast_to=httpx.Response, body={"model": "m"})

    def run() -> tuple[bytes, bytes]:
        with rillet.OpenAI(**settings) as client:
            first = post(client).content
            _close_after_the_poll(monkeypatch, stale)
            return first, post(client).content

    async def arun() -> tuple[bytes, bytes]:
        async with rillet.AsyncOpenAI(**settings) as client:
            first = (await post(client)).content
            _close_after_the_poll(monkeypatch, stale)
            return first, (await post(client)).content

    first, second = run() if kind == "sync" else asyncio.run(arun())
    assert stale.closed.is_set()
    assert second != first  # answered on a new connection
    assert stale.requests == 2


async def test_unknown_response_framing_is_refused(server: CannedServer, driver: Driver) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match="Transfer-Encoding"):
        await driver.get(f"{server.url}/gzip-framing/")


async def test_refused_connection_is_a_connect_error(driver: Driver) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        await driver.get(f"http://127.0.0.1:{port}/")


async def test_expect_goes_to_httpx_own_transport(server: CannedServer, driver: Driver) -> None:
    response = await driver.request(
        "POST", f"{server.url}/echo/", content=b"hi", headers={"expect": "100-continue"}
    )
    assert response.content == b"POST hi"
    assert "network_stream" in response.extensions  # set by httpx's own transport, not ours


# -- what the canned server cannot do: chunked uploads, TLS --------------------------------


@contextlib.contextmanager
def _one_shot(handle: Any, wrap: ssl.SSLContext | None = None) -> Iterator[int]:
    """A listener that serves one connection with `handle(sock)` on a thread."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with contextlib.suppress(OSError):
            sock, _ = listener.accept()
            if wrap is not None:
                sock = wrap.wrap_socket(sock, server_side=True)
            with sock:
                handle(sock)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        thread.join(5)


def _read_until(sock: socket.socket, end: bytes) -> bytes:
    data = b""
    while end not in data:
        more = sock.recv(65536)
        if not more:
            break
        data += more
    return data


@pytest.mark.parametrize("kind", KINDS)
async def test_a_body_of_unknown_length_is_sent_chunked(kind: str) -> None:
    received: list[bytes] = []

    def handle(sock: socket.socket) -> None:
        received.append(_read_until(sock, b"0\r\n\r\n"))
        sock.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")

    def pieces() -> Iterator[bytes]:
        yield b"hello "
        yield b"world"

    async def apieces() -> AsyncIterator[bytes]:
        for piece in pieces():
            yield piece

    with _one_shot(handle) as port:
        async with _driver(kind) as driver:
            body = pieces() if kind == "sync" else apieces()
            response = await driver.request("POST", f"http://127.0.0.1:{port}/up", content=body)
    assert response.content == b"ok"
    head, _, sent = received[0].partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert sent == b"6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.parametrize("kind", KINDS)
async def test_https(kind: str, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)

    def handle(sock: socket.socket) -> None:
        _read_until(sock, b"\r\n\r\n")
        sock.sendall(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\nsecure\r\n0\r\n\r\n"
        )

    trust = ssl.create_default_context(cafile=str(cert))
    with _one_shot(handle, server_side) as port:
        async with _driver(kind, verify=trust) as driver:
            response = await driver.get(f"https://localhost:{port}/")
    assert response.content == b"secure"


@pytest.mark.parametrize("kind", KINDS)
async def test_https_refuses_an_untrusted_certificate(
    kind: str, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    with _one_shot(lambda sock: None, server_side) as port:
        async with _driver(kind) as driver:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await driver.get(f"https://localhost:{port}/")


def test_an_async_client_outlives_its_event_loop(server: CannedServer) -> None:
    """Connections made under one `asyncio.run` are not reused under the next."""
    http = httpx.AsyncClient(transport=AsyncHTTP11Transport())

    async def port() -> bytes:
        return (await http.get(f"{server.url}/hello/")).content

    first = asyncio.run(port())
    second = asyncio.run(port())
    assert first != second
    asyncio.run(http.aclose())


async def test_off_asyncio_requests_go_to_httpx_own_transport(
    server: CannedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under trio (which httpx supports too) there is no asyncio loop to run on."""
    monkeypatch.setattr(rillet_http11, "_on_asyncio", lambda: False)
    async with _driver("async") as driver:
        response = await driver.get(f"{server.url}/hello/")
        assert response.status_code == 200
        assert "network_stream" in response.extensions  # set by httpx's own transport only

"""HTTP/1.1 transports for httpx whose response bodies cost little per chunk.

`HTTP11Transport` (sync sockets) and `AsyncHTTP11Transport` (an asyncio protocol) plug
into `httpx.Client` / `httpx.AsyncClient`. Framing and pool decisions live in
`rillet._transports.wire` and `rillet._transports.pool`; this module only moves bytes, maps socket
failures to httpx's exceptions, and hands requests it does not cover (another scheme,
`Expect`, `Upgrade`, an async library other than asyncio) to httpx's own transport.
Failures are httpx's exception types, so code above cannot tell the transports apart
except by speed: a body is decoded as many chunks at a time as one socket read brings.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import ssl
import threading
import time
import urllib.request
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Generic, Protocol, TypeVar

import httpx

from rillet._constants import DEFAULT_CONNECTION_LIMITS
from rillet._transports.pool import Grant, Origin, Pooled, PoolSlots
from rillet._transports.wire import (
    BodyDecoder,
    ResponseHead,
    body_decoder,
    encode_chunk,
    encode_request_head,
    keeps_alive,
    parse_response_head,
)

__all__ = ["AsyncHTTP11Transport", "HTTP11Transport", "env_proxies_set"]

READ_SIZE = 64 * 1024
HIGH_WATER = 1024 * 1024  # async: stop reading the socket while this much waits unparsed
# Closing a response early reads on through at most this much that has already arrived:
# when the body's end is among it (streams close just after `[DONE]`, a few bytes before
# the end of the body), the connection is clean and goes back to the pool.
SETTLE_BYTES = 64 * 1024
_DEFAULT_PORTS = {b"http": 80, b"https": 443}
_Timeouts = dict[str, float | None]
_TLS = Callable[[], ssl.SSLContext]  # the transport's TLS context, made on first use
_Lock = contextlib.AbstractContextManager[Any]


def env_proxies_set() -> bool:
    """Whether the environment names a proxy; httpx then needs its own transport to use it."""
    return any(key != "no" for key in urllib.request.getproxies())


def _needs_fallback(request: httpx.Request) -> bool:
    headers = request.headers
    return (
        request.url.raw_scheme not in _DEFAULT_PORTS
        or "expect" in headers
        or "upgrade" in headers
        or ("transfer-encoding" in headers and _is_chunked(request) is None)
    )


def _is_chunked(request: httpx.Request) -> bool | None:
    """Whether the request body goes chunked; None for a coding these transports don't send."""
    coding = request.headers.get("transfer-encoding")
    if coding is None:
        return False
    return True if coding.strip().lower() == "chunked" else None


def _on_asyncio() -> bool:
    """httpx also runs on trio; this transport only on asyncio."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _origin(url: httpx.URL) -> Origin:
    return (url.raw_scheme, url.raw_host, url.port or _DEFAULT_PORTS[url.raw_scheme])


def _request_head(request: httpx.Request) -> bytes:
    return encode_request_head(
        request.method.encode("ascii"), request.url.raw_path, request.headers.raw
    )


def _response(
    head: ResponseHead, stream: httpx.SyncByteStream | httpx.AsyncByteStream
) -> httpx.Response:
    return httpx.Response(
        head.status,
        headers=head.headers,
        stream=stream,
        extensions={"http_version": head.version, "reason_phrase": head.reason},
    )


def _readable(sock: Any) -> bool:
    """Whether an idle socket has something to read: data, or the peer's close."""
    try:
        if hasattr(select, "poll"):  # unlike select(), not limited to small descriptors
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def _discard(decoder: BodyDecoder, buffer: bytearray, budget: int) -> int:
    """Decode and drop what `buffer` holds of the body, up to about `budget` bytes; returns
    the budget left."""
    try:
        while budget > 0 and not decoder.done and (data := decoder.decode(buffer)):
            budget -= len(data)
    except httpx.RemoteProtocolError:
        return 0  # bad framing: the connection cannot be reused
    return budget


def _connect_error(exc: OSError) -> httpx.ConnectError | httpx.ConnectTimeout:
    if isinstance(exc, TimeoutError):
        return httpx.ConnectTimeout(str(exc) or "Timed out while connecting.")
    return httpx.ConnectError(str(exc))


def _no_response() -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError("Server disconnected without sending a response.")


def _pool_timeout() -> httpx.PoolTimeout:
    return httpx.PoolTimeout("Timed out waiting for a free connection.")


def _deadline(timeouts: _Timeouts) -> float | None:
    """When waiting for a connection must end (`time.monotonic`), if ever."""
    wait = timeouts.get("pool")
    return None if wait is None else time.monotonic() + wait


def _upload(request: httpx.Request) -> tuple[bytes, bool | None]:
    """The first write of a request, and how its body follows: None when that write holds
    all of it (the usual JSON body: one write), else whether the rest goes chunked."""
    head = _request_head(request)
    chunked = bool(_is_chunked(request))
    if isinstance(request.stream, httpx.ByteStream) and not chunked:
        return head + request.content, None
    return head, chunked


def _framed(piece: bytes, chunked: bool) -> bytes:
    return encode_chunk(piece) if chunked else piece


_LAST_CHUNK = b"0\r\n\r\n"

# How a connection the server had closed fails a request: the write fails, or the read
# meets the server's FIN (`_no_response`) or RST. Timeouts are not among them.
_STALE_ERRORS = (httpx.WriteError, httpx.ReadError, httpx.RemoteProtocolError)


def _resend(exc: BaseException, reused: bool, answered: bool, request: httpx.Request) -> bool:
    """Whether a request that failed with `exc` is sent once more, on a fresh connection.

    This is the stale keep-alive race: the server closes an idle keep-alive connection (its
    idle timeout ran out) just as the pool hands it out, after the check for a close (see
    `is_clean`) found none; the request goes into a socket the server has shut and its FIN
    or RST comes back instead of an answer. Browsers send such a request again on a new
    connection, as do urllib3 (for idempotent methods) and Go's net/http (idempotent, or
    nothing written); rillet's transports do so whatever `max_retries` says (the send loop's
    retries, with their waits, are for a server's failures; this one is the transport's own
    and immediate), when all of these hold:

    - the connection was reused from the pool: on a fresh one the same failure is the
      server refusing this request, and it is raised;
    - not one byte of the response had arrived (`answered`): the server never began to
      answer, where a response cut short is the server's failure and is raised;
    - the failure is the connection's (`_STALE_ERRORS`), not a timeout or a local error;
    - the body can be sent again: bytes in memory, as every API call has, not a stream;
    - once: the second attempt is on a fresh connection, so its failure is raised.

    For any method, not only the idempotent ones urllib3 re-sends (POST is not among its
    `Retry.allowed_methods`, and Go's net/http re-sends a written POST only if it carries
    an `Idempotency-Key`): nearly every API call is a POST, and that rule would leave them
    exposed to exactly the race it is meant to absorb. With no byte of answer, the server
    provably did not answer; what it cannot prove is that no application read the request
    (a server that reads one and then dies without a byte of answer looks the same), so
    such a POST may be run twice. That is the trade-off made here: at most one repeat,
    and only on a reused connection whose close was already racing the request.
    """
    return (
        reused
        and not answered
        and isinstance(exc, _STALE_ERRORS)
        and isinstance(request.stream, httpx.ByteStream)
    )


# -- both kinds: pool, body and transport logic, without I/O ---------------------------------


class _Conn(Pooled, Protocol):
    """What the shared code asks of a connection, sync or async."""

    buffer: bytearray

    def is_clean(self) -> bool: ...

    def close(self) -> None: ...


Conn = TypeVar("Conn", bound=_Conn)


class _Pool(Generic[Conn]):
    """The pool logic both kinds share around one `PoolSlots`: reuse, give back, drop, close.

    `_lock` guards the slots (a real lock for sync, none needed on one event loop) and
    `_notify` tells one waiter that a slot or connection may be free; only acquiring, which
    waits, is written for each kind.
    """

    def __init__(self, limits: httpx.Limits, tls: _TLS, lock: _Lock) -> None:
        self._slots: PoolSlots[Conn] = PoolSlots(limits)
        self._tls = tls
        self._lock = lock

    def _notify(self) -> None:
        raise NotImplementedError

    def _reuse(self, conn: Conn | None, doomed: list[Conn]) -> Conn | None:
        """After a checkout: close what it doomed; the idle connection it gave, if clean."""
        for old in doomed:
            old.close()
        if conn is not None:
            if conn.is_clean():
                return conn
            self.drop(conn)
        return None

    @contextlib.contextmanager
    def _opening(self) -> Iterator[None]:
        """Around connecting in a slot checkout reserved: a failure frees the slot."""
        try:
            yield
        except BaseException:
            self._forget()
            raise

    def release(self, conn: Conn, reusable: bool) -> None:
        with self._lock:
            doomed = self._slots.checkin(conn, reusable, time.monotonic())
            self._notify()
        if doomed is not None:
            doomed.close()

    def drop(self, conn: Conn) -> None:
        conn.close()
        self._forget()

    def _forget(self) -> None:
        with self._lock:
            self._slots.forget()
            self._notify()

    def close(self) -> None:
        with self._lock:
            idle = self._slots.close()
        for conn in idle:
            conn.close()


class _Body(Generic[Conn]):
    """One response body; gives the connection back when read to the end, drops it if not.

    `_pieces` decodes; each kind's iterator only receives when it yields b"".
    """

    def __init__(
        self,
        pool: _Pool[Conn],
        conn: Conn,
        request: httpx.Request,
        head: ResponseHead,
        timeouts: _Timeouts,
    ) -> None:
        self._pool = pool
        self._conn: Conn | None = conn
        self._decoder = decoder = body_decoder(request.method.encode("ascii"), head)
        self._reusable = decoder.reusable and keeps_alive(head, request.headers)
        self._timeouts = timeouts  # read again at every receive: callers may change "read"

    def _pieces(self, buffer: bytearray) -> Iterator[bytes]:
        """The body's data as `buffer` holds it; b"" when more must be received first. At
        the end the connection goes back before the last data is handed out."""
        decoder = self._decoder
        while True:
            data = decoder.decode(buffer)
            if decoder.done:
                self._finish()
                if data:
                    yield data
                return
            yield data

    def _finish(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.release(conn, self._reusable and not conn.buffer)

    def _settle(self) -> None:
        """On close, after reading on through what had arrived: a body read to its end gives
        its connection back, any other drops it."""
        if self._decoder.done:
            self._finish()
        elif self._conn is not None:
            conn, self._conn = self._conn, None
            self._pool.drop(conn)


P = TypeVar("P", bound=_Pool[Any])
F = TypeVar("F", httpx.HTTPTransport, httpx.AsyncHTTPTransport)


class _Transport(Generic[P, F]):
    """What both transports share: settings, TLS, the connection pool (`P`), and httpx's
    own transport (`F`) for the requests they do not cover."""

    _fallback_type: type[F]

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits = DEFAULT_CONNECTION_LIMITS,
        trust_env: bool = True,
    ) -> None:
        self._verify = verify
        self._limits = limits
        self._trust_env = trust_env
        self._ssl: ssl.SSLContext | None = None
        self._pool: P = self._new_pool(limits)
        self._fallback: F | None = None

    def _new_pool(self, limits: httpx.Limits) -> P:
        raise NotImplementedError

    @property
    def limits(self) -> httpx.Limits:
        """The connection limits this transport's pool keeps to."""
        return self._limits

    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            verify = self._verify
            self._ssl = (
                verify
                if isinstance(verify, ssl.SSLContext)
                else httpx.create_ssl_context(verify=verify, trust_env=self._trust_env)
            )
        return self._ssl

    def _covers(self, request: httpx.Request) -> bool:
        return not _needs_fallback(request)

    def _fallback_for(self, request: httpx.Request) -> F | None:
        """httpx's own transport if `request` needs it (made on first use), else None."""
        if self._covers(request):
            return None
        if self._fallback is None:
            self._fallback = self._fallback_type(
                verify=self._verify, limits=self._limits, trust_env=self._trust_env
            )
        return self._fallback


# -- sync -----------------------------------------------------------------------------------


class _SyncConnection:
    __slots__ = ("_sock", "_timeout", "buffer", "idle_since", "origin")

    def __init__(self, origin: Origin, sock: socket.socket) -> None:
        self.origin = origin
        self.idle_since = 0.0
        self.buffer = bytearray()
        self._sock = sock
        self._timeout: float | None = sock.gettimeout()

    @classmethod
    def connect(cls, origin: Origin, timeouts: _Timeouts, tls: _TLS) -> _SyncConnection:
        scheme, host, port = origin
        name = host.decode("ascii")
        try:
            sock = socket.create_connection((name, port), timeouts.get("connect"))
        except OSError as exc:
            raise _connect_error(exc) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == b"https":
                sock = tls().wrap_socket(sock, server_hostname=name)
        except BaseException as exc:
            sock.close()
            if isinstance(exc, OSError):
                raise _connect_error(exc) from exc
            raise
        return cls(origin, sock)

    def _settimeout(self, timeout: float | None) -> None:
        if timeout != self._timeout:
            self._sock.settimeout(timeout)
            self._timeout = timeout

    def send(self, data: bytes, timeout: float | None) -> None:
        self._settimeout(timeout)
        try:
            self._sock.sendall(data)
        except TimeoutError as exc:
            raise httpx.WriteTimeout(str(exc) or "Timed out while sending.") from exc
        except OSError as exc:
            raise httpx.WriteError(str(exc)) from exc

    def receive(self, timeout: float | None) -> bool:
        """Append what the socket has to `buffer`; False when the peer has closed."""
        self._settimeout(timeout)
        try:
            data = self._sock.recv(READ_SIZE)
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "Timed out while reading.") from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc)) from exc
        self.buffer += data
        return bool(data)

    def receive_ready(self) -> bool:
        """`receive` without waiting: False if nothing had arrived (or the socket failed)."""
        if not _readable(self._sock):
            return False
        try:
            return self.receive(0.0)
        except httpx.TransportError:
            return False

    def is_clean(self) -> bool:
        """An idle connection is reusable only if the server has neither closed nor sent."""
        return not self.buffer and not _readable(self._sock)

    def close(self) -> None:
        self._sock.close()


class _SyncPool(_Pool[_SyncConnection]):
    def __init__(self, limits: httpx.Limits, tls: _TLS) -> None:
        self._cond = threading.Condition()
        super().__init__(limits, tls, self._cond)

    def _notify(self) -> None:
        self._cond.notify()

    def acquire(
        self, origin: Origin, timeouts: _Timeouts, fresh: bool = False
    ) -> tuple[_SyncConnection, bool]:
        """A connection to `origin`, and whether it was reused from the pool; `fresh` asks
        for a new one."""
        deadline = _deadline(timeouts)
        while True:
            with self._cond:
                grant, conn, doomed = self._slots.checkout(origin, time.monotonic(), fresh=fresh)
                if grant is Grant.WAIT:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise _pool_timeout()
                    self._cond.wait(left)
            if (reused := self._reuse(conn, doomed)) is not None:
                return reused, True
            if grant is Grant.OPEN:
                with self._opening():
                    return _SyncConnection.connect(origin, timeouts, self._tls), False


class _SyncBody(_Body[_SyncConnection], httpx.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        try:
            for data in self._pieces(conn.buffer):
                if data:
                    yield data
                elif not conn.receive(self._timeouts.get("read")):
                    self._decoder.end_of_input()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        conn, decoder = self._conn, self._decoder
        if conn is not None and not decoder.done:  # read on through what has arrived
            budget = SETTLE_BYTES
            while True:
                budget = _discard(decoder, conn.buffer, budget)
                if decoder.done or budget <= 0 or not conn.receive_ready():
                    break
        self._settle()


class HTTP11Transport(_Transport[_SyncPool, httpx.HTTPTransport], httpx.BaseTransport):
    """A pooled HTTP/1.1 transport over blocking sockets."""

    _fallback_type = httpx.HTTPTransport

    def _new_pool(self, limits: httpx.Limits) -> _SyncPool:
        return _SyncPool(limits, self.ssl_context)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if (fallback := self._fallback_for(request)) is not None:
            return fallback.handle_request(request)
        timeouts: _Timeouts = request.extensions.get("timeout", {})
        origin = _origin(request.url)
        conn, reused = self._pool.acquire(origin, timeouts)
        while True:  # twice at most: see `_resend`
            answered = False
            try:
                self._send(conn, request, timeouts.get("write"))
                while True:
                    answered = answered or bool(conn.buffer)  # before 1xx heads are taken off
                    if (head := parse_response_head(conn.buffer)) is not None:
                        break
                    if not conn.receive(timeouts.get("read")):
                        raise _no_response()
                return _response(head, _SyncBody(self._pool, conn, request, head, timeouts))
            except BaseException as exc:
                answered = answered or bool(conn.buffer)
                self._pool.drop(conn)
                if not _resend(exc, reused, answered, request):
                    raise
            conn, reused = self._pool.acquire(origin, timeouts, fresh=True)

    @staticmethod
    def _send(conn: _SyncConnection, request: httpx.Request, timeout: float | None) -> None:
        first, chunked = _upload(request)
        conn.send(first, timeout)
        if chunked is None:
            return
        assert isinstance(request.stream, httpx.SyncByteStream)
        for piece in request.stream:
            if piece:
                conn.send(_framed(piece, chunked), timeout)
        if chunked:
            conn.send(_LAST_CHUNK, timeout)

    def close(self) -> None:
        self._pool.close()
        if self._fallback is not None:
            self._fallback.close()


# -- async ----------------------------------------------------------------------------------


class _AsyncConnection(asyncio.Protocol):
    """Received bytes land straight in `buffer`; `receive` waits for more."""

    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.idle_since = 0.0
        self.buffer = bytearray()
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._eof = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None  # set while writing is paused
        self._reading_paused = False

    @classmethod
    async def connect(cls, origin: Origin, timeouts: _Timeouts, tls: _TLS) -> _AsyncConnection:
        scheme, host, port = origin
        conn = cls(origin)
        loop = asyncio.get_running_loop()
        name = host.decode("ascii")
        context = tls() if scheme == b"https" else None
        try:
            async with asyncio.timeout(timeouts.get("connect")):
                transport, _ = await loop.create_connection(
                    lambda: conn, name, port, ssl=context, server_hostname=name if context else None
                )
        except OSError as exc:  # TimeoutError included
            raise _connect_error(exc) from exc
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    # asyncio.Protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > HIGH_WATER and self._transport is not None:
            self._transport.pause_reading()
            self._reading_paused = True
        self._wake()

    def eof_received(self) -> bool | None:
        self._eof = True
        self._wake()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._error = exc
        self._wake()
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # used by the transport

    async def send(self, data: bytes, timeout: float | None) -> None:
        transport = self._transport
        if transport is None or transport.is_closing() or self._error is not None:
            raise httpx.WriteError(str(self._error or "The connection is closed."))
        transport.write(data)
        if self._writable is not None:
            try:
                async with asyncio.timeout(timeout):
                    await self._writable
            except TimeoutError as exc:
                raise httpx.WriteTimeout("Timed out while sending.") from exc
            if self._error is not None:
                raise httpx.WriteError(str(self._error))

    async def receive(self, timeout: float | None) -> bool:
        """Wait for more bytes in `buffer`; False when the peer has closed."""
        if self._error is not None:
            raise httpx.ReadError(str(self._error) or type(self._error).__name__)
        if self._eof:
            return False
        if self._reading_paused and self._transport is not None:
            self._reading_paused = False
            self._transport.resume_reading()
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError as exc:
            raise httpx.ReadTimeout("Timed out while reading.") from exc
        if self._error is not None:
            raise httpx.ReadError(str(self._error) or type(self._error).__name__)
        return True

    def is_clean(self) -> bool:
        """As for sync; the socket is asked too, as the loop may not have run since it closed.
        A connection made on another event loop (an earlier `asyncio.run`) is never reused."""
        transport = self._transport
        if self.buffer or self._eof or transport is None or transport.is_closing():
            return False
        if self._loop is not asyncio.get_running_loop():
            return False
        sock = transport.get_extra_info("socket")
        return sock is None or not _readable(sock)

    def close(self) -> None:
        if self._transport is not None:
            with contextlib.suppress(RuntimeError):  # its event loop has been closed
                self._transport.abort()


class _AsyncPool(_Pool[_AsyncConnection]):
    def __init__(self, limits: httpx.Limits, tls: _TLS) -> None:
        super().__init__(limits, tls, contextlib.nullcontext())  # one event loop: no lock
        self._waiters: deque[asyncio.Future[None]] = deque()

    def _notify(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def acquire(
        self, origin: Origin, timeouts: _Timeouts, fresh: bool = False
    ) -> tuple[_AsyncConnection, bool]:
        deadline = _deadline(timeouts)
        while True:
            grant, conn, doomed = self._slots.checkout(origin, time.monotonic(), fresh=fresh)
            if (reused := self._reuse(conn, doomed)) is not None:
                return reused, True
            if grant is Grant.OPEN:
                with self._opening():
                    return await _AsyncConnection.connect(origin, timeouts, self._tls), False
            if grant is Grant.WAIT:
                await self._wait(deadline)

    async def _wait(self, deadline: float | None) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout_at(None if deadline is None else _loop_time(deadline)):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self._notify()  # pass on the wake-up this waiter can no longer use
            if isinstance(exc, TimeoutError):
                raise _pool_timeout() from exc
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)


def _loop_time(deadline: float) -> float:
    """A `time.monotonic` deadline on the running loop's clock."""
    return asyncio.get_running_loop().time() + (deadline - time.monotonic())


class _AsyncBody(_Body[_AsyncConnection], httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        try:
            for data in self._pieces(conn.buffer):
                if data:
                    yield data
                elif not await conn.receive(self._timeouts.get("read")):
                    self._decoder.end_of_input()
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        conn, decoder = self._conn, self._decoder
        if conn is not None and not decoder.done:  # as for sync, from what the loop received
            _discard(decoder, conn.buffer, SETTLE_BYTES)
        self._settle()


class AsyncHTTP11Transport(
    _Transport[_AsyncPool, httpx.AsyncHTTPTransport], httpx.AsyncBaseTransport
):
    """A pooled HTTP/1.1 transport on the running asyncio loop."""

    _fallback_type = httpx.AsyncHTTPTransport

    def _new_pool(self, limits: httpx.Limits) -> _AsyncPool:
        return _AsyncPool(limits, self.ssl_context)

    def _covers(self, request: httpx.Request) -> bool:
        return super()._covers(request) and _on_asyncio()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if (fallback := self._fallback_for(request)) is not None:
            return await fallback.handle_async_request(request)
        timeouts: _Timeouts = request.extensions.get("timeout", {})
        origin = _origin(request.url)
        conn, reused = await self._pool.acquire(origin, timeouts)
        while True:  # twice at most: see `_resend`
            answered = False
            try:
                await self._send(conn, request, timeouts.get("write"))
                while True:
                    answered = answered or bool(conn.buffer)  # before 1xx heads are taken off
                    if (head := parse_response_head(conn.buffer)) is not None:
                        break
                    if not await conn.receive(timeouts.get("read")):
                        raise _no_response()
                return _response(head, _AsyncBody(self._pool, conn, request, head, timeouts))
            except BaseException as exc:
                answered = answered or bool(conn.buffer)
                self._pool.drop(conn)
                if not _resend(exc, reused, answered, request):
                    raise
            conn, reused = await self._pool.acquire(origin, timeouts, fresh=True)

    @staticmethod
    async def _send(conn: _AsyncConnection, request: httpx.Request, timeout: float | None) -> None:
        first, chunked = _upload(request)
        await conn.send(first, timeout)
        if chunked is None:
            return
        assert isinstance(request.stream, httpx.AsyncByteStream)
        async for piece in request.stream:
            if piece:
                await conn.send(_framed(piece, chunked), timeout)
        if chunked:
            await conn.send(_LAST_CHUNK, timeout)

    async def aclose(self) -> None:
        self._pool.close()
        if self._fallback is not None:
            await self._fallback.aclose()

"""A loopback TCP proxy that breaks the answers it relays, the way real networks do.

Every answer relayed gets a `Fault` from a plan: close (FIN) or reset (RST) after a
number of answer bytes, stall there (the client must give up on its own idle timeout), relay
a stretch of the answer one byte per write, or hold the headers back for a moment. Byte
offsets land anywhere: inside an event, inside a chunk-size line of the chunked framing,
between events. Requests pass through untouched, so a reattach goes through the proxy too
and can be faulted again.

Used by tests/integration/test_faults.py and benchmarks/resume.py. Loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

KINDS = ("none", "close", "reset", "stall", "bytes", "slow_headers")
STALL_LIMIT = 30.0  # seconds a stalled connection is held open at most: never a hang here


@dataclass(frozen=True, slots=True)
class Fault:
    """What happens to one answer: `at` is the answer byte where it strikes (for
    `bytes`, how many answer bytes go one by one); `delay` the hold of `slow_headers`."""

    kind: str = "none"
    at: int = 0
    delay: float = 0.0


Plan = Callable[[int], Fault]
Address = tuple[str, int]


def no_faults(number: int) -> Fault:
    """The plan of a plain relay."""
    return Fault()


def random_plan(
    seed: int,
    *,
    faulty: float = 0.5,
    span: int = 3000,
    weights: dict[str, float] | None = None,
    header_delay: float = 0.05,
) -> Plan:
    """A plan faulting a `faulty` share of answers, kinds drawn by `weights`, offsets
    uniform in [0, span). Answer `n` always draws the same fault for the same seed."""
    chosen = weights or {"close": 3, "reset": 3, "stall": 1, "bytes": 1, "slow_headers": 1}
    kinds = list(chosen)
    shares = [chosen[kind] for kind in kinds]

    def plan(number: int) -> Fault:
        rng = random.Random(seed * 1_000_003 + number)
        if rng.random() >= faulty:
            return Fault()
        kind = rng.choices(kinds, shares)[0]
        return Fault(kind, rng.randrange(span), header_delay if kind == "slow_headers" else 0.0)

    return plan


class FaultProxy:
    """Relays 127.0.0.1:<port> to `upstream`, applying `plan(n)` to the n-th answer (of
    every connection: a kept-alive connection's later answers get faults of their own).

    `faults` counts the faults that struck (a `close` past the end of its answer never
    strikes); `active` is the number of connections open now.
    """

    def __init__(
        self,
        upstream: Address,
        plan: Plan = no_faults,
        fallbacks: Sequence[Address] = (),
        *,
        rotate: bool = False,
    ) -> None:
        """`fallbacks`: addresses tried in order when `upstream` refuses a connection (a
        load balancer in front of replicas, moving on from a dead one); `rotate`: each new
        connection starts from the next address (round robin)."""
        self.upstreams: list[Address] = [upstream, *fallbacks]
        self.rotate = rotate
        self.plan = plan
        self.faults: Counter[str] = Counter()
        self.connections = 0
        self.requests = 0  # answers relayed (each drew a fault from the plan)
        self.active = 0
        self.port = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @contextlib.contextmanager
    def running(self) -> Iterator[FaultProxy]:
        """Serve from a thread of its own for the duration of the block."""
        ready = threading.Event()
        thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fault proxy did not start")
        try:
            yield self
        finally:
            loop = self._loop
            assert loop is not None
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._server = loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=512)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _count(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        with self._lock:
            number = self.connections
            self.connections += 1
            self.active += 1
        upstream_w: asyncio.StreamWriter | None = None
        pump: asyncio.Task[None] | None = None
        requests = [0]  # requests the client sent on this connection (the pump counts)
        try:
            upstream_r, upstream_w = await self._connect(number)
            pump = asyncio.create_task(_copy(client_r, upstream_w, requests))
            await self._answer(upstream_r, client_w, requests, pump)
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            if pump is not None:
                pump.cancel()
                await asyncio.gather(pump, return_exceptions=True)
            for writer in (client_w, upstream_w):
                if writer is not None:
                    writer.close()
                    with contextlib.suppress(ConnectionError, OSError):
                        await writer.wait_closed()
            with self._lock:
                self.active -= 1
            self._tasks.discard(task)

    def _next_fault(self) -> Fault:
        with self._lock:
            number = self.requests
            self.requests += 1
        return self.plan(number)

    async def _connect(self, number: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        start = number % len(self.upstreams) if self.rotate else 0
        order = self.upstreams[start:] + self.upstreams[:start]
        for host, port in order[:-1]:
            with contextlib.suppress(OSError):
                return await asyncio.open_connection(host, port)
        return await asyncio.open_connection(*order[-1])

    async def _answer(
        self,
        upstream: asyncio.StreamReader,
        client: asyncio.StreamWriter,
        requests: list[int],
        pump: asyncio.Task[None],
    ) -> None:
        """Relay the answers of this connection to the client, each broken as its fault says.

        HTTP/1.1 without pipelining: the client sends a request only once the previous
        answer is complete, so bytes that come after the pump saw a new request belong to
        that request's answer.
        """
        answered = 0
        fault: Fault | None = None
        sent = 0
        while True:
            data = await upstream.read(65536)
            if not data:
                return
            # The first bytes of a new answer; a protocol without HTTP request lines (Redis)
            # draws one fault for the whole connection.
            if fault is None or requests[0] != answered:
                answered = requests[0]
                fault, sent = self._next_fault(), 0
                if fault.kind == "slow_headers":
                    self._count(fault.kind)
                    await asyncio.sleep(fault.delay)
            if fault.kind in ("close", "reset", "stall") and sent + len(data) > fault.at:
                client.write(data[: fault.at - sent])
                await client.drain()
                self._count(fault.kind)
                await self._strike(client, fault.kind, pump)
                return
            if fault.kind == "bytes" and sent < fault.at:
                if sent == 0:
                    self._count(fault.kind)
                split = min(len(data), fault.at - sent)
                for index in range(split):
                    client.write(data[index : index + 1])
                    await client.drain()
                client.write(data[split:])
            else:
                client.write(data)
            await client.drain()
            sent += len(data)

    async def _strike(
        self, client: asyncio.StreamWriter, kind: str, pump: asyncio.Task[None]
    ) -> None:
        if kind == "reset":
            sock = client.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.transport.abort()
        elif kind == "stall":
            # Hold the connection, sending nothing, until the client gives up and closes it.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(pump), STALL_LIMIT)
        # "close": the caller closes both sides (a FIN to the client).


_REQUEST_LINE = re.compile(rb"(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /")


async def _copy(
    source: asyncio.StreamReader, sink: asyncio.StreamWriter, requests: list[int]
) -> None:
    """Relay the client's requests upstream, counting them (a read that starts with a
    request line; a client writes a request's head in one go)."""
    with contextlib.suppress(ConnectionError, OSError):
        while data := await source.read(65536):
            if _REQUEST_LINE.match(data):
                requests[0] += 1
            sink.write(data)
            await sink.drain()

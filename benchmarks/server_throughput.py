"""Throughput of `rillet serve --backend synthetic` against a minimal SSE peer, in one run.

    python benchmarks/server_throughput.py [--duration 4] [--concurrency 1 64 512]

Each server runs pinned to CPU 0 (`taskset`); the load generator runs in its own
process on CPU 1. The load generator is lean on purpose: raw asyncio sockets,
keep-alive connections, and it only counts events (``\\n\\n``) and waits for the
end of each chunked response, so the server is what gets measured.

The peer is a bare ASGI app on the same uvicorn (same loop and HTTP parser) that
answers every POST with the exact bytes rillet streamed for the benchmark
request, one send per event, yielding to the loop between events as a backend
would. The difference between the two is the cost of rillet's layers: request
validation, the backend, chunk formatting, SSE plumbing.

Reported per server and concurrency: chunks/s, streams/s, how busy the server's
core was, server CPU time per chunk (from /proc, so it includes everything the
server process does) and its inverse, the chunks one fully busy core sustains.
On a shared machine the last two are the steadier figures: wall-clock rates
drop when other processes take the core. Per-stream overhead is the mean time
of a one-token stream at concurrency 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rillet.server.backends.synthetic.backend import _YIELD_EVERY
from rillet.server.banner import listening_line, parse_listening

BODY = {
    "model": "gpt-4",
    "messages": [{"role": "user", "content": "Write a story about a robot."}],
    "stream": True,
}
TINY = {**BODY, "max_tokens": 1}
TICKS = os.sysconf("SC_CLK_TCK")
# The peer yields to the event loop as often as the synthetic backend does.
YIELD_EVERY = _YIELD_EVERY


# --- the peer: a minimal SSE server replaying recorded events -------------------------------


def run_peer(events_file: str) -> None:
    import uvicorn

    recorded = json.loads(Path(events_file).read_text())
    full = [e.encode() for e in recorded["full"]]
    tiny = [e.encode() for e in recorded["tiny"]]
    headers = [
        (b"content-type", b"text/event-stream; charset=utf-8"),
        (b"cache-control", b"no-cache"),
    ]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        events = tiny if b'"max_tokens"' in body else full
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for i, event in enumerate(events):
            await send({"type": "http.response.body", "body": event, "more_body": True})
            if i % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            port = self.servers[0].sockets[0].getsockname()[1]
            # rillet's banner, so that one parser reads both servers' startup lines
            print(listening_line(f"http://127.0.0.1:{port}/v1", "peer"), end="", flush=True)

    config = uvicorn.Config(app, port=0, log_level="warning", access_log=False)
    Server(config).run()


# --- the load generator ---------------------------------------------------------------------


async def one_connection(
    host: str, port: int, request: bytes, stop_at: float, stats: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop_at:
            writer.write(request)
            events = 0
            tail = b""
            while True:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("server closed the connection")
                joined = tail + data
                events += joined.count(b"\n\n") - tail.count(b"\n\n")
                tail = joined[-16:]
                if tail.endswith(b"\r\n0\r\n\r\n"):
                    break
            stats[0] += events - 1  # the [DONE] line is not a chunk
            stats[1] += 1
    finally:
        writer.close()


async def generate_load(
    host: str,
    port: int,
    body: dict[str, Any],
    concurrency: int,
    duration: float,
    headers: bytes = b"",
) -> dict[str, float]:
    """`headers`: extra header lines, each ending in CRLF (benchmarks/resume.py opts in)."""
    payload = json.dumps(body).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
        b"%sContent-Length: %d\r\n\r\n%s" % (host.encode(), headers, len(payload), payload)
    )
    stats = [0, 0]
    started = time.perf_counter()
    stop_at = started + duration
    await asyncio.gather(
        *(one_connection(host, port, request, stop_at, stats) for _ in range(concurrency))
    )
    elapsed = time.perf_counter() - started
    return {"chunks": stats[0], "streams": stats[1], "elapsed": elapsed}


def run_load(args: argparse.Namespace) -> None:
    body = TINY if args.tiny else BODY
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    cpu = time.process_time()
    result = asyncio.run(generate_load("127.0.0.1", args.port, body, args.conc, args.duration))
    result["load_cpu"] = (time.process_time() - cpu) / result["elapsed"]
    print(json.dumps(result), flush=True)


# --- orchestration ---------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    process: subprocess.Popen[str]
    port: int

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def pin(cpu: int, command: list[str], enabled: bool) -> list[str]:
    return ["taskset", "-c", str(cpu), *command] if enabled else command


def start(name: str, command: list[str]) -> Server:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    listening = parse_listening(line)
    if listening is None:
        process.kill()
        raise RuntimeError(f"{name} did not start: {line!r}")
    port = urllib.parse.urlsplit(listening.base_url).port
    assert port is not None
    return Server(name, process, port)


def load(
    server: Server, conc: int, duration: float, pinned: bool, tiny: bool = False
) -> dict[str, float]:
    command = [sys.executable, __file__, "--load", "--port", str(server.port)]
    command += ["--conc", str(conc), "--duration", str(duration)]
    if tiny:
        command.append("--tiny")
    cpu_before = server.cpu_seconds()
    out = subprocess.run(pin(1, command, pinned), capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(out.stdout)
    result["cpu"] = server.cpu_seconds() - cpu_before
    return result


def record_events(port: int, body: dict[str, Any]) -> list[str]:
    import httpx

    with httpx.stream("POST", f"http://127.0.0.1:{port}/v1/chat/completions", json=body) as r:
        text = "".join(r.iter_text())
    return [block + "\n\n" for block in text.split("\n\n") if block]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per measurement")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64, 512])
    parser.add_argument("--no-pin", action="store_true", help="do not use taskset")
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--peer", metavar="EVENTS_FILE", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--conc", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        run_load(args)
        return
    if args.peer:
        run_peer(args.peer)
        return

    pinned = not args.no_pin
    rillet = start(
        "rillet",
        pin(
            0,
            [sys.executable, "-m", "rillet", "serve", "--port", "0", "--backend", "synthetic"],
            pinned,
        ),
    )
    servers = [rillet]
    recording = Path(tempfile.mkdtemp()) / "events.json"
    try:
        events = record_events(rillet.port, BODY)
        tiny = record_events(rillet.port, TINY)
        recording.write_text(json.dumps({"full": events, "tiny": tiny}))
        peer = [sys.executable, __file__, "--peer", str(recording)]
        servers.append(start("peer", pin(0, peer, pinned)))
        print(
            f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {len(events) - 1} chunks "
            f"per stream; server pinned to CPU 0, load on CPU 1: {pinned}"
        )
        rows: dict[tuple[str, int], dict[str, float]] = {}
        for conc in args.concurrency:
            for server in servers:
                load(server, conc, 0.5, pinned)  # warm up
                rows[server.name, conc] = load(server, conc, args.duration, pinned)
        overhead = {s.name: load(s, 1, args.duration / 2, pinned, tiny=True) for s in servers}
    finally:
        for server in servers:
            server.stop()
        recording.unlink(missing_ok=True)
        recording.parent.rmdir()
    report(rows, overhead, args.concurrency)


def report(
    rows: dict[tuple[str, int], dict[str, float]],
    overhead: dict[str, dict[str, float]],
    concurrency: list[int],
) -> None:
    print(
        "| streams | server | chunks/s | streams/s | server CPU busy | server CPU µs/chunk "
        "| chunks per server CPU-second | load generator CPU | rillet/peer chunks/s "
        "| rillet/peer CPU/chunk |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for conc in concurrency:
        peer = rows["peer", conc]
        for name in ("rillet", "peer"):
            row = rows[name, conc]
            rate = row["chunks"] / row["elapsed"]
            cpu_us = row["cpu"] / max(row["chunks"], 1) * 1e6
            ratios = "| |"
            if name == "rillet":
                peer_rate = peer["chunks"] / peer["elapsed"]
                peer_us = peer["cpu"] / max(peer["chunks"], 1) * 1e6
                ratios = f"| {rate / peer_rate:.2f} | {cpu_us / peer_us:.2f} |"
            print(
                f"| {conc} | {name} | {rate:,.0f} | {row['streams'] / row['elapsed']:,.1f} "
                f"| {row['cpu'] / row['elapsed']:.0%} | {cpu_us:.1f} | {1e6 / cpu_us:,.0f} "
                f"| {row['load_cpu']:.0%} " + ratios
            )
    print()
    print("| server | one-token stream, mean ms (concurrency 1) | rillet/peer |")
    print("|---|---:|---:|")
    per_stream = {
        name: row["elapsed"] / max(row["streams"], 1) * 1e3 for name, row in overhead.items()
    }
    for name, ms in per_stream.items():
        ratio = f"{ms / per_stream['peer']:.2f}" if name == "rillet" else ""
        print(f"| {name} | {ms:.3f} | {ratio} |")


if __name__ == "__main__":
    main()

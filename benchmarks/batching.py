"""Continuous batching: `rillet serve --parallel N`, and llama.cpp's own `llama-server -np N`.

For each thread count and each N it starts `rillet serve --parallel N` (the embedded
Gemma 3 270M, `RILLET_LLAMA_THREADS` threads) and, with `--peer`, llama.cpp's C++ server
on the same GGUF with the same threads and N slots (`benchmarks/peers/llama_server.sh`),
one after the other (the machine has two cores). Each is streamed through rillet's
AsyncOpenAI client with the same requests: a different prompt for every request ("Write
a story about SUBJECT.", so only the shared opening can come from a prompt cache), the
same `max_tokens`, greedy decoding (temperature 0) under rillet's default penalties:

- 1 stream, `--runs` times; then 4 and 8 concurrent streams, `--runs` rounds each:
  median TTFT, tokens/s per stream (after its first token), total tokens/s (a round's
  tokens over its wall time, averaged over rounds);
- the stall: one stream running when a long prompt (about 600 tokens) arrives; the
  longest gap between two of the running stream's tokens while the prompt is evaluated,
  and the long request's own TTFT.

    python benchmarks/batching.py --parallel 4 8 --threads 1 2 --peer

Compare rows of one run only: the ratios rillet / llama-server are printed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_model import answers, rillet_server, wait_ready  # benchmarks/ is on sys.path
from rillet import AsyncOpenAI
from rillet.cli.chat import stop_server
from rillet.server.backends.llama.backend import (
    DEFAULT_CONTEXT,
    extra_buffers_allowed,
    packaged_model_path,
)
from rillet.server.backends.llama.run import Sampling

SUBJECTS = (
    "a robot",
    "a lighthouse keeper",
    "a dragon",
    "a baker",
    "a lost cat",
    "the sea",
    "a train",
    "a garden",
    "a violin",
    "a mountain",
    "a clock",
    "a river",
)
LONG_PROMPT = "Summarise this: " + "the robot walked along the quiet road. " * 70
STREAMS = (1, 4, 8)
PEER_SCRIPT = Path(__file__).parent / "peers" / "llama_server.sh"
DEFAULTS = Sampling()
# rillet's default sampling settings, spelled out for llama-server (which has others). At
# temperature 0 both take the most likely token after the same penalties.
PEER_SAMPLING: dict[str, Any] = {
    "top_k": DEFAULTS.top_k,
    "min_p": DEFAULTS.min_p,
    "repeat_penalty": DEFAULTS.repeat_penalty,
    "repeat_last_n": 64,  # llama-cpp-python's last_n_tokens_size, which rillet's sampler uses
    "presence_penalty": DEFAULTS.presence_penalty,
    "frequency_penalty": DEFAULTS.frequency_penalty,
}


@dataclass(frozen=True, slots=True)
class Timing:
    first: float
    last: float
    tokens: int
    start: float
    stamps: tuple[float, ...]  # when each content chunk arrived (perf_counter)


@dataclass(frozen=True, slots=True)
class Server:
    """One server under test and what its requests carry beyond the common fields."""

    name: str
    threads: int
    parallel: int
    extra_body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Row:
    server: Server
    streams: int
    tokens: float  # mean per stream: a server that stops early would look fast
    ttft_ms: float  # median
    stream_rate: float
    total_rate: float


@dataclass(frozen=True, slots=True)
class Stall:
    server: Server
    longest_gap_ms: float
    median_gap_ms: float
    long_ttft_ms: float


async def stream_once(
    client: AsyncOpenAI,
    server: Server,
    text: str,
    seed: int,
    max_tokens: int,
    nth: tuple[int, asyncio.Event] | None = None,
) -> Timing:
    start = time.perf_counter()
    first, tokens, stamps = 0.0, 0, []
    stream = await client.chat.completions.create(
        model="gemma",
        messages=[{"role": "user", "content": text}],
        max_tokens=max_tokens,
        temperature=0.0,
        top_p=DEFAULTS.top_p,
        seed=seed,
        stream=True,
        extra_body=server.extra_body or None,
    )
    async with stream:
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                now = time.perf_counter()
                tokens += 1
                stamps.append(now)
                first = first or now - start
                if nth is not None and tokens == nth[0]:
                    nth[1].set()
    return Timing(first, time.perf_counter() - start, tokens, start, tuple(stamps))


def story(seed: int) -> str:
    return f"Write a story about {SUBJECTS[seed % len(SUBJECTS)]}."


async def measure(url: str, server: Server, max_tokens: int, runs: int) -> tuple[list[Row], Stall]:
    client = AsyncOpenAI(base_url=url, api_key="local", max_retries=0, timeout=600)
    rows = []
    try:
        await stream_once(client, server, story(11), 11, 8)  # warm-up
        for streams in STREAMS:
            ttfts, rates, totals, counts = [], [], [], []
            for r in range(runs):
                start = time.perf_counter()
                timings = await asyncio.gather(
                    *(
                        stream_once(client, server, story(r * 8 + i), r * 8 + i, max_tokens)
                        for i in range(streams)
                    )
                )
                wall = time.perf_counter() - start
                totals.append(sum(t.tokens for t in timings) / wall)
                for t in timings:
                    ttfts.append(t.first)
                    counts.append(t.tokens)
                    if t.tokens > 1:
                        rates.append((t.tokens - 1) / (t.last - t.first))
            rows.append(
                Row(
                    server,
                    streams,
                    statistics.mean(counts),
                    1000 * statistics.median(ttfts),
                    statistics.mean(rates),
                    statistics.mean(totals),
                )
            )
        # The stall: a long prompt arrives while one stream is running.
        tenth = asyncio.Event()
        running = asyncio.ensure_future(stream_once(client, server, story(3), 3, 48, (10, tenth)))
        await tenth.wait()
        long = await stream_once(client, server, LONG_PROMPT, 5, 2)
        arrived, evaluated = long.start, long.start + long.first
        done = await running
        pairs = list(zip(done.stamps, done.stamps[1:], strict=False))
        gaps = [b - a for a, b in pairs]
        # Gaps of the running stream that overlap the long prompt's evaluation.
        during = [b - a for a, b in pairs if b > arrived and a < evaluated]
        stall = Stall(
            server,
            1000 * max(during, default=0.0),
            1000 * (statistics.median(gaps) if gaps else 0.0),
            1000 * long.first,
        )
    finally:
        await client.close()
    return rows, stall


# --- the peer -----------------------------------------------------------------------------


def peer_arguments(threads: int, parallel: int, port: int) -> list[str]:
    """llama-server's settings, each matched to what `rillet serve` does on this machine."""
    arguments = [
        "--model", str(packaged_model_path()),
        "--host", "127.0.0.1", "--port", str(port),
        "--threads", str(threads), "--threads-batch", str(threads),
        "--parallel", str(parallel),
        # Each slot gets ctx / parallel tokens in a KV buffer of its own (with an explicit
        # -np llama-server does not unify them), as each rillet sequence does.
        "--ctx-size", str(DEFAULT_CONTEXT * parallel),
    ]  # fmt: skip
    if not extra_buffers_allowed():
        arguments.append("--no-repack")  # llama.cpp's use_extra_bufts off, as rillet sets it
    return arguments


@contextmanager
def llama_server(threads: int, parallel: int) -> Iterator[str]:
    """llama.cpp's `llama-server` (built by `peers/llama_server.sh`): its base URL once ready."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = ["bash", str(PEER_SCRIPT), "serve", *peer_arguments(threads, parallel, port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(lambda: answers(f"http://127.0.0.1:{port}/health"), 120, process)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        stop_server(process)


def start(server: Server) -> AbstractContextManager[str]:
    if server.name == "llama-server":
        return llama_server(server.threads, server.parallel)
    env = {**os.environ, "RILLET_LLAMA_THREADS": str(server.threads)}
    return rillet_server("--parallel", str(server.parallel), env=env)


# --- report -------------------------------------------------------------------------------


def report(rows: list[Row], stalls: list[Stall]) -> str:
    lines = [
        "| server | threads | slots | streams | tokens/stream | TTFT ms (median) "
        "| tokens/s per stream | tokens/s total |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r.server.name} | {r.server.threads} | {r.server.parallel} | {r.streams} "
        f"| {r.tokens:.0f} | {r.ttft_ms:.0f} | {r.stream_rate:.1f} | {r.total_rate:.1f} |"
        for r in rows
    ]
    lines += [
        "",
        "| server | threads | slots | a stream's longest gap while a 600-token prompt is "
        "evaluated | its median gap | the long prompt's TTFT |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {s.server.name} | {s.server.threads} | {s.server.parallel} "
        f"| {s.longest_gap_ms:.0f} ms | {s.median_gap_ms:.0f} ms | {s.long_ttft_ms:.0f} ms |"
        for s in stalls
    ]
    lines.append("")
    by = {(r.server.name, r.server.threads, r.server.parallel, r.streams): r for r in rows}
    for name, threads, parallel in dict.fromkeys(
        (r.server.name, r.server.threads, r.server.parallel) for r in rows
    ):
        one, four = by.get((name, threads, parallel, 1)), by.get((name, threads, parallel, 4))
        if one and four:
            lines.append(
                f"- {name}, {threads} thread(s), {parallel} slots: TTFT at 4 streams / "
                f"1 stream = {four.ttft_ms / one.ttft_ms:.2f}"
            )
        if name != "rillet":
            continue
        for streams in STREAMS:
            ours = by.get((name, threads, parallel, streams))
            peer = by.get(("llama-server", threads, parallel, streams))
            if ours and peer:
                lines.append(
                    f"- rillet / llama-server, {threads} thread(s), {parallel} slots, "
                    f"{streams} stream(s): total tokens/s {ours.total_rate / peer.total_rate:.2f}"
                    f", TTFT median {ours.ttft_ms / peer.ttft_ms:.2f}"
                )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--peer", action="store_true", help="also run llama.cpp's llama-server")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    servers = []
    for threads in args.threads:
        for parallel in args.parallel:
            servers.append(Server("rillet", threads, parallel, {}))
            if args.peer:
                servers.append(Server("llama-server", threads, parallel, PEER_SAMPLING))
    print(f"max_tokens {args.max_tokens}, {args.runs} round(s) per row", flush=True)
    rows: list[Row] = []
    stalls: list[Stall] = []
    for server in servers:
        with start(server) as url:
            found, stall = asyncio.run(measure(url, server, args.max_tokens, args.runs))
        rows += found
        stalls.append(stall)
        for row in found:
            print(
                f"  {server.name} threads {server.threads} slots {server.parallel} streams "
                f"{row.streams}: TTFT {row.ttft_ms:.0f} ms, {row.total_rate:.1f} tokens/s",
                file=sys.stderr,
                flush=True,
            )
    print(report(rows, stalls))


if __name__ == "__main__":
    main()

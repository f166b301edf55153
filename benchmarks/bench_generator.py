"""`rillet bench` against a peer load generator built the way such tools are built: a loop of
workers on the official `openai` AsyncOpenAI client, timing each chunk with perf_counter.

Both generators' records go through the same `rillet.bench.metrics`, so any difference is
in the measuring, not the formulas. Two parts, in one run:

1. Agreement: a paced `rillet serve --backend synthetic --ttft-ms 100 --tokens-per-second 50`
   (pinned to CPU 1 when possible); both generators run the same workload at the same
   concurrency, taking turns for --rounds rounds; the medians of TTFT, ITL, TPOT and output
   tokens/s are printed side by side with their ratio.
2. Ceiling: the canned SSE server of benchmarks/_canned_sse.py (pinned to CPU 1; it writes
   each whole answer at once, so it costs almost nothing) streams --chunks chunks per
   answer as fast as the generator reads them. The generator runs pinned to CPU 0, so it has
   exactly one core; we report the events/s it received, its CPU share of that core and its
   CPU µs per event, and 1e6 / (µs per event) as the events/s it could drive from one core
   before saturating. Turns alternate, medians of --rounds rounds.

    python benchmarks/bench_generator.py [--concurrency 16] [--requests 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import openai

import rillet
from rillet.bench.metrics import summarize
from rillet.bench.runner import LoadSpec, RequestRecord, RunResult, Target, run_load
from rillet.bench.workload import Spread, Workload

HERE = Path(__file__).resolve().parent
LISTENING = re.compile(r"listening on (http://\S+/v1)")
Generator = Callable[[str, Workload, LoadSpec], Coroutine[Any, Any, RunResult]]


def _pinnable() -> bool:
    return (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity")


def _pin(command: list[str], cpu: int, enabled: bool) -> list[str]:
    return ["taskset", "-c", str(cpu), *command] if enabled else command


@contextlib.contextmanager
def paced_server(pin: bool) -> Iterator[str]:
    command = [sys.executable, "-m", "rillet", "serve", "--port", "0", "--backend", "synthetic"]
    command += ["--ttft-ms", "100", "--tokens-per-second", "50"]
    process = subprocess.Popen(_pin(command, 1, pin), stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        match = LISTENING.search(process.stdout.readline())
        if match is None:
            raise RuntimeError("rillet serve did not start")
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(10)


@contextlib.contextmanager
def canned_server(chunks: int, pin: bool) -> Iterator[str]:
    command = [sys.executable, str(HERE / "_canned_sse.py"), str(chunks)]
    process = subprocess.Popen(_pin(command, 1, pin), stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield f"http://127.0.0.1:{int(process.stdout.readline())}/v1"
    finally:
        process.terminate()
        process.wait(10)


async def rillet_bench(url: str, workload: Workload, spec: LoadSpec) -> RunResult:
    async with rillet.AsyncOpenAI(
        base_url=url, api_key="bench", max_retries=0, max_stream_resumes=0
    ) as client:
        return await run_load(Target(client, "chat", "synthetic"), workload, spec)


async def openai_peer(url: str, workload: Workload, spec: LoadSpec) -> RunResult:
    """The peer: N workers, each awaiting `create(stream=True)` and timing every chunk."""
    assert spec.concurrency is not None and spec.requests is not None
    total = spec.warmup + spec.requests
    client = openai.AsyncOpenAI(base_url=url, api_key="bench", max_retries=0)
    records: list[RequestRecord] = []
    counter = iter(range(total))
    t0 = time.perf_counter()

    async def worker() -> None:
        for index in counter:
            prompt = workload.prompt(index)
            record = RequestRecord(index, index < spec.warmup, time.perf_counter() - t0)
            records.append(record)
            record.start = record.scheduled
            messages: Any = prompt.messages
            stream = await client.chat.completions.create(
                model="synthetic",
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                max_tokens=openai.omit if prompt.max_tokens is None else prompt.max_tokens,
            )
            async for chunk in stream:
                now = time.perf_counter() - t0
                record.events += 1
                if chunk.choices and chunk.choices[0].delta.content:
                    record.content_times.append(now)
                elif chunk.usage is not None:
                    record.usage_output_tokens = chunk.usage.completion_tokens
            record.end = time.perf_counter() - t0

    cpu0 = time.process_time()
    await asyncio.gather(*(worker() for _ in range(spec.concurrency)))
    result = RunResult(spec, records, time.perf_counter() - t0, time.process_time() - cpu0)
    await client.close()
    return result


GENERATORS: dict[str, Generator] = {"rillet bench": rillet_bench, "openai loop": openai_peer}


def rounds_of(
    url: str, workload: Workload, spec: LoadSpec, rounds: int
) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in GENERATORS}
    for round_ in range(rounds):
        order = list(GENERATORS.items())
        if round_ % 2:
            order.reverse()
        for name, generator in order:
            results[name].append(summarize(asyncio.run(generator(url, workload, spec))))
    return results


def median_of(summaries: list[dict[str, Any]], *path: str) -> float:
    values = []
    for summary in summaries:
        value: Any = summary
        for key in path:
            value = value[key]
        values.append(float(value))
    return statistics.median(values)


def agreement(args: argparse.Namespace, pin: bool) -> None:
    spec = LoadSpec(concurrency=args.concurrency, requests=args.requests, warmup=args.concurrency)
    workload = Workload(input_tokens=Spread(64), output_tokens=Spread(24, 8), seed=1)
    with paced_server(pin) as url:
        results = rounds_of(url, workload, spec, args.rounds)
    print(
        f"\n1. agreement: paced server (TTFT 100 ms, 20 ms/token), concurrency "
        f"{args.concurrency}, {args.requests} requests, median of {args.rounds} rounds"
    )
    names = list(GENERATORS)
    print(f"{'':22}{names[0]:>14}{names[1]:>14}{'ratio':>8}")
    rows = [
        ("TTFT median ms", ("latency_ms", "ttft", "median")),
        ("ITL median ms", ("latency_ms", "itl", "median")),
        ("TPOT median ms", ("latency_ms", "tpot", "median")),
        ("output tokens/s", ("output_throughput",)),
    ]
    for label, path in rows:
        a, b = (median_of(results[name], *path) for name in names)
        print(f"{label:22}{a:14.2f}{b:14.2f}{a / b:8.3f}")


def ceiling(args: argparse.Namespace, pin: bool) -> None:
    if pin:
        os.sched_setaffinity(0, {0})
    spec = LoadSpec(concurrency=args.concurrency, requests=args.ceiling_requests)
    workload = Workload(input_tokens=Spread(8), seed=2)
    with canned_server(args.chunks, pin) as url:
        results = rounds_of(url, workload, spec, args.rounds)
    print(
        f"\n2. ceiling: canned server, {args.chunks} chunks per answer, concurrency "
        f"{args.concurrency}, {args.ceiling_requests} requests, generator pinned to one core: "
        f"{pin}, median of {args.rounds} rounds"
    )
    print(f"{'':14}{'events/s':>12}{'core share':>12}{'us/event':>10}{'ceiling ev/s':>14}")
    for name in GENERATORS:
        events = median_of(results[name], "generator", "events")
        wall = median_of(results[name], "generator", "wall_s")
        share = median_of(results[name], "generator", "cpu_share_of_one_core")
        per_event = median_of(results[name], "generator", "cpu_us_per_event")
        print(
            f"{name:14}{events / wall:12.0f}{share:12.0%}{per_event:10.2f}{1e6 / per_event:14.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--ceiling-requests", type=int, default=32)
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    args = parser.parse_args()
    pin = (
        _pinnable()
        and not args.no_pin
        and subprocess.run(["which", "taskset"], capture_output=True).returncode == 0
    )
    print(
        f"rillet {rillet.__version__}, openai {openai.__version__}, python {sys.version.split()[0]}"
    )
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    agreement(args, pin)
    ceiling(args, pin)


if __name__ == "__main__":
    main()

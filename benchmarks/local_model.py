"""Streaming speed of the embedded model: the library alone, `rillet serve`, and a peer server.

    python benchmarks/local_model.py [--max-tokens 128] [--runs 3] [--prompts same|varied|both]

Three ways to stream the same Gemma 3 270M GGUF, same prompts, same thread count:

  (a) llama-cpp-python in this process, the ceiling: `Llama.generate` and one
      detokenize per token (no HTTP, no JSON, no second process); (a') the same
      through the library's own streaming call, `create_completion(stream=True)`;
  (b) `rillet serve` (default backend), streamed through rillet's AsyncOpenAI;
  (c) llama-cpp-python's own OpenAI server (`python -m llama_cpp.server`),
      streamed through the same client; (c') the same server with
      `--logits_all False`: its default (True, which its logprobs need) computes
      the logits of every prompt token, a cost rillet does not pay.

Each runs at 1 stream (`--runs` times, one after another) and at 4 concurrent
streams, under two workloads: "same" sends one prompt every time, so every way
may take all of it from its KV cache; "varied" gives each request a different
subject ("Write a story about a lighthouse keeper."), so only the shared opening
can come from the cache. Reported per row: time to first token (mean over
streams), the per-stream decode rate (tokens after the first over the time after
the first), and the aggregate rate (all tokens over the wall time of the round).
Tokens are counted as content chunks, which is one token per chunk for both servers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

from rillet import AsyncOpenAI
from rillet.cli.chat import stop_server
from rillet.server.backends.llama.backend import (
    DEFAULT_CONTEXT,
    extra_buffers_allowed,
    load_llama,
    packaged_model_path,
)
from rillet.server.backends.llama.prompt import render_prompt
from rillet.server.backends.llama.run import Sampling
from rillet.server.banner import parse_listening

PROMPT = "Write a story about a robot."
SUBJECTS = (
    "a lighthouse keeper", "two rival bakers", "a lost kitten", "the last dragon",
    "a clockmaker's apprentice", "a city under the sea", "an old fisherman", "a haunted piano",
    "a girl who collects clouds", "a space station cook", "a talking tree", "a desert caravan",
    "a forgotten library", "a brave little tugboat", "a painter who lost her colours",
    "a snowman in summer",
)  # fmt: skip
WORKLOADS = ("same", "varied")
NO_LOGITS_ALL = ("--logits_all", "False")
# `python -m llama_cpp.server`, with llama.cpp's extra CPU buffer types off wherever rillet turns
# them off (CPUs with AMX, where they crash), so that every way runs the same kernels.
PEER_MAIN = f"""
import contextlib, runpy
from rillet.server.backends.llama.backend import extra_buffers_off
with extra_buffers_off() if {not extra_buffers_allowed()!r} else contextlib.nullcontext():
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""
THREADS = max(1, (os.cpu_count() or 1) - 1)  # as `rillet serve` decides, for decode and prompts
SAMPLING = Sampling()


def messages(workload: str, seed: int) -> list[dict[str, str]]:
    """A request's prompt: one for every request, or a subject unlike the last request's."""
    text = (
        PROMPT if workload == "same" else f"Write a story about {SUBJECTS[seed % len(SUBJECTS)]}."
    )
    return [{"role": "user", "content": text}]


WARM_UP_SEED = len(SUBJECTS) - 1  # its subject is not the first round's


@dataclass(frozen=True, slots=True)
class Timing:
    """One stream: seconds from its request to its first and last token, and its token count."""

    first: float
    last: float
    tokens: int


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    workload: str
    streams: int
    ttft_ms: float
    stream_rate: float
    total_rate: float
    tokens: float  # mean per stream: a server that stops early would look fast


def summarize(
    name: str, workload: str, streams: int, rounds: list[tuple[float, list[Timing]]]
) -> Row:
    timings = [t for _, round_timings in rounds for t in round_timings]
    rates = [(t.tokens - 1) / (t.last - t.first) for t in timings if t.tokens > 1]
    tokens = sum(t.tokens for t in timings)
    wall = sum(elapsed for elapsed, _ in rounds)
    return Row(
        name,
        workload,
        streams,
        statistics.mean(t.first for t in timings) * 1000,
        statistics.mean(rates),
        tokens / wall,
        tokens / len(timings),
    )


# --- (a) the library itself ----------------------------------------------------------


TokenSource = Callable[[Any, str, int, int], Iterator[str]]


def generated_pieces(model: Any, prompt: str, seed: int, max_tokens: int) -> Iterator[str]:
    """The lean path: `Llama.generate` and one detokenize per token, as rillet's backend does."""
    import llama_cpp

    model.set_seed(seed)
    vocab = llama_cpp.llama_model_get_vocab(model.model)
    tokens = model.tokenize(prompt.encode(), add_bos=True, special=True)
    stream = model.generate(
        tokens,
        temp=SAMPLING.temperature,
        top_p=SAMPLING.top_p,
        top_k=SAMPLING.top_k,
        min_p=SAMPLING.min_p,
        repeat_penalty=SAMPLING.repeat_penalty,
        presence_penalty=SAMPLING.presence_penalty,
        frequency_penalty=SAMPLING.frequency_penalty,
    )
    for count, token in enumerate(stream, 1):
        if llama_cpp.llama_vocab_is_eog(vocab, token):
            return
        yield model.detokenize([token]).decode("utf-8", "replace")
        if count >= max_tokens:
            return


def completion_pieces(model: Any, prompt: str, seed: int, max_tokens: int) -> Iterator[str]:
    """The library's own streaming API, `Llama.create_completion(stream=True)`."""
    chunks = model.create_completion(
        prompt,
        max_tokens=max_tokens,
        stream=True,
        temperature=SAMPLING.temperature,
        top_p=SAMPLING.top_p,
        top_k=SAMPLING.top_k,
        min_p=SAMPLING.min_p,
        repeat_penalty=SAMPLING.repeat_penalty,
        presence_penalty=SAMPLING.presence_penalty,
        frequency_penalty=SAMPLING.frequency_penalty,
        seed=seed,
    )
    for chunk in cast(Iterator[dict[str, Any]], chunks):
        yield chunk["choices"][0]["text"]


def run_direct(
    name: str, pieces: TokenSource, workload: str, streams: int, runs: int, max_tokens: int
) -> Row:
    model = load_llama(
        model_path=str(packaged_model_path()),
        n_ctx=DEFAULT_CONTEXT,
        n_threads=THREADS,
        n_threads_batch=THREADS,
        verbose=False,
    )
    lock = threading.Lock()  # one context, one sequence at a time, as in any server

    def one(seed: int) -> Timing:
        start = time.perf_counter()
        first, tokens = 0.0, 0
        with lock:
            prompt = render_prompt(messages(workload, seed))
            for text in pieces(model, prompt, seed, max_tokens):
                if text:
                    tokens += 1
                    first = first or time.perf_counter() - start
        return Timing(first, time.perf_counter() - start, tokens)

    def round_(offset: int) -> tuple[float, list[Timing]]:
        results: list[Timing] = [Timing(0, 0, 0)] * streams
        start = time.perf_counter()

        def worker(i: int) -> None:
            results[i] = one(offset + i)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(streams)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.perf_counter() - start, results

    try:
        one(WARM_UP_SEED)
        rounds = [round_(100 * r) for r in range(runs)]
    finally:
        model.close()
    return summarize(name, workload, streams, rounds)


# --- (b), (c) servers through rillet's client -------------------------------------------


async def stream_once(client: AsyncOpenAI, workload: str, seed: int, max_tokens: int) -> Timing:
    start = time.perf_counter()
    first, tokens = 0.0, 0
    stream = await client.chat.completions.create(
        model="gemma",
        messages=messages(workload, seed),
        max_tokens=max_tokens,
        temperature=SAMPLING.temperature,
        top_p=SAMPLING.top_p,
        seed=seed,
        stream=True,
    )
    async with stream:
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                tokens += 1
                first = first or time.perf_counter() - start
    return Timing(first, time.perf_counter() - start, tokens)


async def run_client(
    base_url: str, name: str, workload: str, streams: int, runs: int, max_tokens: int
) -> Row:
    client = AsyncOpenAI(base_url=base_url, api_key="local", max_retries=0, timeout=600)
    try:
        await stream_once(client, workload, WARM_UP_SEED, max_tokens)
        rounds = []
        for r in range(runs):
            start = time.perf_counter()
            timings = await asyncio.gather(
                *(stream_once(client, workload, 100 * r + i, max_tokens) for i in range(streams))
            )
            rounds.append((time.perf_counter() - start, list(timings)))
    finally:
        await client.close()
    return summarize(name, workload, streams, rounds)


@contextmanager
def rillet_server(*extra: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """`rillet serve --port 0 EXTRA...` in a subprocess (environment `env`, by default this
    one's): its base URL once it listens."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rillet", "serve", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            listening = parse_listening(line)
            if listening is not None:
                yield listening.base_url
                break
        else:
            raise RuntimeError("rillet serve exited before listening")
    finally:
        stop_server(process)


@contextmanager
def llama_cpp_server(*extra: str) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable, "-c", PEER_MAIN,
        "--model", str(packaged_model_path()),
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", str(DEFAULT_CONTEXT),
        "--n_threads", str(THREADS),
        "--n_threads_batch", str(THREADS),
        "--chat_format", "gemma",  # the GGUF has no template; without this it answers nothing
        "--interrupt_requests", "False",  # serve concurrent streams to the end, as rillet does
        "--verbose", "False",
        *extra,
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_ready(lambda: answers(f"{base_url}/models"), 120, process)
        yield base_url
    finally:
        stop_server(process)


def answers(url: str) -> bool:
    """Whether a GET of `url` answers 200 now (a peer that is still loading answers 503)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def wait_ready(ready: Callable[[], bool], timeout: float, process: subprocess.Popen[bytes]) -> None:
    """Poll `ready` until it holds; fail at once if the peer process exits, or at `timeout`."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the peer server did not start")
        time.sleep(0.2)


# --- report ----------------------------------------------------------------------------


def report(rows: list[Row]) -> str:
    lines = [
        "| prompts | way | streams | tokens/stream | TTFT ms | tokens/s per stream "
        "| tokens/s total |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r.workload} | {r.name} | {r.streams} | {r.tokens:.0f} | {r.ttft_ms:.0f} "
        f"| {r.stream_rate:.1f} | {r.total_rate:.1f} |"
        for r in rows
    ]
    by = {(r.workload, r.name.split()[0], r.streams): r for r in rows}
    lines.append("")
    for workload, streams in sorted({(r.workload, r.streams) for r in rows}):
        a, b = by.get((workload, "(a)", streams)), by.get((workload, "(b)", streams))
        parts = []
        if a and b:
            parts.append(f"(b)/(a) total tokens/s = {b.total_rate / a.total_rate:.3f}")
        for key in ("(c)", "(c')"):
            c = by.get((workload, key, streams))
            if b and c:
                parts.append(f"(b)/{key} total tokens/s = {b.total_rate / c.total_rate:.3f}")
                parts.append(f"(b)/{key} TTFT = {b.ttft_ms / c.ttft_ms:.3f}")
        lines.append(f"- {workload} prompts, {streams} stream(s): " + "; ".join(parts))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3, help="rounds at 1 stream (4 streams: 1)")
    parser.add_argument("--prompts", choices=(*WORKLOADS, "both"), default="both")
    args = parser.parse_args()
    workloads = WORKLOADS if args.prompts == "both" else (args.prompts,)
    plan = [
        (workload, streams, runs)
        for workload in workloads
        for streams, runs in ((1, args.runs), (4, 1))
    ]
    rows = []
    for name, pieces in (
        ("(a) llama-cpp-python, generate loop", generated_pieces),
        ("(a') llama-cpp-python, create_completion", completion_pieces),
    ):
        rows += [run_direct(name, pieces, *step, args.max_tokens) for step in plan]
    for name, server in (
        ("(b) rillet serve + rillet client", rillet_server),
        ("(c) llama_cpp.server + rillet client", llama_cpp_server),
        ("(c') llama_cpp.server --logits_all False", partial(llama_cpp_server, *NO_LOGITS_ALL)),
    ):
        with server() as url:
            rows += [asyncio.run(run_client(url, name, *step, args.max_tokens)) for step in plan]
    ways = ["(a)", "(a')", "(b)", "(c)", "(c')"]
    rows.sort(key=lambda r: (WORKLOADS.index(r.workload), r.streams, ways.index(r.name.split()[0])))
    print(f"max_tokens {args.max_tokens}, decode threads {THREADS}")
    print(report(rows))


if __name__ == "__main__":
    main()

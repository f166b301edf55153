"""Continuous batching: `rillet serve --parallel N` against `--parallel 1`, in one run.

For each N it starts `rillet serve --parallel N` (the embedded Gemma 3 270M), then streams
through rillet's AsyncOpenAI client, with a different prompt for every request ("Write a
story about SUBJECT.", so only the shared opening comes from the prompt cache):

- 1 stream, `--runs` times; then 4 and 8 concurrent streams, `--runs` rounds each:
  median TTFT, tokens/s per stream (after its first token), total tokens/s (a round's
  tokens over its wall time, averaged over rounds);
- the stall: one stream running when a long prompt (about 600 tokens) arrives; the
  longest gap between two of the running stream's tokens while the prompt is evaluated,
  and the long request's own TTFT.

    python benchmarks/batching.py --parallel 1 4 8 --max-tokens 64 --runs 2

The servers run one after another (the machine has two cores), so compare rows of one
run only, as ratios against `--parallel 1`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass

from local_model import rillet_server  # benchmarks/ is on sys.path when run as a script
from rillet import AsyncOpenAI

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


@dataclass(frozen=True, slots=True)
class Timing:
    first: float
    last: float
    tokens: int
    start: float
    stamps: tuple[float, ...]  # when each content chunk arrived (perf_counter)


async def stream_once(
    client: AsyncOpenAI,
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
        seed=seed,
        stream=True,
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


async def measure(url: str, parallel: int, max_tokens: int, runs: int) -> list[str]:
    client = AsyncOpenAI(base_url=url, api_key="local", max_retries=0, timeout=600)
    rows = []
    try:
        await stream_once(client, story(11), 11, 8)  # warm-up
        for streams in (1, 4, 8):
            ttfts, rates, totals, counts = [], [], [], []
            for r in range(runs):
                start = time.perf_counter()
                timings = await asyncio.gather(
                    *(
                        stream_once(client, story(r * 8 + i), r * 8 + i, max_tokens)
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
                f"| {parallel} | {streams} | {statistics.mean(counts):.0f} "
                f"| {1000 * statistics.median(ttfts):.0f} | {statistics.mean(rates):.1f} "
                f"| {statistics.mean(totals):.1f} |"
            )
        # The stall: a long prompt arrives while one stream is running.
        tenth = asyncio.Event()
        running = asyncio.ensure_future(stream_once(client, story(3), 3, 48, (10, tenth)))
        await tenth.wait()
        long = await stream_once(client, LONG_PROMPT, 5, 2)
        arrived, evaluated = long.start, long.start + long.first
        done = await running
        pairs = list(zip(done.stamps, done.stamps[1:], strict=False))
        gaps = [b - a for a, b in pairs]
        # Gaps of the running stream that overlap the long prompt's evaluation.
        during = [b - a for a, b in pairs if b > arrived and a < evaluated]
        typical = statistics.median(gaps) if gaps else 0.0
        rows.append(
            f"| {parallel} | stall | longest gap {1000 * max(during, default=0):.0f} ms "
            f"(median gap {1000 * typical:.0f} ms) | long prompt TTFT {1000 * long.first:.0f} ms "
            f"| | |"
        )
    finally:
        await client.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    print(
        "| --parallel | streams | tokens/stream | TTFT ms (median) | tokens/s per stream "
        "| tokens/s total |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for parallel in args.parallel:
        with rillet_server("--parallel", str(parallel)) as url:
            for row in asyncio.run(measure(url, parallel, args.max_tokens, args.runs)):
                print(row, flush=True)


if __name__ == "__main__":
    main()

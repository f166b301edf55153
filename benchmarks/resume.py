"""Resumable streams in one run: what the event log costs the server, how quickly a cut
stream goes on, and what the same faults do to rillet's client and to the official one.

    python benchmarks/resume.py [--duration 3] [--concurrency 1 64] [--cuts 5] [--streams 200]

1. **Logging cost.** `rillet serve --backend synthetic` under the raw-socket load of
   benchmarks/server_throughput.py: plain streams, resumable streams logged in memory
   (`X-Rillet-Resumable: 1`), and resumable streams mirrored to a real `redis-server`
   (`--store redis://`). Server CPU per chunk from /proc (Redis's own CPU reported apart),
   and each row's ratio to the plain one.
2. **Time to resume.** A paced server (50 tokens/s) behind tests/faults.py's proxy, which
   closes the first connection after a few kilobytes. rillet's client reattaches by itself;
   the peer is the streaming guide's retry loop on the official `openai` client (catch,
   sleep `2 ** attempt`, start over). Measured: the gap from the last chunk before the cut
   to the first chunk of text not seen before, and the chunks received twice.
3. **Faulted outcomes.** The same randomly faulted streams (tests/faults.py's plan: half of
   the connections closed, reset, stalled, dribbled or delayed) through each client:
   complete and identical to the unfaulted answer, an exception, silently cut short, or
   text repeated.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import httpx  # noqa: E402
import openai  # noqa: E402
from tests._redis import redis_server  # noqa: E402
from tests.faults import Fault, FaultProxy, random_plan  # noqa: E402

import rillet  # noqa: E402
import server_throughput as st  # noqa: E402

BODY: dict[str, Any] = {**st.BODY, "max_tokens": 64}
OPT_IN = b"X-Rillet-Resumable: 1\r\n"
MESSAGES: list[Any] = [{"role": "user", "content": "Write a story about a robot."}]
PACED_TOKENS = 80
CUT_AT = 4000  # answer bytes before the cut: about 15 chunks in


def serve(*options: str) -> st.Server:
    return st.start("rillet", [sys.executable, "-m", "rillet", "serve", "--port", "0", *options])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / st.TICKS


# --- 1. logging cost -------------------------------------------------------------------------


def logging_cost(duration: float, concurrency: list[int]) -> list[dict[str, Any]]:
    rows = []
    with redis_server() as (store, redis_process):
        plain_server = serve("--backend", "synthetic")
        redis_backed = serve("--backend", "synthetic", "--store", store)
        ways = [
            ("plain", plain_server, b"", None),
            ("resumable, memory log", plain_server, OPT_IN, None),
            ("resumable, Redis log", redis_backed, OPT_IN, redis_process.pid),
        ]
        try:
            for conc in concurrency:
                for name, server, headers, redis_pid in ways:
                    load = st.generate_load("127.0.0.1", server.port, BODY, conc, 0.5, headers)
                    asyncio.run(load)  # warm up
                    before = server.cpu_seconds()
                    redis_before = cpu_seconds(redis_pid) if redis_pid else 0.0
                    load = st.generate_load("127.0.0.1", server.port, BODY, conc, duration, headers)
                    result = asyncio.run(load)
                    chunks = max(result["chunks"], 1)
                    redis_cpu = cpu_seconds(redis_pid) - redis_before if redis_pid else 0.0
                    rows.append(
                        {
                            "conc": conc,
                            "way": name,
                            "chunks/s": result["chunks"] / result["elapsed"],
                            "server_us": (server.cpu_seconds() - before) / chunks * 1e6,
                            "redis_us": redis_cpu / chunks * 1e6,
                        }
                    )
        finally:
            plain_server.stop()
            redis_backed.stop()
    return rows


# --- 2. time to resume -----------------------------------------------------------------------


def cut_first_connection(number: int) -> Fault:
    return Fault("close", CUT_AT) if number == 0 else Fault()


def rillet_resume(upstream: tuple[str, int]) -> tuple[float, int, str]:
    """(gap at the cut in s, chunks received twice, text) for rillet's own resume."""
    proxy = FaultProxy(upstream, cut_first_connection)
    times: list[float] = []
    pieces: list[str] = []
    with (
        proxy.running(),
        rillet.OpenAI(base_url=f"{proxy.url}/v1", api_key="bench", timeout=30) as client,
    ):
        stream = client.chat.completions.create(
            model="gpt-4", messages=MESSAGES, max_tokens=PACED_TOKENS, stream=True
        )
        with stream:
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    times.append(time.perf_counter())
                    pieces.append(chunk.choices[0].delta.content)
        assert stream.resumes == 1, stream.resumes
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return max(gaps), 0, "".join(pieces)


def guide_retry(upstream: tuple[str, int]) -> tuple[float, int, str]:
    """The same for the streaming guide's retry loop on the official client: on a
    connection error, sleep 2 ** attempt and ask again from the start."""
    proxy = FaultProxy(upstream, cut_first_connection)
    printed: list[str] = []
    seen = 0  # characters of the answer already shown
    cut_at = 0.0
    gap = 0.0
    repeated = 0
    last_chunk = time.perf_counter()
    with proxy.running(), openai.OpenAI(base_url=f"{proxy.url}/v1", api_key="bench") as client:
        for attempt in range(3):
            shown = 0  # characters of this attempt's answer
            try:
                stream = client.chat.completions.create(
                    model="gpt-4", messages=MESSAGES, max_tokens=PACED_TOKENS, stream=True
                )
                for chunk in stream:
                    content = chunk.choices[0].delta.content if chunk.choices else None
                    if not content:
                        continue
                    printed.append(content)
                    shown += len(content)
                    if shown <= seen:
                        repeated += 1
                    elif cut_at and not gap:
                        gap = time.perf_counter() - cut_at
                    if shown > seen:
                        seen = shown
                        last_chunk = time.perf_counter()
                break
            except (openai.APIConnectionError, httpx.TransportError):
                # The guide catches openai.APIConnectionError; httpx's own errors are
                # caught too, in case one escapes mid-stream.
                cut_at = last_chunk
                time.sleep(2**attempt)
    return gap, repeated, "".join(printed)


def resume_times(cuts: int) -> dict[str, dict[str, float]]:
    paced = serve("--backend", "synthetic", "--tokens-per-second", "50")
    upstream = ("127.0.0.1", paced.port)
    try:
        expected = httpx.post(
            f"http://127.0.0.1:{paced.port}/v1/chat/completions",
            json={"model": "gpt-4", "messages": MESSAGES, "max_tokens": PACED_TOKENS},
            timeout=60,
        ).json()["choices"][0]["message"]["content"]
        out = {}
        for name, run in (("rillet", rillet_resume), ("openai + guide retry", guide_retry)):
            gaps, repeats, exact = [], [], 0
            for _ in range(cuts):
                gap, repeated, text = run(upstream)
                gaps.append(gap)
                repeats.append(repeated)
                exact += text == expected
            out[name] = {
                "gap_ms": statistics.median(gaps) * 1e3,
                "repeated": statistics.median(repeats),
                "exact": exact,
                "runs": cuts,
            }
    finally:
        paced.stop()
    return out


# --- 3. faulted outcomes ---------------------------------------------------------------------


def outcome(run: Callable[[], str], expected: str) -> str:
    try:
        text = run()
    except (rillet.OpenAIError, openai.OpenAIError):
        return "typed error"
    except Exception:
        return "untyped error"
    if text == expected:
        return "complete, identical"
    if expected.startswith(text):
        return "silently cut short"
    return "text repeated or changed"


def faulted_outcomes(streams: int) -> dict[str, Counter[str]]:
    server = serve("--backend", "synthetic")
    upstream = ("127.0.0.1", server.port)
    arguments: dict[str, Any] = {"model": "gpt-4", "messages": MESSAGES, "max_tokens": 40}
    tallies: dict[str, Counter[str]] = {}
    try:
        with rillet.OpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="b") as c:
            expected = c.chat.completions.create(**arguments).choices[0].message.content
        for name, make in CLIENTS.items():
            proxy = FaultProxy(upstream, random_plan(2026))
            with proxy.running(), make(f"{proxy.url}/v1") as client:

                def one(client: Any = client, name: str = name) -> str:
                    return READERS[name](client, arguments)

                with ThreadPoolExecutor(16) as pool:
                    results = pool.map(lambda _: outcome(one, expected or ""), range(streams))
                    tallies[name] = Counter(results)
    finally:
        server.stop()
    return tallies


def read_all(client: Any, arguments: dict[str, Any]) -> str:
    return "".join(_pieces(client, arguments))


def read_with_guide_retry(client: Any, arguments: dict[str, Any]) -> str:
    """What the guide's retry loop prints (its sleeps shortened to keep the run short)."""
    printed: list[str] = []
    for attempt in range(3):
        try:
            printed.extend(_pieces(client, arguments))
            break
        except (openai.APIConnectionError, httpx.TransportError):
            if attempt == 2:
                raise
            time.sleep(0.05 * 2**attempt)
    return "".join(printed)


def _pieces(client: Any, arguments: dict[str, Any]) -> Iterator[str]:
    with client.chat.completions.create(**arguments, stream=True) as stream:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content


CLIENTS: dict[str, Callable[[str], Any]] = {
    "rillet": lambda url: rillet.OpenAI(
        base_url=url, api_key="b", timeout=10, stream_idle_timeout=0.5, max_stream_resumes=6
    ),
    "openai": lambda url: openai.OpenAI(base_url=url, api_key="b", timeout=10),
    "openai + guide retry": lambda url: openai.OpenAI(base_url=url, api_key="b", timeout=10),
}
READERS: dict[str, Callable[[Any, dict[str, Any]], str]] = {
    "rillet": read_all,
    "openai": read_all,
    "openai + guide retry": read_with_guide_retry,
}


# --- report ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per load row")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--cuts", type=int, default=5, help="cut streams per client")
    parser.add_argument("--streams", type=int, default=200, help="faulted streams per client")
    args = parser.parse_args()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")

    rows = logging_cost(args.duration, args.concurrency)
    print("\n| streams | way | chunks/s | server CPU µs/chunk | Redis CPU µs/chunk | ÷ plain |")
    print("|---:|---|---:|---:|---:|---:|")
    for row in rows:
        plain = next(r for r in rows if r["conc"] == row["conc"] and r["way"] == "plain")
        ratio = (row["server_us"] + row["redis_us"]) / plain["server_us"]
        print(
            f"| {row['conc']} | {row['way']} | {row['chunks/s']:,.0f} | {row['server_us']:.1f} "
            f"| {row['redis_us']:.1f} | {ratio:.2f} |"
        )

    times = resume_times(args.cuts)
    print("\n| client | gap at the cut, median ms | chunks received twice | text exact |")
    print("|---|---:|---:|---:|")
    for name, row in times.items():
        print(
            f"| {name} | {row['gap_ms']:.0f} | {row['repeated']:.0f} "
            f"| {row['exact']}/{row['runs']} |"
        )
    ratio = times["openai + guide retry"]["gap_ms"] / times["rillet"]["gap_ms"]
    print(f"\nguide retry ÷ rillet, gap: {ratio:.1f}x")

    tallies = faulted_outcomes(args.streams)
    kinds = sorted({kind for tally in tallies.values() for kind in tally})
    print("\n| client | " + " | ".join(kinds) + " |")
    print("|---|" + "---:|" * len(kinds))
    for name, tally in tallies.items():
        print(f"| {name} | " + " | ".join(str(tally[k]) for k in kinds) + " |")


if __name__ == "__main__":
    main()

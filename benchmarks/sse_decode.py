"""Microseconds per event for ``SSEDecoder`` against a naive split-and-slice floor.

The stream imitates a chat completion: ~50k ``data: {chunk JSON}`` events of ~250 bytes,
LF line ends, read in 4 KiB pieces so events regularly straddle reads. Two floors are
timed in the same run: one that only slices the payload bytes out, and one that also
wraps each payload in a ``ServerSentEvent`` (the least any decoder has to hand back).
Ratios, not absolute times, are the figure to compare across machines.

    python benchmarks/sse_decode.py [--events N] [--read-size BYTES] [--repeat K]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable

import orjson

from rillet._sse import ServerSentEvent, SSEDecoder


def make_stream(events: int) -> bytes:
    out = bytearray()
    for i in range(events):
        chunk = {
            "id": "chatcmpl-5f1e2d3c4b5a69788796a5b4c3d2e1f0",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000 + i // 100,
            "model": "gemma-3-270m-it",
            "system_fingerprint": "fp_synthetic",
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": f" token{i % 997}"},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ],
        }
        out += b"data: " + orjson.dumps(chunk) + b"\n\n"
    return bytes(out)


def reads(stream: bytes, size: int) -> list[bytes]:
    return [stream[i : i + size] for i in range(0, len(stream), size)]


def floor_slices(chunks: Iterable[bytes]) -> int:
    """Split on blank lines and slice off ``data: ``; nothing else (no fields, no CR)."""
    count = 0
    buf = b""
    for chunk in chunks:
        blocks = (buf + chunk).split(b"\n\n")
        buf = blocks.pop()
        count += len([b[6:] for b in blocks])
    return count


def floor_events(chunks: Iterable[bytes]) -> int:
    """The same floor, handing back ``ServerSentEvent`` objects as a decoder must."""
    count = 0
    buf = b""
    for chunk in chunks:
        blocks = (buf + chunk).split(b"\n\n")
        buf = blocks.pop()
        count += len([ServerSentEvent(b[6:]) for b in blocks])
    return count


def decoder(chunks: Iterable[bytes]) -> int:
    dec = SSEDecoder()
    count = 0
    for chunk in chunks:
        count += len(dec.feed(chunk))
    return count


def best_time(fn: Callable[[list[bytes]], int], chunks: list[bytes], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(chunks)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--read-size", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    stream = make_stream(args.events)
    chunks = reads(stream, args.read_size)
    contenders = (floor_slices, floor_events, decoder)
    for fn in contenders:
        assert fn(chunks) == args.events, fn.__name__

    avg = len(stream) / args.events - len(b"data: \n\n")
    print(f"{args.events} events, ~{avg:.0f} B of JSON each, {args.read_size} B reads")
    times = {
        fn.__name__: best_time(fn, chunks, args.repeat)
        for fn in (floor_slices, floor_events, decoder)
    }
    for name, seconds in times.items():
        print(f"  {name:<13} {seconds / args.events * 1e6:6.3f} us/event")
    print(f"  decoder / floor_slices = {times['decoder'] / times['floor_slices']:.2f}x")
    print(f"  decoder / floor_events = {times['decoder'] / times['floor_events']:.2f}x")


if __name__ == "__main__":
    main()

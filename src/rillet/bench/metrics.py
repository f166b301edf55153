"""Metrics from request records: pure functions, defined in docs/bench.md.

Latencies are in milliseconds, rates per second. A request counts only when it is not a
warm-up request; errors and cancellations are counted, but only requests that finished
without error enter the latency distributions and the throughput.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rillet.bench.runner import RequestRecord, RunResult

STATS = ("mean", "median", "p90", "p95", "p99", "max")
SLO_METRICS = ("ttft", "tpot", "itl", "e2e")
SATURATED_CPU = 0.9  # share of one core above which the generator may be the bottleneck


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks, as
    numpy.percentile's default (which vLLM's `bench serve` uses)."""
    if not sorted_values:
        raise ValueError("no values")
    position = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def distribution(values: Iterable[float]) -> dict[str, float] | None:
    """count, mean, median, p90, p95, p99, max; None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    return {
        "count": len(ordered),
        "mean": sum(ordered) / len(ordered),
        "median": percentile(ordered, 50),
        "p90": percentile(ordered, 90),
        "p95": percentile(ordered, 95),
        "p99": percentile(ordered, 99),
        "max": ordered[-1],
    }


def output_tokens(record: RequestRecord) -> int:
    """The server's completion token count when it sent usage, else text chunks counted."""
    if record.usage_output_tokens is not None:
        return record.usage_output_tokens
    return len(record.content_times)


def ttft(record: RequestRecord) -> float | None:
    """Sent -> first chunk carrying text, ms."""
    if not record.content_times:
        return None
    return (record.content_times[0] - record.start) * 1000


def ttfb(record: RequestRecord) -> float | None:
    """Sent -> response headers, ms."""
    return None if record.headers is None else (record.headers - record.start) * 1000


def first_event(record: RequestRecord) -> float | None:
    """Sent -> first SSE event of any kind, ms."""
    return None if record.first_event is None else (record.first_event - record.start) * 1000


def e2e(record: RequestRecord) -> float | None:
    """Sent -> stream finished, ms."""
    return None if record.end is None else (record.end - record.start) * 1000


def tpot(record: RequestRecord) -> float | None:
    """(E2E - TTFT) / (output tokens - 1), ms; None below two tokens."""
    first, total, tokens = ttft(record), e2e(record), output_tokens(record)
    if first is None or total is None or tokens < 2:
        return None
    return (total - first) / (tokens - 1)


def itls(record: RequestRecord) -> list[float]:
    """Gaps between consecutive text chunks, ms."""
    times = record.content_times
    return [(b - a) * 1000 for a, b in itertools.pairwise(times)]


def queue_time(record: RequestRecord) -> float:
    """Scheduled -> sent, ms (waiting for a --max-concurrency slot, or a late scheduler)."""
    return max(0.0, (record.start - record.scheduled) * 1000)


def e2e_queued(record: RequestRecord) -> float | None:
    """Scheduled -> stream finished, ms: what a caller who wanted to send at the scheduled
    time waits."""
    return None if record.end is None else (record.end - record.scheduled) * 1000


@dataclass(frozen=True, slots=True)
class Slo:
    """Per-request limits in ms; a request meets them when each measured value is <= its
    limit (a request with one token has no TPOT or ITL and meets those)."""

    limits: dict[str, float]

    def met(self, record: RequestRecord) -> bool:
        for name, limit in self.limits.items():
            if name == "itl":
                gaps = itls(record)
                if gaps and max(gaps) > limit:
                    return False
                continue
            value = {"ttft": ttft, "tpot": tpot, "e2e": e2e}[name](record)
            if value is None:
                if name == "ttft":
                    return False  # no text at all
                continue
            if value > limit:
                return False
        return True


def parse_slo(items: Sequence[str]) -> Slo:
    """`ttft=500ms tpot=50ms e2e=2s` -> limits in ms. Units: ms (default) or s."""
    limits: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        if not sep or name not in SLO_METRICS:
            raise ValueError(f"--slo expects NAME=VALUE with NAME one of {', '.join(SLO_METRICS)}")
        text = value.strip().lower()
        scale = 1.0
        if text.endswith("ms"):
            text = text[:-2]
        elif text.endswith("s"):
            text, scale = text[:-1], 1000.0
        try:
            number = float(text) * scale
        except ValueError:
            raise ValueError(f"--slo {item!r}: {value!r} is not a duration like 500ms") from None
        if not math.isfinite(number) or number <= 0:
            raise ValueError(f"--slo {item!r}: the limit must be positive")
        limits[name] = number
    return Slo(limits)


def summarize(result: RunResult, slo: Slo | None = None) -> dict[str, Any]:
    """Everything the report shows for one run, as plain JSON-ready data."""
    measured = [r for r in result.records if not r.warmup]
    done = [r for r in measured if r.ok]
    failed = [r for r in measured if r.error_type is not None]
    cancelled = [r for r in measured if r.cancelled]
    # The measurement window: first measured request sent -> last measured request ended.
    ended = [r.end for r in measured if r.end is not None]
    window = (max(ended) - min(r.start for r in measured)) if ended else 0.0
    tokens = [output_tokens(r) for r in done]
    with_usage = sum(1 for r in done if r.usage_output_tokens is not None)
    if not done:
        source = "none"
    elif with_usage == len(done):
        source = "usage"
    elif with_usage == 0:
        source = "chunks"
    else:
        source = "mixed"
    errors = Counter(r.error_type for r in failed)
    events = sum(r.events for r in result.records)
    per_second = (lambda n: n / window) if window > 0 else (lambda n: 0.0)
    summary: dict[str, Any] = {
        "label": result.spec.label,
        "concurrency": result.spec.concurrency,
        "rate": result.spec.rate,
        "burstiness": result.spec.burstiness,
        "max_concurrency": result.spec.max_concurrency,
        "interrupted": result.interrupted,
        "requests": {
            "measured": len(measured),
            "completed": len(done),
            "failed": len(failed),
            "cancelled": len(cancelled),
            "warmup": len(result.records) - len(measured),
        },
        "errors": dict(errors),
        "first_error": (
            f"{failed[0].error_type}: {failed[0].error}"
            if failed
            else None  # the first by request index: records are kept in issue order
        ),
        "duration_s": window,
        "output_tokens": sum(tokens),
        "input_tokens": sum(r.usage_input_tokens or 0 for r in done),
        "token_source": source,
        "request_throughput": per_second(len(done)),
        "output_throughput": per_second(sum(tokens)),
        "latency_ms": {
            "ttft": distribution(v for r in done if (v := ttft(r)) is not None),
            "ttfb": distribution(v for r in done if (v := ttfb(r)) is not None),
            "first_event": distribution(v for r in done if (v := first_event(r)) is not None),
            "tpot": distribution(v for r in done if (v := tpot(r)) is not None),
            "itl": distribution(gap for r in done for gap in itls(r)),
            "e2e": distribution(v for r in done if (v := e2e(r)) is not None),
            "queue": distribution(queue_time(r) for r in done),
            "e2e_queued": distribution(v for r in done if (v := e2e_queued(r)) is not None),
        },
        "output_tokens_per_request": distribution(float(n) for n in tokens),
        "generator": generator_load(result.cpu, result.wall, events),
    }
    if slo is not None:
        good = sum(1 for r in done if slo.met(r))
        summary["goodput"] = {
            "slo_ms": dict(slo.limits),
            "requests_met": good,
            "share_met": good / len(measured) if measured else 0.0,
            "requests_per_s": per_second(good),
        }
    return summary


def generator_load(cpu: float, wall: float, events: int) -> dict[str, Any]:
    """The load generator's own cost: CPU seconds, µs per SSE event, share of one core."""
    share = cpu / wall if wall > 0 else 0.0
    return {
        "cpu_s": cpu,
        "wall_s": wall,
        "events": events,
        "cpu_us_per_event": cpu / events * 1e6 if events else None,
        "cpu_share_of_one_core": share,
        # Below a second of wall time the share is dominated by start-up work: no verdict.
        "saturated": share >= SATURATED_CPU and wall >= 1.0,
    }

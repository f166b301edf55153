"""PNG plots of a run: latency CDFs, throughput and concurrency over time, and for a
sweep, latency against throughput. matplotlib is imported only here, and only when called;
figures are built on `matplotlib.figure.Figure` (no pyplot, no GUI backend)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rillet.bench.metrics import e2e, itls, output_tokens, tpot, ttft
from rillet.bench.runner import RequestRecord

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

INSTALL_HINT = "plots need matplotlib: pip install 'rillet[bench]'"
Run = tuple[dict[str, Any], Sequence[RequestRecord]]


class PlotsUnavailable(RuntimeError):
    pass


def _figure_class() -> type[Figure]:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotsUnavailable(INSTALL_HINT) from None
    return Figure


def _cdf(axes: Axes, values: list[float], label: str) -> None:
    ordered = sorted(values)
    if not ordered:
        return
    fractions = [(i + 1) / len(ordered) for i in range(len(ordered))]
    axes.step(ordered, fractions, where="post", label=label)


def latency_cdfs(runs: Sequence[Run]) -> Figure:
    figure = _figure_class()(figsize=(10, 7), layout="constrained")
    grid = figure.subplots(2, 2)
    panels: tuple[tuple[str, str, Callable[[list[RequestRecord]], list[float]]], ...] = (
        ("TTFT (ms)", "fraction of requests", lambda rs: _values(ttft, rs)),
        ("TPOT (ms)", "fraction of requests", lambda rs: _values(tpot, rs)),
        ("ITL (ms)", "fraction of chunk gaps", lambda rs: [g for r in rs for g in itls(r)]),
        ("E2E latency (ms)", "fraction of requests", lambda rs: _values(e2e, rs)),
    )
    for axes, (xlabel, ylabel, pick) in zip(grid.flat, panels, strict=True):
        for summary, records in runs:
            _cdf(axes, pick(_measured(records)), summary["label"])
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
        axes.grid(True, alpha=0.3)
    grid.flat[0].legend(fontsize="small")
    figure.suptitle("latency CDFs")
    return figure


def timeline(runs: Sequence[Run], bucket: float | None = None) -> Figure:
    """Output tokens/s per `bucket` seconds (default: a 40th of the longest run, at least
    50 ms) and requests in flight, over each run."""
    figure = _figure_class()(figsize=(10, 6), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True)
    if bucket is None:
        longest = max((r.end or 0.0 for _, records in runs for r in records), default=0.0)
        bucket = max(0.05, longest / 40)
    for summary, records in runs:
        measured = _measured(records)
        if not measured:
            continue
        end = max(r.end or r.start for r in measured)
        buckets = [0.0] * (int(end / bucket) + 1)
        for r in measured:
            if not r.content_times:
                continue
            per_chunk = output_tokens(r) / len(r.content_times)  # spread usage over chunks
            for t in r.content_times:
                buckets[int(t / bucket)] += per_chunk / bucket
        starts = [i * bucket for i in range(len(buckets))]
        top.step(starts, buckets, where="post", label=summary["label"])
        changes = sorted(
            [(r.start, 1) for r in measured] + [(r.end, -1) for r in measured if r.end is not None]
        )
        times, counts, level = [0.0], [0], 0
        for t, step in changes:
            level += step
            times.append(t)
            counts.append(level)
        bottom.step(times, counts, where="post", label=summary["label"])
    top.set_ylabel("output tokens/s")
    bottom.set_ylabel("requests in flight")
    bottom.set_xlabel("time since start (s)")
    for axes in (top, bottom):
        axes.grid(True, alpha=0.3)
    top.legend(fontsize="small")
    figure.suptitle("throughput and concurrency over time")
    return figure


def latency_vs_throughput(runs: Sequence[Run]) -> Figure:
    figure = _figure_class()(figsize=(8, 5), layout="constrained")
    axes = figure.subplots()
    throughput = [s["output_throughput"] for s, _ in runs]
    for key, name in (("ttft", "TTFT median"), ("tpot", "TPOT median"), ("itl", "ITL median")):
        values = [(s["latency_ms"].get(key) or {}).get("median") for s, _ in runs]
        points = [(x, y) for x, y in zip(throughput, values, strict=True) if y is not None]
        if points:
            axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    for (summary, _), x in zip(runs, throughput, strict=True):
        axes.annotate(summary["label"], (x, 0), fontsize="x-small", rotation=30)
    axes.set_xlabel("output tokens/s")
    axes.set_ylabel("latency (ms)")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize="small")
    figure.suptitle("latency versus throughput")
    return figure


def build_figures(runs: Sequence[Run]) -> dict[str, Figure]:
    """File stem -> figure; the sweep plot only for more than one load level."""
    figures = {"latency_cdf": latency_cdfs(runs), "timeline": timeline(runs)}
    if len(runs) > 1:
        figures["latency_vs_throughput"] = latency_vs_throughput(runs)
    return figures


def save_plots(directory: Path, runs: Sequence[Run]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, figure in build_figures(runs).items():
        path = directory / f"{stem}.png"
        figure.savefig(path, dpi=100)
        paths.append(path)
    return paths


def _values(
    metric: Callable[[RequestRecord], float | None], records: Sequence[RequestRecord]
) -> list[float]:
    return [v for r in records if (v := metric(r)) is not None]


def _measured(records: Sequence[RequestRecord]) -> list[RequestRecord]:
    return [r for r in records if not r.warmup and r.ok]

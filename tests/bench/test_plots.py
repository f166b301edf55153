from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rillet.bench.metrics import summarize
from rillet.bench.runner import RequestRecord
from tests.bench._records import record, result

pytest.importorskip("matplotlib")

from rillet.bench.plots import build_figures, save_plots

PNG = b"\x89PNG\r\n\x1a\n"


def two_runs() -> list[tuple[dict[str, Any], list[RequestRecord]]]:
    runs = []
    for label, shift in (("concurrency=1", 0.0), ("concurrency=4", 0.05)):
        records = [
            record(
                i, i * 0.5, [i * 0.5 + 0.1 + shift, i * 0.5 + 0.15 + shift], i * 0.5 + 0.2 + shift
            )
            for i in range(6)
        ]
        summary = summarize(result(records))
        summary["label"] = label
        runs.append((summary, records))
    return runs


def labels(figure: object) -> list[tuple[str, str]]:
    return [(a.get_xlabel(), a.get_ylabel()) for a in figure.axes]  # type: ignore[attr-defined]


def test_figures_have_the_expected_axes() -> None:
    figures = build_figures(two_runs())
    assert set(figures) == {"latency_cdf", "timeline", "latency_vs_throughput"}
    assert labels(figures["latency_cdf"]) == [
        ("TTFT (ms)", "fraction of requests"),
        ("TPOT (ms)", "fraction of requests"),
        ("ITL (ms)", "fraction of chunk gaps"),
        ("E2E latency (ms)", "fraction of requests"),
    ]
    assert labels(figures["timeline"]) == [
        ("", "output tokens/s"),
        ("time since start (s)", "requests in flight"),
    ]
    assert labels(figures["latency_vs_throughput"]) == [("output tokens/s", "latency (ms)")]
    cdf = figures["latency_cdf"].axes[0]
    assert len(cdf.get_lines()) == 2  # one curve per load level
    assert "latency_vs_throughput" not in build_figures(two_runs()[:1])


def test_saved_plots_are_pngs(tmp_path: Path) -> None:
    paths = save_plots(tmp_path, two_runs())
    assert sorted(p.name for p in paths) == [
        "latency_cdf.png",
        "latency_vs_throughput.png",
        "timeline.png",
    ]
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(PNG) and len(data) > 5000

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from rillet.bench.metrics import parse_slo, summarize
from rillet.bench.report import (
    ResultsError,
    compare,
    format_report,
    load_summary,
    write_results,
)
from rillet.bench.runner import RequestRecord
from tests.bench._records import failed, record, result


def runs() -> list[tuple[dict[str, Any], list[RequestRecord]]]:
    records = [
        record(0, 0.0, [0.1, 0.2, 0.3], 0.3, usage=3),
        record(1, 0.0, [0.2, 0.3], 0.4),
        failed(2, 0.1, 0.2, "APIConnectionError", "Connection error."),
    ]
    return [(summarize(result(records), parse_slo(["ttft=150ms"])), records)]


def test_terminal_report_names_every_figure() -> None:
    ((summary, _),) = runs()
    text = format_report([summary])
    for expected in (
        "concurrency=2",
        "2 completed, 1 failed",
        "requests/s",
        "output tokens/s",
        "usage where sent, else chunks counted",
        "goodput (ttft<=150ms)",
        "TTFT",
        "TPOT",
        "ITL",
        "E2E incl. queue",
        "APIConnectionError x1; first: APIConnectionError: Connection error.",
        "p99",
        "us/event",
        "of one core",
    ):
        assert expected in text
    assert "WARNING" not in text
    summary["generator"]["saturated"] = True
    assert "WARNING: the load generator used nearly a whole core" in format_report([summary])
    sweep = format_report([summary, {**summary, "label": "concurrency=4"}])
    assert "== sweep" in sweep and "concurrency=4" in sweep


def test_result_folder_round_trips_through_compare(tmp_path: Path) -> None:
    data = runs()
    paths = write_results(tmp_path / "a", {"model": "m"}, data)
    assert [p.name for p in paths] == ["summary.json", "requests.jsonl", "requests.csv"]
    lines = [json.loads(x) for x in (tmp_path / "a" / "requests.jsonl").read_text().splitlines()]
    assert len(lines) == 3
    assert lines[0]["content_times"] == [0.1, 0.2, 0.3]
    assert lines[0]["ttft_ms"] == pytest.approx(100)
    assert lines[2]["error_type"] == "APIConnectionError"
    with (tmp_path / "a" / "requests.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["content_chunks"] for r in rows] == ["3", "2", "0"]
    loaded = load_summary(tmp_path / "a")
    assert loaded["runs"][0] == json.loads(json.dumps(data[0][0]))
    assert loaded["config"] == {"model": "m"}

    faster = json.loads(json.dumps(loaded))
    faster["runs"][0]["output_throughput"] *= 2
    text = compare(loaded, faster)
    row = next(line for line in text.splitlines() if line.startswith("output tokens/s"))
    assert row.split()[-1] == "2.00"
    assert (
        next(line for line in text.splitlines() if line.startswith("TTFT median ms")).split()[-1]
        == "1.00"
    )
    other = json.loads(json.dumps(loaded))
    other["runs"][0]["label"] = "rate=3"
    text = compare(loaded, other)
    assert "concurrency=2: only in A" in text and "rate=3: only in B" in text


def test_load_summary_errors(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="no such file"):
        load_summary(tmp_path)
    (tmp_path / "summary.json").write_text("{")
    with pytest.raises(ResultsError, match="cannot read"):
        load_summary(tmp_path)
    (tmp_path / "summary.json").write_text("[]")
    with pytest.raises(ResultsError, match="not a rillet bench summary"):
        load_summary(tmp_path)

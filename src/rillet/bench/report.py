"""The terminal summary, result folders (summary.json, requests.jsonl, requests.csv), and
`rillet bench compare`."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rillet._version import __version__
from rillet.bench.metrics import STATS, e2e, output_tokens, tpot, ttft
from rillet.bench.runner import RequestRecord

SUMMARY = "summary.json"
REQUESTS_JSONL = "requests.jsonl"
REQUESTS_CSV = "requests.csv"

LATENCY_ROWS = (
    ("ttft", "TTFT"),
    ("ttfb", "time to headers"),
    ("first_event", "time to 1st event"),
    ("tpot", "TPOT"),
    ("itl", "ITL"),
    ("e2e", "E2E"),
    ("queue", "queue"),
    ("e2e_queued", "E2E incl. queue"),
)
TOKEN_SOURCES = {
    "usage": "the server's usage",
    "chunks": "text chunks counted (no usage sent)",
    "mixed": "usage where sent, else chunks counted",
    "none": "no completed request",
}


class ResultsError(ValueError):
    """A result folder that cannot be read; the message is for the user."""


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    return [line(header), "  ".join("-" * w for w in widths), *(line(row) for row in rows)]


def format_run(summary: dict[str, Any]) -> str:
    """One run's block: counts, throughput, the latency table, the generator's cost."""
    requests = summary["requests"]
    lines = [f"== {summary['label']}" + ("  (interrupted)" if summary["interrupted"] else "")]
    lines.append(
        f"requests: {requests['completed']} completed, {requests['failed']} failed, "
        f"{requests['cancelled']} cancelled ({requests['warmup']} warm-up not counted) "
        f"in {summary['duration_s']:.2f} s"
    )
    lines.append(
        f"throughput: {summary['request_throughput']:.2f} requests/s, "
        f"{summary['output_throughput']:.1f} output tokens/s "
        f"({summary['output_tokens']} tokens, counted from "
        f"{TOKEN_SOURCES[summary['token_source']]})"
    )
    goodput = summary.get("goodput")
    if goodput is not None:
        slo = " ".join(f"{k}<={v:g}ms" for k, v in goodput["slo_ms"].items())
        lines.append(
            f"goodput ({slo}): {goodput['requests_per_s']:.2f} requests/s, "
            f"{goodput['requests_met']} requests ({goodput['share_met']:.0%}) met every SLO"
        )
    if summary["errors"]:
        counts = ", ".join(f"{name} x{count}" for name, count in summary["errors"].items())
        lines.append(f"errors: {counts}; first: {summary['first_error']}")
    rows = []
    for key, name in LATENCY_ROWS:
        dist = summary["latency_ms"].get(key)
        if dist is None:
            rows.append([name, *("-" for _ in STATS)])
        else:
            rows.append([name, *(_ms(dist[stat]) for stat in STATS)])
    lines += _table(["latency (ms)", *STATS], rows)
    lines.append(format_generator(summary["generator"]))
    return "\n".join(lines)


def format_generator(generator: dict[str, Any]) -> str:
    per_event = generator["cpu_us_per_event"]
    text = (
        f"load generator: {generator['cpu_s']:.2f} s CPU for {generator['events']} events"
        + (f" ({per_event:.1f} us/event)" if per_event is not None else "")
        + f", {generator['cpu_share_of_one_core']:.0%} of one core"
    )
    if generator["saturated"]:
        text += (
            "\nWARNING: the load generator used nearly a whole core: it may have been the "
            "bottleneck, so latencies include its own queueing (lower the load or run "
            "several generators)"
        )
    return text


def format_sweep(summaries: Sequence[dict[str, Any]]) -> str:
    """One line per load level: the figures a latency-throughput curve is drawn from."""
    header = ["load", "req/s", "tok/s", "TTFT p50", "TPOT p50", "ITL p50", "E2E p50", "errors"]
    rows = []
    for s in summaries:
        lat = s["latency_ms"]

        def median(key: str, lat: dict[str, Any] = lat) -> str:
            return _ms(lat[key]["median"]) if lat.get(key) else "-"

        rows.append(
            [
                s["label"],
                f"{s['request_throughput']:.2f}",
                f"{s['output_throughput']:.1f}",
                median("ttft"),
                median("tpot"),
                median("itl"),
                median("e2e"),
                str(s["requests"]["failed"]),
            ]
        )
    return "\n".join(_table(header, rows))


def format_report(summaries: Sequence[dict[str, Any]]) -> str:
    blocks = [format_run(s) for s in summaries]
    if len(summaries) > 1:
        blocks.append("== sweep (latencies in ms)\n" + format_sweep(summaries))
    return "\n\n".join(blocks)


def record_row(label: str, record: RequestRecord) -> dict[str, Any]:
    """One request as written to requests.jsonl (times in s since the run's start)."""
    row: dict[str, Any] = {"run": label, **asdict(record)}
    row["output_tokens"] = output_tokens(record)
    row["ttft_ms"] = ttft(record)
    row["tpot_ms"] = tpot(record)
    row["e2e_ms"] = e2e(record)
    return row


def write_results(
    directory: Path,
    config: dict[str, Any],
    runs: Sequence[tuple[dict[str, Any], Sequence[RequestRecord]]],
) -> list[Path]:
    """summary.json, requests.jsonl (every chunk's time) and requests.csv (no chunk times)."""
    directory.mkdir(parents=True, exist_ok=True)
    summary_path = directory / SUMMARY
    document = {"rillet_bench": __version__, "config": config, "runs": [s for s, _ in runs]}
    summary_path.write_text(json.dumps(document, indent=2) + "\n")
    jsonl_path = directory / REQUESTS_JSONL
    csv_path = directory / REQUESTS_CSV
    with jsonl_path.open("w") as jsonl, csv_path.open("w", newline="") as table:
        writer: csv.DictWriter[str] | None = None
        for summary, records in runs:
            for record in records:
                row = record_row(summary["label"], record)
                jsonl.write(json.dumps(row) + "\n")
                flat = {k: v for k, v in row.items() if k != "content_times"}
                flat["content_chunks"] = len(record.content_times)
                if writer is None:
                    writer = csv.DictWriter(table, fieldnames=list(flat))
                    writer.writeheader()
                writer.writerow(flat)
    return [summary_path, jsonl_path, csv_path]


def load_summary(directory: Path) -> dict[str, Any]:
    path = directory / SUMMARY
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultsError(
            f"{path}: no such file (is {directory} a `rillet bench --out` folder?)"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{path}: cannot read ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("runs"), list):
        raise ResultsError(f"{path}: not a rillet bench summary")
    return document


COMPARED = (
    ("requests/s", ("request_throughput",)),
    ("output tokens/s", ("output_throughput",)),
    ("goodput requests/s", ("goodput", "requests_per_s")),
    ("failed requests", ("requests", "failed")),
    ("TTFT median ms", ("latency_ms", "ttft", "median")),
    ("TTFT p99 ms", ("latency_ms", "ttft", "p99")),
    ("TPOT median ms", ("latency_ms", "tpot", "median")),
    ("TPOT p99 ms", ("latency_ms", "tpot", "p99")),
    ("ITL median ms", ("latency_ms", "itl", "median")),
    ("ITL p99 ms", ("latency_ms", "itl", "p99")),
    ("E2E median ms", ("latency_ms", "e2e", "median")),
    ("E2E p99 ms", ("latency_ms", "e2e", "p99")),
    ("generator us/event", ("generator", "cpu_us_per_event")),
)


def _dig(summary: dict[str, Any], path: tuple[str, ...]) -> float | None:
    value: Any = summary
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return float(value) if isinstance(value, int | float) else None


def compare(a: dict[str, Any], b: dict[str, Any], names: tuple[str, str] = ("A", "B")) -> str:
    """Both result folders' runs side by side, paired by load label, with B/A ratios."""
    runs_b = {run["label"]: run for run in b["runs"]}
    blocks = []
    for run_a in a["runs"]:
        run_b = runs_b.pop(run_a["label"], None)
        if run_b is None:
            blocks.append(f"== {run_a['label']}: only in {names[0]}")
            continue
        rows = []
        for name, path in COMPARED:
            x, y = _dig(run_a, path), _dig(run_b, path)
            if x is None and y is None:
                continue
            ratio = f"{y / x:.2f}" if x and y is not None else "-"
            rows.append([name, _num(x), _num(y), ratio])
        blocks.append(
            f"== {run_a['label']}\n" + "\n".join(_table(["", names[0], names[1], "B/A"], rows))
        )
    blocks.extend(f"== {label}: only in {names[1]}" for label in runs_b)
    return "\n\n".join(blocks)


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value.is_integer() and abs(value) >= 1 else f"{value:.2f}"

"""Hand-built request records for the unit tests."""

from __future__ import annotations

from rillet.bench.runner import LoadSpec, RequestRecord, RunResult


def record(
    index: int,
    start: float,
    chunks: list[float],
    end: float,
    *,
    usage: int | None = None,
    scheduled: float | None = None,
    warmup: bool = False,
) -> RequestRecord:
    return RequestRecord(
        index=index,
        warmup=warmup,
        scheduled=start if scheduled is None else scheduled,
        start=start,
        headers=start + 0.001,
        first_event=chunks[0] if chunks else None,
        end=end,
        content_times=list(chunks),
        events=len(chunks) + 1,
        usage_output_tokens=usage,
    )


def failed(index: int, start: float, end: float, kind: str, message: str) -> RequestRecord:
    r = RequestRecord(index=index, warmup=False, scheduled=start, start=start, end=end)
    r.error_type, r.error = kind, message
    return r


def result(records: list[RequestRecord], *, cpu: float = 0.5, wall: float = 2.0) -> RunResult:
    return RunResult(LoadSpec(concurrency=2, requests=len(records)), records, wall, cpu)

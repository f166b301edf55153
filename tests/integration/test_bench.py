"""`rillet bench` against real servers on loopback: a paced `rillet serve --backend
synthetic` for accuracy, and canned raw-socket servers for broken answers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rillet import AsyncOpenAI
from rillet.bench.cli import main
from rillet.bench.runner import Live, LoadSpec, Target, run_load
from rillet.bench.workload import Spread, Workload
from tests._server import run_server
from tests.integration.canned import Connection, Request, canned_server, sse, story

pytest.importorskip("starlette")

TTFT_MS = 100.0
RATE = 25.0  # tokens/s: one token every 40 ms


@pytest.fixture(scope="module")
def paced() -> Iterator[str]:
    with run_server(
        "--backend", "synthetic", "--ttft-ms", str(TTFT_MS), "--tokens-per-second", str(RATE)
    ) as url:
        yield url


@pytest.fixture(scope="module")
def fast() -> Iterator[str]:
    with run_server("--backend", "synthetic") as url:
        yield url


def bench(out: Path, url: str, options: str, *more: str) -> tuple[int, dict[str, Any]]:
    """`rillet bench --base-url URL OPTIONS... MORE... --out OUT --no-plot`, in-process."""
    code = main(["--base-url", url, *options.split(), *more, "--out", str(out), "--no-plot"])
    summary = json.loads((out / "summary.json").read_text()) if out.exists() else {}
    return code, summary


def requests_of(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "requests.jsonl").read_text().splitlines()]


# Tolerances for a shared, noisy 2-core machine (other sessions ran tests beside these; load
# averages of 1.5 to 5 were seen). The server paces with timers, so the client can only see
# latency added, never removed beyond timer granularity (2 ms). What is added:
# - At concurrency 1, loopback and one turn of each event loop: TTFT's median stays within
#   40 ms of T.
# - At concurrency 64 the request's delivery (64 requests parsed by a server sharing two
#   cores with this process and others) adds real latency: up to +72 ms on the median was
#   seen with one other process saturating a core. That part ends when the server sends the
#   response headers, after which it paces T itself; so the median of (first text - headers),
#   both stamped by the client on the same stream, must be within 25 ms of T, and TTFT
#   itself within 100 ms.
# - ITL and TPOT medians are over hundreds of gaps, and a late gap is followed by a short one
#   when the server catches up: within 25% of 1/R.
@pytest.mark.parametrize("concurrency", [1, 64])
def test_measured_ttft_and_itl_match_the_paced_server(
    paced: str, tmp_path: Path, concurrency: int
) -> None:
    # One warm-up wave opens every connection (a cold burst of 64 connects and requests
    # adds ~40 ms to the first wave's TTFT, which is real but not what this checks), and
    # output lengths of 5-11 tokens spread the measured requests' starts apart.
    requests = max(4, 2 * concurrency)
    argv = f"--concurrency {concurrency} --requests {requests} --warmup {concurrency}"
    code, summary = bench(tmp_path, paced, argv, "--output-tokens", "8:3")
    assert code == 0
    (run,) = summary["runs"]
    assert run["requests"]["completed"] == requests
    assert run["token_source"] == "usage"
    ttft = run["latency_ms"]["ttft"]["median"]
    itl = run["latency_ms"]["itl"]["median"]
    tpot = run["latency_ms"]["tpot"]["median"]
    rows = requests_of(tmp_path)
    measured = [r for r in rows if not r["warmup"]]
    paced_part = statistics.median((r["content_times"][0] - r["headers"]) * 1000 for r in measured)
    # Below T only when the client stamped the headers late: at concurrency 64, with its own
    # process starved (the suite under coverage tracing, 2 cores), 68 ms was seen. TTFT, the
    # figure reported, is still checked from below.
    low = TTFT_MS - 2 if concurrency == 1 else 0
    assert low <= paced_part <= TTFT_MS + 25, paced_part
    assert TTFT_MS - 2 <= ttft <= TTFT_MS + (40 if concurrency == 1 else 100), ttft
    assert itl == pytest.approx(1000 / RATE, rel=0.25)
    assert tpot == pytest.approx(1000 / RATE, rel=0.25)
    # Every request in the file, with the time of every text chunk.
    assert len(rows) == requests + concurrency
    assert len(measured) == requests
    assert all(len(r["content_times"]) == r["usage_output_tokens"] for r in rows)
    assert sum(r["usage_output_tokens"] for r in measured) == run["output_tokens"]


def test_responses_api(fast: str, tmp_path: Path) -> None:
    code, summary = bench(
        tmp_path, fast, "--api responses --concurrency 4 --requests 8 --output-tokens 20"
    )
    assert code == 0
    (run,) = summary["runs"]
    assert run["requests"]["completed"] == 8
    assert run["token_source"] == "usage"
    assert run["output_tokens"] == 160


def test_rate_with_max_concurrency_and_slo(fast: str, tmp_path: Path) -> None:
    code, summary = bench(
        tmp_path,
        fast,
        "--rate 200 --max-concurrency 2 --requests 20 --output-tokens 5 --slo ttft=10s tpot=10s",
    )
    assert code == 0
    (run,) = summary["runs"]
    assert run["label"] == "rate=200,max_concurrency=2"
    assert run["requests"]["completed"] == 20
    assert run["goodput"]["requests_met"] == 20
    rows = requests_of(tmp_path)
    events = sorted([(r["start"], 1) for r in rows] + [(r["end"], -1) for r in rows])
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    assert peak <= 2


def test_sweep_and_compare_round_trip(
    fast: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        code, summary = bench(
            out,
            fast,
            "--concurrency 1 2 --requests 4 --output-tokens 5 --dataset",
            str(_dataset(tmp_path)),
        )
        assert code == 0
        assert [r["label"] for r in summary["runs"]] == ["concurrency=1", "concurrency=2"]
    capsys.readouterr()
    assert main(["compare", str(a), str(b)]) == 0
    text = capsys.readouterr().out
    assert "== concurrency=1" in text and "== concurrency=2" in text
    assert "B/A" in text and "TTFT median ms" in text


def _dataset(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text(
        '"hello"\n{"prompt": "write"}\n{"messages": [{"role": "user", "content": "x"}]}\n'
    )
    return path


def test_plots_written_with_out(fast: str, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    assert (
        main(
            [
                "--base-url",
                fast,
                "--concurrency",
                "1",
                "2",
                "--requests",
                "3",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    for name in ("latency_cdf.png", "timeline.png", "latency_vs_throughput.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


async def test_stop_event_ends_a_run_and_keeps_what_was_measured(fast: str) -> None:
    stop = asyncio.Event()

    def progress(live: Live) -> None:
        if live.finished >= 3:
            stop.set()

    async with AsyncOpenAI(
        base_url=fast, api_key="x", max_retries=0, max_stream_resumes=0
    ) as client:
        model = (await client.models.list()).data[0].id
        result = await run_load(
            Target(client, "chat", model),
            Workload(output_tokens=Spread(2000)),
            LoadSpec(concurrency=2, duration=120.0),
            stop=stop,
            progress=progress,
            tick=0.01,
        )
    assert result.interrupted
    assert sum(r.ok for r in result.records) >= 1
    assert all(r.ok or r.cancelled for r in result.records), [
        (r.index, r.end, r.error_type, r.cancelled, r.usage_output_tokens, r.events)
        for r in result.records
    ]


def test_ctrl_c_stops_cleanly_and_writes_results(paced: str, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rillet",
            "bench",
            "--base-url",
            paced,
            "--concurrency",
            "2",
            "--duration",
            "120",
            "--out",
            str(tmp_path),
            "--no-plot",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()  # printed once the load starts
        assert "running concurrency=2" in line, line
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert "(interrupted)" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["runs"][0]["interrupted"]


# -- bad servers: a clear line and exit code 2, never a traceback ---------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_server(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    for extra in ([], ["--model", "m"]):
        assert main(["--base-url", url, "--requests", "1", *extra]) == 2
        err = capsys.readouterr().err
        assert f"cannot reach {url}" in err and "Traceback" not in err


def test_wrong_api_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with run_server("--backend", "synthetic", "--api-key", "right") as url:
        for extra in ([], ["--model", "m"]):
            assert main(["--base-url", url, "--api-key", "wrong", "--requests", "1", *extra]) == 2
            err = capsys.readouterr().err
            assert "/models answered 401" in err
            assert err.count("\n") == 1


def _models(conn: Connection) -> None:
    conn.json(
        200,
        {
            "object": "list",
            "data": [{"id": "canned", "object": "model", "created": 0, "owned_by": "x"}],
        },
    )


def _not_streaming(conn: Connection, request: Request) -> bool:
    if request.path.endswith("/models"):
        _models(conn)
    else:
        conn.json(200, {"id": "x", "object": "chat.completion", "choices": []})
    return True


def _malformed(conn: Connection, request: Request) -> bool:
    if request.path.endswith("/models"):
        _models(conn)
        return True
    conn.start_sse()
    conn.piece(b"data: {not json\n\n")
    conn.end()
    return True


def _good(conn: Connection, request: Request) -> bool:
    if request.path.endswith("/models"):
        _models(conn)
        return True
    conn.start_sse()
    for event in story(3)[:-1]:  # all but [DONE]
        conn.piece(event)
    conn.piece(
        sse(
            {
                "id": "u",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "canned",
                "choices": [],
                "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4},
            }
        )
    )
    conn.end()
    return True


@pytest.mark.parametrize(
    ("scenario", "error"),
    [
        ("plain", "APIResponseValidationError: Expected a text/event-stream response"),
        ("malformed", "APIResponseValidationError"),
    ],
)
def test_broken_streams_are_counted_and_shown(
    scenario: str, error: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = _not_streaming if scenario == "plain" else _malformed
    with canned_server({scenario: handler}) as server:
        code, summary = bench(tmp_path, server.base_url(scenario), "--requests 3")
    assert code == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert f"every request of concurrency=1 failed; first error: {error}" in captured.err
    assert "errors: APIResponseValidationError x3" in captured.out
    (run,) = summary["runs"]
    assert run["errors"] == {"APIResponseValidationError": 3}


def test_request_body_carries_usage_option_and_extra_body(tmp_path: Path) -> None:
    with canned_server({"good": _good}) as server:
        code, summary = bench(
            tmp_path,
            server.base_url("good"),
            "--requests 2 --output-tokens 7 --extra-body",
            '{"ignore_eos": true, "top_k": 1}',
        )
        bodies = [r.json() for r in server.requests if r.path.endswith("/chat/completions")]
    assert code == 0
    assert summary["runs"][0]["token_source"] == "usage"
    assert len(bodies) == 2
    for body in bodies:
        assert body["stream"] is True
        assert body["stream_options"] == {"include_usage": True}
        assert body["max_tokens"] == 7
        assert body["ignore_eos"] is True and body["top_k"] == 1
        assert body["model"] == "canned"


class _Flaky:
    """Every second chat request answers 500; the others stream."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, conn: Connection, request: Request) -> bool:
        if request.path.endswith("/models"):
            _models(conn)
            return True
        self.calls += 1
        if self.calls % 2 == 0:
            conn.json(500, {"error": {"message": "overloaded, try later", "type": "server"}})
            return True
        return _good(conn, request)


def test_failed_requests_are_counted_by_type_with_the_first_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with canned_server({"flaky": _Flaky()}) as server:
        code, summary = bench(tmp_path, server.base_url("flaky"), "--requests 6")
    assert code == 0  # some requests completed
    (run,) = summary["runs"]
    assert run["requests"]["completed"] == 3 and run["requests"]["failed"] == 3
    assert run["errors"] == {"InternalServerError": 3}
    assert "overloaded, try later" in run["first_error"]
    out = capsys.readouterr().out
    assert "errors: InternalServerError x3; first: InternalServerError:" in out


def test_duration_bounds_a_run(fast: str, tmp_path: Path) -> None:
    code, summary = bench(tmp_path, fast, "--concurrency 2 --duration 0.3 --output-tokens 4")
    assert code == 0
    (run,) = summary["runs"]
    assert run["requests"]["completed"] >= 1
    assert all(r["start"] < 0.3 for r in requests_of(tmp_path))

"""Bad options: each one line on stderr and exit code 2, before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from rillet.bench.cli import main
from rillet.cli import main as rillet_main

URL = ["--base-url", "http://127.0.0.1:9/v1"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([*URL, "--concurrency", "0"], "expected a positive integer"),
        ([*URL, "--concurrency", "2", "--rate", "3"], "exclusive"),
        ([*URL, "--max-concurrency", "3"], "apply to --rate only"),
        ([*URL, "--rate", "-1"], "expected a positive number"),
        ([*URL, "--rate", "nan"], "expected a positive number"),
        ([*URL, "--api", "completions"], "invalid choice"),
        ([*URL, "--input-tokens", "x"], "MEAN or MEAN:SPREAD"),
        ([*URL, "--output-tokens", "0"], "MEAN >= 1"),
        ([*URL, "--extra-body", "{oops"], "--extra-body is not JSON"),
        ([*URL, "--extra-body", "[1]"], "must be a JSON object"),
        ([*URL, "--slo", "ttft=soon"], "--slo"),
        ([*URL, "--plot"], "pass --out too"),
        ([*URL, "--dataset", "/nonexistent/p.jsonl"], "/nonexistent/p.jsonl: no such file"),
        ([*URL, "--sharegpt", "/nonexistent/s.json"], "no such file"),
        ([*URL, "--dataset", "a", "--sharegpt", "b"], "exclusive"),
        (["--base-url", "localhost:8000"], "must start with http://"),
        (["--base-url", "http://127.0.0.1:99999/v1"], "a port in 1-65535"),
        (["--base-url", "http://[::1/v1"], "Invalid port"),
        ([*URL, "--out", __file__], "exists and is not a directory"),
        (["--bogus"], "unrecognized arguments"),
        (["compare", "/nonexistent/a"], "the following arguments are required"),
        (["compare", "/nonexistent/a", "/nonexistent/b"], "no such file"),
    ],
)
def test_bad_options(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line
    assert err.startswith("rillet bench")
    assert message in err


def test_no_server_configured(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert main([]) == 2
    assert "no server" in capsys.readouterr().err


def test_plot_without_matplotlib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from rillet.bench import cli

    monkeypatch.setattr(cli, "matplotlib_available", lambda: False)
    assert main([*URL, "--plot", "--out", str(tmp_path)]) == 2
    assert "pip install 'rillet[bench]'" in capsys.readouterr().err


def test_dispatcher_knows_bench(capsys: pytest.CaptureFixture[str]) -> None:
    assert rillet_main([]) == 0
    assert "bench" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        rillet_main(["bench", "--help"])
    assert exit_info.value.code == 0
    assert "--concurrency" in capsys.readouterr().out

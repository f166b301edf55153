"""`rillet chat`: a streamed answer on stdout, timing on stderr, as a person runs it."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests._server import run_server


@pytest.fixture(scope="module")
def synthetic_url() -> Iterator[str]:
    with run_server("--backend", "synthetic") as url:
        yield url


def chat(*args: str, base_url: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "OPENAI_API_KEY")}
    if base_url is not None:
        env["OPENAI_BASE_URL"] = base_url
    return subprocess.run(
        [sys.executable, "-m", "rillet", "chat", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_streams_the_answer_and_reports_timing(synthetic_url: str) -> None:
    result = chat("Write a story about a robot.", "--max-tokens", "12", base_url=synthetic_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() and result.stdout.endswith("\n")
    assert "time to first token:" in result.stderr
    assert "12 tokens" in result.stderr  # the server's completion_tokens, from include_usage
    assert "tokens/s" in result.stderr


def test_quiet_prints_only_the_answer(synthetic_url: str) -> None:
    result = chat("Hello!", "--quiet", "--max-tokens", "5", base_url=synthetic_url)
    assert result.returncode == 0
    assert result.stdout.strip()
    assert result.stderr == ""


def test_system_and_model_reach_the_server(synthetic_url: str) -> None:
    # The synthetic backend is deterministic per request, so a different system
    # message or model name must change nothing but what was sent.
    base = chat("Hello!", "--quiet", "--max-tokens", "20", base_url=synthetic_url).stdout
    again = chat("Hello!", "--quiet", "--max-tokens", "20", base_url=synthetic_url).stdout
    other = chat(
        "Hello!", "--quiet", "--max-tokens", "20", "--system", "Be terse.", base_url=synthetic_url
    ).stdout
    assert base == again
    assert other != base


def test_bad_max_tokens_is_refused() -> None:
    result = chat("Hi", "--max-tokens", "0", base_url="http://127.0.0.1:9/v1")
    assert result.returncode == 2
    assert "--max-tokens" in result.stderr


def test_unreachable_server_is_a_clear_error() -> None:
    result = chat("Hi", "--model", "m", base_url="http://127.0.0.1:9/v1")
    assert result.returncode == 1
    assert "could not reach the server" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.llama
@pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="needs rillet's local extra"
)
def test_without_a_base_url_it_runs_the_embedded_model() -> None:
    result = chat("Write a story about a robot.", "--max-tokens", "12", base_url=None)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip()) > 5
    assert "embedded server: model loaded from" in result.stderr
    counted = re.search(r" (\d+) tokens ", result.stderr)
    assert counted is not None and 1 <= int(counted.group(1)) <= 12

"""`rillet serve` options, startup line, backend errors and Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import httpx
import pytest

from rillet.server.banner import Listening, listening_line, note_line, parse_listening, parse_note
from rillet.server.cli import build_parser, main
from tests._server import run_server


def test_defaults_bind_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RILLET_API_KEY", raising=False)
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.api_key, args.backend) == ("127.0.0.1", 8000, None, None)
    assert args.keepalive == 15.0 and not args.strict_models


def test_api_key_defaults_to_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RILLET_API_KEY", "k1")
    assert build_parser().parse_args([]).api_key == "k1"
    assert build_parser().parse_args(["--api-key", "k2"]).api_key == "k2"


@pytest.mark.parametrize(
    "argv", [["--keepalive", "-1"], ["--tokens-per-second", "0"], ["--log-level", "loud"]]
)
def test_bad_option_values_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage: rillet serve" in capsys.readouterr().err


def test_unavailable_backend_explains_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--backend", "nope"]) == 2
    captured = capsys.readouterr()
    assert "unknown backend 'nope'" in captured.err
    assert "Traceback" not in captured.err


def test_port_zero_picks_distinct_free_ports() -> None:
    with (
        run_server("--backend", "synthetic") as first,
        run_server("--backend", "synthetic") as second,
    ):
        assert first != second
        for url in (first, second):
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", url)
            assert httpx.get(f"{url}/models").status_code == 200


def test_ctrl_c_stops_cleanly() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "rillet", "serve", "--port", "0", "--backend", "synthetic"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    listening = parse_listening(line)
    assert listening is not None, line
    assert listening.backend == "synthetic"
    assert httpx.get(f"{listening.base_url}/models").status_code == 200
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "Traceback" not in stderr


def test_the_banner_parses_back_to_what_was_written() -> None:
    line = listening_line("http://[::1]:8123/v1", "llama")
    assert line == "rillet serve: listening on http://[::1]:8123/v1 (backend: llama)\n"
    assert parse_listening(line) == Listening("http://[::1]:8123/v1", "llama")
    assert parse_listening(line.rstrip("\n")) == Listening("http://[::1]:8123/v1", "llama")
    assert parse_note(line) is None
    note = note_line("model loaded from /models/gemma.gguf")
    assert parse_note(note) == "model loaded from /models/gemma.gguf"
    assert parse_listening(note) is None
    assert parse_note("INFO: Started server process\n") is None
    assert parse_listening("rillet serve: listening on http://127.0.0.1:1/v2 (backend: x)") is None


def test_the_banner_module_loads_neither_the_server_nor_the_client() -> None:
    """`rillet chat` parses the banner: that must not import Starlette, uvicorn or the client."""
    code = (
        "import sys\n"
        "from rillet.server.banner import parse_listening\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    ours = {name for name in loaded if name.startswith("rillet")}
    assert ours == {"rillet", "rillet._version", "rillet.server", "rillet.server.banner"}
    assert not [name for name in loaded if name.split(".")[0] in ("starlette", "uvicorn", "httpx")]

"""Start `rillet serve` as a real subprocess for integration tests."""

from __future__ import annotations

import contextlib
import importlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from types import ModuleType

from rillet.cli.chat import stop_server
from rillet.server.banner import parse_listening


@contextlib.contextmanager
def run_server(
    *cli_args: str, env: dict[str, str] | None = None, timeout: float = 120.0
) -> Iterator[str]:
    """Run `python -m rillet serve --port 0 *cli_args`; yield its base URL (…/v1).

    `env` entries are added to the current environment. On exit the server gets
    SIGINT (its Ctrl-C path) and is killed if it has not stopped within 10 s.
    """
    with server_process(*cli_args, env=env, timeout=timeout) as (url, _):
        yield url


@contextlib.contextmanager
def server_process(
    *cli_args: str, env: dict[str, str] | None = None, timeout: float = 120.0
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`run_server`, also yielding the process (for tests that kill it)."""
    command = [sys.executable, "-m", "rillet", "serve", "--port", "0", *cli_args]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    stderr: list[str] = []
    drain = threading.Thread(target=_collect, args=(process.stderr, stderr), daemon=True)
    drain.start()
    try:
        url = _wait_for_listening(process, timeout)
        if url is None:
            process.kill()
            process.wait()
            drain.join(5)
            raise RuntimeError(
                f"`{' '.join(command)}` exited with {process.returncode} before listening:\n"
                + "".join(stderr)
            )
        threading.Thread(target=_collect, args=(process.stdout, []), daemon=True).start()
        yield url, process
    finally:
        stop_server(process)


def _wait_for_listening(process: subprocess.Popen[str], timeout: float) -> str | None:
    assert process.stdout is not None
    found: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            listening = parse_listening(line)
            if listening is not None:
                found.append(listening.base_url)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if not found and process.poll() is None:
        process.kill()
    return found[0] if found else None


def _collect(stream: Iterator[str], sink: list[str]) -> None:
    sink.extend(stream)  # keeps the pipe drained so the server never blocks on a log write


# The client packages the server's integration tests run with; `rillet` joins once its
# client is a drop-in for `openai` (same call shapes and exception names).
CLIENT_MODULES = ("openai", "rillet")
# The same for the Responses API, whose client in rillet joins once it is a drop-in too.
RESPONSES_CLIENT_MODULES = ("openai", "rillet")


def import_client(name: str) -> ModuleType:
    return importlib.import_module(name)

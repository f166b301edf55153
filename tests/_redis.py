"""A real `redis-server` for the tests that need one (scripts/redis.sh installs it).

Started on a free loopback port with persistence off; ready once it answers PING.
Tests skip, with the reason, only when `redis-server` or the `redis` package is missing.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator

import pytest

from tests._wait import wait_until


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _ready(port: int, process: subprocess.Popen[bytes]) -> Callable[[], bool]:
    """True once the server answers, or has exited (then the caller tries another port)."""
    return lambda: _answers_ping(port) or process.poll() is not None


@contextlib.contextmanager
def redis_server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Yield (redis://127.0.0.1:PORT/0, the process); stopped (by its pid) on exit."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (scripts/redis.sh installs it)")
    pytest.importorskip("redis", reason="the redis package is missing: pip install 'rillet[redis]'")
    with tempfile.TemporaryDirectory() as workdir:
        for _ in range(5):  # a port taken between the probe and the bind: try another
            port = _free_port()
            options = ["--port", str(port), "--bind", "127.0.0.1", "--save", ""]
            options += ["--appendonly", "no", "--dir", workdir]
            process = subprocess.Popen(
                [binary, *options],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_until(_ready(port, process), 10)
            except AssertionError:
                process.kill()
                raise
            if process.poll() is None:
                break
        else:
            raise RuntimeError("redis-server did not start")
        try:
            yield f"redis://127.0.0.1:{port}/0", process
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

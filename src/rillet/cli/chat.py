"""`rillet chat PROMPT`: stream an answer to the terminal through rillet's own client.

With `OPENAI_BASE_URL` set it talks to that server; otherwise it starts the
embedded one (`rillet serve --port 0`, the local Gemma model) for the length of
the command, so one line gets a streamed answer on a fresh install.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from rillet import APIConnectionError, APIStatusError, OpenAI
from rillet.server.banner import parse_listening, parse_note

STARTUP_TIMEOUT = 120.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rillet chat",
        description="Stream an answer to PROMPT. Uses OPENAI_BASE_URL when set; "
        "otherwise runs the embedded model for the duration of the command.",
    )
    parser.add_argument("prompt", help="what to ask")
    parser.add_argument("--model", help="model name to request (default: the server's first)")
    parser.add_argument("--system", help="system message to send before the prompt")
    parser.add_argument("--max-tokens", type=int, help="cap the answer's length in tokens")
    parser.add_argument(
        "--quiet", action="store_true", help="print only the answer (no timing or server notes)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.max_tokens is not None and args.max_tokens < 1:
        sys.stderr.write("rillet chat: --max-tokens must be at least 1\n")
        return 2
    try:
        with _server(quiet=args.quiet) as base_url:
            client = OpenAI(base_url=base_url, api_key=os.environ.get("OPENAI_API_KEY") or "local")
            stats = stream_answer(client, args, sys.stdout)
    except ServerFailed as exc:
        sys.stderr.write(f"rillet chat: {exc}\n")
        return 2
    except APIStatusError as exc:
        sys.stderr.write(f"rillet chat: the server answered {exc.status_code}: {exc.message}\n")
        return 1
    except APIConnectionError as exc:
        sys.stderr.write(f"rillet chat: could not reach the server: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stdout.write("\n")
        return 130
    except BrokenPipeError:  # the reader went away (`rillet chat ... | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    if not args.quiet:
        sys.stderr.write(stats.summary() + "\n")
    return 0


@dataclass(slots=True)
class Stats:
    """Timing of one streamed answer, measured on the client side."""

    started: float
    first_token: float | None = None
    finished: float = 0.0
    tokens: int = 0  # the server's completion_tokens when it reports usage, else chunks

    def summary(self) -> str:
        if self.first_token is None:
            return "rillet chat: no text received"
        ttft_ms = (self.first_token - self.started) * 1000
        # Tokens after the first, over the time after the first: the steady streaming rate.
        span = self.finished - self.first_token
        rate = (self.tokens - 1) / span if span > 0 and self.tokens > 1 else 0.0
        return f"time to first token: {ttft_ms:.0f} ms · {self.tokens} tokens · {rate:.1f} tokens/s"


def stream_answer(client: OpenAI, args: argparse.Namespace, out: IO[str]) -> Stats:
    messages: list[dict[str, Any]] = []
    if args.system:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": args.prompt})
    model = args.model or _first_model(client)
    extra: dict[str, Any] = {}
    if args.max_tokens is not None:
        extra["max_tokens"] = args.max_tokens
    stats = Stats(started=time.perf_counter())
    chunks = 0
    with client.chat.completions.create(
        model=model,
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
        **extra,
    ) as stream:
        for chunk in stream:
            if chunk.usage is not None:
                stats.tokens = chunk.usage.completion_tokens
            if not chunk.choices:
                continue
            text = chunk.choices[0].delta.content
            if text:
                if stats.first_token is None:
                    stats.first_token = time.perf_counter()
                chunks += 1
                out.write(text)
                out.flush()
    stats.finished = time.perf_counter()
    stats.tokens = stats.tokens or chunks
    out.write("\n")
    out.flush()
    return stats


def _first_model(client: OpenAI) -> str:
    with contextlib.suppress(APIStatusError):
        for model in client.models.list():
            return str(model.id)
    return "default"


class ServerFailed(RuntimeError):
    """The embedded server did not start; the message carries what it said."""


@contextlib.contextmanager
def _server(*, quiet: bool) -> Iterator[str]:
    """OPENAI_BASE_URL if set, else a `rillet serve --port 0` subprocess for the duration."""
    configured = os.environ.get("OPENAI_BASE_URL")
    if configured:
        yield configured
        return
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "rillet", "serve", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=errors,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        try:
            found: queue.SimpleQueue[str | None] = queue.SimpleQueue()
            reader = threading.Thread(
                target=_read_output, args=(process, found, quiet), daemon=True
            )
            reader.start()
            try:
                base_url = found.get(timeout=STARTUP_TIMEOUT)
            except queue.Empty:
                base_url = None
            if base_url is None:
                stop_server(process)
                errors.seek(0)
                said = errors.read().strip() or f"exit status {process.returncode}"
                raise ServerFailed(f"the embedded server did not start:\n{said}")
            yield base_url
        finally:
            stop_server(process)


def _read_output(
    process: subprocess.Popen[str], found: queue.SimpleQueue[str | None], quiet: bool
) -> None:
    """Report the listening URL; pass the server's other startup notes on to stderr."""
    assert process.stdout is not None
    for line in process.stdout:
        listening = parse_listening(line)
        if listening is not None:
            found.put(listening.base_url)
        elif not quiet and (note := parse_note(line)) is not None:
            sys.stderr.write(f"rillet chat: embedded server: {note}\n")
    found.put(None)


def stop_server(process: subprocess.Popen[Any]) -> None:
    """Stop a server subprocess as Ctrl-C would (SIGINT); kill it if still running after 10 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

"""`rillet serve`: parse options, build the backend and the app, run uvicorn until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sys

import uvicorn

from rillet.server.app import create_app
from rillet.server.backends import BACKENDS, BackendUnavailable, create_backend
from rillet.server.banner import PREFIX, listening_line, note_line, page_line
from rillet.server.context import DEFAULT_MAX_BODY_BYTES, ServerConfig
from rillet.server.responses.store import DEFAULT_MAX_RESPONSES, DEFAULT_TTL_SECONDS
from rillet.server.resume import StoreUnavailable, create_event_log
from rillet.server.resume.memory import DEFAULT_MAX_BYTES, DEFAULT_WINDOW

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
DEFAULT_BACKEND = "llama"  # without the `local` extra it explains what to install


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rillet serve",
        description="Run the local OpenAI-compatible streaming server.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port; 0 picks a free one")
    parser.add_argument(
        "--backend",
        default=None,
        help=f"token source: {', '.join(BACKENDS)} (default: {DEFAULT_BACKEND})",
    )
    parser.add_argument("--model", default=None, help="GGUF file for the llama backend")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("RILLET_API_KEY"),
        help="require `Authorization: Bearer KEY` (default: $RILLET_API_KEY; unset: any key)",
    )
    parser.add_argument(
        "--strict-models",
        action="store_true",
        help="answer 404 model_not_found for model names the backend does not list",
    )
    parser.add_argument(
        "--tokens-per-second",
        type=_positive_float,
        default=None,
        help="synthetic backend speed (default: unlimited)",
    )
    parser.add_argument(
        "--ttft-ms", type=_non_negative_float, default=0.0, help="synthetic time to first token"
    )
    parser.add_argument(
        "--parallel",
        type=_positive_int,
        default=None,
        help="llama backend: sequences decoded together (default: 4; 1 decodes one at a time)",
    )
    parser.add_argument(
        "--max-queue",
        type=_non_negative_int,
        default=None,
        help="llama backend: requests that may wait beyond --parallel before a 429 (default: 64)",
    )
    parser.add_argument(
        "--keepalive",
        type=_non_negative_float,
        default=15.0,
        help="seconds of stream silence before an SSE keep-alive comment (0: never)",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        help="larger request bodies get 413",
    )
    parser.add_argument(
        "--max-stored-responses",
        type=_positive_int,
        default=DEFAULT_MAX_RESPONSES,
        help="stored /v1/responses kept for retrieval; the least recently used go first",
    )
    parser.add_argument(
        "--stored-response-ttl",
        type=_positive_float,
        default=DEFAULT_TTL_SECONDS,
        help="seconds a stored response can be retrieved or continued",
    )
    parser.add_argument(
        "--resume-window",
        type=_positive_float,
        default=DEFAULT_WINDOW,
        help="seconds a resumable stream goes on without a reader, and stays "
        "replayable after its end (docs/resume.md)",
    )
    parser.add_argument(
        "--resume-max-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_BYTES,
        help="bytes of ended streams' events kept in memory; the least recently used go first",
    )
    parser.add_argument(
        "--store",
        default=None,
        metavar="redis://HOST:PORT/DB",
        help="keep resumable streams in Redis, shared by replicas (default: this process)",
    )
    parser.add_argument(
        "--no-ui",
        action="store_true",
        help="do not serve the browser playground at / (docs/playground.md)",
    )
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="warning")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    return parser


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _check_store(url: str) -> str | None:
    """Why `--store url` cannot be used (the package is missing, Redis does not answer)."""
    try:
        create_event_log(url)  # checks the scheme and that the redis package is installed
        from rillet.server.resume.redis import check_store

        asyncio.run(check_store(url))
    except StoreUnavailable as exc:
        return str(exc)
    except Exception as exc:
        return f"--store {url}: Redis does not answer ({exc or type(exc).__name__})"
    return None


class _Server(uvicorn.Server):
    """Prints the banner once the socket accepts connections, with the real address
    (`--port 0` included)."""

    backend = ""
    notes: tuple[str, ...] = ()
    page = False  # the playground is served at /

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.should_exit or not self.servers:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        if ":" in host:
            host = f"[{host}]"
        banner = listening_line(f"http://{host}:{port}/v1", self.backend)
        notes = "".join(note_line(note) for note in self.notes)
        page = page_line(f"http://{host}:{port}/") if self.page else ""
        sys.stdout.write(banner + notes + page)
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.store is not None:
        problem = _check_store(args.store)
        if problem is not None:
            sys.stderr.write(f"{PREFIX}{problem}\n")
            return 2
    name = args.backend or DEFAULT_BACKEND
    try:
        backend = create_backend(
            name,
            model_path=args.model,
            tokens_per_second=args.tokens_per_second,
            ttft_ms=args.ttft_ms,
            parallel=args.parallel,
            max_queue=args.max_queue,
        )
    except BackendUnavailable as exc:
        sys.stderr.write(f"{PREFIX}{exc}\n")
        return 2
    config = ServerConfig(
        api_key=args.api_key or None,
        strict_models=args.strict_models,
        keepalive=args.keepalive or None,
        max_body_bytes=args.max_body_bytes,
        max_stored_responses=args.max_stored_responses,
        stored_response_ttl=args.stored_response_ttl,
        resume_window=args.resume_window,
        resume_max_bytes=args.resume_max_bytes,
        store=args.store,
        playground=not args.no_ui,
    )
    uv_config = uvicorn.Config(
        create_app(backend, config),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.access_log,
        timeout_graceful_shutdown=3,
        server_header=False,
    )
    server = _Server(uv_config)
    server.backend = name
    server.page = config.playground
    describe = getattr(backend, "describe", None)
    if callable(describe):
        details = describe()
        if details:
            server.notes = (details,)
    # After a graceful Ctrl-C shutdown uvicorn re-raises SIGINT; that is the normal way out.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    return 0 if server.started or not server.should_exit else 1

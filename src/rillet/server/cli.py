"""`rillet serve`: parse options, build the backend and the app, run uvicorn until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys

import uvicorn

from rillet.server.app import create_app
from rillet.server.backends import BACKENDS, BackendUnavailable, create_backend
from rillet.server.banner import PREFIX, listening_line, note_line
from rillet.server.context import DEFAULT_MAX_BODY_BYTES, ServerConfig
from rillet.server.responses.store import DEFAULT_MAX_RESPONSES, DEFAULT_TTL_SECONDS

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


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


class _Server(uvicorn.Server):
    """Prints the banner once the socket accepts connections, with the real address
    (`--port 0` included)."""

    backend = ""
    notes: tuple[str, ...] = ()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.should_exit or not self.servers:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        if ":" in host:
            host = f"[{host}]"
        banner = listening_line(f"http://{host}:{port}/v1", self.backend)
        sys.stdout.write(banner + "".join(note_line(note) for note in self.notes))
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    name = args.backend or DEFAULT_BACKEND
    try:
        backend = create_backend(
            name,
            model_path=args.model,
            tokens_per_second=args.tokens_per_second,
            ttft_ms=args.ttft_ms,
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
    describe = getattr(backend, "describe", None)
    if callable(describe):
        details = describe()
        if details:
            server.notes = (details,)
    # After a graceful Ctrl-C shutdown uvicorn re-raises SIGINT; that is the normal way out.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    return 0 if server.started or not server.should_exit else 1

"""Load control shared by the generation endpoints: admission (429 past capacity) and /metrics.

A backend may offer `admission()`, a context manager that holds a place for one request
and raises `Overloaded` when none is left, and `metrics()`, rows of
(name, type, help, value). Backends without them are never limited and list nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from rillet.server.backends.base import Backend, Overloaded
from rillet.server.http.asgi import Receive, Scope, Send
from rillet.server.http.errors import overloaded, send_error

GENERATION_PATHS = frozenset({"/v1/chat/completions", "/v1/completions", "/v1/responses"})
METRIC_PREFIX = "rillet_llama_"


class Admission:
    """ASGI middleware: a generation request holds one of the backend's places while it runs.

    It answers 429 before any work (and before a stream's headers), so a streamed request
    is refused with a status, not with an error event.
    """

    def __init__(self, app: Callable[..., Any], backend: Backend) -> None:
        self.app = app
        self.admission: Callable[[], AbstractContextManager[None]] | None = getattr(
            backend, "admission", None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.admission is None
            or scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] not in GENERATION_PATHS
        ):
            await self.app(scope, receive, send)
            return
        try:
            place = self.admission()
            place.__enter__()
        except Overloaded as exc:
            await send_error(send, overloaded(exc))
            return
        try:
            await self.app(scope, receive, send)
        finally:
            place.__exit__(None, None, None)


def metrics_text(backend: Backend) -> str:
    """The backend's counters in Prometheus' text format (version 0.0.4)."""
    rows = getattr(backend, "metrics", None)
    lines = []
    for name, kind, help_text, value in rows() if callable(rows) else ():
        full = METRIC_PREFIX + name
        lines += [f"# HELP {full} {help_text}", f"# TYPE {full} {kind}", f"{full} {value}"]
    return "\n".join(lines) + "\n"


async def metrics(request: Request) -> Response:
    backend: Backend = request.app.state.rillet.backend
    return Response(metrics_text(backend), media_type="text/plain; version=0.0.4; charset=utf-8")

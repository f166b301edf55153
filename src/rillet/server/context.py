"""What every endpoint needs: the settings `rillet serve` was started with, and the backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import Request

from rillet.server.backends.base import Backend
from rillet.server.http.errors import APIError
from rillet.server.responses.store import DEFAULT_MAX_RESPONSES, DEFAULT_TTL_SECONDS, ResponseStore
from rillet.server.resume.log import EventLog
from rillet.server.resume.memory import DEFAULT_MAX_BYTES, DEFAULT_WINDOW, MemoryEventLog

if TYPE_CHECKING:  # it needs the optional redis package
    from rillet.server.responses.shared import SharedResponses

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ServerConfig:
    api_key: str | None = None
    strict_models: bool = False
    keepalive: float | None = 15.0  # seconds of silence before an SSE comment; None: never
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_stored_responses: int = DEFAULT_MAX_RESPONSES  # /v1/responses kept for GET, LRU beyond
    stored_response_ttl: float = DEFAULT_TTL_SECONDS  # seconds a stored response lives
    resume_window: float = DEFAULT_WINDOW  # seconds a resumable stream outlives its readers
    resume_max_bytes: int = DEFAULT_MAX_BYTES  # ended streams' logs kept in memory, LRU beyond
    store: str | None = None  # where event logs live: None (this process) or redis://...
    playground: bool = True  # the chat page at `/` (docs/playground.md); `--no-ui`: off


@dataclass(frozen=True, slots=True)
class ServerContext:
    config: ServerConfig
    backend: Backend
    responses: ResponseStore = field(default_factory=ResponseStore)
    resume: EventLog = field(default_factory=MemoryEventLog)
    shared_responses: SharedResponses | None = None  # --store redis://: stored responses

    def check_model(self, model: str) -> None:
        """With --strict-models only the backend's own ids are served; otherwise any name is."""
        if self.config.strict_models and model not in self.backend.model_ids():
            raise model_not_found(model)


def model_not_found(model: str) -> APIError:
    return APIError(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )


def get_context(request: Request) -> ServerContext:
    context: ServerContext = request.app.state.rillet
    return context

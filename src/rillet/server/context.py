"""What every endpoint needs: the settings `rillet serve` was started with, and the backend."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from rillet.server.backends.base import Backend
from rillet.server.errors import APIError

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ServerConfig:
    api_key: str | None = None
    strict_models: bool = False
    keepalive: float | None = 15.0  # seconds of silence before an SSE comment; None: never
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES


@dataclass(frozen=True, slots=True)
class ServerContext:
    config: ServerConfig
    backend: Backend

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

"""rillet's OpenAI-compatible streaming server, as a library.

`rillet serve` is `create_app(create_backend(name), ServerConfig(...))` run on uvicorn;
the same pieces let you serve the API from your own ASGI server, or serve your own token
source by implementing :class:`Backend` (see docs/server.md)::

    from rillet.server import ServerConfig, create_app, create_backend

    app = create_app(create_backend("synthetic"), ServerConfig(api_key="secret"))

The names below are imported on first use, so that importing a light submodule (such as
`rillet.server.banner`, which `rillet chat` reads) does not load Starlette. The server
imports no client module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rillet.server.app import create_app
    from rillet.server.backends import BACKENDS, BackendUnavailable, create_backend
    from rillet.server.backends.base import (
        Backend,
        Embedded,
        Embedder,
        EmbeddingInput,
        Finish,
        FinishReason,
        FunctionSpec,
        GenerationEvent,
        GenerationRequest,
        InvalidRequest,
        TextDelta,
        TokenLogprob,
        ToolCallDelta,
        ToolCallStart,
        ToolMode,
        TopLogprob,
    )
    from rillet.server.backends.stops import StopMatcher, first_stop
    from rillet.server.context import ServerConfig

# The modules holding the names below, lightest first: a backend's imports of the contract
# (`from rillet.server import TextDelta`) do not load Starlette.
_HOMES = (
    "rillet.server.backends.base",
    "rillet.server.backends.stops",
    "rillet.server.backends",
    "rillet.server.context",
    "rillet.server.app",
)

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendUnavailable",
    "Embedded",
    "Embedder",
    "EmbeddingInput",
    "Finish",
    "FinishReason",
    "FunctionSpec",
    "GenerationEvent",
    "GenerationRequest",
    "InvalidRequest",
    "ServerConfig",
    "StopMatcher",
    "TextDelta",
    "TokenLogprob",
    "ToolCallDelta",
    "ToolCallStart",
    "ToolMode",
    "TopLogprob",
    "create_app",
    "create_backend",
    "first_stop",
]

if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        if name not in __all__:
            raise AttributeError(f"module 'rillet.server' has no attribute {name!r}")
        homes = (importlib.import_module(home) for home in _HOMES)
        value = next(vars(home)[name] for home in homes if name in vars(home))
        globals()[name] = value  # later lookups are plain attribute reads
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})

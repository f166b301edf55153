"""rillet: an OpenAI-compatible client with fast, strict streaming.

`from rillet import OpenAI` (or `import rillet as openai`) stands in for the official
package: the same clients, calls, stream objects, response types and exception names.

The names below are imported on first use, so that `import rillet.server` (which shares no
code with the client) does not load the client, and `import rillet` alone costs little.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rillet._version import __version__

if TYPE_CHECKING:
    from rillet import types
    from rillet._client import AsyncOpenAI, OpenAI
    from rillet._exceptions import (
        APIConnectionError,
        APIError,
        APIResponseValidationError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ConflictError,
        ContentFilterFinishReasonError,
        IncompleteStreamError,
        InternalServerError,
        LengthFinishReasonError,
        NotFoundError,
        OpenAIError,
        PermissionDeniedError,
        RateLimitError,
        StreamIdleTimeoutError,
        UnprocessableEntityError,
    )
    from rillet._models import BaseModel
    from rillet._parsing import pydantic_function_tool, pydantic_responses_function_tool
    from rillet._streams import AsyncStream, Stream
    from rillet._types import NOT_GIVEN, NotGiven, Omit, not_given, omit

# The modules holding the names below, in the order a first lookup searches them.
_HOMES = (
    "rillet._types",
    "rillet._exceptions",
    "rillet._models",
    "rillet._parsing",
    "rillet._streams",
    "rillet._client",
)

__all__ = [
    "NOT_GIVEN",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncOpenAI",
    "AsyncStream",
    "AuthenticationError",
    "BadRequestError",
    "BaseModel",
    "ConflictError",
    "ContentFilterFinishReasonError",
    "IncompleteStreamError",
    "InternalServerError",
    "LengthFinishReasonError",
    "NotFoundError",
    "NotGiven",
    "Omit",
    "OpenAI",
    "OpenAIError",
    "PermissionDeniedError",
    "RateLimitError",
    "Stream",
    "StreamIdleTimeoutError",
    "UnprocessableEntityError",
    "__version__",
    "not_given",
    "omit",
    "pydantic_function_tool",
    "pydantic_responses_function_tool",
    "types",
]

if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        if name not in __all__:
            raise AttributeError(f"module 'rillet' has no attribute {name!r}")
        if name == "types":
            value = importlib.import_module("rillet.types")
        else:
            homes = (importlib.import_module(home) for home in _HOMES)
            value = next(vars(home)[name] for home in homes if name in vars(home))
        globals()[name] = value  # later lookups are plain attribute reads
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})

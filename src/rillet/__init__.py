"""rillet: an OpenAI-compatible client with fast, strict streaming.

`from rillet import OpenAI` (or `import rillet as openai`) stands in for the official
package: the same clients, calls, stream objects, response types and exception names.
"""

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
from rillet._streaming import AsyncStream, Stream
from rillet._types import NOT_GIVEN, NotGiven, Omit, not_given, omit
from rillet._version import __version__

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
    "types",
]

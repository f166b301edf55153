"""The error hierarchy, with the official client's names so `except` clauses carry over.

Two additions are rillet's own, both subclasses of `APIConnectionError` so code written for
the official client already catches them: `IncompleteStreamError` (a stream whose body ended
before the server said it was done) and `StreamIdleTimeoutError` (no chunk for longer than
`stream_idle_timeout`).
"""

from __future__ import annotations

from typing import Any, Literal

import httpx
import orjson

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ContentFilterFinishReasonError",
    "IncompleteStreamError",
    "InternalServerError",
    "LengthFinishReasonError",
    "NotFoundError",
    "OpenAIError",
    "PermissionDeniedError",
    "RateLimitError",
    "StreamIdleTimeoutError",
    "UnprocessableEntityError",
]


class OpenAIError(Exception):
    pass


class APIError(OpenAIError):
    message: str
    request: httpx.Request
    body: object | None
    code: str | None = None
    param: str | None = None
    type: str | None

    def __init__(self, message: str, request: httpx.Request, *, body: object | None) -> None:
        super().__init__(message)
        self.message = message
        self.request = request
        self.body = body
        if isinstance(body, dict):
            code = body.get("code")
            param = body.get("param")
            type_ = body.get("type")
            self.code = None if code is None else str(code)
            self.param = param if isinstance(param, str) else None
            self.type = type_ if isinstance(type_, str) else None
        else:
            self.code = None
            self.param = None
            self.type = None


class APIResponseValidationError(APIError):
    """The server answered, but not with something of the documented shape."""

    response: httpx.Response
    status_code: int

    def __init__(
        self, response: httpx.Response, body: object | None, *, message: str | None = None
    ) -> None:
        super().__init__(
            message or "Data returned by API invalid for expected schema.",
            response.request,
            body=body,
        )
        self.response = response
        self.status_code = response.status_code


class APIStatusError(APIError):
    """The server answered with a 4xx or 5xx status."""

    response: httpx.Response
    status_code: int
    request_id: str | None

    def __init__(self, message: str, *, response: httpx.Response, body: object | None) -> None:
        super().__init__(message, response.request, body=body)
        self.response = response
        self.status_code = response.status_code
        self.request_id = response.headers.get("x-request-id")


class APIConnectionError(APIError):
    def __init__(self, *, message: str = "Connection error.", request: httpx.Request) -> None:
        super().__init__(message, request, body=None)


class APITimeoutError(APIConnectionError):
    def __init__(self, request: httpx.Request, *, message: str = "Request timed out.") -> None:
        super().__init__(message=message, request=request)


class IncompleteStreamError(APIConnectionError):
    """The stream's body ended before `[DONE]` and before every choice had finished.

    The official client returns the partial text silently in this case; rillet raises so
    that a truncated answer is never mistaken for a whole one.
    """


class StreamIdleTimeoutError(APITimeoutError):
    """No data arrived on a stream for longer than `stream_idle_timeout` seconds."""


class BadRequestError(APIStatusError):
    status_code: Literal[400] = 400


class AuthenticationError(APIStatusError):
    status_code: Literal[401] = 401


class PermissionDeniedError(APIStatusError):
    status_code: Literal[403] = 403


class NotFoundError(APIStatusError):
    status_code: Literal[404] = 404


class ConflictError(APIStatusError):
    status_code: Literal[409] = 409


class UnprocessableEntityError(APIStatusError):
    status_code: Literal[422] = 422


class RateLimitError(APIStatusError):
    status_code: Literal[429] = 429


class InternalServerError(APIStatusError):
    pass


class LengthFinishReasonError(OpenAIError):
    """A stream helper's final completion was cut by the token limit (as officially)."""

    def __init__(self, *, completion: Any) -> None:
        message = "Could not parse response content as the length limit was reached"
        if getattr(completion, "usage", None):
            message += f" - {completion.usage}"
        super().__init__(message)
        self.completion = completion


class ContentFilterFinishReasonError(OpenAIError):
    def __init__(self, *, completion: Any = None) -> None:
        super().__init__(
            "Could not parse response content as the request was rejected by the content filter"
        )
        self.completion = completion


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error(response: httpx.Response, body: object | None) -> APIStatusError:
    """Build the exception for a 4xx/5xx answer whose body (decoded JSON or text) is `body`."""
    message = f"Error code: {response.status_code}"
    error: Any = body.get("error", body) if isinstance(body, dict) else body
    detail = error.get("message") if isinstance(error, dict) else None
    if isinstance(detail, str) and detail:
        message += f" - {detail}"
    elif isinstance(error, str) and error:
        message += f" - {_excerpt(error)}"
    elif isinstance(error, dict) and error and "message" not in error:
        # e.g. `{"detail": "Not Found"}` from a server that is not OpenAI-shaped
        message += f" - {_excerpt(orjson.dumps(error).decode())}"
    status = response.status_code
    cls = _STATUS_ERRORS.get(status)
    if cls is None:
        cls = InternalServerError if status >= 500 else APIStatusError
    return cls(message, response=response, body=error)


def _excerpt(text: str, limit: int = 200) -> str:
    """Keep error messages readable when a proxy answers with a whole HTML page."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def transport_error(
    exc: Exception, request: httpx.Request, idle_timeout: float | None = None
) -> APIConnectionError:
    """The typed error for an httpx failure; a read timeout on a stream body is an idle timeout."""
    if isinstance(exc, httpx.ReadTimeout) and idle_timeout is not None:
        return StreamIdleTimeoutError(
            request, message=f"Stream idle: no data for {idle_timeout:g} s."
        )
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(request)
    cause = exc.__cause__ or exc.__context__
    detail = str(exc) or (cause is not None and str(cause)) or ""
    name = type(exc).__name__
    message = f"Connection error ({name}): {detail}" if detail else f"Connection error ({name})."
    return APIConnectionError(message=message, request=request)

"""OpenAI-shaped errors: one exception type for every client-visible failure.

Handlers raise :class:`APIError`; the app turns it into
``{"error": {"message", "type", "param", "code"}}`` with the matching status, so
every endpoint (chat completions, responses, models) fails the same way.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from rillet.server.backends.base import InvalidRequest, Overloaded
from rillet.server.http.asgi import Send, send_bytes
from rillet.server.json_types import json_type

INVALID_REQUEST = "invalid_request_error"

logger = logging.getLogger("rillet.server")

Endpoint = Callable[[Request], Awaitable[Response]]


class APIError(Exception):
    """A failure to report to the client with an HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = INVALID_REQUEST,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, type=self.type, param=self.param, code=self.code)


def error_body(
    message: str,
    *,
    type: str = INVALID_REQUEST,
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def bad_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)


def from_backend(error: InvalidRequest) -> APIError:
    return bad_request(str(error), error.param, error.code or "invalid_value")


def missing_parameter(param: str) -> APIError:
    return bad_request(
        f"Missing required parameter: '{param}'.", param, "missing_required_parameter"
    )


def invalid_type(param: str, expected: str, value: object) -> APIError:
    got = _with_article(json_type(value))
    return bad_request(
        f"Invalid type for '{param}': expected {expected}, but got {got}.",
        param=param,
        code="invalid_type",
    )


_ARTICLED = {
    "boolean": "a boolean",
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "array": "an array",
    "object": "an object",
}


def _with_article(kind: str) -> str:
    """`an integer`, `a string`...; `null` (and a non-JSON type's name) as it is."""
    return _ARTICLED.get(kind, kind)


def internal_error() -> APIError:
    """The generic 500: the traceback goes to the server log, never to the client."""
    return APIError(
        500,
        "The server had an error while processing your request.",
        type="server_error",
        code="internal_error",
    )


def overloaded(error: Overloaded) -> APIError:
    """429 with `Retry-After` (whole seconds), as OpenAI answers when a limit is reached."""
    return APIError(
        429,
        str(error),
        type="requests",
        code="rate_limit_exceeded",
        headers={"Retry-After": str(max(1, math.ceil(error.retry_after)))},
    )


def shutting_down() -> APIError:
    return APIError(
        503,
        "The server is shutting down; retry against a running server.",
        type="server_error",
        code="server_shutting_down",
    )


def uncancel_current_task() -> None:
    """Absorb a cancellation this handler answers itself (the request task is ours to end)."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


async def send_error(send: Send, error: APIError, request_id: str | None = None) -> None:
    """Send `error` as a complete JSON response (usable outside Starlette, e.g. in middleware)."""
    headers = dict(error.headers)
    if request_id is not None:
        headers["x-request-id"] = request_id
    await send_bytes(send, error.status, orjson.dumps(error.body()), "application/json", headers)


def reports_errors(endpoint: Endpoint) -> Endpoint:
    """Log an endpoint's unexpected exception and answer a generic 500.

    Letting it escape would also work, but the ASGI server then closes the
    connection after the response, and a client reusing that pooled connection
    sees a reset instead of its next answer.
    """

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except (APIError, HTTPException):
            raise
        except InvalidRequest as exc:
            raise from_backend(exc) from None
        except Overloaded as exc:
            raise overloaded(exc) from None
        except Exception:
            logger.exception("unhandled error for %s %s", request.method, request.url.path)
            raise internal_error() from None
        except asyncio.CancelledError:
            # uvicorn cancels requests still running when a graceful shutdown times out.
            uncancel_current_task()
            raise shutting_down() from None

    return guarded

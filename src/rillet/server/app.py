"""The ASGI application behind `rillet serve`.

Starlette supplies routing, lifespan and the last-resort error handling; the
endpoints themselves are small functions over the shared pieces (validation,
errors, the SSE response), which the Responses API endpoint reuses.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from rillet.server.backends.base import Backend
from rillet.server.chat.endpoint import cancel_chat_completion, chat_completions
from rillet.server.completions.endpoint import completions
from rillet.server.context import ServerConfig, ServerContext
from rillet.server.embeddings.endpoint import embeddings
from rillet.server.http.auth import BearerAuth
from rillet.server.http.errors import APIError, internal_error, reports_errors
from rillet.server.http.load import Admission, metrics
from rillet.server.ids import new_request_id
from rillet.server.models.endpoint import list_models, retrieve_model
from rillet.server.playground import PATHS as PLAYGROUND_PATHS
from rillet.server.playground import playground_routes
from rillet.server.responses.endpoint import (
    cancel_response,
    create_response,
    delete_response,
    list_input_items,
    retrieve_response,
)
from rillet.server.responses.store import ResponseStore
from rillet.server.resume import create_event_log

OPEN_PATHS = frozenset({"/health"})


def create_app(
    backend: Backend,
    config: ServerConfig | None = None,
    *,
    extra_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """Build the app; `extra_routes` lets other endpoints join it."""
    config = config or ServerConfig()
    responses = ResponseStore(
        config.max_stored_responses, config.stored_response_ttl, config.resume_window
    )
    resume = create_event_log(config.store, config.resume_window, config.resume_max_bytes)
    shared = None
    if config.store is not None:  # the stored responses live in the same Redis
        from rillet.server.responses.shared import SharedResponses
        from rillet.server.resume.redis import RedisEventLog

        assert isinstance(resume, RedisEventLog)
        shared = SharedResponses(resume, config.stored_response_ttl)
    # The playground's page and assets hold no data: they load without a key, and the page
    # sends the key with its API calls.
    page_routes = playground_routes() if config.playground else []
    open_paths = OPEN_PATHS | PLAYGROUND_PATHS if config.playground else OPEN_PATHS

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await responses.aclose()
            if shared is not None:
                await shared.aclose()
            await resume.aclose()
            await backend.aclose()

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/v1/chat/completions", reports_errors(chat_completions), methods=["POST"]),
            Route(
                "/v1/chat/completions/{completion_id}/cancel",
                reports_errors(cancel_chat_completion),
                methods=["POST"],
            ),
            Route("/v1/completions", reports_errors(completions), methods=["POST"]),
            Route("/v1/embeddings", reports_errors(embeddings), methods=["POST"]),
            Route("/v1/responses", reports_errors(create_response), methods=["POST"]),
            Route(
                "/v1/responses/{response_id}",
                reports_errors(retrieve_response),
                methods=["GET"],
            ),
            Route(
                "/v1/responses/{response_id}",
                reports_errors(delete_response),
                methods=["DELETE"],
            ),
            Route(
                "/v1/responses/{response_id}/input_items",
                reports_errors(list_input_items),
                methods=["GET"],
            ),
            Route(
                "/v1/responses/{response_id}/cancel",
                reports_errors(cancel_response),
                methods=["POST"],
            ),
            Route("/v1/models", reports_errors(list_models), methods=["GET"]),
            Route("/v1/models/{model_id:path}", reports_errors(retrieve_model), methods=["GET"]),
            *page_routes,
            *extra_routes,
        ],
        middleware=[
            Middleware(BearerAuth, api_key=config.api_key, open_paths=open_paths),
            Middleware(Admission, backend=backend),  # 429 past the backend's capacity
        ],
        exception_handlers={
            APIError: api_error_response,
            HTTPException: http_error_response,
            Exception: unexpected_error_response,
        },
        lifespan=lifespan,
    )
    app.state.rillet = ServerContext(
        config=config,
        backend=backend,
        responses=responses,
        resume=resume,
        shared_responses=shared,
    )
    return app


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def error_response(error: APIError) -> Response:
    headers = {"x-request-id": new_request_id(), **error.headers}
    return Response(
        orjson.dumps(error.body()),
        status_code=error.status,
        media_type="application/json",
        headers=headers,
    )


async def api_error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    return error_response(exc)


async def http_error_response(request: Request, exc: Exception) -> Response:
    """Router-level failures (unknown route, wrong method) in OpenAI's shape."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"Invalid URL ({request.method} {request.url.path})"
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed for {request.url.path}"
    else:
        message = str(exc.detail)
    error = APIError(exc.status_code, message, headers=dict(exc.headers or {}))
    return error_response(error)


async def unexpected_error_response(request: Request, exc: Exception) -> Response:
    """Last resort; Starlette re-raises afterwards so the ASGI server logs the traceback."""
    return error_response(internal_error())


__all__ = ["ServerConfig", "create_app"]

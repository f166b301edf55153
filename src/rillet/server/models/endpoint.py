"""`GET /v1/models` and `GET /v1/models/{id}`."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from rillet.server.context import get_context

_STARTED = int(time.time())


def model_object(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": _STARTED, "owned_by": "rillet"}


async def list_models(request: Request) -> Response:
    ids = get_context(request).backend.model_ids()
    return JSONResponse({"object": "list", "data": [model_object(i) for i in ids]})


async def retrieve_model(request: Request) -> Response:
    """Any name is served (unless --strict-models), so any name retrieves."""
    context = get_context(request)
    model_id: str = request.path_params["model_id"]
    if model_id not in context.backend.model_ids():
        context.check_model(model_id)
    return JSONResponse(model_object(model_id))

"""`POST /v1/embeddings`: the backend's unit vectors, shortened if asked, as floats or base64.

Both encodings carry the same float32 values (base64 is their little-endian bytes, as
upstream sends them), so a client decoding either gets identical vectors.
"""

from __future__ import annotations

import array
import base64
import math
import sys

import orjson
from starlette.requests import Request
from starlette.responses import Response

from rillet.server.backends.base import Embedder
from rillet.server.context import get_context
from rillet.server.embeddings.request import EmbeddingRequest, parse_embedding_request
from rillet.server.http.errors import bad_request
from rillet.server.http.fields import unsupported
from rillet.server.http.validation import read_json
from rillet.server.ids import new_request_id


async def embeddings(request: Request) -> Response:
    context = get_context(request)
    body = await read_json(request.scope, request.receive, context.config.max_body_bytes)
    parsed = parse_embedding_request(body)
    context.check_model(parsed.model)
    backend = context.backend
    if not isinstance(backend, Embedder):
        raise bad_request(
            f"The `{backend.name}` backend computes no embeddings.", "model", "model_not_supported"
        )
    size = output_size(backend, parsed.dimensions)
    embedded = await backend.embed(parsed.model, parsed.inputs)
    data = [
        {"object": "embedding", "index": i, "embedding": encode(shorten(v, size), parsed)}
        for i, v in enumerate(embedded.vectors)
    ]
    tokens = embedded.prompt_tokens
    result = {
        "object": "list",
        "data": data,
        "model": parsed.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return Response(
        orjson.dumps(result),
        media_type="application/json",
        headers={"x-request-id": new_request_id()},
    )


def output_size(backend: Embedder, dimensions: int | None) -> int:
    """How many values each vector keeps: all, or `dimensions` where the model allows it."""
    full = backend.embedding_dimensions
    if dimensions is None or dimensions == full:
        return full
    if dimensions > full:
        raise bad_request(
            f"Invalid 'dimensions': this model's embeddings have {full} dimensions, "
            f"so at most {full} can be asked for; got {dimensions}.",
            "dimensions",
            "integer_above_max_value",
        )
    if not backend.shortens_embeddings:
        raise unsupported(
            "dimensions",
            f"this model was not trained for shortened embeddings; its vectors have {full} "
            "dimensions, which is the only value accepted",
        )
    return dimensions


def shorten(vector: list[float], size: int) -> list[float]:
    """The first `size` values, scaled back to unit length."""
    if size >= len(vector):
        return vector
    head = vector[:size]
    norm = math.sqrt(sum(v * v for v in head)) or 1.0
    return [v / norm for v in head]


def encode(vector: list[float], parsed: EmbeddingRequest) -> list[float] | str:
    values = array.array("f", vector)  # float32, whichever encoding is asked for
    if parsed.encoding_format == "float":
        return values.tolist()
    if sys.byteorder == "big":
        values.byteswap()
    return base64.b64encode(values.tobytes()).decode("ascii")

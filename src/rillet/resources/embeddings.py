"""`client.embeddings.create(...)`, sync and async (`rillet serve` answers it on both backends).

As the official client does, a call that does not choose `encoding_format` asks for
`base64` (a quarter of the bytes of decimal floats) and decodes each vector to a list of
floats; one that chooses a format gets the embeddings as the server sent them.
"""

from __future__ import annotations

import array
import base64
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal, Required, Unpack

from rillet._response import (
    AsyncRawView,
    AsyncStreamingView,
    RawView,
    StreamingView,
    async_raw_response,
    async_streamed_response,
    raw_response,
    streamed_response,
    view,
)
from rillet._types import NotGiven, RequestOptions, is_given
from rillet.resources._resource import AsyncResource, SyncResource, create_params
from rillet.types.create_embedding_response import CreateEmbeddingResponse

if TYPE_CHECKING:
    from rillet._client import AsyncOpenAI, OpenAI  # noqa: F401 (named in strings)

__all__ = ["AsyncEmbeddings", "EmbeddingCreateParams", "Embeddings"]


class EmbeddingCreateParams(RequestOptions, total=False):
    """The Embeddings parameters, each a keyword argument."""

    input: Required[str | list[str] | Iterable[int] | Iterable[Iterable[int]]]
    model: Required[str]
    dimensions: int | NotGiven
    encoding_format: Literal["float", "base64"] | NotGiven
    user: str | NotGiven


_PARAMS = frozenset(EmbeddingCreateParams.__annotations__)


def _request_params(params: EmbeddingCreateParams) -> tuple[dict[str, Any], bool]:
    """The call's keyword arguments as sent, and whether rillet chose (and so decodes) the
    encoding."""
    body = create_params(params, None, _PARAMS)
    chosen = is_given(body.get("encoding_format", NotGiven()))
    if not chosen:
        body["encoding_format"] = "base64"
    return body, not chosen


def _decoded(response: CreateEmbeddingResponse, decode: bool) -> CreateEmbeddingResponse:
    """`response` with its base64 vectors (little-endian float32) as lists of floats."""
    if not decode:
        return response
    if not response.data:
        raise ValueError("No embedding data received")
    for item in response.data:
        data: object = item.embedding
        if isinstance(data, str):
            floats = array.array("f", base64.b64decode(data))
            if sys.byteorder == "big":
                floats.byteswap()
            item.embedding = floats.tolist()
    return response


class Embeddings(SyncResource):
    def create(self, **params: Unpack[EmbeddingCreateParams]) -> CreateEmbeddingResponse:
        body, decode = _request_params(params)
        spec = self._client._spec("POST", "/embeddings", body)
        return _decoded(self._client._request(spec, CreateEmbeddingResponse), decode)

    with_raw_response = view(lambda resource: EmbeddingsWithRawResponse(resource))

    with_streaming_response = view(lambda resource: EmbeddingsWithStreamingResponse(resource))


class AsyncEmbeddings(AsyncResource):
    async def create(self, **params: Unpack[EmbeddingCreateParams]) -> CreateEmbeddingResponse:
        body, decode = _request_params(params)
        spec = self._client._spec("POST", "/embeddings", body)
        return _decoded(await self._client._request(spec, CreateEmbeddingResponse), decode)

    with_raw_response = view(lambda resource: AsyncEmbeddingsWithRawResponse(resource))

    with_streaming_response = view(lambda resource: AsyncEmbeddingsWithStreamingResponse(resource))


# `with_raw_response` / `with_streaming_response` (rillet/_response.py).


class EmbeddingsWithRawResponse(RawView[Embeddings]):
    create = raw_response(Embeddings.create)


class AsyncEmbeddingsWithRawResponse(AsyncRawView[AsyncEmbeddings]):
    create = async_raw_response(AsyncEmbeddings.create)


class EmbeddingsWithStreamingResponse(StreamingView[Embeddings]):
    create = streamed_response(Embeddings.create)


class AsyncEmbeddingsWithStreamingResponse(AsyncStreamingView[AsyncEmbeddings]):
    create = async_streamed_response(AsyncEmbeddings.create)

"""`client.models.list()` and `client.models.retrieve(id)`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator
from typing import TYPE_CHECKING, Unpack
from urllib.parse import quote

from rillet._models import BaseModel
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
from rillet._types import RequestOptions
from rillet.resources._resource import AsyncResource, SyncResource
from rillet.types.model import Model

if TYPE_CHECKING:
    from rillet._client import AsyncOpenAI, OpenAI  # noqa: F401 (named in a string below)

__all__ = ["AsyncModels", "Models", "ModelsPage"]


class ModelsPage(BaseModel):
    """The model list; iterate it for the models, as with the official client's page."""

    object: str
    data: list[Model]

    def __iter__(self) -> Iterator[Model]:
        return iter(self.data or [])


def _path(model: str) -> str:
    if not model:
        raise ValueError("Expected a non-empty value for `model`")
    return f"/models/{quote(model, safe='')}"


class Models(SyncResource):
    def list(self, **options: Unpack[RequestOptions]) -> ModelsPage:
        return self._client._request(self._client._spec("GET", "/models", options), ModelsPage)

    def retrieve(self, model: str, **options: Unpack[RequestOptions]) -> Model:
        return self._client._request(self._client._spec("GET", _path(model), options), Model)

    with_raw_response = view(lambda resource: ModelsWithRawResponse(resource))

    with_streaming_response = view(lambda resource: ModelsWithStreamingResponse(resource))


class AsyncModelsList:
    """`await` it for the page, or `async for` over it for the models (as officially)."""

    def __init__(self, client: AsyncOpenAI, options: RequestOptions) -> None:
        self._client = client
        self._options = options

    async def _fetch(self) -> ModelsPage:
        spec = self._client._spec("GET", "/models", self._options)
        return await self._client._request(spec, ModelsPage)

    def __await__(self) -> Generator[object, None, ModelsPage]:
        return self._fetch().__await__()

    async def __aiter__(self) -> AsyncIterator[Model]:
        for model in await self._fetch():
            yield model


class AsyncModels(AsyncResource):
    def list(self, **options: Unpack[RequestOptions]) -> AsyncModelsList:
        return AsyncModelsList(self._client, options)

    async def retrieve(self, model: str, **options: Unpack[RequestOptions]) -> Model:
        spec = self._client._spec("GET", _path(model), options)
        return await self._client._request(spec, Model)

    with_raw_response = view(lambda resource: AsyncModelsWithRawResponse(resource))

    with_streaming_response = view(lambda resource: AsyncModelsWithStreamingResponse(resource))


# `with_raw_response` / `with_streaming_response` (rillet/_response.py).


class ModelsWithRawResponse(RawView[Models]):
    list = raw_response(Models.list)
    retrieve = raw_response(Models.retrieve)


class AsyncModelsWithRawResponse(AsyncRawView[AsyncModels]):
    list = async_raw_response(AsyncModels.list)
    retrieve = async_raw_response(AsyncModels.retrieve)


class ModelsWithStreamingResponse(StreamingView[Models]):
    list = streamed_response(Models.list)
    retrieve = streamed_response(Models.retrieve)


class AsyncModelsWithStreamingResponse(AsyncStreamingView[AsyncModels]):
    list = async_streamed_response(AsyncModels.list)
    retrieve = async_streamed_response(AsyncModels.retrieve)

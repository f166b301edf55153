"""What every resource shares: the client it is bound to, and the plumbing of create-style
endpoints (`create(stream=...)` and the `stream()` helper), written once for chat and
responses. `SyncResource` and `AsyncResource` differ only in awaiting the client."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from rillet._send import RequestSpec
from rillet._streams.helpers import AsyncStreamManager, StreamManager
from rillet._streams.stream import AsyncStream, Progress, Stream
from rillet._types import REQUEST_OPTIONS, AsyncCloses, Closes

if TYPE_CHECKING:
    from rillet._client import AsyncOpenAI, OpenAI

C = TypeVar("C", "OpenAI", "AsyncOpenAI")
R = TypeVar("R")  # an endpoint's parsed answer
E = TypeVar("E")  # the items of its stream
W = TypeVar("W", bound=Closes)  # what a `stream()` helper hands out
AW = TypeVar("AW", bound=AsyncCloses)


class Resource(Generic[C]):
    """A group of endpoints bound to one client."""

    def __init__(self, client: C) -> None:
        self._client: C = client


def create_params(
    params: Mapping[str, Any], stream: bool | None, allowed: frozenset[str]
) -> dict[str, Any]:
    """A `create()` call's keyword arguments with `stream` set; an unknown one is refused
    before any I/O, as a misspelt parameter would otherwise reach the server unnoticed."""
    unknown = [k for k in params if k not in allowed and k not in REQUEST_OPTIONS]
    if unknown:
        raise TypeError(f"create() got an unexpected keyword argument {unknown[0]!r}")
    body = dict(params)
    if stream is not None:
        body["stream"] = stream
    return body


@dataclass(frozen=True, slots=True)
class Endpoint(Generic[R, E]):
    """One endpoint that answers either at once or as a stream: what the answer is parsed
    as (`cast_to`), how a stream's items are built, and how its end is known (`progress`)."""

    path: str
    params: frozenset[str]  # the keyword arguments `create()` takes besides request options
    cast_to: type[R]
    construct: Callable[[dict[str, Any]], E]
    progress: Callable[[], Progress] = Progress

    def create(
        self, client: OpenAI | AsyncOpenAI, params: Mapping[str, Any], stream: bool | None
    ) -> RequestSpec:
        return client._spec("POST", self.path, create_params(params, stream, self.params))


def _helper_params(params: Mapping[str, Any]) -> Mapping[str, Any]:
    """A `stream()` helper's keyword arguments, which cannot say `stream`: it always streams."""
    if "stream" in params:
        raise TypeError("stream() always streams; do not pass `stream`")
    return params


class SyncResource(Resource["OpenAI"]):
    def _call(self, spec: RequestSpec, endpoint: Endpoint[R, E]) -> R | Stream[E]:
        """The answer to `spec`: its stream if it asked for one, else the parsed body."""
        if spec.stream:
            return self._client._stream(spec, endpoint.construct, endpoint.progress)
        return self._client._request(spec, endpoint.cast_to)

    def _create(
        self, endpoint: Endpoint[R, E], params: Mapping[str, Any], stream: bool | None
    ) -> R | Stream[E]:
        return self._call(endpoint.create(self._client, params, stream), endpoint)

    def _manage(
        self, endpoint: Endpoint[R, E], params: Mapping[str, Any], wrap: Callable[[Stream[E]], W]
    ) -> StreamManager[W]:
        """What a `stream()` helper returns: the request is made and sent when the `with`
        block is entered, and the block gets `wrap(the raw stream)`."""
        params = _helper_params(params)

        def open_stream() -> W:
            spec = endpoint.create(self._client, params, True)
            return wrap(self._client._stream(spec, endpoint.construct, endpoint.progress))

        return StreamManager(open_stream)


class AsyncResource(Resource["AsyncOpenAI"]):
    async def _call(self, spec: RequestSpec, endpoint: Endpoint[R, E]) -> R | AsyncStream[E]:
        if spec.stream:
            return await self._client._stream(spec, endpoint.construct, endpoint.progress)
        return await self._client._request(spec, endpoint.cast_to)

    async def _create(
        self, endpoint: Endpoint[R, E], params: Mapping[str, Any], stream: bool | None
    ) -> R | AsyncStream[E]:
        return await self._call(endpoint.create(self._client, params, stream), endpoint)

    def _manage(
        self,
        endpoint: Endpoint[R, E],
        params: Mapping[str, Any],
        wrap: Callable[[AsyncStream[E]], AW],
    ) -> AsyncStreamManager[AW]:
        params = _helper_params(params)

        async def open_stream() -> AW:
            spec = endpoint.create(self._client, params, True)
            return wrap(await self._client._stream(spec, endpoint.construct, endpoint.progress))

        return AsyncStreamManager(open_stream)

"""What every resource shares: the client it is bound to, and the plumbing of create-style
endpoints (`create(stream=...)` and the `stream()` helper), written once for chat and
responses. `SyncResource` and `AsyncResource` differ only in awaiting the client."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from rillet._send import RequestSpec
from rillet._streams.helpers import AsyncStreamManager, StreamManager
from rillet._streams.resume import RESUMABLE_HEADER, Target
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


def plain_progress(params: Mapping[str, Any]) -> Progress:
    """The progress of a stream whose request says nothing about how it ends."""
    return Progress()


@dataclass(frozen=True, slots=True)
class Endpoint(Generic[R, E]):
    """One endpoint that answers either at once or as a stream: what the answer is parsed
    as (`cast_to`), how a stream's items are built, and how its end is known: `progress`
    makes that from the call's keyword arguments, which may say what a whole answer holds
    (chat's `n` choices, its usage chunk). `target`, for a stream `rillet serve` can keep
    for a reattach (docs/resume.md), says how it is reattached and cancelled: streamed
    requests to such an endpoint ask the server to keep them (`X-Rillet-Resumable: 1`)
    unless `max_stream_resumes` is 0 or the call's `extra_headers` name that header."""

    path: str
    params: frozenset[str]  # the keyword arguments `create()` takes besides request options
    cast_to: type[R]
    construct: Callable[[dict[str, Any]], E]
    progress: Callable[[Mapping[str, Any]], Progress] = plain_progress
    target: Callable[[RequestSpec, Mapping[str, Any]], Target] | None = None

    def create(
        self, client: OpenAI | AsyncOpenAI, params: Mapping[str, Any], stream: bool | None
    ) -> RequestSpec:
        spec = client._spec("POST", self.path, create_params(params, stream, self.params))
        if spec.stream and self.target is not None and spec.max_stream_resumes > 0:
            opt_in(spec, [*client._custom_headers, *(params.get("extra_headers") or ())])
        return spec

    def target_of(self, spec: RequestSpec, params: Mapping[str, Any]) -> Target | None:
        """How the stream of `spec` (made of `params`) is reattached; None if it is not."""
        if not spec.stream or self.target is None:
            return None
        return self.target(spec, params)

    def progress_of(self, params: Mapping[str, Any]) -> Callable[[], Progress]:
        """What the client's `_stream` calls, once, for the progress of one stream."""
        return partial(self.progress, params)


_NONE: Mapping[str, Any] = MappingProxyType({})  # a call with no keyword arguments of its own


def opt_in(spec: RequestSpec, named: Iterable[object]) -> None:
    """Ask the server to keep the stream for a reattach, unless the headers the client or
    the call `named` already say something about it (`omit` included)."""
    name = RESUMABLE_HEADER.lower()
    if not any(isinstance(k, str) and k.lower() == name for k in named):
        spec.headers[RESUMABLE_HEADER] = "1"


def _helper_params(params: Mapping[str, Any]) -> Mapping[str, Any]:
    """A `stream()` helper's keyword arguments, which cannot say `stream`: it always streams."""
    if "stream" in params:
        raise TypeError("stream() always streams; do not pass `stream`")
    return params


class SyncResource(Resource["OpenAI"]):
    def _call(
        self,
        spec: RequestSpec,
        endpoint: Endpoint[R, E],
        params: Mapping[str, Any] = _NONE,
        target: Target | None = None,
    ) -> R | Stream[E]:
        """The answer to `spec` (made of `params`): its stream if it asked for one, else the
        parsed body. `target` says how the stream is reattached (None: it is not)."""
        if spec.stream:
            progress = endpoint.progress_of(params)
            return self._client._stream(spec, endpoint.construct, progress, target)
        return self._client._request(spec, endpoint.cast_to)

    def _create(
        self, endpoint: Endpoint[R, E], params: Mapping[str, Any], stream: bool | None
    ) -> R | Stream[E]:
        spec = endpoint.create(self._client, params, stream)
        return self._call(spec, endpoint, params, endpoint.target_of(spec, params))

    def _manage(
        self, endpoint: Endpoint[R, E], params: Mapping[str, Any], wrap: Callable[[Stream[E]], W]
    ) -> StreamManager[W]:
        """What a `stream()` helper returns: the request is made and sent when the `with`
        block is entered, and the block gets `wrap(the raw stream)`."""
        params = _helper_params(params)

        def open_stream() -> W:
            spec = endpoint.create(self._client, params, True)
            progress = endpoint.progress_of(params)
            target = endpoint.target_of(spec, params)
            stream = self._client._stream(
                spec, endpoint.construct, progress, target, own_types=True
            )
            return wrap(stream)

        return StreamManager(open_stream)


class AsyncResource(Resource["AsyncOpenAI"]):
    async def _call(
        self,
        spec: RequestSpec,
        endpoint: Endpoint[R, E],
        params: Mapping[str, Any] = _NONE,
        target: Target | None = None,
    ) -> R | AsyncStream[E]:
        if spec.stream:
            progress = endpoint.progress_of(params)
            return await self._client._stream(spec, endpoint.construct, progress, target)
        return await self._client._request(spec, endpoint.cast_to)

    async def _create(
        self, endpoint: Endpoint[R, E], params: Mapping[str, Any], stream: bool | None
    ) -> R | AsyncStream[E]:
        spec = endpoint.create(self._client, params, stream)
        return await self._call(spec, endpoint, params, endpoint.target_of(spec, params))

    def _manage(
        self,
        endpoint: Endpoint[R, E],
        params: Mapping[str, Any],
        wrap: Callable[[AsyncStream[E]], AW],
    ) -> AsyncStreamManager[AW]:
        params = _helper_params(params)

        async def open_stream() -> AW:
            spec = endpoint.create(self._client, params, True)
            progress = endpoint.progress_of(params)
            target = endpoint.target_of(spec, params)
            stream = await self._client._stream(
                spec, endpoint.construct, progress, target, own_types=True
            )
            return wrap(stream)

        return AsyncStreamManager(open_stream)

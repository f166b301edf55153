"""`with_raw_response` and `with_streaming_response`: a call's HTTP response beside its result.

`resource.with_raw_response.create(...)` returns a `LegacyAPIResponse` (the HTTP response's
headers, status and request, and `parse()` for what `create(...)` returns: the typed object,
or for `stream=True` the unread `Stream`); `resource.with_streaming_response.create(...)`
is a context manager giving an `APIResponse` / `AsyncAPIResponse` that can also read the
body itself (`iter_bytes()`, `iter_lines()`, ...) and is closed when the block ends. The
names and shapes are the official package's.

Each wrapped call runs the resource's own method on a copy of the resource bound to a
recording client (`_Recorder`), which sends through the real client and keeps the HTTP
response it got; so the wrappers add nothing to ordinary calls and follow every endpoint's
own request building, streaming and retries. One difference: a call that does not stream
has read its body before `parse()` or the `with` block, as rillet checks an answer when it
arrives.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from types import NoneType, TracebackType
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, cast

import httpx

from rillet._models import BaseModel
from rillet._send import RequestSpec, parse_json
from rillet._streams.stream import AsyncStream, Stream

if TYPE_CHECKING:
    from rillet._client import AsyncOpenAI, OpenAI
    from rillet.resources._resource import Resource

__all__ = [
    "APIResponse",
    "AsyncAPIResponse",
    "AsyncOpenAIWithRawResponse",
    "AsyncOpenAIWithStreamedResponse",
    "AsyncRawView",
    "AsyncResponseContextManager",
    "AsyncStreamingView",
    "LegacyAPIResponse",
    "OpenAIWithRawResponse",
    "OpenAIWithStreamedResponse",
    "RawView",
    "ResponseContextManager",
    "StreamingView",
    "async_raw_response",
    "async_streamed_response",
    "cast_response",
    "raw_response",
    "streamed_response",
    "view",
]

T = TypeVar("T")
R = TypeVar("R")  # what the wrapped method returns
P = ParamSpec("P")  # its parameters
Res = TypeVar("Res", bound="Resource[Any]")


def cast_response(response: httpx.Response, cast_to: type[T]) -> T:
    """A read response's body as `cast_to`: a model, the response itself, its text (`str`),
    nothing (`None`), or (`object`, `dict`) the JSON object as it came."""
    if isinstance(cast_to, type) and issubclass(cast_to, BaseModel):
        return cast_to.construct(parse_json(response))
    if cast_to is httpx.Response:
        return cast(T, response)
    if cast_to is str:
        return cast(T, response.text)
    if cast_to is NoneType or cast_to is None:
        return cast(T, None)
    return cast(T, parse_json(response))


class _BaseAPIResponse(Generic[R]):
    """What every wrapper tells of the HTTP response: the official properties."""

    http_response: httpx.Response

    def __init__(self, response: httpx.Response, parsed: R) -> None:
        self.http_response = response
        self._parsed = parsed
        self._parsed_by_type: dict[object, object] = {}

    @property
    def headers(self) -> httpx.Headers:
        return self.http_response.headers

    @property
    def http_request(self) -> httpx.Request:
        return self.http_response.request

    @property
    def status_code(self) -> int:
        return self.http_response.status_code

    @property
    def url(self) -> httpx.URL:
        return self.http_response.url

    @property
    def method(self) -> str:
        return self.http_request.method

    @property
    def http_version(self) -> str:
        return self.http_response.http_version

    @property
    def elapsed(self) -> datetime.timedelta:
        return self.http_response.elapsed

    @property
    def is_closed(self) -> bool:
        return self.http_response.is_closed

    @property
    def request_id(self) -> str | None:
        value: str | None = self.http_response.headers.get("x-request-id")
        return value

    def _parse(self, to: type[T] | None) -> R | T:
        """The method's result, or (`to`) the read body as another type."""
        if to is None:
            return self._parsed
        if isinstance(self._parsed, (Stream, AsyncStream)):
            raise TypeError("parse(to=...) is not supported for a stream; call parse()")
        if to not in self._parsed_by_type:
            self._parsed_by_type[to] = cast_response(self.http_response, to)
        return cast(T, self._parsed_by_type[to])

    def __repr__(self) -> str:
        response = self.http_response
        kind = type(self._parsed).__name__
        return f"<{type(self).__name__} [{response.status_code} {response.reason_phrase}] {kind}>"


class LegacyAPIResponse(_BaseAPIResponse[R]):
    """What `with_raw_response` methods return (sync and async alike, as officially)."""

    def parse(self, *, to: type[T] | None = None) -> R | T:
        """What the method itself returns: the typed object, or the unread stream."""
        return self._parse(to)

    @property
    def content(self) -> bytes:
        return self.http_response.content

    @property
    def text(self) -> str:
        return self.http_response.text


class APIResponse(_BaseAPIResponse[R]):
    """The `with client....with_streaming_response.create(...) as response:` object."""

    def parse(self, *, to: type[T] | None = None) -> R | T:
        return self._parse(to)

    def read(self) -> bytes:
        return self.http_response.read()

    def text(self) -> str:
        self.read()
        return self.http_response.text

    def json(self) -> object:
        self.read()
        return self.http_response.json()

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        return self.http_response.iter_bytes(chunk_size)

    def iter_text(self, chunk_size: int | None = None) -> Iterator[str]:
        return self.http_response.iter_text(chunk_size)

    def iter_lines(self) -> Iterator[str]:
        return self.http_response.iter_lines()

    def close(self) -> None:
        if isinstance(self._parsed, Stream):
            self._parsed.close()
        self.http_response.close()


class AsyncAPIResponse(_BaseAPIResponse[R]):
    """The `async with ....with_streaming_response.create(...) as response:` object; its
    `iter_*` methods are async iterators, as officially, also named `aiter_*`."""

    async def parse(self, *, to: type[T] | None = None) -> R | T:
        return self._parse(to)

    async def read(self) -> bytes:
        return await self.http_response.aread()

    async def text(self) -> str:
        await self.read()
        return self.http_response.text

    async def json(self) -> object:
        await self.read()
        return self.http_response.json()

    def iter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        return self.http_response.aiter_bytes(chunk_size)

    def iter_text(self, chunk_size: int | None = None) -> AsyncIterator[str]:
        return self.http_response.aiter_text(chunk_size)

    def iter_lines(self) -> AsyncIterator[str]:
        return self.http_response.aiter_lines()

    aiter_bytes = iter_bytes
    aiter_text = iter_text
    aiter_lines = iter_lines

    async def close(self) -> None:
        if isinstance(self._parsed, AsyncStream):
            await self._parsed.close()
        await self.http_response.aclose()


class ResponseContextManager(Generic[T]):
    """Makes the call when the block is entered; closes its response when the block ends."""

    def __init__(self, call: Callable[[], APIResponse[T]]) -> None:
        self._call = call
        self._response: APIResponse[T] | None = None

    def __enter__(self) -> APIResponse[T]:
        self._response = self._call()
        return self._response

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._response is not None:
            self._response.close()


class AsyncResponseContextManager(Generic[T]):
    def __init__(self, call: Callable[[], Awaitable[AsyncAPIResponse[T]]]) -> None:
        self._call = call
        self._response: AsyncAPIResponse[T] | None = None

    async def __aenter__(self) -> AsyncAPIResponse[T]:
        self._response = await self._call()
        return self._response

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._response is not None:
            await self._response.close()


class _Recorder:
    """Stands in for a client: sends through it, and keeps the HTTP response of the call."""

    def __init__(self, client: OpenAI | AsyncOpenAI) -> None:
        self._target = client
        self._response: httpx.Response | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    def recorded(self) -> httpx.Response:
        if self._response is None:  # every wrapped method sends one request
            raise RuntimeError("the call sent no request")
        return self._response


class _SyncRecorder(_Recorder):
    _target: OpenAI

    def _request(self, spec: RequestSpec, cast_to: type[T]) -> T:
        self._response = self._target._request(spec, httpx.Response)
        return self._target._answer(cast_response(self._response, cast_to))

    def _stream(self, spec: RequestSpec, *args: Any, **kwargs: Any) -> Stream[Any]:
        stream = self._target._stream(spec, *args, **kwargs)
        self._response = stream.response
        return stream


class _AsyncRecorder(_Recorder):
    _target: AsyncOpenAI

    async def _request(self, spec: RequestSpec, cast_to: type[T]) -> T:
        self._response = await self._target._request(spec, httpx.Response)
        return self._target._answer(cast_response(self._response, cast_to))

    async def _stream(self, spec: RequestSpec, *args: Any, **kwargs: Any) -> AsyncStream[Any]:
        stream = await self._target._stream(spec, *args, **kwargs)
        self._response = stream.response
        return stream


class _View(Generic[Res]):
    """A resource's `with_raw_response` / `with_streaming_response`: its methods, each
    declared once as `name = raw_response(Resource.method)` (or the three others below)."""

    def __init__(self, resource: Res) -> None:
        self._resource = resource

    def _recording(self, recorder: _Recorder) -> Res:
        """The resource, bound to `recorder` instead of the client."""
        return type(self._resource)(recorder)


class RawView(_View[Res]):
    pass


class AsyncRawView(_View[Res]):
    pass


class StreamingView(_View[Res]):
    pass


class AsyncStreamingView(_View[Res]):
    pass


V = TypeVar("V")  # a view class


class view(Generic[V]):
    """A resource's `with_raw_response` / `with_streaming_response`: made on first use from
    the resource, then kept on it (`with_raw_response = view(lambda r: XWithRawResponse(r))`;
    the lambda names a class defined after the resource's)."""

    def __init__(self, make: Callable[[Any], V]) -> None:
        self._make = make
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, resource: Resource[Any], owner: object) -> V:
        made = self._make(resource)
        resource.__dict__[self._name] = made  # later reads are plain attribute reads
        return made


class _Wrapped(Generic[Res, P, R]):
    """A resource method as a view's method: same parameters (the ParamSpec `P`), its result
    wrapped with the HTTP response. Used as a descriptor in the view's class body, named in
    lower case as the function-like thing it is (`create = raw_response(Chat._create_any)`)."""

    def __init__(self, method: Callable[Concatenate[Res, P], R]) -> None:
        self._method = method


class raw_response(_Wrapped[Res, P, R]):
    """`view.METHOD(...)` returns `LegacyAPIResponse[what METHOD returns]`."""

    def __get__(self, view: RawView[Res], owner: object) -> Callable[P, LegacyAPIResponse[R]]:
        def call(*args: P.args, **kwargs: P.kwargs) -> LegacyAPIResponse[R]:
            recorder = _SyncRecorder(view._resource._client)
            result = self._method(view._recording(recorder), *args, **kwargs)
            return LegacyAPIResponse(recorder.recorded(), result)

        return call


class async_raw_response(_Wrapped[Res, P, Awaitable[R]]):
    def __get__(
        self, view: AsyncRawView[Res], owner: object
    ) -> Callable[P, Coroutine[Any, Any, LegacyAPIResponse[R]]]:
        async def call(*args: P.args, **kwargs: P.kwargs) -> LegacyAPIResponse[R]:
            recorder = _AsyncRecorder(view._resource._client)
            result = await self._method(view._recording(recorder), *args, **kwargs)
            return LegacyAPIResponse(recorder.recorded(), result)

        return call


class streamed_response(_Wrapped[Res, P, R]):
    """`with view.METHOD(...) as response:` an `APIResponse[what METHOD returns]`."""

    def __get__(
        self, view: StreamingView[Res], owner: object
    ) -> Callable[P, ResponseContextManager[R]]:
        def call(*args: P.args, **kwargs: P.kwargs) -> ResponseContextManager[R]:
            def send() -> APIResponse[R]:
                recorder = _SyncRecorder(view._resource._client)
                result = self._method(view._recording(recorder), *args, **kwargs)
                return APIResponse(recorder.recorded(), result)

            return ResponseContextManager(send)

        return call


class async_streamed_response(_Wrapped[Res, P, Awaitable[R]]):
    def __get__(
        self, view: AsyncStreamingView[Res], owner: object
    ) -> Callable[P, AsyncResponseContextManager[R]]:
        def call(*args: P.args, **kwargs: P.kwargs) -> AsyncResponseContextManager[R]:
            async def send() -> AsyncAPIResponse[R]:
                recorder = _AsyncRecorder(view._resource._client)
                result = await self._method(view._recording(recorder), *args, **kwargs)
                return AsyncAPIResponse(recorder.recorded(), result)

            return AsyncResponseContextManager(send)

        return call


class OpenAIWithRawResponse:
    """`client.with_raw_response`: each resource's `with_raw_response`, as officially."""

    def __init__(self, client: OpenAI) -> None:
        self.chat = client.chat.with_raw_response
        self.completions = client.completions.with_raw_response
        self.embeddings = client.embeddings.with_raw_response
        self.models = client.models.with_raw_response
        self.responses = client.responses.with_raw_response


class AsyncOpenAIWithRawResponse:
    def __init__(self, client: AsyncOpenAI) -> None:
        self.chat = client.chat.with_raw_response
        self.completions = client.completions.with_raw_response
        self.embeddings = client.embeddings.with_raw_response
        self.models = client.models.with_raw_response
        self.responses = client.responses.with_raw_response


class OpenAIWithStreamedResponse:
    """`client.with_streaming_response`: each resource's `with_streaming_response`."""

    def __init__(self, client: OpenAI) -> None:
        self.chat = client.chat.with_streaming_response
        self.completions = client.completions.with_streaming_response
        self.embeddings = client.embeddings.with_streaming_response
        self.models = client.models.with_streaming_response
        self.responses = client.responses.with_streaming_response


class AsyncOpenAIWithStreamedResponse:
    def __init__(self, client: AsyncOpenAI) -> None:
        self.chat = client.chat.with_streaming_response
        self.completions = client.completions.with_streaming_response
        self.embeddings = client.embeddings.with_streaming_response
        self.models = client.models.with_streaming_response
        self.responses = client.responses.with_streaming_response

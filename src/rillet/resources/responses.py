"""`client.responses`: create (streamed or not), retrieve (or reattach to a stream), delete.

Streams reuse the chat machinery (`Stream`, `EventDecoder`); only how a stream is known to
have finished differs, which `ResponseProgress` says: a response stream is over at its
terminal event, and an `error` or `response.failed` event is raised as `APIError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, Unpack, overload
from urllib.parse import quote

from rillet._models import BaseModel, GenericObject
from rillet._response import (
    AsyncRawView,
    AsyncResponseContextManager,
    AsyncStreamingView,
    LegacyAPIResponse,
    RawView,
    ResponseContextManager,
    StreamingView,
)
from rillet._send import RequestSpec
from rillet._streams.helpers import (
    AsyncHelperStream,
    AsyncStreamManager,
    HelperStream,
    StreamManager,
)
from rillet._streams.resume import ResponsesTarget
from rillet._streams.stream import AsyncStream, Progress, Stream
from rillet._types import NotGiven, RequestOptions
from rillet.resources._resource import AsyncResource, Endpoint, SyncResource
from rillet.types.responses import Response, ResponseStreamEvent
from rillet.types.responses.response_stream_event import construct_event

if TYPE_CHECKING:
    from rillet._client import AsyncOpenAI, OpenAI  # noqa: F401 (named in strings below)

__all__ = [
    "AsyncResponseStream",
    "AsyncResponses",
    "ResponseCreateParams",
    "ResponseProgress",
    "ResponseStream",
    "ResponseStreamState",
    "Responses",
]

Event = ResponseStreamEvent | GenericObject

TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})


class ResponseCreateParams(RequestOptions, total=False):
    """The Responses API parameters (besides `stream`), each a keyword argument."""

    model: str
    input: str | Iterable[Mapping[str, Any]]
    instructions: str | NotGiven | None
    tools: Iterable[Mapping[str, Any]] | NotGiven
    tool_choice: str | Mapping[str, Any] | NotGiven
    parallel_tool_calls: bool | NotGiven | None
    max_output_tokens: int | NotGiven | None
    max_tool_calls: int | NotGiven | None
    temperature: float | NotGiven | None
    top_p: float | NotGiven | None
    top_logprobs: int | NotGiven | None
    seed: int | NotGiven | None  # rillet's own: `rillet serve` samples reproducibly with it
    text: Mapping[str, Any] | NotGiven
    previous_response_id: str | NotGiven | None
    conversation: str | Mapping[str, Any] | NotGiven | None
    store: bool | NotGiven | None
    metadata: Mapping[str, str] | NotGiven | None
    stream_options: Mapping[str, Any] | NotGiven | None
    include: list[str] | NotGiven | None
    reasoning: Mapping[str, Any] | NotGiven | None
    truncation: str | NotGiven | None
    background: bool | NotGiven | None
    service_tier: str | NotGiven | None
    user: str | NotGiven
    safety_identifier: str | NotGiven
    prompt: Mapping[str, Any] | NotGiven | None
    prompt_cache_key: str | NotGiven
    prompt_cache_options: Mapping[str, Any] | NotGiven | None
    prompt_cache_retention: str | NotGiven | None
    context_management: Iterable[Mapping[str, Any]] | NotGiven | None
    background_options: Mapping[str, Any] | NotGiven | None
    access_programs: Mapping[str, Any] | NotGiven | None
    moderation: Mapping[str, Any] | NotGiven | None
    image: Mapping[str, Any] | NotGiven | None


_PARAMS = frozenset(ResponseCreateParams.__annotations__) | {"stream"}


class ResponseProgress(Progress):
    """A response stream has finished once a terminal event arrived."""

    __slots__ = ("ended",)

    def __init__(self) -> None:
        super().__init__()
        self.ended = False

    def observe(self, data: dict[str, Any]) -> object | None:
        kind = data.get("type")
        if kind == "response.output_text.delta":  # nearly every event: decided at once
            return None
        if kind == "error":
            return data
        if kind in TERMINAL:
            self.ended = True  # nothing follows; the stream ends here, as officially documented
            if kind == "response.failed":
                response = data.get("response")
                error = response.get("error") if isinstance(response, dict) else None
                return error or {"message": "The response failed without saying why"}
        return None

    def complete(self) -> bool:
        return self.ended

    def missing(self) -> str:
        return "before a terminal event (response.completed, .incomplete or .failed)"


class ResponseStreamState:
    """What `responses.stream()` runs on: adds each text delta's `snapshot`, keeps the end."""

    def __init__(self) -> None:
        self._texts: dict[tuple[int, int], str] = {}
        self._final: Response | None = None

    def handle_event(self, event: Event) -> list[Event]:
        data = event.__dict__
        kind = data.get("type")
        if kind == "response.output_text.delta":
            key = (data.get("output_index", 0), data.get("content_index", 0))
            text = self._texts.get(key, "") + data.get("delta", "")
            self._texts[key] = data["snapshot"] = text
        elif kind in TERMINAL:
            self._final = data.get("response")
        return [event]

    def get_final_response(self) -> Response:
        if self._final is None:
            raise RuntimeError("Didn't receive a `response.completed` event.")
        return self._final


class ResponseStream(HelperStream[Event, Event]):
    def __init__(self, raw: Stream[Event], state: ResponseStreamState) -> None:
        super().__init__(raw, state.handle_event)
        self._state = state

    def get_final_response(self) -> Response:
        """Read to the end; the response of the terminal event (completed or incomplete)."""
        self.until_done()
        return self._state.get_final_response()


class AsyncResponseStream(AsyncHelperStream[Event, Event]):
    def __init__(self, raw: AsyncStream[Event], state: ResponseStreamState) -> None:
        super().__init__(raw, state.handle_event)
        self._state = state

    async def get_final_response(self) -> Response:
        await self.until_done()
        return self._state.get_final_response()


def _path(response_id: str) -> str:
    if not response_id:
        raise ValueError("Expected a non-empty value for `response_id`")
    return f"/responses/{quote(response_id, safe='')}"


def _retrieve_query(stream: bool | None, starting_after: int | None, include: Any) -> Any:
    query: dict[str, Any] = {}
    if stream:
        query["stream"] = "true"
    if starting_after is not None:
        query["starting_after"] = starting_after
    if include:
        query["include[]"] = list(include)
    return query


class _Deleted(BaseModel):
    id: str
    deleted: bool


def _progress(params: Mapping[str, Any]) -> ResponseProgress:
    return ResponseProgress()  # its terminal event says it all, whatever was asked


def _target(spec: RequestSpec, params: Mapping[str, Any]) -> ResponsesTarget:
    """A created stream is reattached by `GET /responses/{id}?stream=true&starting_after=N`
    (the id from its events); a background response's also on servers that do not echo
    `X-Rillet-Resumable` (the OpenAI API)."""
    extra = params.get("extra_body")
    background = extra.get("background") if isinstance(extra, Mapping) else None
    if background is None:
        background = params.get("background")
    return ResponsesTarget(spec.url, background=background is True)


def _retrieve_target(spec: RequestSpec, response_id: str) -> ResponsesTarget | None:
    """A stream of `retrieve(id, stream=True)` is reattached the same way, id known."""
    if not spec.stream:
        return None
    return ResponsesTarget(spec.url.rsplit("/", 1)[0], response_id)


_ENDPOINT = Endpoint("/responses", _PARAMS, Response, construct_event, _progress, _target)


class Responses(SyncResource):
    @overload
    def create(
        self, *, stream: Literal[True], **params: Unpack[ResponseCreateParams]
    ) -> Stream[Event]: ...

    @overload
    def create(
        self, *, stream: Literal[False] | None = None, **params: Unpack[ResponseCreateParams]
    ) -> Response: ...

    @overload
    def create(
        self, *, stream: bool, **params: Unpack[ResponseCreateParams]
    ) -> Response | Stream[Event]: ...

    def create(
        self, *, stream: bool | None = None, **params: Unpack[ResponseCreateParams]
    ) -> Response | Stream[Event]:
        return self._create(_ENDPOINT, params, stream)

    @overload
    def retrieve(
        self,
        response_id: str,
        *,
        stream: Literal[True],
        starting_after: int | None = None,
        include: Iterable[str] | None = None,
        **options: Unpack[RequestOptions],
    ) -> Stream[Event]: ...

    @overload
    def retrieve(
        self,
        response_id: str,
        *,
        stream: Literal[False] | None = None,
        starting_after: int | None = None,
        include: Iterable[str] | None = None,
        **options: Unpack[RequestOptions],
    ) -> Response: ...

    @overload
    def retrieve(
        self,
        response_id: str,
        *,
        stream: bool,
        starting_after: int | None = None,
        include: Iterable[str] | None = None,
        **options: Unpack[RequestOptions],
    ) -> Response | Stream[Event]: ...

    def retrieve(
        self,
        response_id: str,
        *,
        stream: bool | None = None,
        starting_after: int | None = None,
        include: Iterable[str] | None = None,
        **options: Unpack[RequestOptions],
    ) -> Response | Stream[Event]:
        """The stored response; with `stream=True`, its events after `starting_after`."""
        query = _retrieve_query(stream, starting_after, include)
        spec = self._client._spec("GET", _path(response_id), options, query=query, stream=stream)
        return self._call(spec, _ENDPOINT, target=_retrieve_target(spec, response_id))

    def delete(self, response_id: str, **options: Unpack[RequestOptions]) -> None:
        self._client._request(self._client._spec("DELETE", _path(response_id), options), _Deleted)

    def stream(self, **params: Unpack[ResponseCreateParams]) -> StreamManager[ResponseStream]:
        """`with ....stream(...) as stream:` events as they come, then the final response."""
        state = ResponseStreamState()
        return self._manage(_ENDPOINT, params, lambda raw: ResponseStream(raw, state))

    @cached_property
    def with_raw_response(self) -> ResponsesWithRawResponse:
        return ResponsesWithRawResponse(self)

    @cached_property
    def with_streaming_response(self) -> ResponsesWithStreamingResponse:
        return ResponsesWithStreamingResponse(self)


class AsyncResponses(AsyncResource):
    @overload
    async def create(
        self, *, stream: Literal[True], **params: Unpack[ResponseCreateParams]
    ) -> AsyncStream[Event]: ...

    @overload
    async def create(
        self, *, stream: Literal[False] | None = None, **params: Unpack[ResponseCreateParams]
    ) -> Response: ...

    @overload
    async def create(
        self, *, stream: bool, **params: Unpack[ResponseCreateParams]
    ) -> Response | AsyncStream[Event]: ...

    async def create(
        self, *, stream: bool | None = None, **params: Unpack[ResponseCreateParams]
    ) -> Response | AsyncStream[Event]:
        return await self._create(_ENDPOINT, params, stream)

    @overload
    async def retrieve(
        self,
        response_id: str,
        *,
        stream: Literal[True],
        starting_after: int | None = None,
        include: Iterable[str] | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncStream[Event]: ...

    @overload
    async def retrieve(
        self,
        response_id: str,
        *,
        stream: Literal[False] | None = None,
        starting_after: int | None = None,
        include: Iterable[str] | None = None,
        **options: Unpack[RequestOptions],
    ) -> Response: ...

    @overload
    async def retrieve(
        self,
        response_id: str,
        *,
        stream: bool,
        starting_after: int | None = None,
        include: Iterable[str] | None = None,
        **options: Unpack[RequestOptions],
    ) -> Response | AsyncStream[Event]: ...

    async def retrieve(
        self,
        response_id: str,
        *,
        stream: bool | None = None,
        starting_after: int | None = None,
        include: Iterable[str] | None = None,
        **options: Unpack[RequestOptions],
    ) -> Response | AsyncStream[Event]:
        query = _retrieve_query(stream, starting_after, include)
        spec = self._client._spec("GET", _path(response_id), options, query=query, stream=stream)
        return await self._call(spec, _ENDPOINT, target=_retrieve_target(spec, response_id))

    async def delete(self, response_id: str, **options: Unpack[RequestOptions]) -> None:
        spec = self._client._spec("DELETE", _path(response_id), options)
        await self._client._request(spec, _Deleted)

    def stream(
        self, **params: Unpack[ResponseCreateParams]
    ) -> AsyncStreamManager[AsyncResponseStream]:
        state = ResponseStreamState()
        return self._manage(_ENDPOINT, params, lambda raw: AsyncResponseStream(raw, state))

    @cached_property
    def with_raw_response(self) -> AsyncResponsesWithRawResponse:
        return AsyncResponsesWithRawResponse(self)

    @cached_property
    def with_streaming_response(self) -> AsyncResponsesWithStreamingResponse:
        return AsyncResponsesWithStreamingResponse(self)


# `with_raw_response` / `with_streaming_response` (rillet/_response.py): `parse()` gives what
# the method returns, typed as the union of its answers.
Answer = Response | Stream[Event]
AsyncAnswer = Response | AsyncStream[Event]


class ResponsesWithRawResponse(RawView[Responses]):
    def create(
        self, *, stream: bool | None = None, **params: Unpack[ResponseCreateParams]
    ) -> LegacyAPIResponse[Answer]:
        return self._call(lambda responses: responses.create(stream=stream, **params))

    def retrieve(
        self,
        response_id: str,
        *,
        stream: bool | None = None,
        starting_after: int | None = None,
        include: Iterable[str] | None = None,
        **options: Unpack[RequestOptions],
    ) -> LegacyAPIResponse[Answer]:
        return self._call(
            lambda responses: responses.retrieve(
                response_id,
                stream=stream,
                starting_after=starting_after,
                include=include,
                **options,
            )
        )

    def delete(
        self, response_id: str, **options: Unpack[RequestOptions]
    ) -> LegacyAPIResponse[None]:
        return self._call(lambda responses: responses.delete(response_id, **options))


class AsyncResponsesWithRawResponse(AsyncRawView[AsyncResponses]):
    async def create(
        self, *, stream: bool | None = None, **params: Unpack[ResponseCreateParams]
    ) -> LegacyAPIResponse[AsyncAnswer]:
        return await self._call(lambda responses: responses.create(stream=stream, **params))

    async def retrieve(
        self,
        response_id: str,
        *,
        stream: bool | None = None,
        starting_after: int | None = None,
        include: Iterable[str] | None = None,
        **options: Unpack[RequestOptions],
    ) -> LegacyAPIResponse[AsyncAnswer]:
        return await self._call(
            lambda responses: responses.retrieve(
                response_id,
                stream=stream,
                starting_after=starting_after,
                include=include,
                **options,
            )
        )

    async def delete(
        self, response_id: str, **options: Unpack[RequestOptions]
    ) -> LegacyAPIResponse[None]:
        return await self._call(lambda responses: responses.delete(response_id, **options))


class ResponsesWithStreamingResponse(StreamingView[Responses]):
    def create(
        self, *, stream: bool | None = None, **params: Unpack[ResponseCreateParams]
    ) -> ResponseContextManager[Answer]:
        return self._call(lambda responses: responses.create(stream=stream, **params))

    def retrieve(
        self,
        response_id: str,
        *,
        stream: bool | None = None,
        starting_after: int | None = None,
        include: Iterable[str] | None = None,
        **options: Unpack[RequestOptions],
    ) -> ResponseContextManager[Answer]:
        return self._call(
            lambda responses: responses.retrieve(
                response_id,
                stream=stream,
                starting_after=starting_after,
                include=include,
                **options,
            )
        )

    def delete(
        self, response_id: str, **options: Unpack[RequestOptions]
    ) -> ResponseContextManager[None]:
        return self._call(lambda responses: responses.delete(response_id, **options))


class AsyncResponsesWithStreamingResponse(AsyncStreamingView[AsyncResponses]):
    def create(
        self, *, stream: bool | None = None, **params: Unpack[ResponseCreateParams]
    ) -> AsyncResponseContextManager[AsyncAnswer]:
        return self._call(lambda responses: responses.create(stream=stream, **params))

    def retrieve(
        self,
        response_id: str,
        *,
        stream: bool | None = None,
        starting_after: int | None = None,
        include: Iterable[str] | None = None,
        **options: Unpack[RequestOptions],
    ) -> AsyncResponseContextManager[AsyncAnswer]:
        return self._call(
            lambda responses: responses.retrieve(
                response_id,
                stream=stream,
                starting_after=starting_after,
                include=include,
                **options,
            )
        )

    def delete(
        self, response_id: str, **options: Unpack[RequestOptions]
    ) -> AsyncResponseContextManager[None]:
        return self._call(lambda responses: responses.delete(response_id, **options))

"""`client.responses`: create (streamed or not), retrieve (or reattach to a stream), delete.

Streams reuse the chat machinery (`Stream`, `EventDecoder`); only how a stream is known to
have finished differs, which `ResponseProgress` says: a response stream is over at its
terminal event, and an `error` or `response.failed` event is raised as `APIError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, Literal, Unpack, overload
from urllib.parse import quote

from rillet._models import BaseModel, GenericObject
from rillet._parsing import Parser, responses_tools, text_param
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
from rillet._send import RequestSpec
from rillet._streams.helpers import (
    AsyncHelperStream,
    AsyncStreamManager,
    HelperStream,
    StreamManager,
)
from rillet._streams.resume import ResponsesTarget
from rillet._streams.stream import AsyncStream, Progress, Stream
from rillet._types import NOT_GIVEN, NotGiven, Omit, RequestOptions, is_given
from rillet.resources._pages import AsyncCursorPage, AsyncPaginator, SyncCursorPage
from rillet.resources._resource import AsyncResource, Endpoint, SyncResource
from rillet.types.chat.parsed_chat_completion import ContentT
from rillet.types.responses import Response, ResponseStreamEvent
from rillet.types.responses.parsed_response import ParsedResponse
from rillet.types.responses.response_item import ResponseItem, ResponseItemList
from rillet.types.responses.response_stream_event import construct_event

if TYPE_CHECKING:
    from rillet._client import AsyncOpenAI, OpenAI  # noqa: F401 (named in strings below)

__all__ = [
    "AsyncInputItems",
    "AsyncResponseStream",
    "AsyncResponses",
    "InputItems",
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


class ResponseStreamState(Generic[ContentT]):
    """What `responses.stream()` runs on: adds each text delta's `snapshot` and, with a
    `text_format` class, each finished text's `parsed`; keeps the end as a `ParsedResponse`."""

    def __init__(self, parser: Parser[ContentT] | None = None) -> None:
        self._parser: Parser[ContentT] = parser or Parser(None, None)
        self._texts: dict[tuple[int, int], str] = {}
        self._final: ParsedResponse[ContentT] | None = None

    def handle_event(self, event: Event) -> list[Event]:
        data = event.__dict__
        kind = data.get("type")
        if kind == "response.output_text.delta":
            key = (data.get("output_index", 0), data.get("content_index", 0))
            text = self._texts.get(key, "") + data.get("delta", "")
            self._texts[key] = data["snapshot"] = text
        elif kind == "response.output_text.done":
            data["parsed"] = self._parser.parse_content(data.get("text"))
        elif kind in TERMINAL:
            response = data.get("response")
            if isinstance(response, BaseModel):
                parsed: ParsedResponse[ContentT] = ParsedResponse.construct(response.to_dict())
                if kind != "response.failed":
                    parsed = self._parser.response(parsed)
                self._final = data["response"] = parsed
        return [event]

    def get_final_response(self) -> ParsedResponse[ContentT]:
        if self._final is None:
            raise RuntimeError("Didn't receive a `response.completed` event.")
        return self._final


class ResponseStream(HelperStream[Event, Event], Generic[ContentT]):
    def __init__(self, raw: Stream[Event], state: ResponseStreamState[ContentT]) -> None:
        super().__init__(raw, state.handle_event)
        self._state = state

    def get_final_response(self) -> ParsedResponse[ContentT]:
        """Read to the end; the response of the terminal event (completed or incomplete)."""
        self.until_done()
        return self._state.get_final_response()


class AsyncResponseStream(AsyncHelperStream[Event, Event], Generic[ContentT]):
    def __init__(self, raw: AsyncStream[Event], state: ResponseStreamState[ContentT]) -> None:
        super().__init__(raw, state.handle_event)
        self._state = state

    async def get_final_response(self) -> ParsedResponse[ContentT]:
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


def _materialized(params: Mapping[str, Any], text_format: object) -> dict[str, Any]:
    """What `parse()` / `stream()` send: `text.format` made of `text_format` (a class), and
    tools as a list in the Responses shape (they are both sent and read for parsing)."""
    body = dict(params)
    tools = body.get("tools")
    if is_given(tools) and tools is not None:
        body["tools"] = responses_tools(tools)
    text = text_param(body.get("text", NOT_GIVEN), text_format)
    if is_given(text):
        body["text"] = text
    return body


def _parser(text_format: object, body: Mapping[str, Any]) -> Parser[Any]:
    return Parser.of(text_format, body.get("tools"), responses=True)


def _parsed(
    text_format: type[ContentT] | NotGiven, body: Mapping[str, Any], answer: dict[str, Any]
) -> ParsedResponse[ContentT]:
    """`parse()`'s answer (decoded JSON, see chat's) with its text and calls parsed."""
    parser: Parser[ContentT] = _parser(text_format, body)
    return parser.response(ParsedResponse.construct(answer))


def _items_path(response_id: str) -> str:
    return f"{_path(response_id)}/input_items"


def _items_query(
    after: str | NotGiven | Omit,
    before: str | NotGiven | Omit,
    include: Iterable[str] | NotGiven | Omit,
    limit: int | NotGiven | Omit,
    order: Literal["asc", "desc"] | NotGiven | Omit,
) -> dict[str, Any]:
    query: dict[str, Any] = {"after": after, "before": before, "limit": limit, "order": order}
    if isinstance(include, Iterable):
        query["include[]"] = list(include)
    return {k: v for k, v in query.items() if is_given(v)}


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
        return self._create_any(stream=stream, **params)

    def _create_any(
        self, *, stream: bool | None = None, **params: Unpack[ResponseCreateParams]
    ) -> Response | Stream[Event]:
        """`create()` with one signature, for the raw-response views."""
        return self._create(_ENDPOINT, params, stream)

    def parse(
        self,
        *,
        text_format: type[ContentT] | NotGiven = NOT_GIVEN,
        **params: Unpack[ResponseCreateParams],
    ) -> ParsedResponse[ContentT]:
        """`create()` with `text_format` a pydantic class, sent as the strict JSON schema of
        `text.format`; each text part's `parsed` is an instance of it (`output_parsed`: the
        first), each strict function call's `parsed_arguments` its arguments."""
        body = _materialized(params, text_format)
        spec = _ENDPOINT.create(self._client, body, False)
        answer = self._client._request(spec, dict)
        return self._client._answer(_parsed(text_format, body, answer))

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
        return self._retrieve_any(
            response_id, stream=stream, starting_after=starting_after, include=include, **options
        )

    def _retrieve_any(
        self,
        response_id: str,
        *,
        stream: bool | None = None,
        starting_after: int | None = None,
        include: Iterable[str] | None = None,
        **options: Unpack[RequestOptions],
    ) -> Response | Stream[Event]:
        query = _retrieve_query(stream, starting_after, include)
        spec = self._client._spec("GET", _path(response_id), options, query=query, stream=stream)
        return self._call(spec, _ENDPOINT, target=_retrieve_target(spec, response_id))

    def delete(self, response_id: str, **options: Unpack[RequestOptions]) -> None:
        self._client._request(self._client._spec("DELETE", _path(response_id), options), _Deleted)

    def stream(
        self,
        *,
        text_format: type[ContentT] | NotGiven = NOT_GIVEN,
        **params: Unpack[ResponseCreateParams],
    ) -> StreamManager[ResponseStream[ContentT]]:
        """`with ....stream(...) as stream:` events as they come, then the final response."""
        body = _materialized(params, text_format)
        state: ResponseStreamState[ContentT] = ResponseStreamState(_parser(text_format, body))
        return self._manage(_ENDPOINT, body, lambda raw: ResponseStream(raw, state))

    @cached_property
    def input_items(self) -> InputItems:
        return InputItems(self._client)

    with_raw_response = view(lambda resource: ResponsesWithRawResponse(resource))

    with_streaming_response = view(lambda resource: ResponsesWithStreamingResponse(resource))


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
        return await self._create_any(stream=stream, **params)

    async def _create_any(
        self, *, stream: bool | None = None, **params: Unpack[ResponseCreateParams]
    ) -> Response | AsyncStream[Event]:
        return await self._create(_ENDPOINT, params, stream)

    async def parse(
        self,
        *,
        text_format: type[ContentT] | NotGiven = NOT_GIVEN,
        **params: Unpack[ResponseCreateParams],
    ) -> ParsedResponse[ContentT]:
        body = _materialized(params, text_format)
        spec = _ENDPOINT.create(self._client, body, False)
        answer = await self._client._request(spec, dict)
        return self._client._answer(_parsed(text_format, body, answer))

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
        return await self._retrieve_any(
            response_id, stream=stream, starting_after=starting_after, include=include, **options
        )

    async def _retrieve_any(
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
        self,
        *,
        text_format: type[ContentT] | NotGiven = NOT_GIVEN,
        **params: Unpack[ResponseCreateParams],
    ) -> AsyncStreamManager[AsyncResponseStream[ContentT]]:
        body = _materialized(params, text_format)
        state: ResponseStreamState[ContentT] = ResponseStreamState(_parser(text_format, body))
        return self._manage(_ENDPOINT, body, lambda raw: AsyncResponseStream(raw, state))

    @cached_property
    def input_items(self) -> AsyncInputItems:
        return AsyncInputItems(self._client)

    with_raw_response = view(lambda resource: AsyncResponsesWithRawResponse(resource))

    with_streaming_response = view(lambda resource: AsyncResponsesWithStreamingResponse(resource))


class InputItems(SyncResource):
    def list(
        self,
        response_id: str,
        *,
        after: str | NotGiven | Omit = NOT_GIVEN,
        before: str | NotGiven | Omit = NOT_GIVEN,
        include: Iterable[str] | NotGiven | Omit = NOT_GIVEN,
        limit: int | NotGiven | Omit = NOT_GIVEN,
        order: Literal["asc", "desc"] | NotGiven | Omit = NOT_GIVEN,
        **options: Unpack[RequestOptions],
    ) -> SyncCursorPage[ResponseItem]:
        """The items response `response_id` was given, a page at a time (`limit`, default
        20); iterating the page goes on through the following ones."""
        query = _items_query(after, before, include, limit, order)
        return self._page(_items_path(response_id), query, options)

    def _page(
        self, path: str, query: Mapping[str, Any], options: RequestOptions
    ) -> SyncCursorPage[ResponseItem]:
        spec = self._client._spec("GET", path, options, query=query)
        page = self._client._request(spec, ResponseItemList)
        return SyncCursorPage(page, query, lambda after: self._page(path, after, options))

    with_raw_response = view(lambda resource: InputItemsWithRawResponse(resource))

    with_streaming_response = view(lambda resource: InputItemsWithStreamingResponse(resource))


class AsyncInputItems(AsyncResource):
    def list(
        self,
        response_id: str,
        *,
        after: str | NotGiven | Omit = NOT_GIVEN,
        before: str | NotGiven | Omit = NOT_GIVEN,
        include: Iterable[str] | NotGiven | Omit = NOT_GIVEN,
        limit: int | NotGiven | Omit = NOT_GIVEN,
        order: Literal["asc", "desc"] | NotGiven | Omit = NOT_GIVEN,
        **options: Unpack[RequestOptions],
    ) -> AsyncPaginator[ResponseItem]:
        query = _items_query(after, before, include, limit, order)
        path = _items_path(response_id)
        return AsyncPaginator(lambda: self._page(path, query, options))

    async def _page(
        self, path: str, query: Mapping[str, Any], options: RequestOptions
    ) -> AsyncCursorPage[ResponseItem]:
        spec = self._client._spec("GET", path, options, query=query)
        page = await self._client._request(spec, ResponseItemList)
        return AsyncCursorPage(page, query, lambda after: self._page(path, after, options))

    with_raw_response = view(lambda resource: AsyncInputItemsWithRawResponse(resource))

    with_streaming_response = view(lambda resource: AsyncInputItemsWithStreamingResponse(resource))


# `with_raw_response` / `with_streaming_response` (rillet/_response.py): each method takes
# what the resource's takes; `parse()` of `create` and `retrieve`'s result is typed as the
# union of their answers (`stream=` does not narrow it).


class ResponsesWithRawResponse(RawView[Responses]):
    create = raw_response(Responses._create_any)
    parse = raw_response(Responses.parse)
    retrieve = raw_response(Responses._retrieve_any)
    delete = raw_response(Responses.delete)

    @cached_property
    def input_items(self) -> InputItemsWithRawResponse:
        return self._resource.input_items.with_raw_response


class AsyncResponsesWithRawResponse(AsyncRawView[AsyncResponses]):
    create = async_raw_response(AsyncResponses._create_any)
    parse = async_raw_response(AsyncResponses.parse)
    retrieve = async_raw_response(AsyncResponses._retrieve_any)
    delete = async_raw_response(AsyncResponses.delete)

    @cached_property
    def input_items(self) -> AsyncInputItemsWithRawResponse:
        return self._resource.input_items.with_raw_response


class ResponsesWithStreamingResponse(StreamingView[Responses]):
    create = streamed_response(Responses._create_any)
    parse = streamed_response(Responses.parse)
    retrieve = streamed_response(Responses._retrieve_any)
    delete = streamed_response(Responses.delete)

    @cached_property
    def input_items(self) -> InputItemsWithStreamingResponse:
        return self._resource.input_items.with_streaming_response


class AsyncResponsesWithStreamingResponse(AsyncStreamingView[AsyncResponses]):
    create = async_streamed_response(AsyncResponses._create_any)
    parse = async_streamed_response(AsyncResponses.parse)
    retrieve = async_streamed_response(AsyncResponses._retrieve_any)
    delete = async_streamed_response(AsyncResponses.delete)

    @cached_property
    def input_items(self) -> AsyncInputItemsWithStreamingResponse:
        return self._resource.input_items.with_streaming_response


class InputItemsWithRawResponse(RawView[InputItems]):
    list = raw_response(InputItems.list)


class AsyncInputItemsWithRawResponse(AsyncRawView[AsyncInputItems]):
    list = async_raw_response(AsyncInputItems.list)


class InputItemsWithStreamingResponse(StreamingView[InputItems]):
    list = streamed_response(InputItems.list)


class AsyncInputItemsWithStreamingResponse(AsyncStreamingView[AsyncInputItems]):
    list = async_streamed_response(AsyncInputItems.list)

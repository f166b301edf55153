"""`client.chat.completions`: create (streamed or not), parse (structured outputs) and the
`stream()` helper, sync and async."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, Literal, Required, Unpack, overload

from rillet._parsing import Parser, parse_tools, response_format_param
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
from rillet._streams.chat_state import ChatCompletionStreamState
from rillet._streams.helpers import (
    AsyncHelperStream,
    AsyncStreamManager,
    HelperStream,
    StreamManager,
)
from rillet._streams.resume import ChatTarget
from rillet._streams.stream import AsyncStream, Progress, Stream, UsageProgress
from rillet._types import NOT_GIVEN, NotGiven, RequestOptions, is_given
from rillet.resources._resource import AsyncResource, Endpoint, Resource, SyncResource
from rillet.types.chat import ChatCompletion, ChatCompletionChunk
from rillet.types.chat.chat_completion_stream_event import ChatCompletionStreamEvent
from rillet.types.chat.parsed_chat_completion import ContentT, ParsedChatCompletion

if TYPE_CHECKING:
    from rillet._client import AsyncOpenAI, OpenAI

__all__ = [
    "AsyncChat",
    "AsyncChatCompletionStream",
    "AsyncCompletions",
    "Chat",
    "ChatCompletionCreateParams",
    "ChatCompletionParseParams",
    "ChatCompletionStream",
    "Completions",
]


class ChatCompletionParseParams(RequestOptions, total=False):
    """The Chat Completions parameters besides `stream` and `response_format`, which
    `parse()` and `stream()` take typed by the class they parse into."""

    model: Required[str]
    messages: Required[Iterable[Mapping[str, Any]]]
    stream_options: Mapping[str, Any] | NotGiven | None
    tools: Iterable[Mapping[str, Any]] | NotGiven
    tool_choice: str | Mapping[str, Any] | NotGiven
    parallel_tool_calls: bool | NotGiven
    functions: Iterable[Mapping[str, Any]] | NotGiven
    function_call: str | Mapping[str, Any] | NotGiven
    n: int | NotGiven | None
    max_tokens: int | NotGiven | None
    max_completion_tokens: int | NotGiven | None
    temperature: float | NotGiven | None
    top_p: float | NotGiven | None
    stop: str | list[str] | NotGiven | None
    seed: int | NotGiven | None
    logprobs: bool | NotGiven | None
    top_logprobs: int | NotGiven | None
    user: str | NotGiven
    metadata: Mapping[str, str] | NotGiven | None
    frequency_penalty: float | NotGiven | None
    presence_penalty: float | NotGiven | None
    logit_bias: Mapping[str, int] | NotGiven | None
    modalities: list[str] | NotGiven | None
    prediction: Mapping[str, Any] | NotGiven | None
    reasoning_effort: str | NotGiven | None
    service_tier: str | NotGiven | None
    store: bool | NotGiven | None
    audio: Mapping[str, Any] | NotGiven | None
    prompt_cache_key: str | NotGiven
    prompt_cache_options: Mapping[str, Any] | NotGiven
    prompt_cache_retention: str | NotGiven | None
    moderation: Mapping[str, Any] | NotGiven | None
    safety_identifier: str | NotGiven
    verbosity: str | NotGiven | None
    web_search_options: Mapping[str, Any] | NotGiven


class ChatCompletionCreateParams(ChatCompletionParseParams, total=False):
    """The Chat Completions parameters (besides `stream`), each a keyword argument."""

    response_format: Mapping[str, Any] | NotGiven


_PARAMS = frozenset(ChatCompletionCreateParams.__annotations__) | {"stream"}


def _sent(params: Mapping[str, Any], name: str) -> object:
    """The value of body field `name` a call's keyword arguments send (`extra_body` wins, as
    in the request itself); None when they send none."""
    extra = params.get("extra_body")
    value = extra[name] if isinstance(extra, Mapping) and name in extra else params.get(name)
    return value if is_given(value) else None


def _progress(params: Mapping[str, Any]) -> Progress:
    """When a chat stream is whole, from its request: all `n` choices finished (n defaults
    to 1) and, when `stream_options` asked for usage, the usage chunk arrived; or `[DONE]`."""
    n = _sent(params, "n")
    choices = n if type(n) is int else 1
    options = _sent(params, "stream_options")
    if isinstance(options, Mapping) and options.get("include_usage") is True:
        return UsageProgress(choices)
    return Progress(choices)


def _target(spec: RequestSpec, params: Mapping[str, Any]) -> ChatTarget:
    """A chat stream is reattached by the same POST with `Last-Event-ID`."""
    return ChatTarget(spec.url)


_ENDPOINT = Endpoint(
    "/chat/completions",
    _PARAMS,
    ChatCompletion,
    ChatCompletionChunk.construct,
    _progress,
    _target,
)


# What `parse()` and `stream()` take as `response_format`: a class to parse into, or the
# `json_schema` / `json_object` dict `create()` takes (nothing is then parsed).
_ParseFormat = type[ContentT] | Mapping[str, Any] | NotGiven


def _materialized(params: Mapping[str, Any]) -> dict[str, Any]:
    """The call's keyword arguments with `tools` as a list: it is both sent and read for
    parsing, and an iterator would be used up by the first."""
    body = dict(params)
    tools = body.get("tools")
    if is_given(tools) and tools is not None and not isinstance(tools, list):
        body["tools"] = list(tools)
    return body


def _parse_request(response_format: object, params: Mapping[str, Any]) -> dict[str, Any]:
    """What `parse()` sends: the class as a strict `json_schema`, tools checked strict."""
    body = _materialized(params)
    if is_given(response_format):
        body["response_format"] = response_format_param(response_format)
    if "tools" in body:
        body["tools"] = parse_tools(body["tools"])
    return body


def _stream_request(
    response_format: _ParseFormat[ContentT], params: Mapping[str, Any]
) -> tuple[dict[str, Any], ChatCompletionStreamState[ContentT]]:
    """What `stream()` sends, and the state its events come from."""
    body = _materialized(params)
    if is_given(response_format):
        body["response_format"] = response_format_param(response_format)
    state: ChatCompletionStreamState[ContentT] = ChatCompletionStreamState(
        input_tools=body.get("tools"), response_format=response_format
    )
    return body, state


def _parsed(
    response_format: _ParseFormat[ContentT], params: Mapping[str, Any], answer: dict[str, Any]
) -> ParsedChatCompletion[ContentT]:
    """`parse()`'s answer (its decoded JSON) with its content and tool calls parsed. It is
    read as JSON first because a client with `official_types=True` turns models into the
    official package's; `_answer` does that once the parsed fields are in."""
    parser: Parser[ContentT] = Parser.of(response_format, params.get("tools"))
    return parser.chat_completion(ParsedChatCompletion.construct(answer))


def _final(
    raw: Stream[ChatCompletionChunk] | AsyncStream[ChatCompletionChunk],
    state: ChatCompletionStreamState[ContentT],
) -> ParsedChatCompletion[ContentT]:
    """The final completion of a helper stream read as far as it goes. A body that ended
    short has raised already; one closed early is whole only by the stream's own rule (all
    `n` choices finished, the usage chunk if asked for, or `[DONE]`), not by the choices
    it happened to show."""
    missing = raw._missing()
    if missing is not None:
        raise RuntimeError(f"The stream was closed {missing}")
    return state.get_final_completion()


class _Snapshot(Generic[ContentT]):
    """The snapshot property both chat helper streams have."""

    _state: ChatCompletionStreamState[ContentT]

    @property
    def current_completion_snapshot(self) -> ParsedChatCompletion[ContentT]:
        return self._state.current_completion_snapshot


class ChatCompletionStream(
    _Snapshot[ContentT], HelperStream[ChatCompletionChunk, ChatCompletionStreamEvent]
):
    """What `chat.completions.stream()` yields: each chunk, plus content and tool-call events."""

    def __init__(
        self, raw: Stream[ChatCompletionChunk], state: ChatCompletionStreamState[ContentT]
    ) -> None:
        super().__init__(raw, state.handle_chunk)
        self._state = state

    def get_final_completion(self) -> ParsedChatCompletion[ContentT]:
        """Read to the end; the completion as `parse()` would have returned it."""
        self.until_done()
        return _final(self._raw, self._state)


class AsyncChatCompletionStream(
    _Snapshot[ContentT], AsyncHelperStream[ChatCompletionChunk, ChatCompletionStreamEvent]
):
    def __init__(
        self, raw: AsyncStream[ChatCompletionChunk], state: ChatCompletionStreamState[ContentT]
    ) -> None:
        super().__init__(raw, state.handle_chunk)
        self._state = state

    async def get_final_completion(self) -> ParsedChatCompletion[ContentT]:
        await self.until_done()
        return _final(self._raw, self._state)


class Completions(SyncResource):
    @overload
    def create(
        self, *, stream: Literal[True], **params: Unpack[ChatCompletionCreateParams]
    ) -> Stream[ChatCompletionChunk]: ...

    @overload
    def create(
        self, *, stream: Literal[False] | None = None, **params: Unpack[ChatCompletionCreateParams]
    ) -> ChatCompletion: ...

    @overload
    def create(
        self, *, stream: bool, **params: Unpack[ChatCompletionCreateParams]
    ) -> ChatCompletion | Stream[ChatCompletionChunk]: ...

    def create(
        self, *, stream: bool | None = None, **params: Unpack[ChatCompletionCreateParams]
    ) -> ChatCompletion | Stream[ChatCompletionChunk]:
        return self._create_any(stream=stream, **params)

    def _create_any(
        self, *, stream: bool | None = None, **params: Unpack[ChatCompletionCreateParams]
    ) -> ChatCompletion | Stream[ChatCompletionChunk]:
        """`create()` with one signature, for the raw-response views."""
        return self._create(_ENDPOINT, params, stream)

    def parse(
        self,
        *,
        response_format: _ParseFormat[ContentT] = NOT_GIVEN,
        **params: Unpack[ChatCompletionParseParams],
    ) -> ParsedChatCompletion[ContentT]:
        """`create()` with `response_format` a pydantic class, sent as its strict JSON schema;
        each message's `parsed` is an instance of it, each strict tool call's
        `parsed_arguments` its arguments (a `pydantic_function_tool`'s model)."""
        body = _parse_request(response_format, params)
        spec = _ENDPOINT.create(self._client, body, False)
        answer = self._client._request(spec, dict)
        return self._client._answer(_parsed(response_format, body, answer))

    def stream(
        self,
        *,
        response_format: _ParseFormat[ContentT] = NOT_GIVEN,
        **params: Unpack[ChatCompletionParseParams],
    ) -> StreamManager[ChatCompletionStream[ContentT]]:
        """`with ....stream(...) as stream:` events as they come, then the final completion."""
        body, state = _stream_request(response_format, params)
        return self._manage(_ENDPOINT, body, lambda raw: ChatCompletionStream(raw, state))

    with_raw_response = view(lambda resource: CompletionsWithRawResponse(resource))

    with_streaming_response = view(lambda resource: CompletionsWithStreamingResponse(resource))


class AsyncCompletions(AsyncResource):
    @overload
    async def create(
        self, *, stream: Literal[True], **params: Unpack[ChatCompletionCreateParams]
    ) -> AsyncStream[ChatCompletionChunk]: ...

    @overload
    async def create(
        self, *, stream: Literal[False] | None = None, **params: Unpack[ChatCompletionCreateParams]
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self, *, stream: bool, **params: Unpack[ChatCompletionCreateParams]
    ) -> ChatCompletion | AsyncStream[ChatCompletionChunk]: ...

    async def create(
        self, *, stream: bool | None = None, **params: Unpack[ChatCompletionCreateParams]
    ) -> ChatCompletion | AsyncStream[ChatCompletionChunk]:
        return await self._create_any(stream=stream, **params)

    async def _create_any(
        self, *, stream: bool | None = None, **params: Unpack[ChatCompletionCreateParams]
    ) -> ChatCompletion | AsyncStream[ChatCompletionChunk]:
        return await self._create(_ENDPOINT, params, stream)

    async def parse(
        self,
        *,
        response_format: _ParseFormat[ContentT] = NOT_GIVEN,
        **params: Unpack[ChatCompletionParseParams],
    ) -> ParsedChatCompletion[ContentT]:
        body = _parse_request(response_format, params)
        spec = _ENDPOINT.create(self._client, body, False)
        answer = await self._client._request(spec, dict)
        return self._client._answer(_parsed(response_format, body, answer))

    def stream(
        self,
        *,
        response_format: _ParseFormat[ContentT] = NOT_GIVEN,
        **params: Unpack[ChatCompletionParseParams],
    ) -> AsyncStreamManager[AsyncChatCompletionStream[ContentT]]:
        body, state = _stream_request(response_format, params)
        return self._manage(_ENDPOINT, body, lambda raw: AsyncChatCompletionStream(raw, state))

    with_raw_response = view(lambda resource: AsyncCompletionsWithRawResponse(resource))

    with_streaming_response = view(lambda resource: AsyncCompletionsWithStreamingResponse(resource))


class Chat(Resource["OpenAI"]):
    def __init__(self, client: OpenAI) -> None:
        super().__init__(client)
        self.completions = Completions(client)

    @cached_property
    def with_raw_response(self) -> ChatWithRawResponse:
        return ChatWithRawResponse(self.completions.with_raw_response)

    @cached_property
    def with_streaming_response(self) -> ChatWithStreamingResponse:
        return ChatWithStreamingResponse(self.completions.with_streaming_response)


class AsyncChat(Resource["AsyncOpenAI"]):
    def __init__(self, client: AsyncOpenAI) -> None:
        super().__init__(client)
        self.completions = AsyncCompletions(client)

    @cached_property
    def with_raw_response(self) -> AsyncChatWithRawResponse:
        return AsyncChatWithRawResponse(self.completions.with_raw_response)

    @cached_property
    def with_streaming_response(self) -> AsyncChatWithStreamingResponse:
        return AsyncChatWithStreamingResponse(self.completions.with_streaming_response)


# `with_raw_response` / `with_streaming_response` (rillet/_response.py): each method takes
# what the resource's takes; `parse()` of `create`'s result is typed as the union of its
# answers (`stream=` does not narrow it).


class CompletionsWithRawResponse(RawView[Completions]):
    create = raw_response(Completions._create_any)
    parse = raw_response(Completions.parse)


class AsyncCompletionsWithRawResponse(AsyncRawView[AsyncCompletions]):
    create = async_raw_response(AsyncCompletions._create_any)
    parse = async_raw_response(AsyncCompletions.parse)


class CompletionsWithStreamingResponse(StreamingView[Completions]):
    create = streamed_response(Completions._create_any)
    parse = streamed_response(Completions.parse)


class AsyncCompletionsWithStreamingResponse(AsyncStreamingView[AsyncCompletions]):
    create = async_streamed_response(AsyncCompletions._create_any)
    parse = async_streamed_response(AsyncCompletions.parse)


class ChatWithRawResponse:
    def __init__(self, completions: CompletionsWithRawResponse) -> None:
        self.completions = completions


class AsyncChatWithRawResponse:
    def __init__(self, completions: AsyncCompletionsWithRawResponse) -> None:
        self.completions = completions


class ChatWithStreamingResponse:
    def __init__(self, completions: CompletionsWithStreamingResponse) -> None:
        self.completions = completions


class AsyncChatWithStreamingResponse:
    def __init__(self, completions: AsyncCompletionsWithStreamingResponse) -> None:
        self.completions = completions

"""`client.chat.completions.create(...)`, sync and async."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, Required, Unpack, overload

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
from rillet._streams.chat_state import ChatCompletionStreamState
from rillet._streams.helpers import (
    AsyncHelperStream,
    AsyncStreamManager,
    HelperStream,
    StreamManager,
)
from rillet._streams.resume import ChatTarget
from rillet._streams.stream import AsyncStream, Progress, Stream, UsageProgress
from rillet._types import NotGiven, RequestOptions, is_given
from rillet.resources._resource import AsyncResource, Endpoint, Resource, SyncResource
from rillet.types.chat import ChatCompletion, ChatCompletionChunk
from rillet.types.chat.chat_completion_stream_event import ChatCompletionStreamEvent

if TYPE_CHECKING:
    from rillet._client import AsyncOpenAI, OpenAI

__all__ = [
    "AsyncChat",
    "AsyncChatCompletionStream",
    "AsyncCompletions",
    "Chat",
    "ChatCompletionCreateParams",
    "ChatCompletionStream",
    "Completions",
]


class ChatCompletionCreateParams(RequestOptions, total=False):
    """The Chat Completions parameters (besides `stream`), each a keyword argument."""

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
    response_format: Mapping[str, Any] | NotGiven
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


def _stream_state(params: ChatCompletionCreateParams) -> ChatCompletionStreamState:
    return ChatCompletionStreamState(
        input_tools=params.get("tools"), response_format=params.get("response_format")
    )


def _final(
    raw: Stream[ChatCompletionChunk] | AsyncStream[ChatCompletionChunk],
    state: ChatCompletionStreamState,
) -> ChatCompletion:
    """The final completion of a helper stream read as far as it goes. A body that ended
    short has raised already; one closed early is whole only by the stream's own rule (all
    `n` choices finished, the usage chunk if asked for, or `[DONE]`), not by the choices
    it happened to show."""
    missing = raw._missing()
    if missing is not None:
        raise RuntimeError(f"The stream was closed {missing}")
    return state.get_final_completion()


class _Snapshot:
    """The snapshot property both chat helper streams have."""

    _state: ChatCompletionStreamState

    @property
    def current_completion_snapshot(self) -> ChatCompletion:
        return self._state.current_completion_snapshot


class ChatCompletionStream(_Snapshot, HelperStream[ChatCompletionChunk, ChatCompletionStreamEvent]):
    """What `chat.completions.stream()` yields: each chunk, plus content and tool-call events."""

    def __init__(self, raw: Stream[ChatCompletionChunk], state: ChatCompletionStreamState) -> None:
        super().__init__(raw, state.handle_chunk)
        self._state = state

    def get_final_completion(self) -> ChatCompletion:
        """Read to the end; the completion as `stream=False` would have returned it."""
        self.until_done()
        return _final(self._raw, self._state)


class AsyncChatCompletionStream(
    _Snapshot, AsyncHelperStream[ChatCompletionChunk, ChatCompletionStreamEvent]
):
    def __init__(
        self, raw: AsyncStream[ChatCompletionChunk], state: ChatCompletionStreamState
    ) -> None:
        super().__init__(raw, state.handle_chunk)
        self._state = state

    async def get_final_completion(self) -> ChatCompletion:
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
        return self._create(_ENDPOINT, params, stream)

    def stream(
        self, **params: Unpack[ChatCompletionCreateParams]
    ) -> StreamManager[ChatCompletionStream]:
        """`with ....stream(...) as stream:` events as they come, then the final completion."""
        state = _stream_state(params)
        return self._manage(_ENDPOINT, params, lambda raw: ChatCompletionStream(raw, state))

    @cached_property
    def with_raw_response(self) -> CompletionsWithRawResponse:
        """`create(...)` returning the HTTP response too (`.headers`, `.parse()`)."""
        return CompletionsWithRawResponse(self)

    @cached_property
    def with_streaming_response(self) -> CompletionsWithStreamingResponse:
        """`with ....create(...) as response:` the HTTP response, its body unread."""
        return CompletionsWithStreamingResponse(self)


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
        return await self._create(_ENDPOINT, params, stream)

    def stream(
        self, **params: Unpack[ChatCompletionCreateParams]
    ) -> AsyncStreamManager[AsyncChatCompletionStream]:
        state = _stream_state(params)
        return self._manage(_ENDPOINT, params, lambda raw: AsyncChatCompletionStream(raw, state))

    @cached_property
    def with_raw_response(self) -> AsyncCompletionsWithRawResponse:
        return AsyncCompletionsWithRawResponse(self)

    @cached_property
    def with_streaming_response(self) -> AsyncCompletionsWithStreamingResponse:
        return AsyncCompletionsWithStreamingResponse(self)


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


# `with_raw_response` / `with_streaming_response` (rillet/_response.py): `parse()` gives what
# `create(...)` returns, typed as the union of its answers.
Answer = ChatCompletion | Stream[ChatCompletionChunk]
AsyncAnswer = ChatCompletion | AsyncStream[ChatCompletionChunk]


class CompletionsWithRawResponse(RawView[Completions]):
    def create(
        self, *, stream: bool | None = None, **params: Unpack[ChatCompletionCreateParams]
    ) -> LegacyAPIResponse[Answer]:
        return self._call(lambda completions: completions.create(stream=stream, **params))


class AsyncCompletionsWithRawResponse(AsyncRawView[AsyncCompletions]):
    async def create(
        self, *, stream: bool | None = None, **params: Unpack[ChatCompletionCreateParams]
    ) -> LegacyAPIResponse[AsyncAnswer]:
        return await self._call(lambda completions: completions.create(stream=stream, **params))


class CompletionsWithStreamingResponse(StreamingView[Completions]):
    def create(
        self, *, stream: bool | None = None, **params: Unpack[ChatCompletionCreateParams]
    ) -> ResponseContextManager[Answer]:
        return self._call(lambda completions: completions.create(stream=stream, **params))


class AsyncCompletionsWithStreamingResponse(AsyncStreamingView[AsyncCompletions]):
    def create(
        self, *, stream: bool | None = None, **params: Unpack[ChatCompletionCreateParams]
    ) -> AsyncResponseContextManager[AsyncAnswer]:
        return self._call(lambda completions: completions.create(stream=stream, **params))


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

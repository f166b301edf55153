"""`client.completions.create(...)`: the legacy Completions API (a prompt in, text out), sync
and async, streamed or not, as `rillet serve`, vLLM, llama.cpp's server and OpenAI serve it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Required, Unpack, overload

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
from rillet._streams.stream import AsyncStream, Stream
from rillet._types import NotGiven, RequestOptions
from rillet.resources._resource import AsyncResource, Endpoint, SyncResource

# A legacy stream ends as a chat stream does: each of the `n` choices finished, the usage
# chunk if `stream_options` asked for one, or `[DONE]`.
from rillet.resources.chat import _progress
from rillet.types.completion import Completion

if TYPE_CHECKING:
    from rillet._client import AsyncOpenAI, OpenAI  # noqa: F401 (named in strings)

__all__ = ["AsyncCompletions", "CompletionCreateParams", "Completions"]


class CompletionCreateParams(RequestOptions, total=False):
    """The Completions parameters (besides `stream`), each a keyword argument."""

    model: Required[str]
    prompt: Required[str | list[str] | Iterable[int] | Iterable[Iterable[int]] | None]
    best_of: int | NotGiven | None
    echo: bool | NotGiven | None
    frequency_penalty: float | NotGiven | None
    logit_bias: Mapping[str, int] | NotGiven | None
    logprobs: int | NotGiven | None
    max_tokens: int | NotGiven | None
    n: int | NotGiven | None
    presence_penalty: float | NotGiven | None
    seed: int | NotGiven | None
    stop: str | list[str] | NotGiven | None
    stream_options: Mapping[str, Any] | NotGiven | None
    suffix: str | NotGiven | None
    temperature: float | NotGiven | None
    top_p: float | NotGiven | None
    user: str | NotGiven


_PARAMS = frozenset(CompletionCreateParams.__annotations__) | {"stream"}
_ENDPOINT = Endpoint("/completions", _PARAMS, Completion, Completion.construct, _progress)


class Completions(SyncResource):
    @overload
    def create(
        self, *, stream: Literal[True], **params: Unpack[CompletionCreateParams]
    ) -> Stream[Completion]: ...

    @overload
    def create(
        self, *, stream: Literal[False] | None = None, **params: Unpack[CompletionCreateParams]
    ) -> Completion: ...

    @overload
    def create(
        self, *, stream: bool, **params: Unpack[CompletionCreateParams]
    ) -> Completion | Stream[Completion]: ...

    def create(
        self, *, stream: bool | None = None, **params: Unpack[CompletionCreateParams]
    ) -> Completion | Stream[Completion]:
        return self._create_any(stream=stream, **params)

    def _create_any(
        self, *, stream: bool | None = None, **params: Unpack[CompletionCreateParams]
    ) -> Completion | Stream[Completion]:
        """`create()` with one signature, for the raw-response views."""
        return self._create(_ENDPOINT, params, stream)

    with_raw_response = view(lambda resource: CompletionsWithRawResponse(resource))

    with_streaming_response = view(lambda resource: CompletionsWithStreamingResponse(resource))


class AsyncCompletions(AsyncResource):
    @overload
    async def create(
        self, *, stream: Literal[True], **params: Unpack[CompletionCreateParams]
    ) -> AsyncStream[Completion]: ...

    @overload
    async def create(
        self, *, stream: Literal[False] | None = None, **params: Unpack[CompletionCreateParams]
    ) -> Completion: ...

    @overload
    async def create(
        self, *, stream: bool, **params: Unpack[CompletionCreateParams]
    ) -> Completion | AsyncStream[Completion]: ...

    async def create(
        self, *, stream: bool | None = None, **params: Unpack[CompletionCreateParams]
    ) -> Completion | AsyncStream[Completion]:
        return await self._create_any(stream=stream, **params)

    async def _create_any(
        self, *, stream: bool | None = None, **params: Unpack[CompletionCreateParams]
    ) -> Completion | AsyncStream[Completion]:
        return await self._create(_ENDPOINT, params, stream)

    with_raw_response = view(lambda resource: AsyncCompletionsWithRawResponse(resource))

    with_streaming_response = view(lambda resource: AsyncCompletionsWithStreamingResponse(resource))


# `with_raw_response` / `with_streaming_response` (rillet/_response.py): `parse()` of
# `create`'s result is typed as the union of its answers.


class CompletionsWithRawResponse(RawView[Completions]):
    create = raw_response(Completions._create_any)


class AsyncCompletionsWithRawResponse(AsyncRawView[AsyncCompletions]):
    create = async_raw_response(AsyncCompletions._create_any)


class CompletionsWithStreamingResponse(StreamingView[Completions]):
    create = streamed_response(Completions._create_any)


class AsyncCompletionsWithStreamingResponse(AsyncStreamingView[AsyncCompletions]):
    create = async_streamed_response(AsyncCompletions._create_any)

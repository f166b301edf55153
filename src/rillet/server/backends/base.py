"""The contract between the HTTP layer and whatever produces tokens.

A backend knows nothing of HTTP, SSE or the OpenAI wire shapes: it receives a
validated, normalised :class:`GenerationRequest` and yields
:data:`GenerationEvent` values for one choice. The chat-completions, responses and
(legacy) completions endpoints all format the same events, so every backend serves
all three. A backend that also computes embeddings implements :class:`Embedder`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]
ToolMode = Literal["none", "auto", "required", "named"]


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """A callable function offered to the model (from `tools` or legacy `functions`)."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    strict: bool = False


@dataclass(slots=True)
class GenerationRequest:
    """A validated request, independent of which endpoint it arrived on."""

    model: str
    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    temperature: float | None = None  # None: the backend's own default
    top_p: float | None = None
    seed: int | None = None
    logprobs: bool = False
    top_logprobs: int = 0
    functions: tuple[FunctionSpec, ...] = ()
    tool_mode: ToolMode = "none"
    tool_name: str | None = None  # set when tool_mode == "named"
    parallel_tool_calls: bool = True
    # {"type": "json_object"} or {"type": "json_schema", "json_schema": {"name", "schema", ...}}
    response_format: dict[str, Any] | None = None
    # A raw prompt (`/v1/completions`): continue it as it is, with no chat template, and
    # ignore `messages` (then empty). Token ids are the model's own vocabulary.
    prompt: str | tuple[int, ...] | None = None
    # The start of this choice's answer, already sent to the client by a replica that died:
    # the backend goes on from there (a stream's takeover, docs/resume.md). Its Finish
    # counts the whole answer's tokens, this part included.
    continuation: str = ""


@dataclass(frozen=True, slots=True)
class TopLogprob:
    token: str
    logprob: float


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    token: str
    logprob: float
    top: tuple[TopLogprob, ...] = ()


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of assistant text: one token, or a few when they only make sense together."""

    text: str
    logprob: TokenLogprob | None = None


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    """The model begins a call; `index` counts calls within this choice from 0."""

    index: int
    call_id: str
    name: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of the JSON arguments of the call at `index`."""

    index: int
    arguments: str


@dataclass(frozen=True, slots=True)
class Finish:
    """Always the last event of a choice."""

    reason: FinishReason
    prompt_tokens: int
    completion_tokens: int


GenerationEvent = TextDelta | ToolCallStart | ToolCallDelta | Finish


class InvalidRequest(ValueError):
    """The backend cannot serve this request as asked (e.g. a JSON schema no value satisfies).

    Raise it (or a subclass) from `generate`; the HTTP layer answers with a 400 carrying the
    message (in-band as an error event when a stream has already started). `param` names the
    request field at fault when known (e.g. "messages"), `code` is OpenAI's error code when
    one fits (e.g. "context_length_exceeded"); subclasses may set either as class attributes.
    """

    param: str | None = None
    code: str | None = None

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        if param is not None:
            self.param = param
        if code is not None:
            self.code = code


class Overloaded(RuntimeError):
    """The backend is at capacity: every sequence slot is busy and its queue is full.

    The HTTP layer answers 429 in OpenAI's error shape with a `Retry-After` header of
    `retry_after` seconds (rounded up).
    """

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# One input of an embeddings request: a text, or token ids of the model's own vocabulary.
EmbeddingInput = str | tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Embedded:
    """The vectors of one embeddings request, in input order, each of unit length."""

    vectors: list[list[float]]
    prompt_tokens: int


class Backend(Protocol):
    """What `rillet serve` needs from a token source."""

    name: str

    def model_ids(self) -> list[str]:
        """Model ids to list under /v1/models (the first is the default)."""
        ...

    def generate(self, request: GenerationRequest, choice: int) -> AsyncIterator[GenerationEvent]:
        """Yield the events of choice number `choice`; must end with one `Finish`.

        The consumer may stop early by closing the iterator (client gone): the
        backend must then stop producing within one token and free what it holds.
        Slow work runs off the event loop.
        """
        ...

    async def aclose(self) -> None:
        """Release the model and any worker threads."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """A backend that also serves `/v1/embeddings` (others answer it with a 400).

    `shortens_embeddings` says whether a vector cut to its first k values and scaled back
    to unit length still means what the whole did (true of models trained for it, as
    OpenAI's text-embedding-3 are); only then is the request's `dimensions` honoured.
    """

    embedding_dimensions: int
    shortens_embeddings: bool

    async def embed(self, model: str, inputs: Sequence[EmbeddingInput]) -> Embedded:
        """Unit-length vectors of `embedding_dimensions` values, one per input.

        Raise `InvalidRequest` (param "input") for an input the model cannot take (too
        long, token ids outside its vocabulary). Slow work runs off the event loop.
        """
        ...

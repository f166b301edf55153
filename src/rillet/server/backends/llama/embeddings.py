"""Embeddings from the generation model's weights: a context of its own, mean-pooled.

The model is loaded a second time with `embedding=True` and mean pooling, on first use
only (a server that is never asked for embeddings never pays for it), so generation's
context and its batching scheduler are left alone. Each input is evaluated alone, every
token marked as an output, and its vector is the mean of the last hidden states over its
tokens, scaled to unit length. One lock serialises requests: a llama.cpp context is not
safe to share between threads.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import llama_cpp.llama_cpp as llama_cpp
from llama_cpp import Llama

from rillet.server.backends.base import Embedded, EmbeddingInput, InvalidRequest
from rillet.server.backends.llama.run import prompt_tokens

MAX_INPUT_TOKENS = 2048  # tokens of one input: the embedding context's size and its batch


class LlamaEmbedder:
    """Mean-pooled, unit-length embeddings of `path`'s model; loaded on the first request."""

    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        self._path = path
        self._threads = threads
        self._model: Llama | None = None
        self._lock = threading.Lock()
        self._closed = False

    async def embed(self, inputs: Sequence[EmbeddingInput]) -> Embedded:
        return await asyncio.to_thread(self.embed_now, inputs)

    def embed_now(self, inputs: Sequence[EmbeddingInput]) -> Embedded:
        with self._lock:
            model = self._load()
            token_lists = [self._tokens(model, item, i) for i, item in enumerate(inputs)]
            vectors = [_unit(self._pooled(model, tokens)) for tokens in token_lists]
        return Embedded(vectors, sum(len(tokens) for tokens in token_lists))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._model is not None:
                self._model.close()
                self._model = None

    def _load(self) -> Llama:
        if self._closed:
            raise RuntimeError("the llama backend is closed")
        if self._model is None:
            from rillet.server.backends.llama.backend import load_llama  # it imports this module

            threads = self._threads or max(1, (os.cpu_count() or 1) - 1)  # as generation
            self._model = load_llama(
                model_path=str(self._path),
                embedding=True,
                pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
                n_ctx=MAX_INPUT_TOKENS,
                n_batch=MAX_INPUT_TOKENS,
                n_ubatch=MAX_INPUT_TOKENS,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        return self._model

    @staticmethod
    def _tokens(model: Llama, item: EmbeddingInput, index: int) -> list[int]:
        try:
            if isinstance(item, str):  # written-out special tokens stay plain text here
                tokens: list[int] = model.tokenize(item.encode(), add_bos=True, special=False)
            else:
                tokens = prompt_tokens(model, item)
        except InvalidRequest as exc:
            raise InvalidRequest(str(exc), f"input[{index}]", exc.code) from None
        if len(tokens) > MAX_INPUT_TOKENS:
            raise InvalidRequest(
                f"Input {index} is {len(tokens)} tokens; at most {MAX_INPUT_TOKENS} can be "
                "embedded at once.",
                f"input[{index}]",
                "context_length_exceeded",
            )
        return tokens

    @staticmethod
    def _pooled(model: Llama, tokens: list[int]) -> list[float]:
        # `Llama.embed` takes text only; this is its loop for one sequence of token ids.
        batch, context = model._batch, model._ctx
        batch.reset()  # type: ignore[no-untyped-call]
        batch.add_sequence(tokens, 0, True)  # every token an output, as pooling needs
        context.kv_cache_clear()  # type: ignore[no-untyped-call]
        context.decode(batch)
        values = llama_cpp.llama_get_embeddings_seq(context.ctx, 0)
        vector: list[float] = values[: model.n_embd()]
        batch.reset()  # type: ignore[no-untyped-call]
        context.kv_cache_clear()  # type: ignore[no-untyped-call]
        return vector


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]

"""Prompt prefill that reuses the KV cache without changing a single logit.

Measured on the packaged model, a prompt whose prefix came from the cache at an
arbitrary cut gave next-token logits up to 0.9 away from a fresh evaluation,
enough to flip a near-tie and break "same seed, same text"; when every cut fell
on a multiple of four the logits were bit-for-bit equal (prompts of 20 to 124
tokens, cuts on either side of the 64-token batch boundaries). That fits
llama.cpp's CPU matrix kernels, which take a batch's rows four at a time and the
leftover rows one by one, two paths that round differently.

So a prompt reuses the longest prefix it shares with the cache, rounded down to
a multiple of four, and only over tokens that a prompt evaluation left in full
groups: generated tokens were decoded one at a time, so a later prompt that
contains them evaluates them again. A prompt identical to the last one (a retry,
a regenerate, the choices of `n > 1`) reuses everything: its final logits were
kept, so it samples at once.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence

import llama_cpp
import numpy as np
import numpy.typing as npt
from llama_cpp import Llama

GROUP = 4  # rows per group in llama.cpp's batched CPU matrix kernels


class PromptCache:
    """Evaluates prompts on one model, reusing what its KV cache already holds.

    Used from the model's worker thread only; it trusts that nothing else
    evaluates on the model except generation past the end of the latest prompt.
    """

    def __init__(self, model: Llama) -> None:
        if model.n_batch % GROUP:
            raise ValueError(f"n_batch must be a multiple of {GROUP}, got {model.n_batch}")
        self._model = model
        self._exact = 0  # leading cached tokens a fresh evaluation would compute identically
        self._prompt: list[int] = []  # the latest prompt evaluated to its end
        self._logits: npt.NDArray[np.float32] | None = None  # its next-token logits

    def prefill(self, tokens: Sequence[int], cancelled: Callable[[], bool] = lambda: False) -> int:
        """Leave the model just past `tokens` with a fresh evaluation's logits.

        Returns how many prompt tokens came from the cache instead of being evaluated.
        `cancelled` is asked before each batch, so that a long prompt stops soon after
        its request is gone; the batches already evaluated stay reusable.
        """
        model = self._model
        tokens = list(tokens)
        if self._logits is not None and tokens == self._prompt and model.n_tokens >= len(tokens):
            model.n_tokens = len(tokens)  # the next `eval` drops the old answer's cache
            ctypes.memmove(self._logits_buffer(), self._logits.ctypes.data, self._logits.nbytes)
            return len(tokens)
        cached = model.input_ids[: min(model.n_tokens, self._exact)]
        common = _common_prefix(cached, tokens)
        keep = min(common, len(tokens) - 1) // GROUP * GROUP
        # Forget the cache first: an evaluation that fails halfway leaves it unknown.
        self._exact, self._prompt, self._logits = 0, [], None
        model.n_tokens = keep  # `eval` drops the KV cache past this point
        for start in range(keep, len(tokens), model.n_batch):
            if cancelled():
                self._exact = start  # whole batches only, so whole groups of four
                return keep
            model.eval(tokens[start : start + model.n_batch])
        self._exact = len(tokens) // GROUP * GROUP
        self._prompt = tokens
        self._logits = np.ctypeslib.as_array(self._logits_buffer(), shape=(model.n_vocab(),)).copy()
        return keep

    def _logits_buffer(self) -> ctypes._Pointer[ctypes.c_float]:
        """The context's logits for the latest evaluated token, which its sampler reads."""
        logits: ctypes._Pointer[ctypes.c_float]
        logits = llama_cpp.llama_get_logits_ith(self._model.ctx, -1)
        return logits


def _common_prefix(cached: npt.NDArray[np.intc], tokens: list[int]) -> int:
    size = min(len(cached), len(tokens))
    differ = np.flatnonzero(cached[:size] != np.asarray(tokens[:size], dtype=cached.dtype))
    return int(differ[0]) if differ.size else size

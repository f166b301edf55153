"""Seeded choices that behave like sampling from a model.

Every choice has a preferred option that depends only on the prompt (the
"greedy" path): temperature 0 always takes it, so the seed cannot matter. Above
0, a second generator seeded with the request's seed and choice index samples
the option's distance from the preferred one, with weights flattened by the
temperature and cut to the nucleus by `top_p`.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate
from typing import TypeVar

from rillet.server.backends.base import TokenLogprob, TopLogprob

T = TypeVar("T")

_STEEPNESS = 1.2  # how strongly rank 0 dominates at temperature 1


class Sampler:
    __slots__ = ("_cumulative", "_greedy", "_prefer", "_sample", "_temperature", "_top_p")

    def __init__(
        self, prompt_seed: int, sample_seed: int, temperature: float, top_p: float
    ) -> None:
        self._prefer = random.Random(prompt_seed)
        self._sample = random.Random(sample_seed)
        self._temperature = temperature
        self._top_p = top_p
        self._greedy = temperature <= 0.0 or top_p <= 0.0
        self._cumulative: dict[int, list[float]] = {}

    def index(self, n: int) -> int:
        """An index into `n` options."""
        if n <= 1:
            return 0
        preferred = self._prefer.randrange(n)
        if self._greedy:
            return preferred
        cumulative = self._cumulative.get(n) or self._nucleus(n)
        rank = bisect_right(cumulative, self._sample.random() * cumulative[-1])
        return (preferred + min(rank, len(cumulative) - 1)) % n

    def choice(self, options: Sequence[T]) -> T:
        return options[self.index(len(options))]

    def between(self, low: int, high: int) -> int:
        return low + self.index(high - low + 1)

    def pick_distinct(self, options: Sequence[T], k: int) -> list[T]:
        """Up to `k` different options, in the order chosen."""
        pool = list(options)
        return [pool.pop(self.index(len(pool))) for _ in range(min(k, len(pool)))]

    def _nucleus(self, n: int) -> list[float]:
        weights = [math.exp(-_STEEPNESS * r / self._temperature) for r in range(n)]
        total = sum(weights)
        kept, mass = [], 0.0
        for w in weights:
            kept.append(w)
            mass += w / total
            if mass >= self._top_p:
                break
        cumulative = list(accumulate(kept))
        self._cumulative[n] = cumulative
        return cumulative


# Alternatives shown in top_logprobs: plausible next pieces of any English text.
_ALTERNATIVE_WORDS = (
    "the", "a", "and", "to", "of", "it", "that", "was", "in", "with", "for", "on",
    "as", "but", "then", "so", "this", "one", "all", "there", "when", "just",
)  # fmt: skip
_ALTERNATIVE_MARKS = (",", ".", "!", "?", ";", ":", "\n")


def token_logprobs(pieces: Sequence[str], top: int, seed: int) -> list[TokenLogprob]:
    """A deterministic log-probability for each piece, with `top` sorted alternatives.

    The chosen piece is always among its alternatives; probabilities never sum past 1.
    """
    rng = random.Random(seed)
    result = []
    for piece in pieces:
        p = 0.999 - 0.97 * rng.random() ** 2
        if top == 0:
            result.append(TokenLogprob(piece, math.log(p)))
            continue
        ratio = 0.3 + 0.2 * rng.random()  # at most 1/2, so the shares stay under 1 - p
        offset = rng.randrange(len(_ALTERNATIVE_WORDS))
        ranked = [(piece, p)]
        for i, alt in enumerate(_alternatives(piece, offset, top - 1)):
            ranked.append((alt, (1.0 - p) * ratio ** (i + 1)))
        ranked.sort(key=lambda pair: -pair[1])
        entries = tuple(TopLogprob(tok, math.log(prob)) for tok, prob in ranked)
        result.append(TokenLogprob(piece, math.log(p), entries))
    return result


def _alternatives(piece: str, offset: int, count: int) -> list[str]:
    lead = piece[: len(piece) - len(piece.lstrip())] or " "
    words = _ALTERNATIVE_WORDS[offset:] + _ALTERNATIVE_WORDS[:offset]
    pool = [*(lead + w for w in words), *_ALTERNATIVE_MARKS]
    return [alt for alt in pool if alt != piece][:count]

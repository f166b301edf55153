"""Deterministic embeddings without a model: random projections of a text's features.

Each feature of a text (its content words, every word, and its character trigrams, with
falling weights) stands for a fixed pseudo-random direction seeded by the feature itself;
a text's vector is the weighted sum, scaled to unit length. Texts that share words so share
directions and land closer together than unrelated ones, the same text always gives the
same vector, and any leading run of values is itself a random projection, so a vector cut
short (`dimensions`) and scaled back to unit length keeps its neighbours.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import OrderedDict, defaultdict
from collections.abc import Sequence

from rillet.server.backends.base import Embedded, EmbeddingInput
from rillet.server.backends.synthetic.prompt import content_words
from rillet.server.backends.synthetic.tokens import count_tokens

DIMENSIONS = 256
_CONTENT_WEIGHT = 1.0
_WORD_WEIGHT = 0.35
_TRIGRAM_WEIGHT = 0.15
_CACHE_SIZE = 4096  # feature directions kept


class SyntheticEmbedder:
    """Vectors of `DIMENSIONS` values; directions of recent features are cached."""

    def __init__(self) -> None:
        self._directions: OrderedDict[str, list[float]] = OrderedDict()

    def embed_all(self, inputs: Sequence[EmbeddingInput]) -> Embedded:
        vectors = [self.vector(features(item)) for item in inputs]
        tokens = sum(
            len(item) if isinstance(item, tuple) else count_tokens(item) for item in inputs
        )
        return Embedded(vectors, tokens)

    def vector(self, weights: dict[str, float]) -> list[float]:
        total = [0.0] * DIMENSIONS
        for feature, weight in weights.items():
            for i, value in enumerate(self._direction(feature)):
                total[i] += weight * value
        norm = math.sqrt(sum(v * v for v in total)) or 1.0
        return [v / norm for v in total]

    def _direction(self, feature: str) -> list[float]:
        found = self._directions.get(feature)
        if found is not None:
            self._directions.move_to_end(feature)
            return found
        seed = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
        generator = random.Random(seed)
        direction = [generator.gauss(0.0, 1.0) for _ in range(DIMENSIONS)]
        self._directions[feature] = direction
        if len(self._directions) > _CACHE_SIZE:
            self._directions.popitem(last=False)
        return direction


def features(item: EmbeddingInput) -> dict[str, float]:
    """A text's weighted features; token ids are features of their own."""
    weights: defaultdict[str, float] = defaultdict(float)
    if isinstance(item, tuple):
        for token in item:
            weights[f"#{token}"] += _CONTENT_WEIGHT
        return weights
    for _, word in content_words(item):
        weights[f"w:{word}"] += _CONTENT_WEIGHT
    lowered = item.lower()
    for word in lowered.split():
        weights[f"t:{word}"] += _WORD_WEIGHT
    squeezed = " ".join(lowered.split())
    for i in range(len(squeezed) - 2):
        weights[f"c:{squeezed[i : i + 3]}"] += _TRIGRAM_WEIGHT
    if not weights:  # one or two characters, or only spaces: the text itself
        weights[f"x:{item}"] = _CONTENT_WEIGHT
    return weights

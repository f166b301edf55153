"""The word-piece tokenizer the synthetic backend counts and streams with.

A token is a word or number with its leading whitespace, or one punctuation mark
with its leading whitespace, or trailing whitespace. Joining the pieces gives the
text back exactly, so streamed deltas always add up to the full answer.
"""

from __future__ import annotations

import re

_PIECE = re.compile(r"\s*\w+|\s*[^\w\s]|\s+")


def tokenize(text: str) -> list[str]:
    return _PIECE.findall(text)


def count_tokens(text: str) -> int:
    return sum(1 for _ in _PIECE.finditer(text))


def words(text: str) -> frozenset[str]:
    """A word list written as one string, for keeping long vocabularies readable."""
    return frozenset(text.split())

"""Random ids for the objects the server hands out: `<prefix><hex>`, as upstream spells them.

One maker for all of them (request ids, completions, responses and their items, tool calls),
so every id has the same form and only its prefix and length say what it names.
"""

from __future__ import annotations

import os


def new_id(prefix: str, nbytes: int = 12) -> str:
    """`prefix` followed by `nbytes` random bytes in hex (twice as many characters)."""
    return prefix + os.urandom(nbytes).hex()


def new_request_id() -> str:
    """The `x-request-id` header of one answer."""
    return new_id("req_")

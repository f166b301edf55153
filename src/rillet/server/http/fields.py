"""Which top-level request fields an endpoint knows, and what it does with each.

Every field the official API defines for an endpoint is one of three things here:

- *implemented*: the endpoint reads and validates it;
- *ignored*: accepted and dropped, because it steers something a local server does not have
  (billing tiers, abuse tracking, prompt caching, ...) and dropping it cannot change what
  the client gets back;
- *refused* unless null: a 400 naming the field, because ignoring it would hand back
  something other than what was asked (a stored conversation, a prompt template, ...).

Any other field is a 400 too, as upstream, so a typo does not go unnoticed. What chat
completions and the Responses API share is declared once below; each endpoint adds its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rillet.server.http.errors import APIError, bad_request
from rillet.server.http.validation import optional_bool, optional_object

# Accepted and ignored by every endpoint: hosted-service concerns with no effect on an answer.
COMMON_IGNORED = frozenset(
    {
        "service_tier",
        "safety_identifier",
        "prompt_cache_key",
        "prompt_cache_retention",
        # Validated: `prewarm: true` asks for no answer at all, which is refused.
        "prompt_cache_options",
    }
)
# Refused by every endpoint unless null: field -> what the server cannot do.
COMMON_REFUSED: Mapping[str, str] = {
    "moderation": "it runs no moderation, so nothing would be scored or blocked",
}


class RequestFields:
    """One endpoint's top-level fields: implemented, ignored and refused (field -> why)."""

    __slots__ = ("_accepted", "ignored", "implemented", "known", "refused")

    def __init__(
        self,
        *,
        implemented: frozenset[str],
        ignored: frozenset[str],
        refused: Mapping[str, str],
    ) -> None:
        overlap = (implemented & ignored) | ((implemented | ignored) & refused.keys())
        if overlap:
            raise ValueError(f"fields declared twice: {sorted(overlap)}")
        self.implemented = implemented
        self.ignored = ignored
        self.refused = dict(refused)
        self._accepted = implemented | ignored
        self.known = self._accepted | refused.keys()

    def check(self, body: dict[str, Any]) -> None:
        """Fail on an unknown field, or a refused one set to anything but null."""
        accepted = self._accepted
        for key in body:
            if key in accepted:
                continue
            reason = self.refused.get(key)
            if reason is None:
                raise bad_request(f"Unrecognized request argument supplied: {key}", param=key)
            if body[key] is not None:
                raise unsupported(key, reason)
        if "prompt_cache_options" in body:
            options = optional_object(body, "prompt_cache_options")
            if optional_bool(options, "prewarm", False, "prompt_cache_options.prewarm"):
                raise unsupported(
                    "prompt_cache_options.prewarm",
                    "it keeps no prompt cache, and a prewarm request generates nothing",
                )


def unsupported(param: str, reason: str) -> APIError:
    """A field the server knows but will not pretend to honour."""
    return bad_request(
        f"Unsupported parameter: '{param}' is not supported by this server: {reason}.",
        param,
        "unsupported_parameter",
    )

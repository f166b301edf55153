"""`RequestFields`: implemented and ignored fields pass, refused ones are 400s unless null."""

from __future__ import annotations

import pytest

from rillet.server.http.errors import APIError
from rillet.server.http.fields import COMMON_IGNORED, COMMON_REFUSED, RequestFields

FIELDS = RequestFields(
    implemented=frozenset({"model"}),
    ignored=COMMON_IGNORED | {"verbosity"},
    refused={**COMMON_REFUSED, "conversation": "it keeps no conversations"},
)


def error(body: dict[str, object]) -> APIError:
    with pytest.raises(APIError) as info:
        FIELDS.check(body)
    return info.value


def test_known_is_every_declared_field() -> None:
    assert FIELDS.known == {"model", "verbosity", "conversation"} | COMMON_IGNORED | {"moderation"}


def test_implemented_ignored_and_null_refused_fields_pass() -> None:
    FIELDS.check({"model": "m", "verbosity": "low", "service_tier": "flex", "conversation": None})


def test_an_unknown_field_is_named() -> None:
    failure = error({"model": "m", "modle": "m"})
    assert (failure.status, failure.param, failure.code) == (400, "modle", None)
    assert failure.message == "Unrecognized request argument supplied: modle"


@pytest.mark.parametrize("value", ["conv_1", {"id": "conv_1"}, [], False])
def test_a_refused_field_is_unsupported_whatever_its_value(value: object) -> None:
    failure = error({"conversation": value})
    assert (failure.status, failure.param, failure.code) == (
        400,
        "conversation",
        "unsupported_parameter",
    )
    assert failure.message == (
        "Unsupported parameter: 'conversation' is not supported by this server: "
        "it keeps no conversations."
    )


def test_prewarming_the_prompt_cache_is_refused_and_the_rest_of_it_ignored() -> None:
    FIELDS.check({"prompt_cache_options": {"mode": "explicit", "ttl": "12h", "prewarm": False}})
    FIELDS.check({"prompt_cache_options": None})
    assert (
        error({"prompt_cache_options": {"prewarm": True}}).param == "prompt_cache_options.prewarm"
    )
    assert error({"prompt_cache_options": {"prewarm": "yes"}}).code == "invalid_type"
    assert error({"prompt_cache_options": "on"}).param == "prompt_cache_options"


def test_a_field_declared_twice_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="model"):
        RequestFields(implemented=frozenset({"model"}), ignored=frozenset({"model"}), refused={})
    with pytest.raises(ValueError, match="moderation"):
        RequestFields(
            implemented=frozenset(), ignored=frozenset({"moderation"}), refused=COMMON_REFUSED
        )

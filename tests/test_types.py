"""Sentinels and per-call option shapes (`rillet._types`)."""

from __future__ import annotations

import copy
import inspect
import pickle

import httpx
import openai
import pytest

import rillet
from rillet._client import _REQUEST_OPTIONS
from rillet._types import NOT_GIVEN, NotGiven, Omit, RequestOptions, is_given, not_given, omit


def test_not_given_is_a_falsy_singleton() -> None:
    assert NotGiven() is NOT_GIVEN
    assert not_given is NOT_GIVEN
    assert rillet.NOT_GIVEN is NOT_GIVEN
    assert rillet.not_given is NOT_GIVEN
    assert not NOT_GIVEN
    assert bool(NOT_GIVEN) is False
    assert repr(NOT_GIVEN) == "NOT_GIVEN"
    assert NOT_GIVEN is not None


def test_not_given_survives_copy_and_pickle() -> None:
    assert copy.copy(NOT_GIVEN) is NOT_GIVEN
    assert copy.deepcopy(NOT_GIVEN) is NOT_GIVEN
    assert pickle.loads(pickle.dumps(NOT_GIVEN)) is NOT_GIVEN


def test_omit_is_falsy() -> None:
    assert not omit
    assert bool(Omit()) is False
    assert repr(omit) == "omit"
    assert rillet.omit is omit
    assert isinstance(rillet.Omit(), Omit)


@pytest.mark.parametrize(
    ("value", "given"),
    [
        (NOT_GIVEN, False),
        (NotGiven(), False),
        (omit, False),
        (Omit(), False),
        (None, True),
        (0, True),
        (False, True),
        ("", True),
        ([], True),
    ],
)
def test_is_given(value: object, given: bool) -> None:
    assert is_given(value) is given


def test_request_options_are_the_per_call_settings() -> None:
    assert set(RequestOptions.__annotations__) == {
        "extra_headers",
        "extra_query",
        "extra_body",
        "timeout",
        "stream_idle_timeout",
        "max_retries",
        "max_stream_resumes",
    }
    assert set(RequestOptions.__annotations__) == _REQUEST_OPTIONS
    assert RequestOptions.__total__ is False


def test_official_request_options_are_accepted_per_call() -> None:
    # What the official client's create() takes besides API parameters.
    from openai.resources.chat.completions import Completions

    official = {
        name
        for name in inspect.signature(Completions.create).parameters
        if name.startswith("extra_") or name == "timeout"
    }
    assert official == {"extra_headers", "extra_query", "extra_body", "timeout"}
    assert official <= _REQUEST_OPTIONS


def test_sentinels_are_distinct_from_the_official_ones_but_interchangeable_by_falsiness() -> None:
    # Code that checks `if not value` works the same for either package's sentinel.
    assert not openai.NOT_GIVEN and not NOT_GIVEN
    assert not openai.omit and not omit


def test_timeout_alias_accepts_httpx_timeouts() -> None:
    from rillet._types import Timeout

    assert httpx.Timeout in Timeout.__args__
    assert float in Timeout.__args__
    assert type(None) in Timeout.__args__

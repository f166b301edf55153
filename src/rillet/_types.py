"""Sentinels and option shapes shared by every request, and the `with` support of whatever
holds a connection (clients, streams)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Self, TypedDict

import httpx

__all__ = [
    "NOT_GIVEN",
    "REQUEST_OPTIONS",
    "Body",
    "Headers",
    "NotGiven",
    "Omit",
    "Query",
    "RequestOptions",
    "Timeout",
    "not_given",
    "omit",
]


class NotGiven:
    """Marks a parameter the caller did not pass, where `None` is itself a meaningful value."""

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN = not_given = NotGiven()


class Omit:
    """Passed as a header value, removes a default header from the request."""

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "omit"


omit = Omit()

Timeout = float | httpx.Timeout | None
Headers = Mapping[str, str | Omit]
Query = Mapping[str, object]
Body = object


class RequestOptions(TypedDict, total=False):
    """Per-call settings every endpoint method accepts besides its API parameters."""

    extra_headers: Headers | None
    extra_query: Query | None
    extra_body: Body | None
    timeout: float | httpx.Timeout | NotGiven | None
    stream_idle_timeout: float | NotGiven | None
    max_retries: int
    max_stream_resumes: int


REQUEST_OPTIONS = frozenset(RequestOptions.__annotations__)


# The official package's sentinels are recognised by their class's module and name, so
# `openai` is never imported for it and a value that is not a sentinel costs one lookup.
# The classes live in `openai._types`; `openai/__init__.py` renames their module `openai`.
_OFFICIAL_MODULES = frozenset({"openai", "openai._types"})


def is_given(value: Any) -> bool:
    """False for `NOT_GIVEN` and `omit`, rillet's or the official package's."""
    if isinstance(value, (NotGiven, Omit)):
        return False
    cls = type(value)
    return cls.__module__ not in _OFFICIAL_MODULES or cls.__name__ not in ("NotGiven", "Omit")


def is_omit(value: Any) -> bool:
    """Whether `value` is `omit` (rillet's or the official one): a header it removes."""
    if isinstance(value, Omit):
        return True
    cls = type(value)
    return cls.__module__ in _OFFICIAL_MODULES and cls.__name__ == "Omit"


def is_not_given(value: Any) -> bool:
    """Whether `value` is `NOT_GIVEN` (rillet's or the official one)."""
    if isinstance(value, NotGiven):
        return True
    cls = type(value)
    return cls.__module__ in _OFFICIAL_MODULES and cls.__name__ == "NotGiven"


class Closes:
    """`with obj:` for an object whose `close()` frees what it holds; the block gives `obj`."""

    __slots__ = ()

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncCloses:
    """`async with obj:` for an object whose `await close()` frees what it holds."""

    __slots__ = ()

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

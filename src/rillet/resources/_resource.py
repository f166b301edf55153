from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from rillet._types import REQUEST_OPTIONS

if TYPE_CHECKING:
    from rillet._client import AsyncOpenAI, OpenAI

C = TypeVar("C", "OpenAI", "AsyncOpenAI")


class Resource(Generic[C]):
    """A group of endpoints bound to one client."""

    def __init__(self, client: C) -> None:
        self._client: C = client


def create_params(
    params: Mapping[str, Any], stream: bool | None, allowed: frozenset[str]
) -> dict[str, Any]:
    """A `create()` call's keyword arguments with `stream` set; an unknown one is refused
    before any I/O, as a misspelt parameter would otherwise reach the server unnoticed."""
    unknown = [k for k in params if k not in allowed and k not in REQUEST_OPTIONS]
    if unknown:
        raise TypeError(f"create() got an unexpected keyword argument {unknown[0]!r}")
    body = dict(params)
    if stream is not None:
        body["stream"] = stream
    return body

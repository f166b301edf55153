from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from rillet._client import AsyncOpenAI, OpenAI

C = TypeVar("C", "OpenAI", "AsyncOpenAI")


class Resource(Generic[C]):
    """A group of endpoints bound to one client."""

    def __init__(self, client: C) -> None:
        self._client: C = client

"""The official package's response objects, for clients made with `official_types=True`.

Some libraries that take a client object check what it returns against the official
classes (`isinstance(response, openai.types.chat.ChatCompletion)`, or against
`openai.BaseModel`), and pydantic refuses virtual subclasses, so nothing but an instance of
the official class passes. Such a client builds, for each result and stream item that has
an official counterpart (the class of the same name in the same module under `openai.types`),
that class's object from the decoded JSON, as the official client does (`model_construct`:
nested objects built, no validation). `openai` is imported only then, never otherwise.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar, cast

from rillet._exceptions import OpenAIError
from rillet._models import BaseModel

__all__ = ["official_class", "official_items", "require_official", "to_official"]

T = TypeVar("T")

_PREFIX = "rillet.types"
_classes: dict[type[BaseModel], Any] = {}


def official_class(cls: type[BaseModel]) -> Any:
    """The official class `cls` stands for, or None: a type rillet has and the official
    package does not (pages, `.stream()` helper events) stays rillet's."""
    try:
        return _classes[cls]
    except KeyError:
        pass
    found = None
    module = cls.__module__
    if module.startswith(_PREFIX + "."):
        base = _import("openai").BaseModel
        same = "openai" + module[len("rillet") :]
        # the same module under `openai.types`, else the package that holds it
        for name in (same, same.rpartition(".")[0]):
            candidate = getattr(_module(name), cls.__name__, None)
            if isinstance(candidate, type) and issubclass(candidate, base):
                found = candidate
                break
    _classes[cls] = found
    return found


def to_official(value: T) -> T:
    """`value` as the official package's object if it is a rillet model with a counterpart,
    else `value` itself. (Typed as `value`'s type: the official class has its fields.)"""
    if not isinstance(value, BaseModel):
        return value
    cls = official_class(type(value))
    if cls is None:
        return value
    return cast(T, cls.model_construct(**value.to_dict()))


def official_items(construct: Callable[[dict[str, Any]], T]) -> Callable[[dict[str, Any]], T]:
    """A stream's item builder whose items are the official package's objects."""

    def build(data: dict[str, Any]) -> T:
        return to_official(construct(data))

    return build


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise OpenAIError(
            "official_types=True makes the client return the official package's objects, "
            "so it needs the `openai` package: pip install openai"
        ) from exc


def require_official() -> None:
    """Fail at client construction, not at the first answer, when `openai` is missing."""
    _import("openai")

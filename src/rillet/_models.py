"""Typed views over decoded JSON: the response types' common base.

A model instance's `__dict__` *is* the JSON object the server sent (with nested objects
replaced by their views). Reading a field is a plain instance-dict lookup, building a model
costs one allocation per object, and fields the types do not know are kept as attributes
and given back by `to_dict()`. This is why streaming stays cheap per chunk: no validation
pass, no copying, no per-field Python code.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin

import orjson

__all__ = ["BaseModel", "ResponseShapeError"]

_M = TypeVar("_M", bound="BaseModel")
_Converter = Callable[[Any], Any]
_new = object.__new__


class ResponseShapeError(ValueError):
    """Decoded JSON that does not have the shape its type requires (e.g. a list where an
    object belongs); the transport turns it into `APIResponseValidationError`."""


class BaseModel:
    # (field name, converter) for fields holding nested models; built on first use because
    # the annotations name classes defined later in their modules.
    __plan__: ClassVar[tuple[tuple[str, _Converter], ...] | None] = None
    __fields__: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__plan__ = None
        own = [
            name
            for name, annotation in inspect.get_annotations(cls).items()
            if not str(annotation).startswith(("ClassVar", "typing.ClassVar"))
        ]
        for name in own:
            if name not in cls.__dict__:
                setattr(cls, name, None)  # absent optional fields read as None
        inherited = [f for f in cls.__fields__ if f not in own]
        cls.__fields__ = (*inherited, *own)

    def __init__(self, **data: Any) -> None:
        built = type(self).construct(_unwrap(data))
        self.__dict__ = built.__dict__

    @classmethod
    def construct(cls: type[_M], data: dict[str, Any]) -> _M:
        """Adopt `data` (a decoded JSON object) as the instance's fields, without copying."""
        if type(data) is not dict:
            if isinstance(data, cls):
                return data  # already a view (events that carry a chunk or a snapshot)
            raise ResponseShapeError(f"expected a JSON object for {cls.__name__}, got {data!r:.80}")
        obj = _new(cls)
        obj.__dict__ = data
        plan = cls.__plan__
        if plan is None:
            plan = cls._make_plan()
        for name, convert in plan:
            value = data.get(name)
            if value is not None:
                data[name] = convert(value)
        return obj

    @classmethod
    def _make_plan(cls) -> tuple[tuple[str, _Converter], ...]:
        hints = typing.get_type_hints(cls)
        plan = []
        for name in cls.__fields__:
            convert = _converter_for(hints[name])
            if convert is not None:
                plan.append((name, convert))
        cls.__plan__ = tuple(plan)
        return cls.__plan__

    # -- the official client's model methods ---------------------------------------------

    def to_dict(
        self, *, exclude_unset: bool = True, exclude_none: bool = False, **_: Any
    ) -> dict[str, Any]:
        """The object as the server sent it, unknown fields included."""
        if not exclude_unset or exclude_none:
            return self.model_dump(exclude_unset=exclude_unset, exclude_none=exclude_none)
        result: dict[str, Any] = _unwrap(self.__dict__)
        return result

    def to_json(self, *, indent: int | None = 2, **kwargs: Any) -> str:
        option = orjson.OPT_INDENT_2 if indent else 0
        return orjson.dumps(self.to_dict(**kwargs), option=option).decode()

    def model_dump(
        self, *, exclude_unset: bool = False, exclude_none: bool = False, **_: Any
    ) -> dict[str, Any]:
        """Every declared field (None where absent) plus whatever else the server sent, at
        every level of nesting, as the official client's pydantic models dump."""
        result: dict[str, Any] = _dump(self, exclude_unset, exclude_none)
        return result

    def model_dump_json(self, *, indent: int | None = None, **kwargs: Any) -> str:
        option = orjson.OPT_INDENT_2 if indent else 0
        return orjson.dumps(self.model_dump(**kwargs), option=option).decode()

    @classmethod
    def model_validate(cls: type[_M], data: dict[str, Any]) -> _M:
        return cls.construct(_unwrap(data))

    # -- plumbing ------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        data = self.__dict__
        names = [*self.__fields__, *(k for k in data if k not in self.__fields__)]
        inner = ", ".join(f"{name}={data.get(name)!r}" for name in names)
        return f"{type(self).__name__}({inner})"

    def __rich_repr__(self) -> Any:
        for name in self.__fields__:
            yield name, getattr(self, name, None)


def _unwrap(value: Any) -> Any:
    """Deep copy of a value with every model turned back into its JSON object."""
    if isinstance(value, BaseModel):
        return {k: _unwrap(v) for k, v in value.__dict__.items()}
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


def _dump(value: Any, exclude_unset: bool, exclude_none: bool) -> Any:
    """`model_dump` of a value: models get their declared fields (unless `exclude_unset`) and
    lose None-valued fields (if `exclude_none`); plain dicts and lists are copied as they are."""
    if isinstance(value, BaseModel):
        data = value.__dict__
        names = data if exclude_unset else {**dict.fromkeys(value.__fields__), **data}
        result = {}
        for name in names:
            item = _dump(data.get(name), exclude_unset, exclude_none)
            if item is not None or not exclude_none:
                result[name] = item
        return result
    if isinstance(value, dict):
        return {k: _dump(v, exclude_unset, exclude_none) for k, v in value.items()}
    if isinstance(value, list):
        return [_dump(v, exclude_unset, exclude_none) for v in value]
    return value


def _converter_for(annotation: Any) -> _Converter | None:
    """How to turn the JSON value of a field with this annotation into views, if it needs to."""
    origin = get_origin(annotation)
    if isinstance(origin, type) and issubclass(origin, BaseModel):
        return origin.construct  # a generic model, subscripted (`ParsedChoice[T]`)
    if origin in (Union, types.UnionType):
        options = [_model_of(a) for a in get_args(annotation) if a is not type(None)]
        models = [a for a in options if isinstance(a, type) and issubclass(a, BaseModel)]
        if len(options) == 1:
            return _converter_for(options[0])
        if models and len(models) == len(options):
            return by_type_converter(models)
        return None
    if origin is list:
        (item,) = get_args(annotation) or (Any,)
        convert_item = _converter_for(item)
        if convert_item is None:
            return None
        return lambda value: [convert_item(v) for v in _expect_list(value)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.construct
    return None


def _model_of(annotation: Any) -> Any:
    """A subscripted generic model's class (`ParsedResponseOutputMessage[T]`); else as is."""
    origin = get_origin(annotation)
    return origin if isinstance(origin, type) and issubclass(origin, BaseModel) else annotation


def _expect_list(value: Any) -> list[Any]:
    if type(value) is not list:
        raise ResponseShapeError(f"expected a JSON array, got {value!r:.80}")
    return value


def by_type_converter(models: list[type[BaseModel]]) -> _Converter:
    """A union of models told apart by their `type` literal; unknown types stay generic."""
    by_type: dict[str, type[BaseModel]] = {}
    for model in models:
        hint = typing.get_type_hints(model).get("type")
        if get_origin(hint) is Literal:
            for value in get_args(hint):
                by_type[value] = model

    def convert(value: Any) -> BaseModel:
        if type(value) is not dict:
            if isinstance(value, BaseModel):
                return value
            raise ResponseShapeError(f"expected a JSON object, got {value!r:.80}")
        kind = value.get("type")
        model = by_type.get(kind, GenericObject) if isinstance(kind, str) else GenericObject
        return model.construct(value)

    return convert


class GenericObject(BaseModel):
    """A JSON object of a kind the types do not describe; its fields are still attributes."""

    type: str | None

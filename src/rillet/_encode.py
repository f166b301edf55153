"""What a call sends, checked: the JSON body, header values and query values.

The body is encoded by orjson in one pass; only when that fails is it looked at again, so
a call that sends plain data pays nothing for the checks. A `NOT_GIVEN` or `omit`
(rillet's or the official package's) nested in a mapping is then left out, as the official
client leaves out unset fields of nested parameters, and anything still unsendable raises
`InvalidParameterError` naming the parameter, never a bare orjson `TypeError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import orjson

from rillet._exceptions import OpenAIError
from rillet._models import BaseModel
from rillet._types import is_given

__all__ = ["InvalidParameterError", "check_header", "check_query", "encode_body", "json_default"]


class InvalidParameterError(OpenAIError, TypeError):
    """A parameter, header or query value that cannot be sent; raised before any I/O.

    A `TypeError`, as passing a value of the wrong type is, and an `OpenAIError`, as every
    error the client raises is. `parameter` names the offending one."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


def json_default(value: Any) -> Any:
    """Let request bodies hold response models (e.g. a message sent back) and iterables."""
    if isinstance(value, BaseModel):
        return value.to_dict()
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(exclude_unset=True)
    if hasattr(value, "__iter__") and not isinstance(value, (str, bytes, Mapping)):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def encode_body(body: dict[str, Any]) -> bytes:
    """`body` as JSON; nested sentinels left out, an unsendable parameter named."""
    try:
        return orjson.dumps(body, default=json_default)
    except orjson.JSONEncodeError:
        pass  # look closer, off the fast path
    stripped = {key: _strip(value) for key, value in body.items()}
    for key, value in stripped.items():
        try:
            orjson.dumps(value, default=json_default)
        except orjson.JSONEncodeError as exc:
            raise InvalidParameterError(
                str(key), f"Parameter {key!r} cannot be sent as JSON: {exc}"
            ) from exc
    try:
        return orjson.dumps(stripped, default=json_default)
    except orjson.JSONEncodeError as exc:  # e.g. a key that is not a string
        raise InvalidParameterError("", f"The request body cannot be sent as JSON: {exc}") from exc


def _strip(value: Any) -> Any:
    """`value` with `NOT_GIVEN`/`omit` entries of its mappings, at any depth, left out."""
    if isinstance(value, Mapping):
        return {k: _strip(v) for k, v in value.items() if is_given(v)}
    if isinstance(value, (list, tuple)):
        return [_strip(v) for v in value]
    return value


def check_header(name: str, value: object) -> str:
    """`value`, refused unless httpx can send it as a header (it takes `str` and `bytes`)."""
    if not isinstance(value, (str, bytes)):
        raise InvalidParameterError(
            name, f"Header {name!r} must be a string, got {type(value).__name__}: {value!r}"
        )
    return cast(str, value)


_SCALARS = (str, int, float, bool, type(None))


def check_query(params: Mapping[str, object]) -> None:
    """Refuse a query value httpx could not send (scalars, or lists/tuples of them)."""
    for name, value in params.items():
        if isinstance(value, _SCALARS):
            continue
        if isinstance(value, (list, tuple)) and all(isinstance(v, _SCALARS) for v in value):
            continue
        raise InvalidParameterError(
            name,
            f"Query parameter {name!r} must be a string, number, boolean or a list of them, "
            f"got {type(value).__name__}: {value!r}",
        )

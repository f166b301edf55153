"""The JSON type of a decoded JSON value, named as JSON Schema's `type` keyword names it.

Request validation says what it got in its 400s ("expected a string, but got an integer")
and the synthetic backend infers a schema's type from its `default`: both ask which JSON
type a value has.
"""

from __future__ import annotations

# bool before int: True is an int to Python, a boolean to JSON.
_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)


def json_type(value: object) -> str:
    """`null`, `boolean`, `integer`, `number`, `string`, `array` or `object`.

    A value no JSON document decodes to gets its Python type's name.
    """
    if value is None:
        return "null"
    for kind, name in _TYPES:
        if isinstance(value, kind):
            return name
    return type(value).__name__

"""Values made from JSON Schemas validate, checked by an independent validator."""

from __future__ import annotations

import datetime
import itertools
import random
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rillet.server.backends.synthetic.jsonschema import Hints, SchemaError, generate

FORMATS = jsonschema.FormatChecker()
_DEF_NAMES = itertools.count()
HINTS = Hints(text="Book a table in Rome for 4 people", subject="a table", places=["Rome"],
              numbers=[4.0])  # fmt: skip


def check(
    schema: dict[str, Any], value: Any, validator: Any = jsonschema.Draft202012Validator
) -> None:
    validator(schema, format_checker=FORMATS).validate(value)


# -- a strategy over varied schemas ------------------------------------------------------

FORMAT_NAMES = ["date", "date-time", "time", "email", "uri", "ipv4", "ipv6", "uuid", "hostname"]
NAMES = st.sampled_from(
    ["location", "city", "email", "date", "count", "query", "name", "id", "unit", "tags",
     "price", "enabled", "notes", "start_time", "website", "maxResults", "items", "x"]
)  # fmt: skip


@st.composite
def strings(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["plain", "length", "format", "enum", "const", "default"]))
    if kind == "length":
        low = draw(st.integers(0, 30))
        schema: dict[str, Any] = {"type": "string", "minLength": low}
        if draw(st.booleans()):
            schema["maxLength"] = low + draw(st.integers(0, 10))
        return schema
    if kind == "format":
        return {"type": "string", "format": draw(st.sampled_from(FORMAT_NAMES))}
    if kind == "enum":
        return {"enum": draw(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=4,
                                      unique=True))}  # fmt: skip
    if kind == "const":
        return {"const": draw(st.one_of(st.text(max_size=5), st.integers(), st.booleans()))}
    if kind == "default":
        return {"type": "string", "default": draw(st.text(max_size=6))}
    return {"type": "string"}


@st.composite
def numbers(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": draw(st.sampled_from(["integer", "number"]))}
    low = draw(st.one_of(st.none(), st.integers(-50, 50)))
    width = draw(st.integers(12, 100))  # room for a multiple of any step below
    if low is not None:
        schema["exclusiveMinimum" if draw(st.booleans()) else "minimum"] = low
    if draw(st.booleans()):
        high = (low if low is not None else 0) + width
        schema["exclusiveMaximum" if draw(st.booleans()) else "maximum"] = high
    if draw(st.booleans()):
        schema["multipleOf"] = draw(st.sampled_from([1, 2, 5, 0.5, 0.25]))
    return schema


scalars = st.one_of(
    strings(),
    numbers(),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.just({"type": ["string", "null"]}),
    st.just({}),
)


def containers(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def objects(draw: st.DrawFn) -> dict[str, Any]:
        properties = draw(st.dictionaries(NAMES, children, max_size=5))
        required = [k for k in properties if draw(st.booleans())]
        schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
        if draw(st.booleans()):
            schema["additionalProperties"] = False
        return schema

    @st.composite
    def arrays(draw: st.DrawFn) -> dict[str, Any]:
        low = draw(st.integers(0, 3))
        schema: dict[str, Any] = {"type": "array", "items": draw(children), "minItems": low}
        if draw(st.booleans()):
            schema["maxItems"] = low + draw(st.integers(0, 3))
        return schema

    @st.composite
    def unique_arrays(draw: st.DrawFn) -> dict[str, Any]:
        item = draw(st.sampled_from([{"type": "string"}, {"type": "integer"},
                                     {"type": "string", "format": "date"}]))  # fmt: skip
        return {"type": "array", "items": item, "minItems": draw(st.integers(2, 4)),
                "uniqueItems": True}  # fmt: skip

    @st.composite
    def choices(draw: st.DrawFn) -> dict[str, Any]:
        # Branches of different JSON types, so exactly one matches whatever is made.
        kinds = draw(st.lists(st.sampled_from(["string", "integer", "boolean", "null", "array"]),
                              min_size=1, max_size=3, unique=True))  # fmt: skip
        keyword = draw(st.sampled_from(["anyOf", "oneOf"]))
        return {keyword: [{"type": k} for k in kinds]}

    @st.composite
    def combined(draw: st.DrawFn) -> dict[str, Any]:
        left = draw(st.dictionaries(st.sampled_from(["a", "b"]), children, min_size=1))
        right = draw(st.dictionaries(st.sampled_from(["c", "d"]), children, min_size=1))
        return {"allOf": [
            {"type": "object", "properties": left, "required": list(left)},
            {"properties": right, "required": list(right)},
        ]}  # fmt: skip

    @st.composite
    def referenced(draw: st.DrawFn) -> dict[str, Any]:
        target = draw(children)
        where = draw(st.sampled_from(["$defs", "definitions"]))
        name = f"t{next(_DEF_NAMES)}"  # unique, so hoisted definitions never collide
        return {"type": "object", "properties": {"value": {"$ref": f"#/{where}/{name}"}},
                "required": ["value"], where: {name: target}}  # fmt: skip

    return st.one_of(objects(), arrays(), unique_arrays(), choices(), combined(), referenced())


def hoist_definitions(schema: dict[str, Any]) -> dict[str, Any]:
    """Move every $defs/definitions to the root, where `#/...` references point."""
    found: dict[str, dict[str, Any]] = {"$defs": {}, "definitions": {}}

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(n) for n in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key in found and isinstance(value, dict):
                found[key].update({k: walk(v) for k, v in value.items()})
            elif key in ("const", "enum", "default"):
                out[key] = value
            else:
                out[key] = walk(value)
        return out

    root: dict[str, Any] = walk(schema)
    return root | {key: defs for key, defs in found.items() if defs}


schemas = st.recursive(scalars, containers, max_leaves=12).map(hoist_definitions)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=schemas, seed=st.integers(0, 2**32), fill=st.booleans())
def test_generated_values_validate(schema: dict[str, Any], seed: int, fill: bool) -> None:
    rng = random.Random(seed)
    value = generate(schema, HINTS, pick=rng.randrange, fill_optional=fill)
    check(schema, value)


# -- particular keywords ---------------------------------------------------------------


def test_required_location_comes_from_the_hints_and_unhinted_optionals_are_left_out() -> None:
    schema = {"type": "object", "properties": {"location": {"type": "string"},
              "unit": {"enum": ["celsius", "fahrenheit"]}}, "required": ["location"]}  # fmt: skip
    assert generate(schema, Hints(text="weather in Oslo", places=["Oslo"])) == {"location": "Oslo"}
    filled = generate(schema, Hints(), fill_optional=True)
    assert set(filled) == {"location", "unit"}


def test_every_place_field_takes_the_next_place() -> None:
    schema = {
        "type": "object",
        "properties": {"origin": {"type": "string"}, "destination": {"type": "string"}},
        "required": ["origin", "destination"],
    }
    hints = Hints(text="from Paris to Rome", places=["Paris", "Rome"])
    assert generate(schema, hints) == {"origin": "Paris", "destination": "Rome"}


def test_draft4_boolean_exclusive_bounds() -> None:
    schema = {"type": "integer", "minimum": 5, "exclusiveMinimum": True, "maximum": 6}
    assert generate(schema) == 6
    check(schema, generate(schema), jsonschema.Draft4Validator)


def test_number_hints_are_moved_into_range_and_onto_multiples() -> None:
    schema = {"type": "number", "minimum": 10, "maximum": 20, "multipleOf": 0.25}
    assert generate(schema, Hints(numbers=[99.0])) == 20
    assert generate(schema, Hints(numbers=[12.3])) == 12.25


def test_defaults_and_consts_are_respected() -> None:
    schema = {"type": "object", "properties": {"mode": {"type": "string", "default": "fast"},
              "v": {"const": 2}}, "required": ["mode", "v"]}  # fmt: skip
    assert generate(schema) == {"mode": "fast", "v": 2}


def test_formats_are_plausible() -> None:
    for fmt, parse in [("date", datetime.date.fromisoformat),
                       ("date-time", datetime.datetime.fromisoformat)]:  # fmt: skip
        parse(generate({"type": "string", "format": fmt}))
    assert "@" in generate({"type": "string", "format": "email"})
    assert generate({"type": "string", "format": "uri"}).startswith("https://")


def test_recursive_schemas_end() -> None:
    schema = {"$ref": "#/$defs/node", "$defs": {"node": {"type": "object", "properties": {
        "label": {"type": "string"}, "children": {"type": "array",
        "items": {"$ref": "#/$defs/node"}}}, "required": ["label"]}}}  # fmt: skip
    check(schema, generate(schema, fill_optional=True))


def test_prefix_items_and_min_properties() -> None:
    schema = {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}],
              "items": False, "minItems": 2}  # fmt: skip
    check(schema, generate(schema))
    loose = {"type": "object", "minProperties": 2}
    assert len(generate(loose)) == 2


def test_optional_properties_that_accept_nothing_are_left_out() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "never": False}}
    assert generate(schema, fill_optional=True) == {"a": 1}


@pytest.mark.parametrize(
    "schema",
    [
        False,
        {"$ref": "#/$defs/missing"},
        {"enum": []},
        {"$ref": "other.json#/x"},
        {"type": "object", "properties": {"self": {"$ref": "#"}}, "required": ["self"]},
    ],
)
def test_unsatisfiable_schemas_raise_schema_error(schema: Any) -> None:
    with pytest.raises(SchemaError):
        generate(schema)

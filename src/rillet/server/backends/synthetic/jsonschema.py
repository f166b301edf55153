"""Make a JSON value that validates against a JSON Schema, filled from hints.

Covers the keywords function and response schemas use in practice: type (also
lists), properties/required/additionalProperties, enum/const, items/prefixItems,
min/max for lengths, items and numbers (exclusive forms of every draft),
multipleOf, anyOf/oneOf (one branch), allOf (merged), $ref into the same
document, default and the common string formats. Values come from `Hints` where
a field's name says what it holds (a city, a count, a query...), so a backend's
arguments follow the prompt; every other choice goes through `pick`.
"""

from __future__ import annotations

import datetime
import math
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rillet.server.backends.base import InvalidRequest
from rillet.server.backends.synthetic.tokens import words
from rillet.server.json_types import json_type

Schema = dict[str, Any] | bool
Pick = Callable[[int], int]

_MAX_DEPTH = 8  # deeper than this, only what is required (recursive schemas end)
_HARD_DEPTH = 64  # a schema that still requires more nesting here has no finite value
_FALLBACK_PLACE = "San Francisco"

PLACE_FIELDS = words(
    """location locations city cities place places address destination origin region
    country town where area venue station airport"""
)
_NAME_FIELDS = words("""name title subject topic label""")
_TEXT_FIELDS = words(
    """query q search prompt question text message content input body keyword keywords
    term terms instruction instructions"""
)
_NOTE_FIELDS = words("""description summary comment note notes reason details""")
_WORDED: dict[str, tuple[str, ...]] = {
    "email": ("alex@example.com", "sam.lee@example.org"),
    "url": ("https://example.com/", "https://example.org/docs"),
    "uri": ("https://example.com/", "https://example.org/docs"),
    "link": ("https://example.com/",),
    "website": ("https://example.com/",),
    "phone": ("+1-555-0100", "+44 20 7946 0000"),
    "language": ("en", "fr", "ja"),
    "lang": ("en", "fr", "ja"),
    "locale": ("en-US", "fr-FR"),
    "currency": ("USD", "EUR", "JPY"),
    "color": ("blue", "green", "red"),
    "colour": ("blue", "green", "red"),
    "status": ("active", "pending", "done"),
}
_FIRST_DAY = datetime.date(2025, 6, 1)
_FORMATS: dict[str, Callable[[int], str]] = {
    "date": lambda n: (_FIRST_DAY + datetime.timedelta(days=n)).isoformat(),
    "date-time": lambda n: f"{(_FIRST_DAY + datetime.timedelta(days=n)).isoformat()}T09:30:00Z",
    "time": lambda n: f"{9 + n % 12:02d}:30:00",
    "email": lambda n: f"alex{n or ''}@example.com",
    "idn-email": lambda n: f"alex{n or ''}@example.com",
    "uri": lambda n: f"https://example.com/{n or ''}",
    "iri": lambda n: f"https://example.com/{n or ''}",
    "uri-reference": lambda n: f"/docs/{n}",
    "hostname": lambda n: f"host{n}.example.com",
    "ipv4": lambda n: f"192.0.2.{n % 250 + 1}",
    "ipv6": lambda n: f"2001:db8::{n + 1:x}",
    "duration": lambda n: f"PT{n + 1}H",
    "uuid": lambda n: str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://example.com/{n}")),
}
_FIELD_FORMATS = {"date": "date", "day": "date", "birthday": "date", "time": "time",
                  "datetime": "date-time", "timestamp": "date-time"}  # fmt: skip
_NUMBERS_BY_NAME: dict[str, float] = {
    "year": 2025, "age": 30, "latitude": 35.68, "lat": 35.68, "longitude": 139.69,
    "lon": 139.69, "lng": 139.69, "price": 19.99, "amount": 100, "quantity": 2,
    "percent": 50, "percentage": 50, "rating": 4, "temperature": 21, "page": 1, "limit": 10,
    "count": 5, "days": 3, "hours": 2, "minutes": 15, "seconds": 30,
}  # fmt: skip
_PATTERN_TRIES = ("example", "abc", "ABC", "a1", "A1", "123", "0", "a", "x-1", "2025-06-01")
_SMALL_NUMBERS = (1, 3, 5, 10, 2, 42)


class SchemaError(InvalidRequest):
    """The schema cannot be satisfied (a `false` schema, an unknown $ref...): a 400."""


@dataclass(slots=True)
class Hints:
    """What the prompt offers to fill fields with."""

    text: str = ""
    subject: str | None = None
    places: Sequence[str] = ()
    numbers: Sequence[float] = ()
    sentence: str | None = None  # a short line for free-text fields
    _place_turn: int = field(default=0, repr=False)
    _number_turn: int = field(default=0, repr=False)

    def next_place(self) -> str | None:
        if not self.places:
            return None
        place = self.places[self._place_turn % len(self.places)]
        self._place_turn += 1
        return place

    def next_number(self) -> float | None:
        if self._number_turn >= len(self.numbers):
            return None
        self._number_turn += 1
        return self.numbers[self._number_turn - 1]

    def mentions(self, value: str) -> bool:
        return (
            bool(value)
            and re.search(rf"(?<!\w){re.escape(value)}(?!\w)", self.text, re.I) is not None
        )


def generate(
    schema: Schema,
    hints: Hints | None = None,
    *,
    pick: Pick = lambda n: 0,
    fill_optional: bool = False,
) -> Any:
    """A value valid against `schema`.

    `fill_optional` includes every optional property (a structured answer);
    otherwise only those the hints speak of (tool arguments).
    """
    return _Generator(schema, hints or Hints(), pick, fill_optional).value(schema, None, 0)


def field_words(name: str | None) -> set[str]:
    """`maxResults`, `max_results` -> {"max", "results"}."""
    if not name:
        return set()
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return {w.lower() for w in re.split(r"[\W_]+", spaced) if w}


class _Generator:
    def __init__(self, root: Schema, hints: Hints, pick: Pick, fill_optional: bool) -> None:
        self.root = root
        self.hints = hints
        self.pick = pick
        self.fill_optional = fill_optional

    def value(self, schema: Schema, name: str | None, depth: int) -> Any:
        if depth > _HARD_DEPTH:
            raise SchemaError("the schema requires values nested without end")
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self.enum(schema, name)
        for keyword in ("anyOf", "oneOf"):
            if keyword in schema:
                branch = self.branch(schema[keyword], name)
                rest = {k: v for k, v in schema.items() if k != keyword}
                return self.value(merge(rest, self.resolve(branch)), name, depth)
        kind = self.kind(schema)
        if kind == "object":
            return self.object(schema, depth)
        if kind == "array":
            return self.array(schema, name, depth)
        if kind in ("integer", "number"):
            return self.number(schema, name, integer=kind == "integer")
        if kind == "boolean":
            default = schema.get("default")
            return default if isinstance(default, bool) else (True, False)[self.pick(2)]
        if kind == "null":
            return None
        return self.string(schema, name)

    # -- schema shapes ------------------------------------------------------------

    def resolve(self, schema: Schema) -> dict[str, Any]:
        """The schema with $ref and allOf folded in."""
        if schema is True:
            return {}
        if schema is False:
            raise SchemaError("a `false` schema accepts no value")
        for _ in range(32):
            if "$ref" in schema:
                target = self.resolve(self.lookup(schema["$ref"]))
                schema = merge({k: v for k, v in schema.items() if k != "$ref"}, target)
            elif "allOf" in schema:
                merged = {k: v for k, v in schema.items() if k != "allOf"}
                for part in schema["allOf"]:
                    merged = merge(merged, self.resolve(part))
                schema = merged
            else:
                return schema
        raise SchemaError("$ref/allOf nest too deeply")

    def lookup(self, ref: str) -> Schema:
        if not ref.startswith("#"):
            raise SchemaError(f"only references inside the schema are supported, not {ref!r}")
        node: Any = self.root
        for part in filter(None, ref[1:].split("/")):
            key = part.replace("~1", "/").replace("~0", "~")
            try:
                node = node[int(key)] if isinstance(node, list) else node[key]
            except (KeyError, IndexError, ValueError, TypeError):
                raise SchemaError(f"unresolvable $ref {ref!r}") from None
        if not isinstance(node, dict | bool):
            raise SchemaError(f"$ref {ref!r} does not point at a schema")
        return node

    def kind(self, schema: dict[str, Any]) -> str:
        declared = schema.get("type")
        if isinstance(declared, list):
            concrete = [t for t in declared if t != "null"]
            return concrete[0] if concrete else "null"
        if isinstance(declared, str):
            return declared
        if "properties" in schema or "required" in schema or "additionalProperties" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema or "minItems" in schema:
            return "array"
        if any(k in schema for k in ("minimum", "maximum", "multipleOf",
                                     "exclusiveMinimum", "exclusiveMaximum")):  # fmt: skip
            return "number"
        if "default" in schema and schema["default"] is not None:
            return json_type(schema["default"])
        return "string"

    def branch(self, options: list[Schema], name: str | None) -> Schema:
        """One branch of anyOf/oneOf: one the hints point at, else a non-null one."""
        resolved = [self.resolve(option) for option in options]
        for option, schema in zip(options, resolved, strict=True):
            if any(isinstance(v, str) and self.hints.mentions(v) for v in schema.get("enum", ())):
                return option
        concrete = [o for o, s in zip(options, resolved, strict=True) if s.get("type") != "null"]
        return (concrete or options)[0]

    # -- values -------------------------------------------------------------------

    def enum(self, schema: dict[str, Any], name: str | None) -> Any:
        values = schema["enum"]
        if not values:
            raise SchemaError("an empty enum accepts no value")
        for value in values:
            if isinstance(value, str) and self.hints.mentions(value):
                return value
        if "default" in schema and schema["default"] in values:
            return schema["default"]
        return values[self.pick(len(values))]

    def object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties: dict[str, Schema] = schema.get("properties") or {}
        required: list[str] = list(dict.fromkeys(schema.get("required") or ()))
        extra = schema.get("additionalProperties", True)
        limit = schema.get("maxProperties", math.inf)
        keys = [k for k in properties if k in required] + [
            k for k in required if k not in properties
        ]
        for key, sub in properties.items():
            if key not in keys and len(keys) < limit and self.wanted(key, sub, depth):
                keys.append(key)
        for key in [k for k in properties if k not in keys]:
            if len(keys) >= min(schema.get("minProperties", 0), limit):
                break
            keys.append(key)
        while len(keys) < schema.get("minProperties", 0) and extra is not False:
            keys.append(f"extra_{len(keys)}")
        for key, needs in (schema.get("dependentRequired") or {}).items():
            if key in keys:
                keys.extend(k for k in needs if k not in keys)
        return {
            key: self.value(properties.get(key, extra if isinstance(extra, dict) else {}),
                            key, depth + 1)
            for key in keys
        }  # fmt: skip

    def wanted(self, key: str, sub: Schema, depth: int) -> bool:
        """Whether an optional property belongs in the value."""
        if depth >= _MAX_DEPTH or sub is False:
            return False
        if self.fill_optional:
            return True
        words = field_words(key)
        if any(self.hints.mentions(w) for w in words if len(w) > 2):
            return True
        resolved = self.resolve(sub)
        if any(isinstance(v, str) and self.hints.mentions(v) for v in resolved.get("enum", ())):
            return True
        return bool(words & PLACE_FIELDS) and bool(self.hints.places)

    def array(self, schema: dict[str, Any], name: str | None, depth: int) -> list[Any]:
        prefix: list[Schema] = list(schema.get("prefixItems") or ())
        items = schema.get("items", True)
        if isinstance(items, list):  # the older tuple form
            prefix, items = items, schema.get("additionalItems", True)
        low = max(int(schema.get("minItems", 0)), 0)
        high = schema.get("maxItems", math.inf)
        if items is False:
            high = min(high, len(prefix))
        if depth >= _MAX_DEPTH:
            wanted = 0
        elif field_words(name) & PLACE_FIELDS:
            wanted = len(self.hints.places) or 1
        else:
            wanted = 1 + self.pick(3)
        size = int(min(max(low, wanted), high))
        if "contains" in schema:
            size = max(size, 1)
        result: list[Any] = []
        for i in range(size):
            sub = prefix[i] if i < len(prefix) else items
            if i == 0 and "contains" in schema and i >= len(prefix):
                sub = merge(self.resolve(sub), self.resolve(schema["contains"]))
            result.append(self.item(sub, name, depth, result, schema.get("uniqueItems", False)))
        return result

    def item(self, sub: Schema, name: str | None, depth: int, so_far: list[Any],
             unique: bool) -> Any:  # fmt: skip
        value = self.value(sub, _singular(name), depth + 1)
        if not unique or value not in so_far:
            return value
        resolved = self.resolve(sub)
        for candidate in resolved.get("enum", ()):
            if candidate not in so_far:
                return candidate
        if isinstance(value, bool):
            return not value
        if isinstance(value, int | float):
            return self.number(resolved, None, isinstance(value, int), avoid=so_far)
        if isinstance(value, str):
            make = _FORMATS.get(resolved.get("format", ""))
            if make is not None:
                return next(v for n in range(len(so_far) + 1) if (v := make(n)) not in so_far)
            return self.fit(resolved, f"{value} {len(so_far) + 1}", avoid=so_far)
        return value

    def number(self, schema: dict[str, Any], name: str | None, integer: bool,
               avoid: Sequence[Any] = ()) -> int | float:  # fmt: skip
        low, high, low_open, high_open = _bounds(schema)
        step = schema.get("multipleOf")
        hinted = None if avoid else self.hints.next_number()
        if hinted is not None:
            candidate: float = hinted
        elif "default" in schema and isinstance(schema["default"], int | float) and not avoid:
            candidate = schema["default"]
        elif low > -math.inf and high < math.inf:
            candidate = (low + high) / 2
        elif words := field_words(name) & _NUMBERS_BY_NAME.keys():
            candidate = _NUMBERS_BY_NAME[min(words)]
        else:
            candidate = _SMALL_NUMBERS[self.pick(len(_SMALL_NUMBERS))]
        if integer:
            low, high = _integer_bounds(low, high, low_open, high_open)
            low_open = high_open = False
            step = step or 1
        for attempt in range(len(avoid) + 1):
            value = _place_number(candidate + attempt, low, high, low_open, high_open, step)
            if value not in avoid:
                break
        if integer or (isinstance(value, float) and value.is_integer() and abs(value) < 2**53):
            return int(value)
        return value

    def string(self, schema: dict[str, Any], name: str | None) -> str:
        text = self.suggest(schema, name)
        if not isinstance(text, str):
            text = "example"
        return self.fit(schema, text)

    def suggest(self, schema: dict[str, Any], name: str | None) -> Any:
        words = field_words(name)
        fmt = schema.get("format") or next(
            (_FIELD_FORMATS[w] for w in words if w in _FIELD_FORMATS), None
        )
        if "default" in schema and not words & PLACE_FIELDS:
            return schema["default"]
        if fmt in _FORMATS:
            return _FORMATS[fmt](self.pick(3))
        if words & PLACE_FIELDS:
            return self.hints.next_place() or schema.get("default") or _FALLBACK_PLACE
        subject = self.hints.subject
        if words & _TEXT_FIELDS:
            return self.hints.text.strip() or subject or "example"
        if words & _NAME_FIELDS:
            return (subject or "example").strip().capitalize()
        if words & _NOTE_FIELDS:
            return self.hints.sentence or f"A short note about {subject or 'this request'}."
        for word in words:
            if word in _WORDED:
                options = _WORDED[word]
                return options[self.pick(len(options))]
        if words and ("id" in words or (name and name.lower().endswith("id"))):
            return f"id_{uuid.uuid5(uuid.NAMESPACE_URL, f'{name}:{self.hints.text}').hex[:12]}"
        return subject.split()[-1] if subject else "example"

    def fit(self, schema: dict[str, Any], text: str, avoid: Sequence[Any] = ()) -> str:
        """`text` stretched or cut to the length limits, and to the pattern if it can."""
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength", math.inf)
        pattern = schema.get("pattern")
        candidates = [text]
        if pattern:
            candidates += list(_PATTERN_TRIES)
        fitted = text
        for candidate in candidates:
            fitted = _fit_length(candidate, low, high)
            if (not pattern or re.search(pattern, fitted)) and fitted not in avoid:
                return fitted
        return fitted


def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Both schemas' constraints in one (for allOf, $ref siblings and chosen branches)."""
    out = dict(a)
    for key, value in b.items():
        if key not in out:
            out[key] = value
            continue
        mine = out[key]
        if key == "properties":
            out[key] = {**mine, **{p: _merge_property(mine.get(p), s) for p, s in value.items()}}
        elif key == "required":
            out[key] = list(dict.fromkeys([*mine, *value]))
        elif key in ("minimum", "minLength", "minItems", "minProperties") or (
            key == "exclusiveMinimum" and not isinstance(value, bool)
        ):
            out[key] = max(mine, value) if not isinstance(mine, bool) else value
        elif key in ("maximum", "maxLength", "maxItems", "maxProperties") or (
            key == "exclusiveMaximum" and not isinstance(value, bool)
        ):
            out[key] = min(mine, value) if not isinstance(mine, bool) else value
        elif key == "type":
            left = set(mine if isinstance(mine, list) else [mine])
            right = value if isinstance(value, list) else [value]
            both = [t for t in right if t in left or (t == "integer" and "number" in left)]
            if "integer" in left and "number" in right and "integer" not in both:
                both.append("integer")
            out[key] = both or value
        elif key == "enum":
            out[key] = [v for v in mine if v in value] or value
        elif key == "additionalProperties":
            out[key] = False if mine is False or value is False else value
        elif key == "allOf":
            out[key] = [*mine, *value]
        elif key == "items" and isinstance(mine, dict) and isinstance(value, dict):
            out[key] = merge(mine, value)
        else:
            out[key] = value
    return out


def _merge_property(mine: Schema | None, theirs: Schema) -> Schema:
    if isinstance(mine, dict) and isinstance(theirs, dict):
        return merge(mine, theirs)
    return theirs


def _singular(name: str | None) -> str | None:
    if not name:
        return name
    if name.endswith("ies"):
        return name[:-3] + "y"
    return name[:-1] if name.endswith("s") and not name.endswith("ss") else name


def _bounds(schema: dict[str, Any]) -> tuple[float, float, bool, bool]:
    """(low, high, low excluded, high excluded) across draft 4 and later forms."""
    low, high = schema.get("minimum", -math.inf), schema.get("maximum", math.inf)
    low_open = high_open = False
    ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if ex_low is True:
        low_open = True
    elif isinstance(ex_low, int | float) and not isinstance(ex_low, bool) and ex_low >= low:
        low, low_open = ex_low, True
    if ex_high is True:
        high_open = True
    elif isinstance(ex_high, int | float) and not isinstance(ex_high, bool) and ex_high <= high:
        high, high_open = ex_high, True
    return float(low), float(high), low_open, high_open


def _integer_bounds(
    low: float, high: float, low_open: bool, high_open: bool
) -> tuple[float, float]:
    if low > -math.inf:
        low = math.floor(low) + 1 if low_open and low.is_integer() else math.ceil(low)
    if high < math.inf:
        high = math.ceil(high) - 1 if high_open and high.is_integer() else math.floor(high)
    return low, high


def _place_number(value: float, low: float, high: float, low_open: bool, high_open: bool,
                  step: float | None) -> float:  # fmt: skip
    """`value` moved into the range (and onto a multiple of `step`)."""
    if step:
        scale = _decimal_scale(step)
        first = math.ceil(low / step) if low > -math.inf else -math.inf
        last = math.floor(high / step) if high < math.inf else math.inf
        if low_open and first * step <= low:
            first += 1
        if high_open and last * step >= high:
            last -= 1
        k = min(max(round(value / step), first), last)
        if isinstance(k, float) and math.isinf(k):
            k = 0
        return round(int(k) * step, scale) if scale else int(k) * step
    if low_open and value <= low:
        value = (low + high) / 2 if high < math.inf else low + 1
    if high_open and value >= high:
        value = (low + high) / 2 if low > -math.inf else high - 1
    return min(max(value, low), high)


def _decimal_scale(step: float) -> int:
    text = repr(float(step))
    return len(text.split(".")[1].rstrip("0")) if "." in text and "e" not in text else 0


def _fit_length(text: str, low: int, high: float) -> str:
    while len(text) < low:
        text = f"{text} {text}" if text.strip() else text + "x"
    if len(text) <= high:
        return text
    cut = text[: int(high)]
    trimmed = cut.rstrip()  # no trailing space, unless that makes it too short
    return trimmed if trimmed and len(trimmed) >= low else cut

"""Which functions the synthetic model calls, and with what arguments.

A function is asked for when the prompt shares meaningful words with its name
(counted double) or description. Arguments come from its JSON Schema, filled
from the prompt: with parallel calls, one call per requested function, or one
per place when a single place-taking function is asked about several places.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rillet.server.backends.base import FunctionSpec, GenerationRequest
from rillet.server.backends.synthetic.jsonschema import PLACE_FIELDS, Hints, field_words, generate
from rillet.server.backends.synthetic.prompt import Prompt, content_words, loose_names, normalise
from rillet.server.backends.synthetic.tokens import words

_GENERIC = words(
    """get fetch retrieve lookup look return returns given specified specific function
    tool data info information value values api use using call run do"""
)
_MAX_CALLS = 8
# Words that ask for a function without naming it: "temperature" asks for the weather.
_RELATED = {
    "weather": "temperature forecast rain raining sunny snow snowing windy humidity degree",
    "time": "clock hour timezone",
    "email": "mail inbox",
    "calendar": "meeting appointment schedule",
    "currency": "exchange dollar euro yen",
    "search": "find lookup",
}
_ASKS_FOR = {normalise(w): topic for topic, related in _RELATED.items() for w in related.split()}


@dataclass(frozen=True, slots=True)
class PlannedCall:
    name: str
    arguments: str  # JSON text


@dataclass(frozen=True, slots=True)
class _Match:
    function: FunctionSpec
    score: int
    position: int  # where in the prompt it was first asked for


def plan_calls(
    request: GenerationRequest, prompt: Prompt, pick: Callable[[int], int]
) -> list[PlannedCall]:
    """The calls to make, or [] when the answer should be text."""
    mode = request.tool_mode
    if mode == "none" or (mode == "named" and not request.tool_name):
        return []
    if mode == "named":
        spec = next((f for f in request.functions if f.name == request.tool_name), None)
        targets = [_Match(spec or FunctionSpec(str(request.tool_name)), 0, 0)]
    else:
        if not request.functions:
            return []
        matches = sorted(
            (m for m in (_match(f, prompt) for f in request.functions) if m.score > 0),
            key=lambda m: (m.position, -m.score),
        )
        if mode == "auto" and (not matches or prompt.tool_result is not None):
            return []
        if not matches:  # required: the best guess
            matches = [_Match(request.functions[0], 0, 0)]
        targets = matches
    if not request.parallel_tool_calls:
        targets = targets[:1]
    return [
        PlannedCall(spec.name, _arguments(spec, prompt, places, pick))
        for spec, places in _assign_places(targets, prompt, request.parallel_tool_calls)
    ][:_MAX_CALLS]


def _match(function: FunctionSpec, prompt: Prompt) -> _Match:
    name_words = {normalise(w) for w in field_words(function.name)} - _GENERIC
    described = {w for _, w in content_words(function.description or "")} - _GENERIC
    score, position = 0, -1
    for pos, word in prompt.words:
        gained = 2 * (word in name_words) + (word in described)
        if not gained and word in _ASKS_FOR:
            gained = _ASKS_FOR[word] in name_words or _ASKS_FOR[word] in described
        if gained and position < 0:
            position = pos
        score += gained
    return _Match(function, score, position)


def _assign_places(
    targets: Sequence[_Match], prompt: Prompt, parallel: bool
) -> list[tuple[FunctionSpec, list[str]]]:
    places = list(prompt.places)
    if not places:
        names = loose_names(prompt.text)
        return [(m.function, names[:1]) for m in targets]
    if len(targets) == 1:
        spec = targets[0].function
        if parallel and len(places) > 1 and _takes_one_place(spec):
            return [(spec, [place]) for _, place in places]
        return [(spec, [place for _, place in places])]
    assigned = []
    for match in targets:
        after = [p for p in places if p[0] > match.position]
        chosen = after[0] if after else places[-1]
        assigned.append((match.function, [chosen[1]]))
    return assigned


def _takes_one_place(spec: FunctionSpec) -> bool:
    """A top-level string field for a place, so several places mean several calls."""
    properties = spec.parameters.get("properties") or {}
    for key, sub in properties.items():
        if field_words(key) & PLACE_FIELDS and isinstance(sub, dict):
            return bool(sub.get("type", "string") != "array")
    return False


def _arguments(
    spec: FunctionSpec, prompt: Prompt, places: list[str], pick: Callable[[int], int]
) -> str:
    hints = Hints(
        text=prompt.text,
        subject=prompt.subject,
        places=places,
        numbers=[value for _, value in prompt.numbers],
    )
    schema = spec.parameters or {"type": "object", "properties": {}}
    value = generate(schema, hints, pick=pick, fill_optional=spec.strict)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

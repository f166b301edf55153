"""What the model is allowed to write: grammars for JSON and tool calls, and `auto`'s choice.

Grammar-constrained decoding makes structured output valid by construction:
llama.cpp only samples tokens the grammar accepts, so arguments always parse
and fit their schema however small the model is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar, json_schema_to_gbnf

from rillet.server.backends.base import FunctionSpec, GenerationRequest
from rillet.server.backends.llama.prompt import content_text

_ANY_OBJECT = {"type": "object"}

# The converter's string rule admits raw control characters (invalid JSON) and
# endless strings (a base model rambles); close both holes.
_LOOSE_CHAR = r'char ::= [^"\\] |'
_JSON_CHAR = r'char ::= [^"\\\x7F\x00-\x1F] |'
_OPEN_STRING = r'char* "\"" space'
_BOUNDED_STRING = r'char{0,%d} "\"" space'
MAX_STRING_CHARS = 80


def response_grammar(response_format: dict[str, Any] | None) -> LlamaGrammar | None:
    """The grammar for `response_format`, or None for free text."""
    if not response_format:
        return None
    kind = response_format.get("type")
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        return schema_grammar(_schema_key(spec.get("schema") or _ANY_OBJECT))
    if kind == "json_object":
        return schema_grammar(_schema_key(_ANY_OBJECT))
    return None


def arguments_grammar(spec: FunctionSpec) -> LlamaGrammar:
    return schema_grammar(_schema_key(spec.parameters or _ANY_OBJECT))


def name_grammar(names: Sequence[str]) -> LlamaGrammar:
    """Exactly one of `names` (the prompt already holds the opening quote)."""
    alternatives = " | ".join(json.dumps(name) for name in names)
    return _from_string(f'root ::= ({alternatives}) "\\""')


@lru_cache(maxsize=64)
def schema_grammar(schema_json: str) -> LlamaGrammar:
    """A grammar for JSON fitting `schema_json`; any JSON object if the schema can't compile."""
    try:
        grammar = json_schema_to_gbnf(schema_json)
    except Exception:  # the converter rejects some schemas; valid JSON still beats nothing
        return _from_string(JSON_GBNF)
    grammar = grammar.replace(_LOOSE_CHAR, _JSON_CHAR)
    grammar = grammar.replace(_OPEN_STRING, _BOUNDED_STRING % MAX_STRING_CHARS)
    return _from_string(grammar)


def _from_string(grammar: str) -> LlamaGrammar:
    return LlamaGrammar.from_string(grammar, verbose=False)


def _schema_key(schema: dict[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True)


def functions_to_offer(request: GenerationRequest) -> tuple[FunctionSpec, ...]:
    """The functions the model may call (empty: answer in text)."""
    functions = request.functions
    if request.tool_mode == "none" or not functions:
        return ()
    if request.tool_mode == "named":
        return tuple(f for f in functions if f.name == request.tool_name)
    if request.tool_mode == "required":
        return functions
    best = auto_pick(request.messages, functions)
    return (best,) if best else ()


# --- `auto` -----------------------------------------------------------------------
# Gemma 3 270M is a base model: its first token does not tell a request for a tool
# from chat (measured: "Hello!" scores a JSON opener higher than a weather
# question). So `auto` calls a function only when the latest user message shares a
# content word with the function's name, description or parameter names.

_WORD = re.compile(r"[a-z]+")
_STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "can",
        "could",
        "current",
        "do",
        "does",
        "for",
        "from",
        "get",
        "give",
        "how",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "please",
        "set",
        "tell",
        "that",
        "the",
        "this",
        "to",
        "use",
        "what",
        "whats",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
    }
)


def auto_pick(
    messages: Sequence[dict[str, Any]], functions: Sequence[FunctionSpec]
) -> FunctionSpec | None:
    """The function the latest user message asks for, or None to answer in text."""
    if not messages or messages[-1].get("role") not in ("user", None):
        return None  # after a tool result (or anything else) the model answers in text
    asked = _words(content_text(messages[-1].get("content")))
    best, best_score = None, 0
    for spec in functions:
        score = len(asked & _spec_words(spec))
        if score > best_score:
            best, best_score = spec, score
    return best


def _spec_words(spec: FunctionSpec) -> set[str]:
    name = re.sub(r"([a-z])([A-Z])", r"\1 \2", spec.name).replace("_", " ").replace("-", " ")
    properties = spec.parameters.get("properties")
    keys = " ".join(properties) if isinstance(properties, dict) else ""
    return _words(f"{name} {spec.description or ''} {keys}")


def _words(text: str) -> set[str]:
    words = set()
    for word in _WORD.findall(text.lower().replace("'", "")):
        if len(word) < 3 or word in _STOPWORDS:
            continue
        words.add(word[:-1] if word.endswith("s") and len(word) > 3 else word)
    return words

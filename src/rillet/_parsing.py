"""Structured outputs: pydantic models in, strict JSON schemas out, and answers parsed back.

Everything `chat.completions.parse()`, `responses.parse()` and the `.stream()` helpers do
with a `response_format` / `text_format` class or a `pydantic_function_tool` is decided
here, without I/O, so the sync and async calls share it. pydantic is optional: it is
imported only when one of these calls needs it, and its absence is a `MissingDependencyError`
saying what to install (a plain `create()` never imports it).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any, Generic, TypeVar, cast

import orjson

from rillet._encode import InvalidParameterError
from rillet._exceptions import (
    ContentFilterFinishReasonError,
    LengthFinishReasonError,
    OpenAIError,
)
from rillet._types import NOT_GIVEN, NotGiven, Omit, is_given
from rillet.types.chat.parsed_chat_completion import ParsedChatCompletion
from rillet.types.responses.parsed_response import ParsedResponse

__all__ = [
    "MissingDependencyError",
    "Parser",
    "UnparseableToolError",
    "pydantic_function_tool",
    "pydantic_responses_function_tool",
    "to_strict_json_schema",
]

T = TypeVar("T")


class MissingDependencyError(OpenAIError, ImportError):
    """A call that needs an optional package which is not installed."""


class UnparseableToolError(OpenAIError, ValueError):
    """A tool whose arguments `parse()` cannot promise to parse (not a strict function)."""


def pydantic(purpose: str) -> ModuleType:
    """The pydantic module, imported now; `purpose` says which call needed it."""
    try:
        return importlib.import_module("pydantic")
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs pydantic 2, which is not installed: pip install 'pydantic>=2'"
        ) from exc


# --- schemas ------------------------------------------------------------------------------


class _Tool(dict[str, Any]):
    """A tool definition (a plain dict on the wire) that remembers the model it was made of,
    so that its call's arguments are parsed into that model."""

    model: type[Any]

    def __init__(self, definition: Mapping[str, Any], model: type[Any]) -> None:
        super().__init__(definition)
        self.model = model


def pydantic_function_tool(
    model: type[Any], *, name: str | None = None, description: str | None = None
) -> dict[str, Any]:
    """A strict Chat Completions function tool whose parameters are `model`'s schema; its
    calls' `parsed_arguments` are `model` instances. Name and description default to the
    class's name and docstring, as officially."""
    function = _Tool(
        {
            "name": name or model.__name__,
            "strict": True,
            "parameters": to_strict_json_schema(model, "tools"),
        },
        model,
    )
    if description is None:
        description = model.__doc__
    if description is not None:
        function["description"] = description
    return {"type": "function", "function": function}


def pydantic_responses_function_tool(
    model: type[Any],
    *,
    name: str | None = None,
    description: str | None = None,
    defer_loading: bool | NotGiven | Omit = NOT_GIVEN,
) -> dict[str, Any]:
    """The Responses API's shape of `pydantic_function_tool` (name and schema at the top)."""
    function = pydantic_function_tool(model, name=name, description=description)["function"]
    tool = _Tool({"type": "function", **function}, model)
    if is_given(defer_loading):
        tool["defer_loading"] = defer_loading
    return tool


def to_strict_json_schema(model: Any, parameter: str = "response_format") -> dict[str, Any]:
    """`model`'s JSON schema made strict (every property required, no others allowed), or an
    `InvalidParameterError` naming `parameter` when it cannot be: a non-pydantic class, or a
    schema with open-ended objects (`dict[str, X]`, `extra="allow"`) that strict mode refuses."""
    schema = _schema_of(model, parameter)
    return _strict(schema, schema, "#", parameter, getattr(model, "__name__", repr(model)))


def _schema_of(model: Any, parameter: str) -> dict[str, Any]:
    module = pydantic(f"`{parameter}` given as a class")
    try:
        if _is_model(model, parameter, module):
            schema = model.model_json_schema()
        else:
            schema = module.TypeAdapter(model).json_schema()
    except module.errors.PydanticUserError as exc:
        raise InvalidParameterError(
            parameter, f"`{parameter}` {model.__name__} has no JSON schema: {exc}"
        ) from exc
    return cast(dict[str, Any], schema)


def _is_model(model: Any, parameter: str, module: ModuleType) -> bool:
    """True for a pydantic model class, False for a pydantic dataclass; anything else is
    refused, naming `parameter`."""
    if isinstance(model, type) and issubclass(model, module.BaseModel):
        return True
    if isinstance(model, type) and hasattr(model, "__pydantic_config__"):
        return False
    name = getattr(model, "__name__", repr(model))
    raise InvalidParameterError(
        parameter,
        f"`{parameter}` must be a pydantic model class or a json_schema dict, not {name!r}: "
        "plain classes and standard dataclasses have no JSON schema",
    )


def _strict(
    node: object, root: dict[str, Any], path: str, parameter: str, name: str
) -> dict[str, Any]:
    """`node` (mutated in place) with the strict rules applied at every level."""
    if not isinstance(node, dict):
        raise InvalidParameterError(parameter, f"{name}: expected a schema object at {path}")
    for key in ("$defs", "definitions"):
        for sub, schema in (node.get(key) or {}).items():
            _strict(schema, root, f"{path}/{key}/{sub}", parameter, name)
    if node.get("type") == "object":
        extra = node.setdefault("additionalProperties", False)
        if extra is not False:
            raise InvalidParameterError(
                parameter,
                f"{name} cannot be a strict JSON schema: the object at {path} takes "
                "arbitrary keys (a dict field or extra='allow'); strict structured outputs "
                "need every key declared",
            )
    properties = node.get("properties")
    if isinstance(properties, dict):
        node["required"] = list(properties)
        for key, schema in properties.items():
            _strict(schema, root, f"{path}/properties/{key}", parameter, name)
    items = node.get("items")
    if isinstance(items, dict):
        _strict(items, root, f"{path}/items", parameter, name)
    for key in ("anyOf", "allOf"):
        for index, schema in enumerate(node.get(key) or ()):
            _strict(schema, root, f"{path}/{key}/{index}", parameter, name)
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1:
        node.update(node.pop("allOf")[0])
    if "default" in node and node["default"] is None:
        del node["default"]  # nullable already; the model defaults to None
    ref = node.get("$ref")
    if isinstance(ref, str) and len(node) > 1:
        # A `$ref` with siblings (a description) is not allowed: inline what it names.
        del node["$ref"]
        for key, value in _resolve(root, ref, parameter, name).items():
            node.setdefault(key, value)
        return _strict(node, root, path, parameter, name)
    return node


def _resolve(root: dict[str, Any], ref: str, parameter: str, name: str) -> dict[str, Any]:
    if not ref.startswith("#/"):
        raise InvalidParameterError(parameter, f"{name}: unsupported $ref {ref!r}")
    node: Any = root
    for key in ref[2:].split("/"):
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        raise InvalidParameterError(parameter, f"{name}: $ref {ref!r} names no schema")
    return dict(node)


def response_format_param(response_format: object) -> object:
    """What `response_format` sends: a class as its strict `json_schema` format; a dict, a
    sentinel or None as they are."""
    if not isinstance(response_format, type):
        return response_format
    return {
        "type": "json_schema",
        "json_schema": {
            "schema": to_strict_json_schema(response_format),
            "name": response_format.__name__,
            "strict": True,
        },
    }


def text_param(text: object, text_format: object) -> object:
    """The Responses `text` a call sends with `text_format`: its `format` set from the
    class. A `text` that already names a format conflicts with it, as officially."""
    if not is_given(text_format) or text_format is None:
        return text
    if not isinstance(text_format, type):
        raise InvalidParameterError(
            "text_format", f"`text_format` must be a pydantic model class, not {text_format!r}"
        )
    base = dict(text) if isinstance(text, Mapping) else {}
    if "format" in base:
        raise TypeError("Cannot mix and match text.format with text_format")
    base["format"] = {
        "type": "json_schema",
        "strict": True,
        "name": text_format.__name__,
        "schema": to_strict_json_schema(text_format, "text_format"),
    }
    return base


def responses_tools(tools: object) -> object:
    """Responses tools as sent: a Chat Completions `pydantic_function_tool` is given the
    Responses shape (name and schema at the top) and keeps its model."""
    if not isinstance(tools, Iterable) or isinstance(tools, (str, bytes, Mapping)):
        return tools
    converted: list[object] = []
    for tool in tools:
        function = tool.get("function") if isinstance(tool, Mapping) else None
        model = getattr(function, "model", None)
        if isinstance(function, Mapping) and model is not None:
            converted.append(_Tool({"type": "function", **function}, model))
        else:
            converted.append(tool)
    return converted


def parse_tools(tools: object) -> object:
    """`chat.completions.parse()` parses every tool call, so each tool must be a strict
    function (officially a `ValueError` too)."""
    if not is_given(tools) or tools is None:
        return tools
    listed = list(cast(Iterable[Any], tools))
    for tool in listed:
        kind = tool.get("type") if isinstance(tool, Mapping) else None
        if kind != "function":
            raise UnparseableToolError(
                f"Currently only `function` tool types support auto-parsing; Received `{kind}`"
            )
        function = tool.get("function") or {}
        if function.get("strict") is not True:
            raise UnparseableToolError(
                f"`{function.get('name')}` is not strict. "
                "Only `strict` function tools can be auto-parsed"
            )
    return listed


# --- parsing answers ----------------------------------------------------------------------


class Parser(Generic[T]):
    """How one call's answers are parsed: its content class (`None`: content is left as
    text) and its tools, by name (a model to validate into, `True` for a strict tool whose
    arguments are decoded JSON, `False` for one left alone)."""

    def __init__(self, content: type[T] | None, tools: object, *, responses: bool = False) -> None:
        self.content = content
        self._tools: dict[str, type[Any] | bool] = {}
        for tool in tools if isinstance(tools, Iterable) and not isinstance(tools, Mapping) else ():
            if not isinstance(tool, Mapping) or tool.get("type") != "function":
                continue
            function = tool if responses else tool.get("function")
            if not isinstance(function, Mapping) or not function.get("name"):
                continue
            model = getattr(function, "model", None)
            self._tools[function["name"]] = model or function.get("strict") is True
        self._adapter: Any = None
        if content is not None:
            parameter = "text_format" if responses else "response_format"
            module = pydantic(f"`{parameter}` given as a class")
            if not _is_model(content, parameter, module):
                self._adapter = module.TypeAdapter(content)  # a pydantic dataclass
        # Partial JSON mid-stream needs pydantic-core: only when pydantic is in use anyway.
        self._partial = content is not None or any(
            isinstance(kind, type) for kind in self._tools.values()
        )

    @classmethod
    def of(cls, content: object, tools: object, *, responses: bool = False) -> Parser[Any]:
        """The parser of a call's `response_format` / `text_format` (a class, or not)."""
        return Parser(content if isinstance(content, type) else None, tools, responses=responses)

    @property
    def parses(self) -> bool:
        """Whether anything is parsed: a content class, or a strict or model tool."""
        return self.content is not None or any(self._tools.values())

    def parse_content(self, text: str | None, refusal: str | None = None) -> T | None:
        """The content as the content class; None without one, content, or with a refusal."""
        if self.content is None or not text or refusal:
            return None
        if self._adapter is not None:
            return cast(T, self._adapter.validate_json(text))
        return cast(T, cast(Any, self.content).model_validate_json(text))

    def parse_arguments(self, name: str, arguments: str) -> object:
        """A call's arguments: the tool's model, decoded JSON for a strict tool, else None."""
        kind = self._tools.get(name, False)
        if kind is False:
            return None
        if kind is True:
            try:
                return orjson.loads(arguments)
            except orjson.JSONDecodeError:
                return None  # not JSON after all: left as the `arguments` text
        return cast(Any, kind).model_validate_json(arguments)

    def partial_content(self, text: str) -> object:
        """What a content snapshot holds so far, as partial JSON (`parsed` mid-stream)."""
        if self.content is None or not text.strip():
            return None
        return _partial(text)

    def partial_arguments(self, name: str, arguments: str) -> object:
        if not self._partial or not self._tools.get(name) or not arguments.strip():
            return None
        return _partial(arguments)

    def chat_completion(self, completion: ParsedChatCompletion[Any]) -> ParsedChatCompletion[T]:
        """`completion` (fields added in place) with every message and call parsed; a choice
        cut by the token limit or the content filter raises, as its JSON would be partial."""
        check_finish(completion)
        for choice in completion.choices:
            message = choice.message
            message.__dict__["parsed"] = self.parse_content(message.content, message.refusal)
            for call in message.tool_calls or ():
                function = call.function
                parsed = self.parse_arguments(function.name, function.arguments)
                function.__dict__["parsed_arguments"] = parsed
        return cast(ParsedChatCompletion[T], completion)

    def response(self, response: ParsedResponse[Any]) -> ParsedResponse[T]:
        """`response` with its text parts and function calls parsed. Rillet's own rule: an
        incomplete response's text is cut short, so parsing it raises the finish-reason
        error chat raises (the official client raises pydantic's ValidationError)."""
        if self.content is not None and response.status == "incomplete":
            details = response.incomplete_details
            if details is not None and details.reason == "content_filter":
                raise ContentFilterFinishReasonError(completion=response)
            raise LengthFinishReasonError(completion=response)
        for item in response.output or ():
            if item.type == "message":
                for part in item.content or ():
                    if part.type == "output_text":
                        part.__dict__["parsed"] = self.parse_content(part.text)
            elif item.type == "function_call":
                item.__dict__["parsed_arguments"] = self.parse_arguments(item.name, item.arguments)
        return cast(ParsedResponse[T], response)


def check_finish(completion: ParsedChatCompletion[Any]) -> None:
    """Raise for a choice whose answer was cut: by the token limit or the content filter."""
    for choice in completion.choices:
        if choice.finish_reason == "length":
            raise LengthFinishReasonError(completion=completion)
        if choice.finish_reason == "content_filter":
            raise ContentFilterFinishReasonError(completion=completion)


def _partial(text: str) -> object:
    """Incomplete JSON read as far as it goes (pydantic-core's partial mode)."""
    core = importlib.import_module("pydantic_core")
    try:
        return core.from_json(text, allow_partial=True)
    except ValueError:
        return None

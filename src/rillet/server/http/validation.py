"""Typed readers for request fields, failing with OpenAI-shaped 400s that name the field.

Shared by every endpoint: each reader takes the decoded body, a field name and
its constraints, and returns a plain Python value or raises :class:`APIError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from rillet.server.backends.base import FunctionSpec, ToolMode
from rillet.server.http.asgi import BodyTooLarge, Receive, Scope, read_body
from rillet.server.http.errors import APIError, bad_request, invalid_type, missing_parameter

_FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_STOP = 4

# Reads one content part's text: (the part, the key holding its text, the part's param).
TextReader = Callable[[dict[str, Any], str, str], str]


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise bad_request(
            "We could not parse the JSON body of your request. The body must be valid JSON "
            "with a Content-Type of application/json."
        ) from None
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object.")
    return data


def required_str(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        raise missing_parameter(name)
    if not isinstance(value, str):
        raise invalid_type(name, "a string", value)
    return value


def optional_str(body: dict[str, Any], name: str, param: str | None = None) -> str | None:
    value = body.get(name)
    if value is None or isinstance(value, str):
        return value
    raise invalid_type(param or name, "a string", value)


def optional_bool(body: dict[str, Any], name: str, default: bool, param: str | None = None) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    raise invalid_type(param or name, "a boolean", value)


def optional_int(
    body: dict[str, Any],
    name: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    param: str | None = None,
) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    param = param or name
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_type(param, "an integer", value)
    _check_range(param, value, minimum, maximum)
    return value


def optional_number(
    body: dict[str, Any], name: str, *, minimum: float, maximum: float
) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_type(name, "a number", value)
    _check_range(name, value, minimum, maximum)
    return float(value)


def optional_object(body: dict[str, Any], name: str, param: str | None = None) -> dict[str, Any]:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_type(param or name, "an object", value)
    return value


def optional_list(body: dict[str, Any], name: str, param: str | None = None) -> list[Any]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_type(param or name, "an array", value)
    return value


def join_text_parts(
    content: object,
    param: str,
    *,
    text_keys: Mapping[str, str],
    skipped: tuple[str, ...],
    supported: str,
    read: TextReader,
) -> str:
    """An array of content parts as one string: the text of the kinds in `text_keys` (part
    type -> the key holding its text) joined, the `skipped` kinds (images, audio, files:
    nothing to read here) passed over, any other kind a 400 listing the `supported` ones."""
    if not isinstance(content, list):
        raise invalid_type(param, "a string or an array of content parts", content)
    texts: list[str] = []
    for i, part in enumerate(content):
        part_param = f"{param}[{i}]"
        if not isinstance(part, dict):
            raise invalid_type(part_param, "an object", part)
        kind = part.get("type")
        key = text_keys.get(kind) if isinstance(kind, str) else None
        if key is not None:
            texts.append(read(part, key, part_param))
        elif kind not in skipped:
            raise bad_request(
                f"Invalid value: {kind!r}. Supported content part types are: {supported}.",
                f"{part_param}.type",
                "invalid_value",
            )
    return "".join(texts)


def _check_range(param: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if value != value or (minimum is not None and value < minimum):  # NaN fails too
        raise bad_request(
            f"Invalid '{param}': {value} is less than the minimum of {minimum}.",
            param,
            "integer_below_min_value" if isinstance(value, int) else "decimal_below_min_value",
        )
    if maximum is not None and value > maximum:
        raise bad_request(
            f"Invalid '{param}': {value} is greater than the maximum of {maximum}.",
            param,
            "integer_above_max_value" if isinstance(value, int) else "decimal_above_max_value",
        )


def parse_stream(body: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """`stream` and `stream_options`, which only a streamed request may carry."""
    stream = optional_bool(body, "stream", False)
    stream_options = optional_object(body, "stream_options")
    if stream_options and not stream:
        raise bad_request(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
            "invalid_value",
        )
    return stream, stream_options


def parse_stop(body: dict[str, Any]) -> tuple[str, ...]:
    value = body.get("stop")
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    if not isinstance(value, list):
        raise invalid_type("stop", "a string or an array of strings", value)
    if len(value) > MAX_STOP:
        raise bad_request(
            f"Invalid 'stop': at most {MAX_STOP} stop sequences are allowed, got {len(value)}.",
            "stop",
            "array_above_max_length",
        )
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise invalid_type(f"stop[{i}]", "a string", item)
    return tuple(item for item in value if item)


def parse_function(spec: object, param: str) -> FunctionSpec:
    """One function definition (the body of a tool, or a legacy `functions` item)."""
    if not isinstance(spec, dict):
        raise invalid_type(param, "an object", spec)
    name = spec.get("name")
    if name is None:
        raise missing_parameter(f"{param}.name")
    if not isinstance(name, str):
        raise invalid_type(f"{param}.name", "a string", name)
    if not _FUNCTION_NAME.match(name):
        raise bad_request(
            f"Invalid '{param}.name': string does not match pattern. Expected a string that "
            "matches the pattern '^[a-zA-Z0-9_-]{1,64}$'.",
            f"{param}.name",
            "invalid_value",
        )
    description = optional_str(spec, "description", f"{param}.description")
    parameters = optional_object(spec, "parameters", f"{param}.parameters")
    strict = optional_bool(spec, "strict", False, f"{param}.strict")
    return FunctionSpec(name=name, description=description, parameters=parameters, strict=strict)


def parse_tools(body: dict[str, Any]) -> tuple[FunctionSpec, ...]:
    functions: list[FunctionSpec] = []
    for i, tool in enumerate(optional_list(body, "tools")):
        param = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise invalid_type(param, "an object", tool)
        kind = tool.get("type")
        if kind != "function":
            raise bad_request(
                f"Invalid value for '{param}.type': only 'function' tools are supported.",
                f"{param}.type",
                "invalid_value",
            )
        functions.append(parse_function(tool.get("function"), f"{param}.function"))
    _reject_duplicates(functions, "tools")
    return tuple(functions)


def parse_legacy_functions(body: dict[str, Any]) -> tuple[FunctionSpec, ...]:
    functions = [
        parse_function(spec, f"functions[{i}]")
        for i, spec in enumerate(optional_list(body, "functions"))
    ]
    _reject_duplicates(functions, "functions")
    return tuple(functions)


def _reject_duplicates(functions: list[FunctionSpec], param: str) -> None:
    seen: set[str] = set()
    for spec in functions:
        if spec.name in seen:
            raise bad_request(
                f"Invalid '{param}': function name '{spec.name}' is defined more than once.",
                param,
                "invalid_value",
            )
        seen.add(spec.name)


def parse_tool_choice(
    value: object,
    functions: tuple[FunctionSpec, ...],
    *,
    param: str,
    legacy: bool = False,
) -> tuple[ToolMode, str | None]:
    """Resolve `tool_choice` (or legacy `function_call`) into a mode and, if named, a name."""
    if value is None:
        return ("auto" if functions else "none"), None
    if isinstance(value, str):
        allowed = ("none", "auto") if legacy else ("none", "auto", "required")
        if value not in allowed:
            choices = ", ".join(repr(a) for a in allowed)
            raise bad_request(
                f"Invalid value for '{param}': expected one of {choices} or an object naming "
                f"a function, got {value!r}.",
                param,
                "invalid_value",
            )
        if value != "none" and not functions:
            kind = "functions" if legacy else "tools"
            raise bad_request(
                f"Invalid value for '{param}': {value!r} requires '{kind}' to be specified.",
                param,
                "invalid_value",
            )
        return value, None  # type: ignore[return-value]
    if not isinstance(value, dict):
        raise invalid_type(param, "a string or an object", value)
    if legacy:
        name = value.get("name")
        name_param = f"{param}.name"
    else:
        if value.get("type") != "function":
            raise bad_request(
                f"Invalid value for '{param}.type': expected 'function'.",
                f"{param}.type",
                "invalid_value",
            )
        target = value.get("function")
        if not isinstance(target, dict):
            raise invalid_type(f"{param}.function", "an object", target)
        name = target.get("name")
        name_param = f"{param}.function.name"
    if not isinstance(name, str):
        raise invalid_type(name_param, "a string", name)
    if not any(spec.name == name for spec in functions):
        raise bad_request(
            f"Invalid value for '{name_param}': no function named {name!r} was provided.",
            name_param,
            "invalid_value",
        )
    return "named", name


def parse_response_format(body: dict[str, Any]) -> dict[str, Any] | None:
    value = body.get("response_format")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid_type("response_format", "an object", value)
    kind = value.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, dict):
            raise missing_parameter("response_format.json_schema")
        name = spec.get("name")
        if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
            raise bad_request(
                "Invalid 'response_format.json_schema.name': expected a string matching "
                "'^[a-zA-Z0-9_-]{1,64}$'.",
                "response_format.json_schema.name",
                "invalid_value",
            )
        schema = spec.get("schema", {})
        if not isinstance(schema, dict):
            raise invalid_type("response_format.json_schema.schema", "an object", schema)
        return {"type": "json_schema", "json_schema": {**spec, "schema": schema}}
    raise bad_request(
        "Invalid value for 'response_format.type': expected 'text', 'json_object' or "
        f"'json_schema', got {kind!r}.",
        "response_format.type",
        "invalid_value",
    )


def parse_metadata(body: dict[str, Any]) -> dict[str, str]:
    metadata = optional_object(body, "metadata")
    if len(metadata) > 16:
        raise bad_request(
            "Invalid 'metadata': at most 16 key-value pairs are allowed.",
            "metadata",
            "invalid_value",
        )
    for key, value in metadata.items():
        if len(key) > 64 or not isinstance(value, str) or len(value) > 512:
            raise bad_request(
                "Invalid 'metadata': keys must be strings of at most 64 characters and values "
                "strings of at most 512 characters.",
                "metadata",
                "invalid_value",
            )
    return metadata


def require(condition: bool, message: str, param: str, code: str = "invalid_value") -> None:
    if not condition:
        raise APIError(400, message, param=param, code=code)


async def read_json(scope: Scope, receive: Receive, limit: int) -> dict[str, Any]:
    """The request body as a JSON object, refusing bodies over `limit` bytes with a 413."""
    try:
        body = await read_body(scope, receive, limit)
    except BodyTooLarge:
        raise APIError(
            413,
            f"The request body is too large: the limit is {limit} bytes.",
            code="request_too_large",
        ) from None
    if body is None:
        raise bad_request("The client disconnected before sending the whole request body.")
    return parse_json_object(body)


def empty_array(param: str) -> APIError:
    return bad_request(
        f"Invalid '{param}': empty array. Expected an array with minimum length 1, "
        "but got an empty array instead.",
        param,
        "empty_array",
    )


def parse_texts_or_tokens(
    value: object, param: str, *, empty_text: bool
) -> list[str | tuple[int, ...]]:
    """The inputs of `/v1/completions` and `/v1/embeddings`: a string, an array of strings,
    an array of token ids (one input) or an array of such arrays. Arrays are never empty;
    an empty string is refused unless `empty_text`."""
    if isinstance(value, str):
        return [_text_input(value, param, empty_text)]
    if not isinstance(value, list):
        raise invalid_type(
            param, "a string, an array of strings, or an array of token arrays", value
        )
    if not value:
        raise empty_array(param)
    first = value[0]
    if isinstance(first, str):
        return [_text_input(item, f"{param}[{i}]", empty_text) for i, item in enumerate(value)]
    if _is_token(first):
        return [_token_array(value, param)]
    if isinstance(first, list):
        return [_token_array(item, f"{param}[{i}]") for i, item in enumerate(value)]
    raise invalid_type(f"{param}[0]", "a string, a token id or an array of token ids", first)


def _text_input(value: object, param: str, empty_text: bool) -> str:
    if not isinstance(value, str):
        raise invalid_type(param, "a string", value)
    if not value and not empty_text:
        raise bad_request(
            f"Invalid '{param}': the string must not be empty.", param, "invalid_value"
        )
    return value


def _is_token(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _token_array(value: object, param: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise invalid_type(param, "an array of token ids", value)
    if not value:
        raise empty_array(param)
    for i, token in enumerate(value):
        if not _is_token(token):
            raise invalid_type(f"{param}[{i}]", "an integer token id", token)
        if token < 0:
            raise bad_request(
                f"Invalid '{param}[{i}]': {token} is less than the minimum of 0.",
                f"{param}[{i}]",
                "integer_below_min_value",
            )
    return tuple(value)

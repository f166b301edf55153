"""Turn a `POST /v1/responses` body into a backend request plus what the Response echoes.

Responses input items become the chat-shaped messages every backend already
reads: messages keep their role, `function_call` items become an assistant
turn's `tool_calls`, `function_call_output` items become `tool` turns, and
`instructions` lead as a system message.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from rillet.server.backends.base import FunctionSpec, GenerationRequest, ToolMode
from rillet.server.http.errors import bad_request, invalid_type, missing_parameter
from rillet.server.http.fields import COMMON_IGNORED, COMMON_REFUSED, RequestFields
from rillet.server.http.validation import (
    join_text_parts,
    optional_bool,
    optional_int,
    optional_list,
    optional_number,
    optional_object,
    optional_str,
    parse_function,
    parse_metadata,
    parse_stream,
    parse_tool_choice,
    required_str,
)
from rillet.server.ids import new_id
from rillet.server.responses.events import ID_BYTES

# The upstream API refuses smaller budgets; refusing them here keeps clients portable.
MIN_OUTPUT_TOKENS = 16
MESSAGE_ROLES = ("user", "system", "developer", "assistant")
# Content part type -> the key holding its text.
TEXT_PARTS = {"input_text": "text", "output_text": "text", "refusal": "refusal"}
ITEM_TYPES = ("message", "function_call", "function_call_output")

FIELDS = RequestFields(
    implemented=frozenset({
        "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls",
        "max_output_tokens", "temperature", "top_p", "text", "previous_response_id", "store",
        "metadata", "stream", "stream_options", "background",
        "seed",  # rillet's own (not upstream's): reproducible sampling, as in chat
    }),
    # Besides the common ones: hosted features (reasoning, scheduling, access tiers, image
    # compression) a local server lacks.
    ignored=COMMON_IGNORED | {
        "include", "reasoning", "truncation", "user", "top_logprobs", "max_tool_calls",
        "background_options", "access_programs", "image",
    },
    refused={
        **COMMON_REFUSED,
        "conversation": "it keeps no conversations; continue a stored response with "
        "'previous_response_id' instead",
        "prompt": "it has no stored prompt templates; send the prompt as 'instructions' "
        "and 'input'",
        "context_management": "it never compacts a conversation",
    },
)  # fmt: skip


@dataclass(slots=True)
class ResponsesRequest:
    """A validated request; `generation.messages` are the instructions, then the conversation."""

    generation: GenerationRequest
    stream: bool
    store: bool
    background: bool
    previous_response_id: str | None
    echo: dict[str, Any] = field(default_factory=dict)  # request fields the Response repeats
    input_items: list[dict[str, Any]] = field(default_factory=list)  # as input_items lists them

    @property
    def lead(self) -> int:
        """How many messages come before the conversation (the instructions, if any)."""
        return 1 if self.echo["instructions"] else 0


def parse_responses_request(body: dict[str, Any]) -> ResponsesRequest:
    """Validate everything except `previous_response_id`, which needs the store."""
    FIELDS.check(body)
    model = required_str(body, "model")
    messages = parse_input(body)
    instructions = optional_str(body, "instructions")
    stream, stream_options = parse_stream(body)
    optional_bool(stream_options, "include_obfuscation", True, "stream_options.include_obfuscation")
    store = optional_bool(body, "store", True)
    background = optional_bool(body, "background", False)
    if background and not store:
        raise bad_request("Background responses must be stored: set 'store' to true.", "background")
    tools, tool_echo = parse_function_tools(body)
    mode, name = parse_responses_tool_choice(body.get("tool_choice"), tools)
    max_output_tokens = optional_int(body, "max_output_tokens", minimum=MIN_OUTPUT_TOKENS)
    temperature = optional_number(body, "temperature", minimum=0.0, maximum=2.0)
    top_p = optional_number(body, "top_p", minimum=0.0, maximum=1.0)
    text_format, response_format = parse_text_format(body)
    parallel = optional_bool(body, "parallel_tool_calls", True)
    previous = optional_str(body, "previous_response_id")
    metadata = parse_metadata(body)
    optional_list(body, "include")
    optional_int(body, "top_logprobs", minimum=0, maximum=20)
    optional_int(body, "max_tool_calls", minimum=1)
    leading = [{"role": "system", "content": instructions}] if instructions else []
    generation = GenerationRequest(
        model=model,
        messages=leading + messages,
        max_tokens=max_output_tokens,
        temperature=temperature,
        top_p=top_p,
        seed=optional_int(body, "seed"),
        functions=tools,
        tool_mode=mode,
        tool_name=name,
        parallel_tool_calls=parallel,
        response_format=response_format,
    )
    echo = {
        "instructions": instructions,
        "max_output_tokens": max_output_tokens,
        "metadata": metadata,
        "parallel_tool_calls": parallel,
        "temperature": 1.0 if temperature is None else temperature,
        "text": {"format": text_format},
        "tool_choice": _tool_choice_echo(mode, name),
        "tools": tool_echo,
        "top_p": 1.0 if top_p is None else top_p,
    }
    return ResponsesRequest(
        generation=generation,
        stream=stream,
        store=store,
        background=background,
        previous_response_id=previous,
        echo=echo,
        input_items=input_items(body["input"]),
    )


def with_history(request: ResponsesRequest, history: list[dict[str, Any]]) -> None:
    """Put a stored conversation between the instructions and this request's input."""
    messages, lead = request.generation.messages, request.lead
    request.generation.messages = messages[:lead] + history + messages[lead:]


# --- input ------------------------------------------------------------------------------


def parse_input(body: dict[str, Any]) -> list[dict[str, Any]]:
    value = body.get("input")
    if value is None:
        raise missing_parameter("input")
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list):
        raise invalid_type("input", "a string or an array of input items", value)
    if not value:
        raise bad_request(
            "Invalid 'input': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            "input",
            "empty_array",
        )
    messages: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        _add_item(messages, item, f"input[{i}]")
    return messages


def input_items(value: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A validated `input` as `GET /v1/responses/{id}/input_items` lists it: each item with
    an id and a status, a message's text as content parts."""
    if isinstance(value, str):
        value = [{"role": "user", "content": value}]
    return [_input_item(item) for item in value]


def _input_item(item: dict[str, Any]) -> dict[str, Any]:
    kind = item.get("type", "message")
    # Ids the client gave (items copied from an earlier response's output) are kept.
    prefix = {"message": "msg_", "function_call": "fc_"}.get(kind, "fco_")
    out: dict[str, Any] = {"id": item.get("id") or new_id(prefix, ID_BYTES), "type": kind}
    if kind == "message":
        role = item["role"]
        content = item.get("content") or []
        part = "output_text" if role == "assistant" else "input_text"
        if isinstance(content, str):
            content = [{"type": part, "text": content}]
        if role == "assistant":
            content = [{"annotations": [], **c} if c.get("type") == "output_text" else c
                       for c in content]  # fmt: skip
        out |= {"role": role, "content": content}
    elif kind == "function_call":
        out |= {key: item[key] for key in ("call_id", "name", "arguments")}
    else:
        out |= {"call_id": item["call_id"], "output": item["output"]}
    out["status"] = "completed"
    return out


def items_to_messages(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Output items (a stored response's answer) as the messages a follow-up reads."""
    messages: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        _add_item(messages, item, f"output[{i}]")
    return messages


def _add_item(messages: list[dict[str, Any]], item: object, param: str) -> None:
    if not isinstance(item, dict):
        raise invalid_type(param, "an object", item)
    kind = item.get("type", "message" if "role" in item else None)
    if kind == "message":
        messages.append(_message(item, param))
    elif kind == "function_call":
        call = {
            "id": _required_str(item, "call_id", param),
            "type": "function",
            "function": {
                "name": _required_str(item, "name", param),
                "arguments": _required_str(item, "arguments", param),
            },
        }
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant":
            last.setdefault("tool_calls", []).append(call)  # parallel calls share one turn
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        call_id = _required_str(item, "call_id", param)
        output = _text(item.get("output"), f"{param}.output", required=True)
        messages.append({"role": "tool", "tool_call_id": call_id, "content": output})
    else:
        supported = ", ".join(repr(k) for k in ITEM_TYPES)
        raise bad_request(
            f"Invalid value: {kind!r}. Supported input item types are: {supported}.",
            f"{param}.type",
            "invalid_value",
        )


def _message(item: dict[str, Any], param: str) -> dict[str, Any]:
    role = item.get("role")
    if role is None:
        raise missing_parameter(f"{param}.role")
    if role not in MESSAGE_ROLES:
        supported = ", ".join(repr(r) for r in MESSAGE_ROLES)
        raise bad_request(
            f"Invalid value: {role!r}. Supported values are: {supported}.",
            f"{param}.role",
            "invalid_value",
        )
    return {"role": role, "content": _text(item.get("content"), f"{param}.content", True)}


def _text(content: object, param: str, required: bool) -> str:
    """A string, or text content parts joined (other part kinds carry nothing to read here)."""
    if isinstance(content, str):
        return content
    if content is None:
        if required:
            raise missing_parameter(param)
        return ""
    return join_text_parts(
        content,
        param,
        text_keys=TEXT_PARTS,
        skipped=("input_image", "input_file", "input_audio"),
        supported="'input_text', 'output_text', 'refusal', 'input_image', 'input_file' and "
        "'input_audio'",
        read=_required_str,
    )


def _required_str(item: dict[str, Any], name: str, param: str) -> str:
    value = item.get(name)
    if value is None:
        raise missing_parameter(f"{param}.{name}")
    if not isinstance(value, str):
        raise invalid_type(f"{param}.{name}", "a string", value)
    return value


# --- tools and formats ---------------------------------------------------------------------


def parse_function_tools(
    body: dict[str, Any],
) -> tuple[tuple[FunctionSpec, ...], list[dict[str, Any]]]:
    """Function tools (flat, `strict` on unless turned off) and their echo in the Response."""
    specs: list[FunctionSpec] = []
    echo: list[dict[str, Any]] = []
    for i, tool in enumerate(optional_list(body, "tools")):
        param = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise invalid_type(param, "an object", tool)
        if tool.get("type") != "function":
            raise bad_request(
                f"Invalid value for '{param}.type': only 'function' tools are supported.",
                f"{param}.type",
                "invalid_value",
            )
        spec = parse_function(tool, param)
        if tool.get("strict") is None:
            spec = dataclasses.replace(spec, strict=True)
        if any(seen.name == spec.name for seen in specs):
            raise bad_request(
                f"Invalid 'tools': function name '{spec.name}' is defined more than once.",
                "tools",
                "invalid_value",
            )
        specs.append(spec)
        echo.append(
            {
                "type": "function",
                "name": spec.name,
                "description": spec.description,
                "parameters": spec.parameters,
                "strict": spec.strict,
            }
        )
    return tuple(specs), echo


def parse_responses_tool_choice(
    value: object, functions: tuple[FunctionSpec, ...]
) -> tuple[ToolMode, str | None]:
    """Strings as in chat; a named function is flat here: `{"type": "function", "name"}`."""
    if not isinstance(value, dict):
        return parse_tool_choice(value, functions, param="tool_choice")
    if value.get("type") != "function":
        raise bad_request(
            "Invalid value for 'tool_choice.type': expected 'function'.",
            "tool_choice.type",
            "invalid_value",
        )
    return parse_tool_choice(value, functions, param="tool_choice", legacy=True)


def _tool_choice_echo(mode: ToolMode, name: str | None) -> object:
    if mode == "named":
        return {"type": "function", "name": name}
    return mode


def parse_text_format(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """`text.format` as echoed, and as the backend contract's `response_format`."""
    text = optional_object(body, "text")
    fmt = optional_object(text, "format", "text.format")
    kind = fmt.get("type", "text")
    if kind == "text":
        return {"type": "text"}, None
    if kind == "json_object":
        return {"type": "json_object"}, {"type": "json_object"}
    if kind != "json_schema":
        raise bad_request(
            "Invalid value for 'text.format.type': expected 'text', 'json_object' or "
            f"'json_schema', got {kind!r}.",
            "text.format.type",
            "invalid_value",
        )
    name = _required_str(fmt, "name", "text.format")
    schema = fmt.get("schema")
    if schema is None:
        raise missing_parameter("text.format.schema")
    if not isinstance(schema, dict):
        raise invalid_type("text.format.schema", "an object", schema)
    # Reuse the function-name rules: a format name follows them too.
    parse_function({"name": name}, "text.format")
    description = optional_str(fmt, "description", "text.format.description")
    strict = optional_bool(fmt, "strict", False, "text.format.strict")
    spec: dict[str, Any] = {"name": name, "schema": schema, "strict": strict}
    if description is not None:  # an absent description stays absent in the echo too
        spec["description"] = description
    return {"type": "json_schema", **spec}, {"type": "json_schema", "json_schema": spec}

"""Turn a `POST /v1/chat/completions` body into a backend request plus the wire options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rillet.server.backends.base import GenerationRequest
from rillet.server.http.errors import bad_request, invalid_type, missing_parameter
from rillet.server.http.fields import COMMON_IGNORED, COMMON_REFUSED, RequestFields
from rillet.server.http.validation import (
    join_text_parts,
    optional_bool,
    optional_int,
    optional_list,
    optional_number,
    optional_str,
    parse_legacy_functions,
    parse_metadata,
    parse_response_format,
    parse_stop,
    parse_stream,
    parse_tool_choice,
    parse_tools,
    require,
    required_str,
)

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MAX_N = 128

FIELDS = RequestFields(
    implemented=frozenset({
        "model", "messages", "stream", "stream_options", "n", "max_tokens",
        "max_completion_tokens", "stop", "temperature", "top_p", "seed", "tools", "tool_choice",
        "parallel_tool_calls", "functions", "function_call", "response_format", "logprobs",
        "top_logprobs", "user", "metadata",
    }),
    # Besides the common ones: billing, storage or sampling details a local server lacks.
    ignored=COMMON_IGNORED | {
        "frequency_penalty", "presence_penalty", "logit_bias", "store", "modalities", "audio",
        "prediction", "reasoning_effort", "verbosity", "web_search_options",
    },
    refused=COMMON_REFUSED,
)  # fmt: skip


@dataclass(slots=True)
class ChatRequest:
    generation: GenerationRequest
    n: int
    stream: bool
    include_usage: bool
    legacy_functions: bool  # answer with `function_call`, not `tool_calls`


def parse_chat_request(body: dict[str, Any]) -> ChatRequest:
    FIELDS.check(body)
    model = required_str(body, "model")
    messages = parse_messages(body)
    stream, stream_options = parse_stream(body)
    include_usage = optional_bool(
        stream_options, "include_usage", False, "stream_options.include_usage"
    )
    n = optional_int(body, "n", minimum=1, maximum=MAX_N) or 1
    max_tokens = optional_int(body, "max_completion_tokens", minimum=1)
    if max_tokens is None:
        max_tokens = optional_int(body, "max_tokens", minimum=1)
    logprobs = optional_bool(body, "logprobs", False)
    top_logprobs = optional_int(body, "top_logprobs", minimum=0, maximum=20) or 0
    require(
        logprobs or not top_logprobs,
        "Invalid 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is used.",
        "top_logprobs",
    )
    tools = parse_tools(body)
    functions = parse_legacy_functions(body)
    if tools and functions:
        raise bad_request(
            "Use either 'tools' or the legacy 'functions', not both.", "functions", "invalid_value"
        )
    legacy = bool(functions) or ("function_call" in body and not tools)
    if legacy:
        if "tool_choice" in body and body["tool_choice"] is not None:
            raise bad_request(
                "'tool_choice' goes with 'tools'; with 'functions' use 'function_call'.",
                "tool_choice",
                "invalid_value",
            )
        mode, name = parse_tool_choice(
            body.get("function_call"), functions, param="function_call", legacy=True
        )
    else:
        mode, name = parse_tool_choice(body.get("tool_choice"), tools, param="tool_choice")
    optional_str(body, "user")
    parse_metadata(body)
    generation = GenerationRequest(
        model=model,
        messages=messages,
        max_tokens=max_tokens,
        stop=parse_stop(body),
        temperature=optional_number(body, "temperature", minimum=0.0, maximum=2.0),
        top_p=optional_number(body, "top_p", minimum=0.0, maximum=1.0),
        seed=optional_int(body, "seed"),
        logprobs=logprobs,
        top_logprobs=top_logprobs,
        functions=functions or tools,
        tool_mode=mode,
        tool_name=name,
        # Legacy function calling makes at most one call per answer.
        parallel_tool_calls=False if legacy else optional_bool(body, "parallel_tool_calls", True),
        response_format=parse_response_format(body),
    )
    return ChatRequest(
        generation=generation,
        n=n,
        stream=stream,
        include_usage=include_usage,
        legacy_functions=legacy,
    )


def parse_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Validate messages and flatten text content parts into one string per message."""
    if body.get("messages") is None:
        raise missing_parameter("messages")
    raw = optional_list(body, "messages")
    if not raw:
        raise bad_request(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            "messages",
            "empty_array",
        )
    return [_parse_message(message, f"messages[{i}]") for i, message in enumerate(raw)]


def _parse_message(message: object, param: str) -> dict[str, Any]:
    if not isinstance(message, dict):
        raise invalid_type(param, "an object", message)
    role = message.get("role")
    if role is None:
        raise missing_parameter(f"{param}.role")
    if not isinstance(role, str) or role not in ROLES:
        raise bad_request(
            f"Invalid value: {role!r}. Supported values are: 'system', 'developer', 'user', "
            "'assistant', 'tool', and 'function'.",
            f"{param}.role",
            "invalid_value",
        )
    out: dict[str, Any] = {"role": role}
    content = message.get("content")
    if content is None and role != "assistant":  # an assistant turn may be only tool calls
        raise missing_parameter(f"{param}.content")
    out["content"] = _flatten_content(content, f"{param}.content")
    name = optional_str(message, "name", f"{param}.name")
    if name is not None:
        out["name"] = name
    elif role == "function":
        raise missing_parameter(f"{param}.name")
    if role == "tool":
        call_id = message.get("tool_call_id")
        if not isinstance(call_id, str):
            raise missing_parameter(f"{param}.tool_call_id")
        out["tool_call_id"] = call_id
    if role == "assistant":
        calls = optional_list(message, "tool_calls", f"{param}.tool_calls")
        if calls:
            out["tool_calls"] = [
                _parse_tool_call(call, f"{param}.tool_calls[{i}]") for i, call in enumerate(calls)
            ]
        call = message.get("function_call")
        if call is not None:
            out["function_call"] = _parse_function_call(call, f"{param}.function_call")
    return out


def _flatten_content(content: object, param: str) -> str | None:
    if content is None or isinstance(content, str):
        return content
    return join_text_parts(
        content,
        param,
        text_keys={"text": "text", "refusal": "refusal"},
        skipped=("image_url", "input_audio", "file"),
        supported="'text', 'image_url', 'input_audio', 'refusal' and 'file'",
        read=_part_text,
    )


def _part_text(part: dict[str, Any], key: str, param: str) -> str:
    text = part.get(key)
    if not isinstance(text, str):
        raise invalid_type(f"{param}.{key}", "a string", text)
    return text


def _parse_tool_call(call: object, param: str) -> dict[str, Any]:
    if not isinstance(call, dict):
        raise invalid_type(param, "an object", call)
    call_id = call.get("id")
    if not isinstance(call_id, str):
        raise invalid_type(f"{param}.id", "a string", call_id)
    function = _parse_function_call(call.get("function"), f"{param}.function")
    return {"id": call_id, "type": "function", "function": function}


def _parse_function_call(call: object, param: str) -> dict[str, str]:
    if not isinstance(call, dict):
        raise invalid_type(param, "an object", call)
    name, arguments = call.get("name"), call.get("arguments")
    if not isinstance(name, str):
        raise invalid_type(f"{param}.name", "a string", name)
    if not isinstance(arguments, str):
        raise invalid_type(f"{param}.arguments", "a string", arguments)
    return {"name": name, "arguments": arguments}

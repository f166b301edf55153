"""Chat messages → Gemma's turn format, the only prompt shape Gemma 3 knows.

The packaged GGUF carries no chat template, so the prompt is written here:
``<start_of_turn>user\\n...<end_of_turn>\\n<start_of_turn>model\\n``. Gemma has two
roles only, so system text joins the first user turn, tool results become user
text and assistant tool calls become the JSON the model is asked to write.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from rillet.server.backends.base import FunctionSpec

START = "<start_of_turn>"
END = "<end_of_turn>"


def render_prompt(
    messages: Sequence[dict[str, Any]],
    functions: Sequence[FunctionSpec] = (),
    call_prefix: str = "",
) -> str:
    """The whole prompt, ending where the model's answer begins.

    `functions` are described at the top of the first user turn; `call_prefix`
    is text already fixed at the start of the model's turn (a tool call's head).
    """
    system: list[str] = []
    turns: list[tuple[str, str]] = []  # (gemma role, text), neighbours merged
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(content_text(message.get("content")))
            continue
        gemma_role = "model" if role == "assistant" else "user"
        text = _message_text(message)
        if turns and turns[-1][0] == gemma_role:
            turns[-1] = (gemma_role, f"{turns[-1][1]}\n\n{text}")
        else:
            turns.append((gemma_role, text))
    preamble = [text for text in system if text]
    if functions:
        preamble.append(describe_functions(functions))
    if preamble:
        head = "\n\n".join(preamble)
        if turns and turns[0][0] == "user":
            turns[0] = ("user", f"{head}\n\n{turns[0][1]}")
        else:
            turns.insert(0, ("user", head))
    body = "".join(f"{START}{role}\n{text.strip()}{END}\n" for role, text in turns)
    return f"{body}{START}model\n{call_prefix}"


def describe_functions(functions: Iterable[FunctionSpec]) -> str:
    lines = ["You can call these functions:"]
    for spec in functions:
        entry: dict[str, Any] = {"name": spec.name}
        if spec.description:
            entry["description"] = spec.description
        entry["parameters"] = spec.parameters or {"type": "object", "properties": {}}
        lines.append(json.dumps(entry, ensure_ascii=False))
    lines.append(
        'To call one, answer with only a JSON object: {"name": <function name>, '
        '"arguments": <arguments object>}.'
    )
    return "\n".join(lines)


def call_head(name: str | None = None) -> str:
    """The fixed text before a call's arguments (or before its name, when `name` is None)."""
    return '{"name": "' if name is None else f'{{"name": "{name}", "arguments": '


def content_text(content: object) -> str:
    """Text of a message's `content`: a string, or the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text")
        ]
        return "\n".join(parts)
    return ""


def _message_text(message: dict[str, Any]) -> str:
    role = message.get("role")
    text = content_text(message.get("content"))
    if role in ("tool", "function"):
        name = message.get("name") or message.get("tool_call_id") or "the function"
        return f"Result of {name}: {text}"
    if role == "assistant":
        calls = [_call_json(call.get("function")) for call in message.get("tool_calls") or ()]
        if message.get("function_call"):
            calls.append(_call_json(message["function_call"]))
        return "\n".join([text, *calls] if text else calls)
    return text


def _call_json(function: object) -> str:
    if not isinstance(function, dict):
        return ""
    arguments = function.get("arguments") or "{}"
    return f"{call_head(str(function.get('name', '')))}{arguments}}}"

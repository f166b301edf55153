"""`official_types=True`: rillet's results as the official package's objects (what
LangChain, the Agents SDK and pydantic-ai check for), and the client setting itself."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import openai
import openai.types.chat as official_chat
import openai.types.responses as official_responses
import pytest

import rillet
import rillet.types as rillet_types
import rillet.types.chat as rillet_chat
import rillet.types.responses as rillet_responses
from rillet._models import BaseModel, GenericObject
from rillet._official import official_class, official_items, to_official
from rillet.resources.models import ModelsPage
from rillet.types.chat import ChatCompletion
from rillet.types.responses.response_stream_event import construct_event

COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "m",
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
        }
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
    "x_extra": {"kept": True},
}

RESPONSE: dict[str, Any] = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1700000000,
    "status": "completed",
    "model": "m",
    "output": [
        {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Hello.", "annotations": []}],
        },
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": "{}",
            "status": "completed",
        },
    ],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
}


def test_a_completion_becomes_the_official_one_all_the_way_down() -> None:
    completion = to_official(ChatCompletion.construct(_copy(COMPLETION)))
    assert isinstance(completion, official_chat.ChatCompletion)
    assert isinstance(completion, openai.BaseModel)
    message = completion.choices[0].message
    assert isinstance(message, official_chat.ChatCompletionMessage)
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert isinstance(call, official_chat.ChatCompletionMessageFunctionToolCall)
    assert call.function.name == "get_weather"
    assert completion.usage is not None and completion.usage.total_tokens == 8
    # what the server sent, unknown fields included, is what the official object holds
    assert completion.to_dict() == COMPLETION


def test_stream_events_become_the_official_class_of_their_type() -> None:
    completed = to_official(
        construct_event({"type": "response.completed", "sequence_number": 9, "response": RESPONSE})
    )
    assert isinstance(completed, official_responses.ResponseCompletedEvent)
    response = completed.response
    assert isinstance(response, official_responses.Response)
    assert isinstance(response.output[0], official_responses.ResponseOutputMessage)
    assert isinstance(response.output[1], official_responses.ResponseFunctionToolCall)
    assert response.output_text == "Hello."  # the official property, on the official object

    build = official_items(construct_event)
    delta = build(
        {
            "type": "response.output_text.delta",
            "sequence_number": 3,
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "Hel",
            "logprobs": [],
        }
    )
    assert isinstance(delta, official_responses.ResponseTextDeltaEvent) and delta.delta == "Hel"


def test_what_has_no_official_class_stays_as_it_is() -> None:
    unknown = construct_event({"type": "response.something_new", "sequence_number": 1})
    assert isinstance(unknown, GenericObject)
    assert to_official(unknown) is unknown
    page = ModelsPage.construct({"object": "list", "data": []})
    assert official_class(ModelsPage) is None and to_official(page) is page
    for value in ({"a": 1}, None, "text", [1]):
        assert to_official(value) is value


@pytest.mark.parametrize(
    ("package", "official"),
    [
        (rillet_types, openai.types),
        (rillet_chat, official_chat),
        (rillet_responses, official_responses),
    ],
)
def test_every_type_has_the_official_class_of_its_name(package: Any, official: Any) -> None:
    for name in package.__all__:
        cls = getattr(package, name)
        if isinstance(cls, type) and issubclass(cls, BaseModel):
            found = official_class(cls)
            assert found is not None and issubclass(found, openai.BaseModel), name
            # its own name, or an official alias of it (ChatCompletionMessageToolCall)
            assert found.__name__ == name or getattr(official, name) is found


def test_the_client_setting_is_kept_by_copies() -> None:
    with rillet.OpenAI(api_key="sk", official_types=True) as client:
        assert client.official_types is True
        assert client.with_options(timeout=3).official_types is True
        assert client.with_options(official_types=False).official_types is False
    with rillet.OpenAI(api_key="sk") as plain:
        assert plain.official_types is False


def test_without_the_official_package_the_setting_says_what_to_install() -> None:
    code = """
import sys
sys.modules["openai"] = None  # as if it were not installed
import rillet
with rillet.OpenAI(api_key="sk"):
    pass  # the default needs no openai
try:
    rillet.AsyncOpenAI(api_key="sk", official_types=True)
except rillet.OpenAIError as exc:
    print(type(exc).__name__, exc)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("OpenAIError official_types=True")
    assert "pip install openai" in done.stdout


def _copy(data: dict[str, Any]) -> dict[str, Any]:
    """A deep copy: `construct` adopts the dict it is given."""
    import copy

    return copy.deepcopy(data)

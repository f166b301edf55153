"""The streaming guide's chat examples, run as written against `rillet serve --backend synthetic`.

Only the imports change when the client under test is not `openai`; the client
finds the server through OPENAI_BASE_URL / OPENAI_API_KEY, as a user's app would.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests._server import CLIENT_MODULES, run_server

Example = Callable[[str], str]  # runs one example's source, returns what it printed

SYNC_STREAMING = """
from openai import OpenAI
client = OpenAI()
stream = client.chat.completions.create(
    model="gpt-4",
    messages=[{"role": "user", "content": "Write a story about a robot."}],
    stream=True,
)
for chunk in stream:
    if chunk.choices[0].delta.content is not None:
        print(chunk.choices[0].delta.content, end="")
"""

ASYNC_STREAMING = """
import asyncio
from openai import AsyncOpenAI
client = AsyncOpenAI()
async def main():
    stream = await client.chat.completions.create(
        model="gpt-4",
        messages=[{"role": "user", "content": "Write a story about a robot."}],
        stream=True,
    )
    async for chunk in stream:
        if chunk.choices[0].delta.content is not None:
            print(chunk.choices[0].delta.content, end="")
asyncio.run(main())
"""

STREAM_OBJECT = """
from openai import OpenAI
client = OpenAI()
stream = client.chat.completions.create(
    model="gpt-4",
    messages=[{"role": "user", "content": "Hello!"}],
    stream=True,
)
# Stream is an iterator
for chunk in stream:
    print(chunk)
# Access the underlying HTTP response
print(stream.response.headers)
"""

CONTEXT_MANAGER = """
from openai import OpenAI
client = OpenAI()
with client.chat.completions.create(
    model="gpt-4",
    messages=[{"role": "user", "content": "Hello!"}],
    stream=True,
) as stream:
    for chunk in stream:
        if chunk.choices[0].delta.content:
            print(chunk.choices[0].delta.content, end="")
# Stream is automatically closed
"""

STREAM_CHUNKS = """
from openai import OpenAI
client = OpenAI()
stream = client.chat.completions.create(
    model="gpt-4",
    messages=[{"role": "user", "content": "Count to 5"}],
    stream=True,
)
for chunk in stream:
    print(f"Chunk ID: {chunk.id}")
    print(f"Model: {chunk.model}")
    print(f"Created: {chunk.created}")
    # Delta contains incremental content
    delta = chunk.choices[0].delta
    if delta.content is not None:
        print(f"Content: {delta.content}")
    # Check for function calls
    if delta.function_call:
        print(f"Function: {delta.function_call}")
    # Check finish reason
    if chunk.choices[0].finish_reason:
        print(f"Finish: {chunk.choices[0].finish_reason}")
"""

ACCUMULATING = """
from openai import OpenAI
client = OpenAI()
stream = client.chat.completions.create(
    model="gpt-4",
    messages=[{"role": "user", "content": "Explain Python"}],
    stream=True,
)
full_response = ""
for chunk in stream:
    if chunk.choices[0].delta.content is not None:
        content = chunk.choices[0].delta.content
        full_response += content
        print(content, end="")
print(f"\\n\\nFull response: {full_response}")
"""

FUNCTION_CALLING = """
from openai import OpenAI
import json
client = OpenAI()
tools = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["location"],
            },
        },
    }
]
stream = client.chat.completions.create(
    model="gpt-4",
    messages=[{"role": "user", "content": "What's the weather in Tokyo?"}],
    tools=tools,
    stream=True,
)
function_name = ""
function_args = ""
for chunk in stream:
    delta = chunk.choices[0].delta
    if delta.function_call:
        if delta.function_call.name:
            function_name += delta.function_call.name
        if delta.function_call.arguments:
            function_args += delta.function_call.arguments
if function_name:
    print(f"Function: {function_name}")
    print(f"Arguments: {json.loads(function_args)}")
"""

ERROR_HANDLING = """
import openai
from openai import OpenAI
client = OpenAI()
try:
    stream = client.chat.completions.create(
        model="gpt-4",
        messages=[{"role": "user", "content": "Hello!"}],
        stream=True,
    )
    for chunk in stream:
        if chunk.choices[0].delta.content:
            print(chunk.choices[0].delta.content, end="")
except openai.APIConnectionError as e:
    print(f"Connection error: {e}")
except openai.APIStatusError as e:
    print(f"API error: {e.status_code} - {e.message}")
except Exception as e:
    print(f"Unexpected error: {e}")
finally:
    # Ensure stream is closed
    if 'stream' in locals():
        stream.close()
"""

ASYNC_RETRY = """
import asyncio
import openai
from openai import AsyncOpenAI
client = AsyncOpenAI()
async def stream_with_retry(prompt: str, max_retries: int = 3):
    for attempt in range(max_retries):
        try:
            stream = await client.chat.completions.create(
                model="gpt-4",
                messages=[{"role": "user", "content": prompt}],
                stream=True,
            )
            async for chunk in stream:
                if chunk.choices[0].delta.content:
                    print(chunk.choices[0].delta.content, end="")
            return # Success
        except openai.APIConnectionError as e:
            print(f"\\nConnection error (attempt {attempt + 1}): {e}")
            if attempt < max_retries - 1:
                await asyncio.sleep(2 ** attempt) # Exponential backoff
            else:
                raise
asyncio.run(stream_with_retry("Tell me a joke"))
"""

MANUAL_CONTROL = """
from openai import OpenAI
client = OpenAI()
stream = client.chat.completions.create(
    model="gpt-4",
    messages=[{"role": "user", "content": "Count to 100"}],
    stream=True,
)
# Get first 10 chunks only
for i, chunk in enumerate(stream):
    if i >= 10:
        stream.close()
        break
    if chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="")
"""


def with_client(source: str, module: str) -> str:
    """The guide's code with its imports pointed at `module` (the only permitted change)."""
    if module == "openai":
        return source
    source = re.sub(r"^from openai import", f"from {module} import", source, flags=re.M)
    return re.sub(r"^import openai$", f"import {module} as openai", source, flags=re.M)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with run_server("--backend", "synthetic") as url:
        yield url


@pytest.fixture(params=CLIENT_MODULES)
def run(request: pytest.FixtureRequest, base_url: str, monkeypatch: pytest.MonkeyPatch) -> Example:
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")

    def run_example(source: str) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(with_client(source, request.param), "<guide>", "exec"), {})
        return out.getvalue()

    return run_example


def test_sync_and_async_streaming(run: Example) -> None:
    for source in (SYNC_STREAMING, ASYNC_STREAMING, CONTEXT_MANAGER, ERROR_HANDLING, ASYNC_RETRY):
        output = run(source)
        assert len(output.split()) > 3, output
        assert "error" not in output.lower()
    assert "robot" in run(SYNC_STREAMING).lower()


def test_stream_object(run: Example) -> None:
    output = run(STREAM_OBJECT)
    assert "ChatCompletionChunk(" in output
    assert "text/event-stream" in output


def test_stream_chunks(run: Example) -> None:
    output = run(STREAM_CHUNKS)
    assert "Model: gpt-4" in output
    assert "Content: 1" in output and "Finish: stop" in output
    assert len(set(re.findall(r"Chunk ID: (\S+)", output))) == 1


def test_accumulating(run: Example) -> None:
    output = run(ACCUMULATING)
    streamed, full = output.split("\n\nFull response: ")
    assert full.strip() == streamed.strip() and "Python" in full


def test_function_calling(run: Example) -> None:
    # As written, the example offers `tools` but reads `delta.function_call`, which an
    # OpenAI-compatible server leaves empty for tool calls: it must run without error.
    assert run(FUNCTION_CALLING) == ""
    # Offered as legacy `functions`, the same loop sees the streamed call.
    legacy = FUNCTION_CALLING.replace("tools=tools,", "functions=[tools[0]['function']],")
    output = run(legacy)
    assert "Function: get_weather" in output
    assert "Arguments: {'location': 'Tokyo'" in output


def test_manual_stream_control(run: Example, base_url: str) -> None:
    output = run(MANUAL_CONTROL)
    body = {"model": "gpt-4", "messages": [{"role": "user", "content": "Count to 100"}]}
    full = httpx.post(f"{base_url}/chat/completions", json=body).json()
    answer = full["choices"][0]["message"]["content"]
    # Ten chunks: the role chunk and nine pieces of text, then the stream is closed.
    assert output and answer.startswith(output) and len(output) < len(answer)
    assert full["usage"]["completion_tokens"] > 9

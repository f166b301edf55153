"""The streaming guide's examples, verbatim, and a way to run one with any client package.

Only the import lines change when the client under test is not `openai`; the client finds
the server through OPENAI_BASE_URL / OPENAI_API_KEY, as a user's app would.
"""

from __future__ import annotations

import contextlib
import io
import re

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


RESPONSES = """
from openai import OpenAI
client = OpenAI()
stream = client.responses.create(
    model="gpt-5.2",
    input="Write a haiku about coding",
    stream=True,
)
for event in stream:
    print(event)
"""


def with_client(source: str, module: str) -> str:
    """The guide's code with its imports pointed at `module` (the only permitted change)."""
    if module == "openai":
        return source
    source = re.sub(r"^from openai import", f"from {module} import", source, flags=re.M)
    return re.sub(r"^import openai$", f"import {module} as openai", source, flags=re.M)


def run_example(source: str, module: str) -> str:
    """Run an example in-process with `module` as its client; return what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(
            compile(with_client(source, module), "<guide example>", "exec"),
            {"__name__": "__main__"},
        )
    return out.getvalue()

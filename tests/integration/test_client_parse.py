"""Structured outputs against a real `rillet serve --backend synthetic`, which answers a
`json_schema` format with a value that conforms to it: `chat.completions.parse()`,
`responses.parse()`, the `.stream()` helpers with a pydantic class, `pydantic_function_tool`
and their bad inputs, sync and async, compared with the official client where both run."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import openai
import pydantic
import pytest

import rillet
from rillet._encode import InvalidParameterError
from rillet._parsing import UnparseableToolError
from rillet.types.chat import ParsedChatCompletion, ParsedChatCompletionMessage
from rillet.types.responses import ParsedResponse
from tests._server import run_server
from tests.integration.drive import MODES, run

MESSAGES = [{"role": "user", "content": "Plan a trip to Paris in three steps."}]


class Step(pydantic.BaseModel):
    explanation: str
    output: str


class Plan(pydantic.BaseModel):
    """A plan, step by step."""

    steps: list[Step]
    final_answer: str
    note: str | None = None


class GetWeather(pydantic.BaseModel):
    """The weather in a city."""

    city: str
    days: int


class Tagged(pydantic.BaseModel):
    counts: dict[str, int]  # arbitrary keys: no strict schema


class NotAModel:
    pass


WEATHER_CHOICE = {"type": "function", "function": {"name": "GetWeather"}}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with run_server("--backend", "synthetic") as url:
        yield url


def sent(raw: Any) -> Any:
    return json.loads(raw.http_request.content)


# --- chat.completions.parse ----------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_parse_gives_an_instance_of_the_class(mode: str, base_url: str) -> None:
    completion = run(
        mode,
        base_url,
        lambda c: c.chat.completions.parse(model="m", messages=MESSAGES, response_format=Plan),
    )
    assert isinstance(completion, ParsedChatCompletion)
    message = completion.choices[0].message
    assert isinstance(message, ParsedChatCompletionMessage)
    assert isinstance(message.parsed, Plan)
    assert message.parsed == Plan.model_validate_json(message.content or "")
    assert message.parsed.steps and isinstance(message.parsed.steps[0], Step)


def test_parse_sends_the_strict_schema_the_official_client_sends(base_url: str) -> None:
    with rillet.OpenAI(base_url=base_url, api_key="sk", max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.parse(
            model="m", messages=MESSAGES, response_format=Plan, seed=7
        )
    body = sent(raw)
    official = openai.OpenAI(base_url=base_url, api_key="sk", max_retries=0)
    theirs = official.chat.completions.with_raw_response.parse(
        model="m", messages=MESSAGES, response_format=Plan, seed=7
    )
    assert body["response_format"] == sent(theirs)["response_format"]
    schema = body["response_format"]["json_schema"]
    assert schema["name"] == "Plan" and schema["strict"] is True
    assert schema["schema"]["additionalProperties"] is False
    assert schema["schema"]["required"] == ["steps", "final_answer", "note"]
    assert body["stream"] is False
    # the same request gives the same answer, parsed alike by both clients
    ours = raw.parse().choices[0].message.parsed
    assert ours == theirs.parse().choices[0].message.parsed


@pytest.mark.parametrize("mode", MODES)
def test_parse_tool_arguments_of_a_pydantic_function_tool(mode: str, base_url: str) -> None:
    tool = rillet.pydantic_function_tool(GetWeather)
    assert tool["function"]["description"] == "The weather in a city."
    completion = run(
        mode,
        base_url,
        lambda c: c.chat.completions.parse(
            model="m",
            messages=[{"role": "user", "content": "Weather in Oslo for 3 days?"}],
            tools=[tool],
            tool_choice=WEATHER_CHOICE,
        ),
    )
    assert completion.choices[0].finish_reason == "tool_calls"
    call = completion.choices[0].message.tool_calls[0]
    assert isinstance(call.function.parsed_arguments, GetWeather)
    assert call.function.parsed_arguments == GetWeather.model_validate_json(call.function.arguments)
    assert completion.choices[0].message.parsed is None


def test_parse_tool_arguments_of_a_strict_dict_tool(base_url: str) -> None:
    tool = openai.pydantic_function_tool(GetWeather)  # the official helper's tools work too
    as_dict = {"type": "function", "function": dict(tool["function"])}  # strict, no model
    with rillet.OpenAI(base_url=base_url, api_key="sk", max_retries=0) as client:
        official_tool = client.chat.completions.parse(
            model="m", messages=MESSAGES, tools=[tool], tool_choice=WEATHER_CHOICE
        )
        plain = client.chat.completions.parse(
            model="m", messages=MESSAGES, tools=[as_dict], tool_choice=WEATHER_CHOICE
        )
    parsed = official_tool.choices[0].message.tool_calls[0].function.parsed_arguments
    assert isinstance(parsed, GetWeather)
    arguments = plain.choices[0].message.tool_calls[0].function.parsed_arguments
    assert isinstance(arguments, dict) and set(arguments) == {"city", "days"}


@pytest.mark.parametrize("mode", MODES)
def test_parse_cut_by_the_token_limit_raises(mode: str, base_url: str) -> None:
    with pytest.raises(rillet.LengthFinishReasonError) as caught:
        run(
            mode,
            base_url,
            lambda c: c.chat.completions.parse(
                model="m", messages=MESSAGES, response_format=Plan, max_tokens=3
            ),
        )
    assert caught.value.completion.choices[0].finish_reason == "length"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("response_format", "match"),
    [(NotAModel, "must be a pydantic model class"), (Tagged, "arbitrary keys")],
    ids=["not-pydantic", "not-strict"],
)
def test_parse_refuses_a_bad_class_before_any_io(
    mode: str, response_format: type, match: str
) -> None:
    # port 9 (discard) on loopback: a request sent would fail as a connection error instead
    with pytest.raises(InvalidParameterError, match=match) as caught:
        run(
            mode,
            "http://127.0.0.1:9/v1",
            lambda c: c.chat.completions.parse(
                model="m", messages=MESSAGES, response_format=response_format
            ),
        )
    assert caught.value.parameter == "response_format"
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, rillet.OpenAIError)


def test_parse_refuses_a_tool_that_is_not_strict() -> None:
    loose = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    with (
        rillet.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="sk", max_retries=0) as client,
        pytest.raises(UnparseableToolError, match="`f` is not strict"),
    ):
        client.chat.completions.parse(model="m", messages=MESSAGES, tools=[loose])


def test_a_bad_request_gets_the_servers_error(base_url: str) -> None:
    with (
        rillet.OpenAI(base_url=base_url, api_key="sk", max_retries=0) as client,
        pytest.raises(rillet.BadRequestError, match="messages"),
    ):
        client.chat.completions.parse(model="m", messages=[], response_format=Plan)


# --- chat.completions.stream with a class --------------------------------------------------


def _helper_events(mode: str, base_url: str, kind: str, **create: Any) -> tuple[list[Any], Any]:
    """Every event of one `chat.completions.stream()` (`kind` "chat") or `responses.stream()`
    and its final completion or response."""
    if kind == "chat":
        create = {"model": "m", "messages": MESSAGES, **create}
    else:
        create = {"model": "m", "input": "Plan a trip to Rome.", **create}

    def manager(client: Any) -> Any:
        helpers = client.chat.completions if kind == "chat" else client.responses
        return helpers.stream(**create)

    def final_of(stream: Any) -> Any:
        return stream.get_final_completion() if kind == "chat" else stream.get_final_response()

    def sync(client: rillet.OpenAI) -> tuple[list[Any], Any]:
        with manager(client) as stream:
            return list(stream), final_of(stream)

    async def asynchronous(client: rillet.AsyncOpenAI) -> tuple[list[Any], Any]:
        async with manager(client) as stream:
            return [event async for event in stream], await final_of(stream)

    return run(mode, base_url, sync if mode == "sync" else asynchronous)  # type: ignore[no-any-return]


def _stream_events(mode: str, base_url: str, **create: Any) -> tuple[list[Any], Any]:
    return _helper_events(mode, base_url, "chat", **create)


@pytest.mark.parametrize("mode", MODES)
def test_stream_with_a_class_parses_as_it_goes(mode: str, base_url: str) -> None:
    events, final = _stream_events(mode, base_url, response_format=Plan)
    deltas = [e for e in events if e.type == "content.delta"]
    partial = [e.parsed for e in deltas if isinstance(e.parsed, dict)]
    assert partial, "content deltas carry the partial JSON so far"
    assert "steps" in partial[-1]
    (done,) = [e for e in events if e.type == "content.done"]
    assert isinstance(done.parsed, Plan)
    assert isinstance(final, ParsedChatCompletion)
    assert final.choices[0].message.parsed == done.parsed
    assert done.parsed == Plan.model_validate_json(done.content)


@pytest.mark.parametrize("mode", MODES)
def test_stream_with_a_pydantic_tool_parses_its_arguments(mode: str, base_url: str) -> None:
    events, final = _stream_events(
        mode,
        base_url,
        messages=[{"role": "user", "content": "Weather in Oslo for 3 days?"}],
        tools=[rillet.pydantic_function_tool(GetWeather)],
        tool_choice=WEATHER_CHOICE,
    )
    deltas = [e for e in events if e.type == "tool_calls.function.arguments.delta"]
    assert any(isinstance(e.parsed_arguments, dict) for e in deltas)
    (done,) = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    assert isinstance(done.parsed_arguments, GetWeather)
    call = final.choices[0].message.tool_calls[0]
    assert call.function.parsed_arguments == done.parsed_arguments


@pytest.mark.parametrize("mode", MODES)
def test_stream_with_a_class_cut_by_the_token_limit_raises(mode: str, base_url: str) -> None:
    with pytest.raises(rillet.LengthFinishReasonError):
        _stream_events(mode, base_url, response_format=Plan, max_tokens=3)


def test_stream_with_a_bad_class_raises_before_any_io() -> None:
    with (
        rillet.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="sk", max_retries=0) as client,
        pytest.raises(InvalidParameterError, match="arbitrary keys"),
    ):
        client.chat.completions.stream(model="m", messages=MESSAGES, response_format=Tagged)


# --- responses.parse / responses.stream ----------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_responses_parse(mode: str, base_url: str) -> None:
    response = run(
        mode,
        base_url,
        lambda c: c.responses.parse(model="m", input="Plan a trip to Rome.", text_format=Plan),
    )
    assert isinstance(response, ParsedResponse)
    assert isinstance(response.output_parsed, Plan)
    assert response.output_parsed == Plan.model_validate_json(response.output_text)


def test_responses_parse_sends_the_official_text_format(base_url: str) -> None:
    with rillet.OpenAI(base_url=base_url, api_key="sk", max_retries=0) as client:
        raw = client.responses.with_raw_response.parse(model="m", input="Hi", text_format=Plan)
    official = openai.OpenAI(base_url=base_url, api_key="sk", max_retries=0)
    theirs = official.responses.with_raw_response.parse(model="m", input="Hi", text_format=Plan)
    assert sent(raw)["text"] == sent(theirs)["text"]
    assert raw.parse().output_parsed == theirs.parse().output_parsed


@pytest.mark.parametrize("mode", MODES)
def test_responses_parse_tool_arguments(mode: str, base_url: str) -> None:
    response = run(
        mode,
        base_url,
        lambda c: c.responses.parse(
            model="m",
            input="Weather in Oslo for 3 days?",
            tools=[
                rillet.pydantic_function_tool(GetWeather),  # the Chat shape is converted
            ],
            tool_choice={"type": "function", "name": "GetWeather"},
        ),
    )
    calls = [item for item in response.output if item.type == "function_call"]
    assert calls and isinstance(calls[0].parsed_arguments, GetWeather)
    assert response.output_parsed is None


def test_responses_parse_with_a_responses_tool(base_url: str) -> None:
    tool = rillet.pydantic_responses_function_tool(GetWeather, name="weather")
    assert tool["name"] == "weather" and tool["strict"] is True
    with rillet.OpenAI(base_url=base_url, api_key="sk", max_retries=0) as client:
        response = client.responses.parse(
            model="m",
            input="Weather in Oslo?",
            tools=[tool],
            tool_choice={"type": "function", "name": "weather"},
        )
    (call,) = [item for item in response.output if item.type == "function_call"]
    assert isinstance(call.parsed_arguments, GetWeather)


@pytest.mark.parametrize("mode", MODES)
def test_responses_parse_of_an_incomplete_answer_raises(mode: str, base_url: str) -> None:
    with pytest.raises(rillet.LengthFinishReasonError):
        run(
            mode,
            base_url,
            lambda c: c.responses.parse(
                model="m", input="Plan", text_format=Plan, max_output_tokens=16
            ),
        )


def test_responses_parse_bad_inputs() -> None:
    with rillet.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="sk", max_retries=0) as client:
        with pytest.raises(TypeError, match="Cannot mix and match"):
            client.responses.parse(
                model="m", input="x", text_format=Plan, text={"format": {"type": "text"}}
            )
        with pytest.raises(InvalidParameterError, match="pydantic model class") as caught:
            client.responses.parse(model="m", input="x", text_format=NotAModel)
        assert caught.value.parameter == "text_format"
        with pytest.raises(InvalidParameterError, match="arbitrary keys"):
            client.responses.stream(model="m", input="x", text_format=Tagged)


def _response_events(mode: str, base_url: str, **create: Any) -> tuple[list[Any], Any]:
    return _helper_events(mode, base_url, "responses", **create)


@pytest.mark.parametrize("mode", MODES)
def test_responses_stream_with_a_text_format(mode: str, base_url: str) -> None:
    events, final = _response_events(mode, base_url, text_format=Plan)
    (done,) = [e for e in events if e.type == "response.output_text.done"]
    assert isinstance(done.parsed, Plan)
    completed = events[-1]
    assert completed.type == "response.completed"
    assert isinstance(completed.response, ParsedResponse)
    assert isinstance(final, ParsedResponse) and final.output_parsed == done.parsed


@pytest.mark.parametrize("mode", MODES)
def test_responses_stream_without_a_format_parses_nothing(mode: str, base_url: str) -> None:
    events, final = _response_events(mode, base_url)
    (done,) = [e for e in events if e.type == "response.output_text.done"]
    assert done.parsed is None
    assert final.output_parsed is None and final.output_text


# --- raw and streaming responses of parse() -------------------------------------------------


def test_raw_and_streaming_responses_of_parse(base_url: str) -> None:
    with rillet.OpenAI(base_url=base_url, api_key="sk", max_retries=0) as client:
        raw = client.with_raw_response.chat.completions.parse(
            model="m", messages=MESSAGES, response_format=Plan
        )
        assert raw.status_code == 200 and raw.request_id
        assert isinstance(raw.parse().choices[0].message.parsed, Plan)
        with client.responses.with_streaming_response.parse(
            model="m", input="Hi", text_format=Plan
        ) as response:
            assert response.headers["content-type"].startswith("application/json")
            assert isinstance(response.parse().output_parsed, Plan)


async def test_async_raw_and_streaming_responses_of_parse(base_url: str) -> None:
    async with rillet.AsyncOpenAI(base_url=base_url, api_key="sk", max_retries=0) as client:
        raw = await client.responses.with_raw_response.parse(
            model="m", input="Hi", text_format=Plan
        )
        assert isinstance(raw.parse().output_parsed, Plan)
        async with client.chat.completions.with_streaming_response.parse(
            model="m", messages=MESSAGES, response_format=Plan
        ) as response:
            parsed = await response.parse()
            assert isinstance(parsed.choices[0].message.parsed, Plan)


# --- pydantic is optional -----------------------------------------------------------------


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_plain_calls_never_import_pydantic(base_url: str) -> None:
    done = _python(
        f"""
        import sys
        import rillet
        client = rillet.OpenAI(base_url={base_url!r}, api_key="sk", max_retries=0)
        hi = [{{"role": "user", "content": "Hi"}}]
        client.chat.completions.create(model="m", messages=hi)
        with client.chat.completions.stream(model="m", messages=hi) as s:
            s.get_final_completion()
        client.responses.create(model="m", input="Hi")
        assert "pydantic" not in sys.modules, "pydantic was imported"
        print("ok")
        """
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_without_pydantic_the_parse_calls_say_what_to_install() -> None:
    done = _python(
        """
        import sys
        sys.modules["pydantic"] = None  # blocks the import, as if it were not installed
        import rillet
        from rillet._parsing import MissingDependencyError

        class Answer:
            pass

        client = rillet.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="sk", max_retries=0)
        calls = [
            lambda: client.chat.completions.parse(model="m", messages=[], response_format=Answer),
            lambda: client.chat.completions.stream(model="m", messages=[], response_format=Answer),
            lambda: client.responses.parse(model="m", input="x", text_format=Answer),
            lambda: rillet.pydantic_function_tool(Answer),
        ]
        for call in calls:
            try:
                call()
            except MissingDependencyError as exc:
                assert isinstance(exc, ImportError) and isinstance(exc, rillet.OpenAIError)
                print(exc)
            else:
                raise SystemExit("no error")
        """
    )
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 4, done.stderr
    assert all("pip install 'pydantic>=2'" in line for line in lines)
    assert "response_format" in lines[0] and "text_format" in lines[2]


def test_parse_on_a_client_with_official_types(base_url: str) -> None:
    """Libraries that want the official classes get them from parse() too, parsed fields in."""
    settings: dict[str, Any] = {"base_url": base_url, "api_key": "sk", "max_retries": 0}
    with rillet.OpenAI(**settings, official_types=True) as client:
        completion = client.chat.completions.parse(
            model="m", messages=MESSAGES, response_format=Plan
        )
        response = client.responses.parse(model="m", input="Hi", text_format=Plan)
    assert isinstance(completion, openai.types.chat.ParsedChatCompletion)
    assert isinstance(completion.choices[0].message.parsed, Plan)
    assert isinstance(response, openai.types.responses.ParsedResponse)
    assert isinstance(response.output_parsed, Plan)

"""Checked by mypy --strict (tests/test_typing.py), never run: what users' type checkers see
of the raw-response views, parse() and the .stream() helpers."""

from __future__ import annotations

from typing import assert_type

import pydantic

import rillet
from rillet._response import APIResponse, LegacyAPIResponse
from rillet.pagination import AsyncPaginator, SyncCursorPage
from rillet.types.chat import ChatCompletion, ChatCompletionChunk, ParsedChatCompletion
from rillet.types.responses import ParsedResponse, Response, ResponseItem


class Answer(pydantic.BaseModel):
    text: str


def sync(client: rillet.OpenAI) -> None:
    hi = [{"role": "user", "content": "Hi"}]
    assert_type(client.chat.completions.create(model="m", messages=hi), ChatCompletion)
    assert_type(
        client.chat.completions.create(model="m", messages=hi, stream=True),
        rillet.Stream[ChatCompletionChunk],
    )
    raw = client.chat.completions.with_raw_response.create(model="m", messages=hi, stream=True)
    assert_type(raw, LegacyAPIResponse[ChatCompletion | rillet.Stream[ChatCompletionChunk]])
    parsed = client.chat.completions.parse(model="m", messages=hi, response_format=Answer)
    assert_type(parsed, ParsedChatCompletion[Answer])
    assert_type(parsed.choices[0].message.parsed, Answer | None)
    plain = client.chat.completions.parse(model="m", messages=hi)
    assert_type(plain, ParsedChatCompletion[None])
    raw_parse = client.chat.completions.with_raw_response.parse(
        model="m", messages=hi, response_format=Answer
    )
    assert_type(raw_parse, LegacyAPIResponse[ParsedChatCompletion[Answer]])
    with client.chat.completions.stream(model="m", messages=hi, response_format=Answer) as s:
        assert_type(s.get_final_completion(), ParsedChatCompletion[Answer])
    response = client.responses.parse(model="m", input="Hi", text_format=Answer)
    assert_type(response.output_parsed, Answer | None)
    with client.responses.stream(model="m", input="Hi", text_format=Answer) as r:
        assert_type(r.get_final_response(), ParsedResponse[Answer])
    assert_type(client.responses.retrieve("r"), Response)
    items = client.responses.input_items.list("r", limit=2, order="asc")
    assert_type(items, SyncCursorPage[ResponseItem])
    with client.responses.with_streaming_response.input_items.list("r") as listed:
        assert_type(listed, APIResponse[SyncCursorPage[ResponseItem]])


async def asynchronous(client: rillet.AsyncOpenAI) -> None:
    hi = [{"role": "user", "content": "Hi"}]
    parsed = await client.chat.completions.parse(model="m", messages=hi, response_format=Answer)
    assert_type(parsed, ParsedChatCompletion[Answer])
    raw = await client.responses.with_raw_response.parse(model="m", input="x", text_format=Answer)
    assert_type(raw, LegacyAPIResponse[ParsedResponse[Answer]])
    assert_type(client.responses.input_items.list("r"), AsyncPaginator[ResponseItem])
    async with client.chat.completions.stream(model="m", messages=hi) as s:
        assert_type(await s.get_final_completion(), ParsedChatCompletion[None])

"""`client.responses.input_items.list()`, sync and async: cursor pages read from a canned
loopback server (what each request asked for, page by page), then against a real
`rillet serve --backend synthetic`, side by side with the official client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import openai
import pytest

import rillet
from rillet.pagination import AsyncCursorPage, AsyncPaginator, SyncCursorPage
from rillet.types.responses import (
    ResponseFunctionToolCallItem,
    ResponseFunctionToolCallOutputItem,
    ResponseInputMessageItem,
    ResponseInputText,
)
from tests._server import run_server
from tests.integration.canned import CannedServer, Connection, Request, canned_server
from tests.integration.drive import MODES, run

ITEMS: list[dict[str, Any]] = [
    {
        "id": "msg_1",
        "type": "message",
        "role": "user",
        "status": "completed",
        "content": [{"type": "input_text", "text": "Weather in Oslo?"}],
    },
    {
        "id": "fc_2",
        "type": "function_call",
        "call_id": "call_a",
        "name": "get_weather",
        "arguments": '{"city": "Oslo"}',
        "status": "completed",
    },
    {
        "id": "fco_3",
        "type": "function_call_output",
        "call_id": "call_a",
        "output": "Sunny",
        "status": "completed",
    },
    {
        "id": "msg_4",
        "type": "message",
        "role": "user",
        "status": "completed",
        "content": [{"type": "input_text", "text": "And tomorrow?"}],
    },
    {"id": "x_5", "type": "item_of_a_new_kind", "detail": 1},
]


def _pages(conn: Connection, request: Request) -> bool:
    """Pages of ITEMS in the order asked for, after the `after` cursor, `limit` at a time."""
    query = parse_qs(request.query)
    if "resp_missing" in request.path:
        error = {"message": "No response found with id 'resp_missing'.", "type": "invalid"}
        conn.json(404, {"error": error})
        return True
    items = ITEMS if query.get("order") == ["asc"] else ITEMS[::-1]
    if "after" in query:
        start = [item["id"] for item in items].index(query["after"][0]) + 1
        items = items[start:]
    limit = int(query.get("limit", ["20"])[0])
    page = items[:limit]
    body = {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(items) > limit,
    }
    conn.json(200, body, x_request_id="req_items")
    return True


@pytest.fixture(scope="module")
def canned() -> Iterator[CannedServer]:
    with canned_server({"items": _pages}) as server:
        yield server


def queries(server: CannedServer) -> list[dict[str, list[str]]]:
    return [parse_qs(r.query) for r in server.requests if r.path.startswith("/items/")]


def test_one_page_and_its_fields(canned: CannedServer) -> None:
    with rillet.OpenAI(base_url=canned.base_url("items"), api_key="sk", max_retries=0) as c:
        page = c.responses.input_items.list(
            "resp_1", limit=2, order="asc", include=["message.input_image.image_url"]
        )
    assert isinstance(page, SyncCursorPage)
    assert [item.id for item in page.data] == ["msg_1", "fc_2"]
    assert page.has_more is True and page.first_id == "msg_1" and page.last_id == "fc_2"
    assert page.object == "list" and page.has_next_page()
    assert canned.requests[-1].path == "/items/v1/responses/resp_1/input_items"
    assert queries(canned)[-1] == {
        "limit": ["2"],
        "order": ["asc"],
        "include[]": ["message.input_image.image_url"],
    }
    message, call = page.data
    assert isinstance(message, ResponseInputMessageItem)
    assert isinstance(message.content[0], ResponseInputText)
    assert message.content[0].text == "Weather in Oslo?"
    assert isinstance(call, ResponseFunctionToolCallItem) and call.name == "get_weather"
    assert page.to_dict()["data"][1]["call_id"] == "call_a"


def test_iterating_a_page_goes_through_every_page(canned: CannedServer) -> None:
    before = len(queries(canned))
    with rillet.OpenAI(base_url=canned.base_url("items"), api_key="sk", max_retries=0) as c:
        page = c.responses.input_items.list("resp_1", limit=2, order="asc")
        ids = [item.id for item in page]
        pages = [[item.id for item in p.data] for p in page.iter_pages()]
        unknown = page.get_next_page().get_next_page().data[0]
    assert ids == [item["id"] for item in ITEMS]
    assert pages == [["msg_1", "fc_2"], ["fco_3", "msg_4"], ["x_5"]]
    asked = queries(canned)[before : before + 3]
    assert [q.get("after") for q in asked] == [None, ["fc_2"], ["msg_4"]]
    assert all(q["limit"] == ["2"] and q["order"] == ["asc"] for q in asked)
    assert unknown.type == "item_of_a_new_kind" and unknown.detail == 1  # kept, not refused


def test_the_last_page_has_no_next(canned: CannedServer) -> None:
    with rillet.OpenAI(base_url=canned.base_url("items"), api_key="sk", max_retries=0) as c:
        page = c.responses.input_items.list("resp_1", after="fc_2", order="desc")
    assert [item.id for item in page.data] == ["msg_1"]  # newest first, after fc_2
    assert page.has_more is False and not page.has_next_page()
    assert page.next_page_info() is None
    with pytest.raises(RuntimeError, match="No more pages"):
        page.get_next_page()


async def test_async_pages(canned: CannedServer) -> None:
    async with rillet.AsyncOpenAI(
        base_url=canned.base_url("items"), api_key="sk", max_retries=0
    ) as c:
        listing = c.responses.input_items.list("resp_1", limit=3, order="asc")
        assert isinstance(listing, AsyncPaginator)
        page = await listing
        assert isinstance(page, AsyncCursorPage)
        assert [item.id for item in page.data] == ["msg_1", "fc_2", "fco_3"]
        assert isinstance(page.data[2], ResponseFunctionToolCallOutputItem)
        second = await page.get_next_page()
        assert [item.id for item in second.data] == ["msg_4", "x_5"]
        assert not second.has_next_page()
        every = [item.id async for item in c.responses.input_items.list("resp_1", limit=2)]
        assert every == [item["id"] for item in ITEMS[::-1]]
        pages = [len(p.data) async for p in page.iter_pages()]
        assert pages == [3, 2]


@pytest.mark.parametrize("mode", MODES)
def test_bad_inputs(mode: str, canned: CannedServer) -> None:
    with pytest.raises(ValueError, match="response_id"):
        run(mode, canned.base_url("items"), lambda c: c.responses.input_items.list(""))
    with pytest.raises(rillet.NotFoundError, match="resp_missing"):
        run(mode, canned.base_url("items"), lambda c: c.responses.input_items.list("resp_missing"))


def test_raw_and_streaming_responses(canned: CannedServer) -> None:
    with rillet.OpenAI(base_url=canned.base_url("items"), api_key="sk", max_retries=0) as c:
        raw = c.responses.with_raw_response.input_items.list("resp_1", limit=1)
        assert raw.headers["x-request-id"] == "req_items"
        assert [item.id for item in raw.parse().data] == ["x_5"]
        with c.with_streaming_response.responses.input_items.list("resp_1") as response:
            assert response.status_code == 200
            assert len(response.parse().data) == len(ITEMS)


async def test_async_raw_response(canned: CannedServer) -> None:
    async with rillet.AsyncOpenAI(
        base_url=canned.base_url("items"), api_key="sk", max_retries=0
    ) as c:
        raw = await c.responses.input_items.with_raw_response.list("resp_1", limit=2)
        page = raw.parse()
        assert raw.status_code == 200 and [item.id for item in page.data] == ["x_5", "msg_4"]
        assert [item.id for item in (await page.get_next_page()).data] == ["fco_3", "fc_2"]
        async with c.responses.with_streaming_response.input_items.list("resp_1") as response:
            assert len((await response.parse()).data) == len(ITEMS)


# --- against rillet serve ------------------------------------------------------------------

CONVERSATION: list[dict[str, Any]] = [
    {"role": "user", "content": "Weather in Oslo?"},
    {
        "type": "function_call",
        "call_id": "call_a",
        "name": "get_weather",
        "arguments": '{"city": "Oslo"}',
    },
    {"type": "function_call_output", "call_id": "call_a", "output": "Sunny, 21 C"},
    {"role": "user", "content": "Thanks! And tomorrow?"},
]


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with run_server("--backend", "synthetic") as url:
        yield url


@pytest.mark.parametrize("mode", MODES)
def test_against_rillet_serve(mode: str, server_url: str) -> None:
    async def acall(c: rillet.AsyncOpenAI) -> Any:
        response = await c.responses.create(model="m", input=CONVERSATION)
        first = await c.responses.input_items.list(response.id, limit=3, order="asc")
        every = [item async for item in c.responses.input_items.list(response.id, limit=1)]
        return response.id, first, every

    def call(c: rillet.OpenAI) -> Any:
        response = c.responses.create(model="m", input=CONVERSATION)
        first = c.responses.input_items.list(response.id, limit=3, order="asc")
        return response.id, first, list(c.responses.input_items.list(response.id, limit=1))

    response_id, first, every = run(mode, server_url, call if mode == "sync" else acall)
    assert [item.type for item in first.data] == [
        "message",
        "function_call",
        "function_call_output",
    ]
    assert first.has_more is True
    assert first.data[0].content[0].text == "Weather in Oslo?"
    assert [item.type for item in every] == [
        "message",
        "function_call_output",
        "function_call",
        "message",
    ]  # newest first: `order` defaults to desc
    official = openai.OpenAI(base_url=server_url, api_key="sk", max_retries=0)
    theirs = [item.id for item in official.responses.input_items.list(response_id, limit=1)]
    assert theirs == [item.id for item in every]


def test_against_rillet_serve_bad_inputs(server_url: str) -> None:
    with rillet.OpenAI(base_url=server_url, api_key="sk", max_retries=0) as c:
        response = c.responses.create(model="m", input="Hi")
        with pytest.raises(rillet.BadRequestError, match="limit") as caught:
            c.responses.input_items.list(response.id, limit=0)
        assert caught.value.status_code == 400
        with pytest.raises(rillet.NotFoundError):
            c.responses.input_items.list("resp_no_such_response")
        (item,) = c.responses.input_items.list(response.id).data
        assert isinstance(item, ResponseInputMessageItem) and item.content[0].text == "Hi"

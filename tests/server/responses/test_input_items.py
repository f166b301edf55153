"""`GET /v1/responses/{id}/input_items`: a stored response's input as items, in cursor pages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ..fakes import assert_openai_error

INPUT: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": [{"type": "input_text", "text": "Weather in Tokyo?"}]},
    {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    {"role": "assistant", "content": "It is sunny."},
    {"role": "user", "content": "Thanks"},
]


def create(base_url: str, **fields: Any) -> str:
    body = {"model": "m", "input": INPUT, **fields}
    response = httpx.post(f"{base_url}/responses", json=body)
    assert response.status_code == 200, response.text
    response_id: str = response.json()["id"]
    return response_id


def items(base_url: str, response_id: str, **query: Any) -> dict[str, Any]:
    response = httpx.get(f"{base_url}/responses/{response_id}/input_items", params=query)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def test_items_are_listed_newest_first_with_ids_and_statuses(base_url: str) -> None:
    page = items(base_url, create(base_url))
    data = page["data"]
    assert page["object"] == "list" and page["has_more"] is False
    assert [item["type"] for item in data] == [
        "message", "message", "function_call_output", "function_call", "message", "message",
    ]  # fmt: skip
    assert page["first_id"] == data[0]["id"] and page["last_id"] == data[-1]["id"]
    assert all(item["status"] == "completed" for item in data)
    assert len({item["id"] for item in data}) == len(data)
    assert data[0]["content"] == [{"type": "input_text", "text": "Thanks"}]
    assert data[1]["content"] == [
        {"type": "output_text", "text": "It is sunny.", "annotations": []}
    ]
    assert data[1]["id"].startswith("msg_") and data[3]["id"].startswith("fc_")
    assert data[2] | {"id": ""} == {"id": "", "type": "function_call_output", "call_id": "call_1",
                                    "output": "sunny", "status": "completed"}  # fmt: skip
    assert data[4]["content"] == [{"type": "input_text", "text": "Weather in Tokyo?"}]
    assert data[5]["role"] == "system"


def test_a_string_input_is_one_user_message(base_url: str) -> None:
    response = httpx.post(f"{base_url}/responses", json={"model": "m", "input": "hello"})
    data = items(base_url, response.json()["id"])["data"]
    assert [(d["role"], d["content"]) for d in data] == [
        ("user", [{"type": "input_text", "text": "hello"}])
    ]


def test_pages_follow_after_and_before_in_either_order(base_url: str) -> None:
    response_id = create(base_url)
    everything = items(base_url, response_id, order="asc")["data"]
    ids = [item["id"] for item in everything]
    first = items(base_url, response_id, order="asc", limit=4)
    assert [i["id"] for i in first["data"]] == ids[:4] and first["has_more"] is True
    rest = items(base_url, response_id, order="asc", limit=4, after=first["last_id"])
    assert [i["id"] for i in rest["data"]] == ids[4:] and rest["has_more"] is False
    newest = items(base_url, response_id, limit=2)
    assert [i["id"] for i in newest["data"]] == ids[::-1][:2]
    back = items(base_url, response_id, order="asc", before=ids[4], limit=2)
    assert [i["id"] for i in back["data"]] == ids[2:4] and back["has_more"] is True
    between = items(base_url, response_id, order="asc", after=ids[0], before=ids[3])
    assert [i["id"] for i in between["data"]] == ids[1:3]
    empty = items(base_url, response_id, order="asc", after=ids[-1])
    assert empty == {"object": "list", "data": [], "first_id": None, "last_id": None,
                     "has_more": False}  # fmt: skip
    included = items(base_url, response_id, include=["message.output_text.logprobs"])
    assert len(included["data"]) == len(ids)


def test_unknown_response_is_a_404(base_url: str) -> None:
    response = httpx.get(f"{base_url}/responses/resp_nope/input_items")
    assert_openai_error(response.json(), 404, response.status_code)
    assert "resp_nope" in response.json()["error"]["message"]


def test_an_unstored_response_has_no_items_to_list(base_url: str) -> None:
    response_id = create(base_url, store=False)
    response = httpx.get(f"{base_url}/responses/{response_id}/input_items")
    assert_openai_error(response.json(), 404, response.status_code)


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"order": "sideways"}, "order"),
        ({"after": "msg_unknown"}, "after"),
        ({"before": "msg_unknown"}, "before"),
        ({"include": "everything"}, "include"),
    ],
)
def test_bad_queries_get_openai_errors_naming_the_parameter(
    base_url: str, query: dict[str, Any], param: str
) -> None:
    response_id = create(base_url)
    response = httpx.get(f"{base_url}/responses/{response_id}/input_items", params=query)
    assert_openai_error(response.json(), 400, response.status_code)
    assert response.json()["error"]["param"] == param

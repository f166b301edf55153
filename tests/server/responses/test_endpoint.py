"""`/v1/responses` over real HTTP with scripted and synthetic backends: errors, storage, readers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from rillet.server.app import create_app
from rillet.server.backends.synthetic.backend import SyntheticBackend
from rillet.server.context import ServerConfig
from tests._wait import wait_until

from ..fakes import ScriptedBackend, assert_openai_error, serve_app, sse_data

BODY = {"model": "gpt-5.2", "input": "hi"}
# `false` accepts nothing, so no value can satisfy this schema.
IMPOSSIBLE = {"type": "object", "properties": {"a": False}, "required": ["a"]}


def events_of(text: str) -> list[dict[str, Any]]:
    return [orjson.loads(data) for data in sse_data(text)]


@pytest.fixture
def synthetic_url() -> Iterator[str]:
    with serve_app(create_app(SyntheticBackend(), ServerConfig())) as url:
        yield url


def test_non_streamed_response(base_url: str, backend: ScriptedBackend) -> None:
    response = httpx.post(f"{base_url}/responses", json={**BODY, "instructions": "Be brief."})
    assert response.status_code == 200
    assert response.headers["x-request-id"].startswith("req_")
    body = response.json()
    assert body["status"] == "completed" and body["instructions"] == "Be brief."
    assert body["output"][0]["content"][0]["text"] == "Once upon a time, a robot learned to sing."
    assert body["usage"]["output_tokens"] == 11
    assert backend.requests[-1].messages[0] == {"role": "system", "content": "Be brief."}
    # Stored by default: retrievable as the same object.
    assert httpx.get(f"{base_url}/responses/{body['id']}").json() == body


def test_streamed_events_carry_their_type_in_the_event_field(base_url: str) -> None:
    response = httpx.post(f"{base_url}/responses", json={**BODY, "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    blocks = [b for b in response.text.split("\n\n") if b]
    response_id = orjson.loads(blocks[0].split("\n")[2][6:])["response"]["id"]
    for block in blocks:
        id_line, event_line, data_line = block.split("\n")
        data = orjson.loads(data_line.removeprefix("data: "))
        assert event_line == f"event: {data['type']}"
        # `id:` names the response and the event's sequence number (docs/resume.md).
        assert id_line == f"id: {response_id}:{data['sequence_number']}"
    events = events_of(response.text)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["type"] == "response.completed"


def test_max_output_tokens_ends_incomplete(base_url: str, backend: ScriptedBackend) -> None:
    body = httpx.post(f"{base_url}/responses", json={**BODY, "max_output_tokens": 16}).json()
    assert body["status"] == "completed"  # 11 tokens fit
    backend.length = 40
    limited = {**BODY, "max_output_tokens": 16, "stream": True}
    events = events_of(httpx.post(f"{base_url}/responses", json=limited).text)
    assert backend.requests[-1].max_tokens == 16
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert events[-1]["response"]["usage"]["output_tokens"] == 16


def test_previous_response_id_continues_the_conversation(
    base_url: str, backend: ScriptedBackend
) -> None:
    first = httpx.post(f"{base_url}/responses", json={**BODY, "instructions": "Old."}).json()
    follow = {**BODY, "input": "more", "instructions": "New.", "previous_response_id": first["id"]}
    second = httpx.post(f"{base_url}/responses", json=follow).json()
    assert second["previous_response_id"] == first["id"]
    assert backend.requests[-1].messages == [
        {"role": "system", "content": "New."},  # instructions are not inherited
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Once upon a time, a robot learned to sing."},
        {"role": "user", "content": "more"},
    ]
    third = {**BODY, "input": "again", "previous_response_id": second["id"]}
    httpx.post(f"{base_url}/responses", json=third)
    assert [m["content"] for m in backend.requests[-1].messages][::2] == ["hi", "more", "again"]


def test_unknown_ids(base_url: str) -> None:
    for method in ("GET", "DELETE"):
        response = httpx.request(method, f"{base_url}/responses/resp_nope")
        assert_openai_error(response.json(), 404, response.status_code)
        assert response.json()["error"]["message"] == "Response with id 'resp_nope' not found."
    response = httpx.post(
        f"{base_url}/responses", json={**BODY, "previous_response_id": "resp_nope"}
    )
    assert_openai_error(response.json(), 400, response.status_code)
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (
        "previous_response_id",
        "previous_response_not_found",
    )


def test_delete_and_store_false(base_url: str) -> None:
    stored = httpx.post(f"{base_url}/responses", json=BODY).json()
    deleted = httpx.delete(f"{base_url}/responses/{stored['id']}")
    assert deleted.json() == {"id": stored["id"], "object": "response.deleted", "deleted": True}
    assert httpx.get(f"{base_url}/responses/{stored['id']}").status_code == 404
    unstored = httpx.post(f"{base_url}/responses", json={**BODY, "store": False}).json()
    assert unstored["store"] is False
    assert httpx.get(f"{base_url}/responses/{unstored['id']}").status_code == 404


def test_retrieve_stream_replays_after_starting_after(base_url: str) -> None:
    created = httpx.post(f"{base_url}/responses", json={**BODY, "stream": True})
    original = events_of(created.text)
    response_id = original[0]["response"]["id"]
    replay = httpx.get(f"{base_url}/responses/{response_id}", params={"stream": "true"})
    assert events_of(replay.text) == original
    tail = httpx.get(
        f"{base_url}/responses/{response_id}", params={"stream": "true", "starting_after": 6}
    )
    assert events_of(tail.text) == original[7:]


@pytest.mark.parametrize(
    ("query", "param"),
    [("stream=maybe", "stream"), ("starting_after=3", "starting_after"),
     ("stream=true&starting_after=-1", "starting_after"),
     ("stream=true&starting_after=x", "starting_after")],
)  # fmt: skip
def test_bad_retrieve_queries(base_url: str, query: str, param: str) -> None:
    response_id = httpx.post(f"{base_url}/responses", json=BODY).json()["id"]
    response = httpx.get(f"{base_url}/responses/{response_id}?{query}")
    assert_openai_error(response.json(), 400, response.status_code)
    assert response.json()["error"]["param"] == param


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "input": [{"type": "item_reference", "id": "x"}]},
        {"model": "m", "input": {"role": "user"}},
        {"model": "m"},
        {"model": "m", "input": "hi", "temperature": 3},
    ],
)
def test_bad_bodies_are_400s_in_openai_shape(base_url: str, body: dict[str, Any]) -> None:
    response = httpx.post(f"{base_url}/responses", json=body)
    assert_openai_error(response.json(), 400, response.status_code)
    assert response.json()["error"]["param"]


@pytest.mark.parametrize("stream", [False, True])
def test_a_backend_refusal_is_a_400_even_when_streaming(
    base_url: str, backend: ScriptedBackend, stream: bool
) -> None:
    backend.reject = "no value fits"
    response = httpx.post(f"{base_url}/responses", json={**BODY, "stream": stream})
    assert_openai_error(response.json(), 400, response.status_code)
    assert response.json()["error"]["param"] == "response_format"


def test_a_failure_mid_stream_is_response_failed(base_url: str, backend: ScriptedBackend) -> None:
    backend.fail_after = 3
    events = events_of(httpx.post(f"{base_url}/responses", json={**BODY, "stream": True}).text)
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["error"]["code"] == "server_error"
    assert "scripted" not in events[-1]["response"]["error"]["message"]
    response = httpx.post(f"{base_url}/responses", json=BODY)
    assert_openai_error(response.json(), 500, response.status_code)


@pytest.mark.parametrize("stream", [False, True])
def test_an_unsatisfiable_schema_is_a_400(synthetic_url: str, stream: bool) -> None:
    text = {"format": {"type": "json_schema", "name": "x", "schema": IMPOSSIBLE}}
    response = httpx.post(f"{synthetic_url}/responses", json={**BODY, "text": text,
                                                               "stream": stream})  # fmt: skip
    assert_openai_error(response.json(), 400, response.status_code)
    assert "false" in response.json()["error"]["message"]


def test_an_unsatisfiable_schema_is_a_400_in_chat_too(synthetic_url: str) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": IMPOSSIBLE}}
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "response_format": fmt}
    response = httpx.post(f"{synthetic_url}/chat/completions", json=chat)
    assert_openai_error(response.json(), 400, response.status_code)


def test_a_streaming_client_leaving_stops_generation(
    base_url: str, backend: ScriptedBackend
) -> None:
    backend.delay = 0.05
    backend.length = 200
    with httpx.stream("POST", f"{base_url}/responses", json={**BODY, "stream": True}) as stream:
        data = (line[6:] for line in stream.iter_lines() if line.startswith("data: "))
        response_id = orjson.loads(next(data))["response"]["id"]
        while orjson.loads(next(data))["type"] != "response.output_text.delta":
            pass
    wait_until(lambda: backend.active == 0)
    assert backend.generated < 200
    assert httpx.get(f"{base_url}/responses/{response_id}").json()["status"] == "cancelled"


def test_a_reattached_reader_keeps_generation_going(
    base_url: str, backend: ScriptedBackend
) -> None:
    backend.delay = 0.02
    backend.length = 40
    with httpx.stream("POST", f"{base_url}/responses", json={**BODY, "stream": True}) as stream:
        lines = stream.iter_lines()
        first = orjson.loads(next(line for line in lines if line.startswith("data: "))[6:])
        response_id = first["response"]["id"]
        with httpx.stream(
            "GET", f"{base_url}/responses/{response_id}", params={"stream": "true"}
        ) as reattached:
            reattached_lines = reattached.iter_lines()
            next(reattached_lines)
            stream.close()  # the original reader goes; the reattached one still reads
            rest = "\n".join(reattached_lines)
    assert "response.completed" in rest
    assert httpx.get(f"{base_url}/responses/{response_id}").json()["status"] == "completed"


def test_background_responses_run_without_readers_and_can_be_cancelled(
    base_url: str, backend: ScriptedBackend
) -> None:
    backend.delay = 0.02
    started = httpx.post(f"{base_url}/responses", json={**BODY, "background": True}).json()
    assert started["status"] == "in_progress" and started["background"] is True
    url = f"{base_url}/responses/{started['id']}"
    wait_until(lambda: httpx.get(url).json()["status"] == "completed")

    backend.length = 500
    started = httpx.post(f"{base_url}/responses", json={**BODY, "background": True}).json()
    cancelled = httpx.post(f"{base_url}/responses/{started['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert backend.active == 0
    backend.length, backend.delay = 3, 0.0
    foreground = httpx.post(f"{base_url}/responses", json=BODY).json()
    response = httpx.post(f"{base_url}/responses/{foreground['id']}/cancel")
    assert_openai_error(response.json(), 400, response.status_code)


def test_the_store_is_bounded_by_config(backend: ScriptedBackend) -> None:
    config = ServerConfig(max_stored_responses=2)
    with serve_app(create_app(backend, config)) as url:
        ids = [httpx.post(f"{url}/responses", json=BODY).json()["id"] for _ in range(3)]
        assert [httpx.get(f"{url}/responses/{i}").status_code for i in ids] == [404, 200, 200]

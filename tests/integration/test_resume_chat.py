"""Resumable chat streams against a real `rillet serve` (memory store): ids, drop and
reattach with Last-Event-ID, the 404 / 400 cases, opting in or not, cancel, and the
Responses API's Last-Event-ID."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests._server import run_server
from tests._sse_blocks import blocks, data, event_id, text_of

BODY: dict[str, Any] = {
    "model": "gpt-4",
    "messages": [{"role": "user", "content": "Write a story about a robot."}],
    "stream": True,
    "max_tokens": 40,
}
RESUMABLE = {"X-Rillet-Resumable": "1"}
KEY = {"Authorization": "Bearer key-a"}


@pytest.fixture(scope="module")
def paced() -> Iterator[str]:
    """A server slow enough that a client can drop in the middle of a stream."""
    with run_server("--backend", "synthetic", "--tokens-per-second", "100") as url:
        yield url


@pytest.fixture(scope="module")
def fast() -> Iterator[str]:
    with run_server("--backend", "synthetic") as url:
        yield url


def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{url}/chat/completions", json=body, headers=headers, timeout=30)


def first_events(url: str, count: int, headers: dict[str, str]) -> list[bytes]:
    """Read `count` events of a new stream, then drop the connection."""
    got: list[bytes] = []
    with httpx.stream(
        "POST", f"{url}/chat/completions", json=BODY, headers=headers, timeout=30
    ) as response:
        assert response.status_code == 200
        for block in blocks(response.iter_raw()):
            got.append(block)
            if len(got) == count:
                break
    return got


def test_every_event_has_an_id_naming_the_stream_and_its_position(fast: str) -> None:
    response = post(fast, {**BODY, "stream_options": {"include_usage": True}}, {})
    events = list(blocks([response.content]))
    stream_id = data(events[0])["id"]  # type: ignore[index]
    assert [event_id(e) for e in events] == [f"{stream_id}:{n}" for n in range(1, len(events) + 1)]
    assert data(events[-1]) == "[DONE]"
    assert "x-rillet-resumable" not in response.headers  # not opted in


def test_drop_and_reattach_loses_and_repeats_nothing(paced: str) -> None:
    head = first_events(paced, 5, {**RESUMABLE, **KEY})
    last = event_id(head[-1])
    assert last is not None and last.endswith(":5")
    with httpx.stream(
        "POST",
        f"{paced}/chat/completions",
        json=BODY,
        headers={"Last-Event-ID": last, **KEY},
        timeout=30,
    ) as response:
        assert response.status_code == 200
        assert response.headers["x-rillet-resumable"] == "1"
        tail = list(blocks(response.iter_raw()))
    combined = head + tail
    stream_id = last.rsplit(":", 1)[0]
    assert [event_id(e) for e in combined] == [
        f"{stream_id}:{n}" for n in range(1, len(combined) + 1)
    ]
    assert data(combined[-1]) == "[DONE]"
    # Byte for byte what the log holds, and the same text as an uninterrupted stream.
    replay = post(paced, BODY, {"Last-Event-ID": f"{stream_id}:0", **KEY})
    assert b"".join(combined) == replay.content
    assert text_of(combined) == text_of(blocks([post(paced, BODY, {}).content]))


def test_a_resumable_stream_goes_on_without_its_reader(paced: str) -> None:
    head = first_events(paced, 2, {**RESUMABLE, **KEY})
    stream_id = event_id(head[0]).rsplit(":", 1)[0]  # type: ignore[union-attr]
    # Reattach from the start: the whole stream, ended by [DONE], generated meanwhile.
    replay = post(paced, BODY, {"Last-Event-ID": f"{stream_id}:0", **KEY})
    events = list(blocks([replay.content]))
    assert events[:2] == head
    assert data(events[-1]) == "[DONE]"


def test_a_plain_stream_cannot_be_reattached(fast: str) -> None:
    events = list(blocks([post(fast, BODY, KEY).content]))
    last = event_id(events[3])
    response = post(fast, BODY, {"Last-Event-ID": last or "", **KEY})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "stream_not_found"


@pytest.mark.parametrize("value", ["", "nocolon", "chatcmpl-x:", "chatcmpl-x:-1", "a b:1", "x:1e3"])
def test_a_malformed_last_event_id_is_a_400(fast: str, value: str) -> None:
    response = post(fast, BODY, {"Last-Event-ID": value})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_last_event_id" and error["param"] == "Last-Event-ID"


def test_unknown_ids_and_other_keys_are_the_same_404(fast: str) -> None:
    events = list(blocks([post(fast, BODY, {**RESUMABLE, **KEY}).content]))
    last = event_id(events[2])
    assert last is not None
    unknown = post(fast, BODY, {"Last-Event-ID": "chatcmpl-000:1", **KEY})
    other_key = post(fast, BODY, {"Last-Event-ID": last, "Authorization": "Bearer key-b"})
    no_key = post(fast, BODY, {"Last-Event-ID": last})
    for response in (unknown, other_key, no_key):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "stream_not_found"
    assert other_key.json()["error"]["message"].replace(last.rsplit(":", 1)[0], "X") == (
        unknown.json()["error"]["message"].replace("chatcmpl-000", "X")
    )
    mine = post(fast, BODY, {"Last-Event-ID": last, **KEY})
    assert mine.status_code == 200
    assert list(blocks([mine.content])) == events[3:]


def test_a_different_body_is_a_400_naming_the_field(fast: str) -> None:
    events = list(blocks([post(fast, BODY, {**RESUMABLE, **KEY}).content]))
    last = event_id(events[1]) or ""
    changed = {**BODY, "max_tokens": 41}
    response = post(fast, changed, {"Last-Event-ID": last, **KEY})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "resume_body_mismatch" and error["param"] == "max_tokens"
    # Key order and spacing do not matter: the body is compared canonically.
    reordered = dict(reversed(list(BODY.items())))
    assert post(fast, reordered, {"Last-Event-ID": last, **KEY}).status_code == 200


def test_cancel_stops_a_resumable_stream(paced: str) -> None:
    long = {**BODY, "max_tokens": 2000}
    with httpx.stream(
        "POST",
        f"{paced}/chat/completions",
        json=long,
        headers={**RESUMABLE, **KEY},
        timeout=30,
    ) as response:
        events = blocks(response.iter_raw())
        first = next(events)
        stream_id = (event_id(first) or "").rsplit(":", 1)[0]
        other = httpx.post(
            f"{paced}/chat/completions/{stream_id}/cancel", headers={"Authorization": "Bearer b"}
        )
        assert other.status_code == 404
        assert other.json()["error"]["code"] == "stream_not_found"
        cancel = httpx.post(f"{paced}/chat/completions/{stream_id}/cancel", headers=KEY)
        assert cancel.status_code == 200
        assert cancel.json() == {
            "id": stream_id,
            "object": "chat.completion.stream",
            "status": "cancelled",
        }
        rest = list(events)
    last = data(rest[-1])
    assert isinstance(last, dict) and last["error"]["code"] == "stream_cancelled"
    assert event_id(rest[-1]) is None  # a reattach after it sees it again
    assert len(rest) < 1000
    again = httpx.post(f"{paced}/chat/completions/{stream_id}/cancel", headers=KEY)
    assert again.json()["status"] == "finished"
    unknown = httpx.post(f"{paced}/chat/completions/chatcmpl-nope/cancel", headers=KEY)
    assert unknown.status_code == 404


def test_responses_last_event_id_works_like_starting_after(fast: str) -> None:
    body = {"model": "gpt-4", "input": "Tell me a story.", "stream": True, "max_output_tokens": 30}
    created = httpx.post(f"{fast}/responses", json=body, headers=RESUMABLE, timeout=30)
    assert created.headers["x-rillet-resumable"] == "1"
    events = list(blocks([created.content]))
    response_id = data(events[0])["response"]["id"]  # type: ignore[index]
    assert [event_id(e) for e in events] == [f"{response_id}:{n}" for n in range(len(events))]
    url = f"{fast}/responses/{response_id}?stream=true"
    replay = httpx.get(url, headers={"Last-Event-ID": f"{response_id}:4"})
    assert list(blocks([replay.content])) == events[5:]
    wrong = httpx.get(url, headers={"Last-Event-ID": "resp_other:4"})
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "invalid_last_event_id"


def test_the_server_needs_the_redis_package_only_for_a_redis_store() -> None:
    import subprocess
    import sys

    blocked = (
        "import sys; sys.modules['redis'] = None; from rillet.server.cli import main; "
        "import rillet.server.app; "
        "assert 'redis' not in [m for m in sys.modules if sys.modules[m]]; "
        "sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", blocked, "--backend", "synthetic", "--store", "redis://x:1/0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().endswith("pip install 'rillet[redis]'")
    assert result.stderr.count("\n") == 1


def test_a_resumable_response_goes_on_without_its_reader(paced: str) -> None:
    body = {"model": "gpt-4", "input": "Tell me a story.", "stream": True, "max_output_tokens": 40}
    head: list[bytes] = []
    with httpx.stream(
        "POST", f"{paced}/responses", json=body, headers=RESUMABLE, timeout=30
    ) as response:
        for block in blocks(response.iter_raw()):
            head.append(block)
            if len(head) == 6:
                break
    last = event_id(head[-1]) or ""
    response_id = last.rsplit(":", 1)[0]
    url = f"{paced}/responses/{response_id}?stream=true"
    tail = list(blocks([httpx.get(url, headers={"Last-Event-ID": last}, timeout=30).content]))
    combined = head + tail
    assert [event_id(e) for e in combined] == [f"{response_id}:{n}" for n in range(len(combined))]
    final = data(combined[-1])
    assert isinstance(final, dict) and final["type"] == "response.incomplete"  # max tokens

"""The I/O-free resume decisions (`rillet._streams.resume`) and the decoder's side of them:
ids parsed, where a stream stands, the `retry:` field, the attempts budget, the reattach and
cancel requests, and duplicates skipped by position after a reattach."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

import rillet
from rillet._send import RequestSpec
from rillet._sse import ServerSentEvent
from rillet._streams.resume import (
    CANCEL_TIMEOUT,
    ChatTarget,
    Cursor,
    ResponsesTarget,
    Resume,
    Target,
    event_position,
    parse_event_id,
    resumable_answer,
)
from rillet._streams.stream import EventDecoder, Progress
from rillet.resources.responses import ResponseProgress

BASE = "http://127.0.0.1:9/v1"
RESUMABLE = {"X-Rillet-Resumable": "1"}


def spec(url: str = f"{BASE}/chat/completions", resumes: int = 3, **kw: Any) -> RequestSpec:
    settings: dict[str, Any] = {
        "method": "POST",
        "url": url,
        "headers": {"Authorization": "Bearer k", "X-Rillet-Resumable": "1"},
        "params": {"api-version": "1"},
        "content": b'{"model":"m","stream":true}',
        "timeout": httpx.Timeout(30.0),
        "max_retries": 2,
        "stream": True,
        "idle_timeout": 5.0,
        "max_stream_resumes": resumes,
        **kw,
    }
    return RequestSpec(**settings)


def answer(headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(200, headers=headers or {}, request=httpx.Request("POST", BASE))


def event(data: object, id: str | None = None, kind: str = "message") -> ServerSentEvent:
    raw = data if isinstance(data, bytes) else orjson.dumps(data)
    return ServerSentEvent(raw, kind, id)


def resume(
    target: Target | None = None, resumes: int = 3, headers: dict[str, str] | None = None
) -> Resume:
    return Resume(
        target or ChatTarget(f"{BASE}/chat/completions"),
        spec(resumes=resumes),
        answer(RESUMABLE if headers is None else headers),
    )


# --- ids ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("chatcmpl-abc:17", ("chatcmpl-abc", 17)),
        ("resp_1:0", ("resp_1", 0)),
        ("a:b:3", ("a:b", 3)),  # split at the last colon
        ("x:007", ("x", 7)),
        (None, None),
        ("", None),
        ("17", None),  # no stream part
        (":17", None),
        ("x:", None),
        ("x:1.5", None),
        ("x:-1", None),
        ("x:\u0663", None),  # a non-ASCII digit is not a position
        ("x:1 ", None),
    ],
)
def test_event_ids_parse_as_stream_and_position(
    value: str | None, parsed: tuple[str, int] | None
) -> None:
    assert parse_event_id(value) == parsed


def test_a_position_comes_from_the_id_else_the_sequence_number() -> None:
    assert event_position(event({"sequence_number": 4}, "resp_1:9")) == 9
    assert event_position(event({"type": "x", "sequence_number": 4})) == 4
    assert event_position(event({"sequence_number": True})) is None
    assert event_position(event({"sequence_number": "4"})) is None
    assert event_position(event(b"[DONE]")) is None
    assert event_position(event([1, 2])) is None


@pytest.mark.parametrize(
    ("value", "yes"), [("1", True), ("true", True), (" YES ", True), ("0", False), ("", False)]
)
def test_the_servers_opt_in_answer(value: str, yes: bool) -> None:
    assert resumable_answer(answer({"x-rillet-resumable": value})) is yes
    assert resumable_answer(answer()) is False


# --- where a stream stands ------------------------------------------------------------------


def test_chat_cursor_needs_a_stream_position_id() -> None:
    target = ChatTarget(f"{BASE}/chat/completions/")
    assert target.cursor(event({}, "chatcmpl-a:5"), None) == Cursor("chatcmpl-a", 5, "chatcmpl-a:5")
    assert target.cursor(event({}, "7"), None) is None
    assert target.cursor(event({"sequence_number": 3}), None) is None  # not for chat


def test_responses_cursor_from_ids_or_sequence_numbers_and_the_opening_event() -> None:
    target = ResponsesTarget(f"{BASE}/responses")
    created = event({"type": "response.created", "sequence_number": 0, "response": {"id": "r1"}})
    delta = event({"type": "response.output_text.delta", "sequence_number": 6})
    assert target.cursor(event({}, "resp_x:4"), None) == Cursor("resp_x", 4, "resp_x:4")
    assert target.cursor(delta, created) == Cursor("r1", 6, None)
    assert target.cursor(delta, None) is None  # no id for the response anywhere
    assert target.cursor(delta, delta) is None
    known = ResponsesTarget(f"{BASE}/responses", "r9")
    assert known.cursor(delta, None) == Cursor("r9", 6, None)


def test_who_may_be_resumed() -> None:
    chat = ChatTarget(f"{BASE}/chat/completions")
    assert chat.resumable(True, None)
    assert not chat.resumable(False, None)  # resending the POST elsewhere starts a new answer
    responses = ResponsesTarget(f"{BASE}/responses")
    background = event({"type": "response.created", "response": {"id": "r", "background": True}})
    foreground = event({"type": "response.created", "response": {"id": "r", "background": False}})
    assert responses.resumable(True, None)
    assert not responses.resumable(False, foreground)
    assert responses.resumable(False, background)  # the OpenAI API's background responses
    assert ResponsesTarget(BASE, background=True).resumable(False, None)
    assert ResponsesTarget(BASE, "r1").resumable(False, None)  # a retrieve stream


# --- the requests ---------------------------------------------------------------------------


def test_chat_reattach_is_the_same_request_with_last_event_id() -> None:
    original = spec()
    again = ChatTarget(original.url).reattach(original, Cursor("chatcmpl-a", 5, "chatcmpl-a:5"))
    assert again.headers == {**original.headers, "Last-Event-ID": "chatcmpl-a:5"}
    assert (again.method, again.url, again.content, again.params) == (
        original.method,
        original.url,
        original.content,
        original.params,
    )
    assert again.max_retries == 0 and again.stream and again.idle_timeout == 5.0
    assert "Last-Event-ID" not in original.headers  # the original is left as it was
    twice = ChatTarget(original.url).reattach(again, Cursor("chatcmpl-a", 9, "chatcmpl-a:9"))
    assert [v for k, v in twice.headers.items() if k.lower() == "last-event-id"] == ["chatcmpl-a:9"]


def test_responses_reattach_is_a_get_starting_after_the_last_event() -> None:
    original = spec(f"{BASE}/responses")
    again = ResponsesTarget(original.url).reattach(original, Cursor("resp/1", 41, None))
    assert (again.method, again.url, again.content) == ("GET", f"{BASE}/responses/resp%2F1", None)
    assert again.params == {"api-version": "1", "stream": "true", "starting_after": 41}
    assert again.stream and again.max_retries == 0 and again.headers["Authorization"] == "Bearer k"


@pytest.mark.parametrize(
    ("target", "url"),
    [
        (ChatTarget(f"{BASE}/chat/completions"), f"{BASE}/chat/completions/s1/cancel"),
        (ResponsesTarget(f"{BASE}/responses", "s1"), f"{BASE}/responses/s1/cancel"),
    ],
)
def test_cancel_is_a_short_post_sent_once(target: Target, url: str) -> None:
    state = resume(target)
    last = event({"sequence_number": 3}, "s1:3")
    cancel = state.cancel(last, None)
    assert cancel is not None
    assert (cancel.method, cancel.url, cancel.content, cancel.stream) == ("POST", url, None, False)
    assert cancel.timeout == httpx.Timeout(CANCEL_TIMEOUT) and cancel.max_retries == 0
    assert cancel.params == {"api-version": "1"}
    assert state.cancel(last, None) is None  # once


def test_no_cancel_without_the_servers_opt_in_or_an_id() -> None:
    assert resume(headers={}).cancel(event({}, "s:1"), None) is None
    assert resume().cancel(None, None) is None
    assert resume().cancel(event({}), None) is None


# --- attempts and waits ---------------------------------------------------------------------


def test_attempts_in_a_row_are_bounded_and_progress_gives_the_budget_back() -> None:
    state = resume(resumes=2)
    state._retry = 0
    at5 = event({}, "c:5")
    assert state.next_attempt(at5, None, None) is not None
    assert state.next_attempt(at5, None, None) is not None
    assert state.next_attempt(at5, None, None) is None  # two in a row without a new event
    state = resume(resumes=2)
    for position in range(5, 15):  # each reattach brought an event: never out of budget
        assert state.next_attempt(event({}, f"c:{position}"), None, 0) is not None
    assert state.next_attempt(event({}, "c:14"), None, 0) is not None
    assert state.next_attempt(event({}, "c:14"), None, 0) is None


def test_nothing_to_resume() -> None:
    assert resume(resumes=0).next_attempt(event({}, "c:5"), None, None) is None
    assert resume(headers={}).next_attempt(None, None, None) is None  # not opted in
    assert resume().next_attempt(event({}), None, None) is None  # no ids: as without resume
    assert resume(headers={}).next_attempt(event({}, "c:5"), None, None) is None


def test_cut_before_the_first_event_the_request_is_sent_again_within_the_budget() -> None:
    """Nothing was delivered: the original request, from the start (no cursor)."""
    state = resume(resumes=2)
    attempts = [state.next_attempt(None, None, None) for _ in range(3)]
    assert attempts[2] is None  # the budget counts these tries too
    for attempt in attempts[:2]:
        assert attempt is not None
        request, wait, cursor = attempt
        assert cursor is None and wait > 0
        assert request.method == state.spec.method and request.url == state.spec.url
        assert request.content == state.spec.content and request.max_retries == 0


def test_the_attempt_carries_its_request_wait_and_cursor() -> None:
    step = resume().next_attempt(event({}, "c:5"), None, 250)
    assert step is not None
    request, wait, cursor = step
    assert request.headers["Last-Event-ID"] == "c:5"
    assert wait == 0.25
    assert cursor == Cursor("c", 5, "c:5")


def test_the_servers_retry_field_is_the_base_delay_and_is_kept() -> None:
    state = resume(resumes=10)
    assert [state.next_attempt(event({}, "c:1"), None, 100)[1] for _ in range(2)] == [  # type: ignore[index]
        0.1,
        0.2,
    ]
    step = state.next_attempt(event({}, "c:1"), None, None)  # a new connection without one
    assert step is not None and step[1] == 0.4
    assert state.delay(30) == 8.0  # capped
    state._retry = 20_000
    assert state.delay(0) == 20.0 and state.delay(3) == 20.0  # a longer ask is honoured


def test_without_retry_the_clients_backoff_with_jitter() -> None:
    state = resume()
    waits = [state.delay(0) for _ in range(50)]
    assert all(0.375 <= w <= 0.5 for w in waits) and len(set(waits)) > 1
    assert 0.75 <= state.delay(1) <= 1.0


def test_attached_counts_and_learns_the_opt_in() -> None:
    state = resume(headers={})
    assert not state.answer
    state.attached(answer(RESUMABLE))
    assert state.resumes == 1 and state.answer


# --- the decoder after a reattach -----------------------------------------------------------


def chat_sse(position: int, text: str, stream: str = "c") -> bytes:
    data = {"id": stream, "choices": [{"index": 0, "delta": {"content": text}}]}
    return f"id: {stream}:{position}\n".encode() + b"data: " + orjson.dumps(data) + b"\n\n"


def texts(decoder: EventDecoder[Any], chunk: bytes) -> list[str]:
    return [item["choices"][0]["delta"]["content"] for item in decoder.feed(chunk)]


def decoder(progress: Progress | None = None) -> EventDecoder[Any]:
    return EventDecoder(answer(), lambda data: data, progress or Progress())


def test_first_and_last_events_are_kept_per_read() -> None:
    d = decoder()
    assert texts(d, chat_sse(1, "a") + chat_sse(2, "b") + chat_sse(3, "c")[:9]) == ["a", "b"]
    assert d.first is not None and d.first.id == "c:1"
    assert d.last is not None and d.last.id == "c:2"
    assert texts(d, b"") == []
    assert d.last.id == "c:2"


def test_a_reattach_drops_the_half_event_and_what_is_repeated() -> None:
    d = decoder()
    assert texts(d, chat_sse(1, "a") + chat_sse(2, "b") + chat_sse(3, "c")[:20]) == ["a", "b"]
    d.reattach(answer(), Cursor("c", 2, "c:2"))
    assert texts(d, chat_sse(1, "a")) == []
    assert d.last is not None and d.last.id == "c:2"  # nothing new was delivered
    assert texts(d, chat_sse(2, "b") + chat_sse(3, "c")) == ["c"]
    assert texts(d, chat_sse(4, "d")) == ["d"]
    assert d.last is not None and d.last.id == "c:4"


def test_a_reattach_answered_with_another_stream_raises() -> None:
    d = decoder()
    d.reattach(answer(), Cursor("c", 2, "c:2"))
    with pytest.raises(rillet.APIResponseValidationError, match="with events of stream 'other'"):
        texts(d, chat_sse(3, "x", stream="other"))


def test_responses_duplicates_are_dropped_by_sequence_number() -> None:
    d = EventDecoder(answer(), lambda data: data, ResponseProgress())
    d.reattach(answer(), Cursor("r1", 5, None))
    events = b"".join(
        b"event: response.output_text.delta\ndata: "
        + orjson.dumps({"type": "response.output_text.delta", "sequence_number": n, "delta": "x"})
        + b"\n\n"
        for n in (4, 5, 6, 7)
    )
    assert [item["sequence_number"] for item in d.feed(events)] == [6, 7]


def test_an_error_event_marks_the_stream_ended_by_the_server() -> None:
    d = decoder()
    with pytest.raises(rillet.APIError):
        list(d.feed(b'data: {"error": {"message": "boom"}}\n\n'))
    assert d.errored


# --- what the resources and the client set up -----------------------------------------------


def test_streamed_chat_and_responses_requests_opt_in_unless_told_not_to() -> None:
    from rillet._types import omit
    from rillet.resources.chat import _ENDPOINT as CHAT
    from rillet.resources.responses import _ENDPOINT as RESPONSES

    def opted(endpoint: Any, client: rillet.OpenAI, params: dict[str, Any], stream: bool) -> Any:
        headers = endpoint.create(client, params, stream).headers
        return [v for k, v in headers.items() if k.lower() == "x-rillet-resumable"]

    chat = {"model": "m", "messages": []}
    with rillet.OpenAI(api_key="k", base_url=BASE) as c:
        assert c.max_stream_resumes == 3
        assert opted(CHAT, c, chat, True) == ["1"]
        assert opted(RESPONSES, c, {"model": "m", "input": "x"}, True) == ["1"]
        assert opted(CHAT, c, chat, False) == []
        assert opted(CHAT, c, {**chat, "max_stream_resumes": 0}, True) == []
        assert opted(CHAT, c, {**chat, "extra_headers": {"x-rillet-resumable": omit}}, True) == []
        assert opted(CHAT, c, {**chat, "extra_headers": {"X-Rillet-Resumable": "0"}}, True) == ["0"]
        assert CHAT.create(c, {**chat, "max_stream_resumes": 5}, True).max_stream_resumes == 5
        assert c.with_options(max_stream_resumes=1).max_stream_resumes == 1
    for default in (omit, "0"):
        with rillet.OpenAI(
            api_key="k", base_url=BASE, default_headers={"X-Rillet-Resumable": default}
        ) as c:
            assert opted(CHAT, c, chat, True) == ([] if default is omit else ["0"])
    with rillet.OpenAI(api_key="k", base_url=BASE, max_stream_resumes=0) as c:
        assert opted(CHAT, c, chat, True) == []
        assert c.copy().max_stream_resumes == 0
        assert CHAT.create(c, chat, True).max_stream_resumes == 0


def test_each_endpoint_names_how_its_streams_are_reattached() -> None:
    from rillet.resources.chat import _ENDPOINT as CHAT
    from rillet.resources.responses import _ENDPOINT as RESPONSES

    with rillet.OpenAI(api_key="k", base_url=BASE) as c:
        chat = {"model": "m", "messages": []}
        spec_ = CHAT.create(c, chat, True)
        target = CHAT.target_of(spec_, chat)
        assert isinstance(target, ChatTarget) and target.collection == f"{BASE}/chat/completions"
        assert CHAT.target_of(CHAT.create(c, chat, False), chat) is None
        for params, background in [
            ({"model": "m"}, False),
            ({"model": "m", "background": True}, True),
            ({"model": "m", "extra_body": {"background": True}}, True),
            ({"model": "m", "background": True, "extra_body": {"background": False}}, False),
        ]:
            found = RESPONSES.target_of(RESPONSES.create(c, params, True), params)
            assert isinstance(found, ResponsesTarget)
            assert (found.collection, found.background) == (f"{BASE}/responses", background)


def test_a_retrieve_stream_is_reattached_by_its_known_id() -> None:
    from rillet.resources.responses import _retrieve_target

    with rillet.OpenAI(api_key="k", base_url=BASE) as c:
        query = {"stream": "true", "starting_after": 3}
        spec_ = c._spec("GET", "/responses/resp_1", {}, query=query, stream=True)
        target = _retrieve_target(spec_, "resp_1")
        assert isinstance(target, ResponsesTarget)
        assert (target.collection, target.response_id) == (f"{BASE}/responses", "resp_1")
        delta = event({"type": "response.output_text.delta", "sequence_number": 8})
        assert target.resumable(False, None)
        cursor = target.cursor(delta, None)
        assert cursor == Cursor("resp_1", 8, None)
        again = target.reattach(spec_, cursor)
        assert again.url == f"{BASE}/responses/resp_1"
        assert again.params == {"stream": "true", "starting_after": 8}
        plain = c._spec("GET", "/responses/resp_1", {}, stream=False)
        assert _retrieve_target(plain, "resp_1") is None

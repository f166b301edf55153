"""The canned server's scenarios used by the client's integration tests."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from tests.integration.canned import Connection, Handler, Request, chunk, sse, story, stream_events


def _echo(conn: Connection, request: Request) -> bool:
    """Answers a chat completion whose message content is the request, for inspection."""
    echo = {
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "headers": request.headers,
        "body": request.json(),
    }
    conn.json(200, _completion(json.dumps(echo)), x_request_id="req_echo")
    return True


def _completion(content: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-whole",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "canned-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
        **extra,
    }


def _long(conn: Connection, request: Request) -> bool:
    """A long stream; abandoned by pool tests after a few chunks."""
    conn.start_sse()
    try:
        for event in story(2000):
            conn.piece(event)
        conn.end()
    except OSError:
        return False
    return True


def _truncated(conn: Connection, request: Request) -> bool:
    """Well-formed chunked body that simply ends early: no finish_reason, no [DONE]."""
    conn.start_sse()
    for event in story(3)[:3]:
        conn.piece(event)
    conn.end()
    return True


def _finished_no_done(conn: Connection, request: Request) -> bool:
    conn.start_sse()
    for event in story(3)[:-1]:
        conn.piece(event)
    conn.end()
    return True


def _cut_mid_event(conn: Connection, request: Request) -> bool:
    """The connection drops in the middle of an event (incomplete chunked body)."""
    conn.start_sse()
    conn.piece(sse(chunk(0, "Hello")))
    conn.piece(b'data: {"id": "chatcmpl-canned", "choi')
    conn.sock.shutdown(2)
    return False


def _reset(conn: Connection, request: Request) -> bool:
    """A reset right after the first event. No wait is needed for "Hello" to be read first:
    TCP delivers it before the reset, and Linux keeps what arrived readable, the reset
    surfacing only on the read after it."""
    conn.start_sse()
    conn.piece(sse(chunk(0, "Hello")))
    conn.reset()
    return False


def _html_502(conn: Connection, request: Request) -> bool:
    page = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>"
    conn.whole(502, page + b"<hr>nginx</body></html>", content_type="text/html")
    return True


def _non_sse_200(conn: Connection, request: Request) -> bool:
    conn.json(200, _completion("not a stream"))
    return True


def _html_200(conn: Connection, request: Request) -> bool:
    conn.whole(200, b"<html><body>Welcome to the proxy</body></html>", content_type="text/html")
    return True


def _status(status: int, **headers: str) -> Handler:
    def handler(conn: Connection, request: Request) -> bool:
        body = {
            "error": {
                "message": f"canned {status}",
                "type": "invalid_request_error",
                "param": "messages",
                "code": f"code_{status}",
            }
        }
        conn.json(status, body, x_request_id=f"req_{status}", **headers)
        return True

    return handler


class Flaky:
    """Fails `failures` times with `status` (and its headers), then streams a story."""

    def __init__(self, failures: int, status: int, **headers: str) -> None:
        self.failures = failures
        self.failing = _status(status, **headers)
        self.lock = threading.Lock()
        self.seen = 0
        self.times: list[float] = []

    def __call__(self, conn: Connection, request: Request) -> bool:
        with self.lock:
            self.seen += 1
            self.times.append(time.monotonic())
            fail = self.seen <= self.failures
        if fail:
            return self.failing(conn, request)
        return stream_events(story(3))(conn, request)


class DropFirst:
    """Drops the first connection without answering, then streams normally."""

    def __init__(self) -> None:
        self.seen = 0

    def __call__(self, conn: Connection, request: Request) -> bool:
        self.seen += 1
        if self.seen == 1:
            conn.reset()
            return False
        return stream_events(story(3))(conn, request)


def _stall(conn: Connection, request: Request) -> bool:
    conn.start_sse()
    conn.piece(sse(chunk(0, "Hel")))
    conn.piece(sse(chunk(1, "lo")))
    time.sleep(2.0)  # the stall is the behaviour under test: idle timeouts fire during it
    try:
        for event in story(3)[2:]:
            conn.piece(event)
        conn.end()
    except OSError:
        return False
    return True


def _slow_steady(conn: Connection, request: Request) -> bool:
    """Slow but never idle for long: each chunk 0.1 s apart."""
    return stream_events(story(5), delay=0.1)(conn, request)


def _odd_framing(conn: Connection, request: Request) -> bool:
    """CRLF line ends, a BOM, comments, multi-byte text split across writes, an id field."""
    conn.start_sse()
    body = (
        b"\xef\xbb\xbf: keep-alive comment\r\n\r\n"
        + b"id: 7\r\ndata: "
        + json.dumps(chunk(0, "caf\u00e9 \u2603 "), ensure_ascii=False).encode()
        + b"\r\n\r\n"
        + sse(chunk(1, "\U0001f916 robot", "stop")).replace(b"\n", b"\r\n")
        + b"data: [DONE]\r\n\r\n"
        + b"data: {after done is ignored\r\n\r\n"
    )
    step = 7  # split everywhere, including inside CRLFs and multi-byte characters
    for start in range(0, len(body), step):
        conn.piece(body[start : start + step])
    conn.end()
    return True


def _error_event(conn: Connection, request: Request) -> bool:
    conn.start_sse()
    conn.piece(sse(chunk(0, "Hel")))
    conn.piece(sse({"error": {"message": "the model crashed", "type": "server_error"}}))
    conn.end()
    return True


def _malformed(conn: Connection, request: Request) -> bool:
    conn.start_sse()
    conn.piece(sse(chunk(0, "Hel")))
    conn.piece(b'data: {"id": "x", "choices": [\n\n')
    conn.end()
    return True


def _wrong_shape(conn: Connection, request: Request) -> bool:
    conn.start_sse()
    conn.piece(b'data: {"id": "x", "choices": {"index": 0}}\n\n')
    conn.end()
    return True


def _extra_fields(conn: Connection, request: Request) -> bool:
    first = chunk(0, "Hi", server_extra={"shard": 3})
    first["choices"][0]["delta"]["reasoning_content"] = "thinking"
    return stream_events([sse(first), *story(1)[1:]])(conn, request)


def _two_choices(conn: Connection, request: Request) -> bool:
    events = [
        sse(chunk(0, "A", choice=0)),
        sse(chunk(0, "B", choice=1)),
        sse(chunk(1, None, "stop", choice=0)),
        sse(chunk(1, None, "length", choice=1)),
    ]
    return stream_events(events)(conn, request)


def _one_of_two_finished(conn: Connection, request: Request) -> bool:
    events = [
        sse(chunk(0, "A", choice=0)),
        sse(chunk(0, "B", choice=1)),
        sse(chunk(1, None, "stop", choice=0)),
    ]
    return stream_events(events)(conn, request)


def _first_of_two_whole(conn: Connection, request: Request) -> bool:
    """All of choice 0, its finish included, then a clean end before choice 1's first chunk:
    whole for n=1, cut short for n=2."""
    events = [
        sse(chunk(0, "A", choice=0)),
        sse(chunk(1, "a", choice=0)),
        sse(chunk(2, None, "stop", choice=0)),
    ]
    return stream_events(events)(conn, request)


def _usage_chunk() -> dict[str, Any]:
    """The chunk `stream_options={"include_usage": True}` adds: usage, and no choices."""
    usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    return {**chunk(0), "choices": [], "usage": usage}


def _usage_no_done(conn: Connection, request: Request) -> bool:
    """Every choice finished and the usage chunk, then a clean end without [DONE]."""
    return stream_events([*story(3)[:-1], sse(_usage_chunk())])(conn, request)


def _models(conn: Connection, request: Request) -> bool:
    if request.path.endswith("/models"):
        data = [{"id": m, "object": "model", "created": 1, "owned_by": "canned"} for m in "ab"]
        conn.json(200, {"object": "list", "data": data})
    else:
        name = request.path.rsplit("/", 1)[1]
        conn.json(200, {"id": name, "object": "model", "created": 1, "owned_by": "canned"})
    return True


def scenarios() -> dict[str, Handler]:
    table: dict[str, Handler] = {
        "story": stream_events(story(5)),
        "echo": _echo,
        "long": _long,
        "truncated": _truncated,
        "finished-no-done": _finished_no_done,
        "cut": _cut_mid_event,
        "reset": _reset,
        "html502": _html_502,
        "non-sse-200": _non_sse_200,
        "html-200": _html_200,
        "stall": _stall,
        "slow-steady": _slow_steady,
        "odd-framing": _odd_framing,
        "error-event": _error_event,
        "malformed": _malformed,
        "wrong-shape": _wrong_shape,
        "extra-fields": _extra_fields,
        "two-choices": _two_choices,
        "one-of-two": _one_of_two_finished,
        "first-of-two-whole": _first_of_two_whole,
        "usage-no-done": _usage_no_done,
        "models": _models,
        "no-retry-500": _status(500, x_should_retry="false"),
    }
    for status in (400, 401, 403, 404, 409, 422, 429, 500, 503):
        table[f"status{status}"] = _status(status)
    return table

"""The send loop: one API call sent, and re-sent as the retry policy allows, over httpx.

`SyncSender` and `AsyncSender` differ only in their I/O calls; every decision (whether an
answer is the stream asked for, what to retry, how long to wait, which exception a failure
becomes) is made by `_Attempts`, which both call.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from rillet._exceptions import APIResponseValidationError, status_error, transport_error
from rillet._retry import retry_delay, should_retry_response


@dataclass(slots=True)
class RequestSpec:
    """Everything needed to (re)send one API call."""

    method: str
    url: str
    headers: dict[str, str]
    params: dict[str, Any]
    content: bytes | None
    timeout: httpx.Timeout
    max_retries: int
    stream: bool = False
    idle_timeout: float | None = None
    max_stream_resumes: int = 0  # reconnections of a stream whose connection fails mid-way


def build_request(http: httpx.Client | httpx.AsyncClient, spec: RequestSpec) -> httpx.Request:
    return http.build_request(
        spec.method,
        spec.url,
        headers=spec.headers,
        params=spec.params or None,
        content=spec.content,
        timeout=spec.timeout,
    )


def body_of(response: httpx.Response) -> object:
    """A read response's body: decoded JSON when it is JSON, else the text."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text


def parse_json(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a successful, fully read response."""
    try:
        data = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise APIResponseValidationError(
            response,
            response.text,
            message=f"Expected a JSON body, got {_describe(response)}.",
        ) from None
    if type(data) is not dict:
        raise APIResponseValidationError(
            response, data, message="Expected a JSON object in the response body."
        )
    return data


def _describe(response: httpx.Response) -> str:
    kind = response.headers.get("content-type", "no content-type")
    text = " ".join(response.text.split())
    return f"{kind}: {text[:120]!r}" if text else f"{kind} with an empty body"


def start_stream(response: httpx.Response, idle_timeout: float | None) -> None:
    """Arm the idle timeout for the body of a stream that is about to be read."""
    if idle_timeout is not None:
        # httpcore reads the body's read timeout from the request when body reading begins,
        # so this makes every later socket read wait at most `idle_timeout` seconds.
        timeouts = response.request.extensions.get("timeout")
        if isinstance(timeouts, dict):
            timeouts["read"] = idle_timeout


def is_event_stream(response: httpx.Response) -> bool:
    kind: str = response.headers.get("content-type", "")
    return kind == "" or kind.split(";", 1)[0].strip().lower() == "text/event-stream"


def not_a_stream_error(response: httpx.Response) -> APIResponseValidationError:
    """For a 2xx answer to `stream=True` that is not SSE (read first)."""
    return APIResponseValidationError(
        response,
        body_of(response),
        message=f"Expected a text/event-stream response, got {_describe(response)}.",
    )


class _Attempts:
    """Every decision of the send loop: counts tries, says whether an answer is the stream
    asked for, and turns each failure into either a wait or the final exception."""

    __slots__ = ("done", "spec")

    def __init__(self, spec: RequestSpec) -> None:
        self.spec = spec
        self.done = 0

    def streams(self, response: httpx.Response) -> bool:
        """Whether `response` (unread) is the event stream asked for, to hand on as it is;
        anything else is read first."""
        if response.is_success and self.spec.stream and is_event_stream(response):
            start_stream(response, self.spec.idle_timeout)
            return True
        return False

    def after_read(self, response: httpx.Response) -> float | None:
        """None to return this read response; else a wait before retrying it, or it raises."""
        if response.is_success:
            if self.spec.stream:
                raise not_a_stream_error(response)
            return None
        if self.done < self.spec.max_retries and should_retry_response(response):
            self.done += 1
            return retry_delay(self.done - 1, response.headers)
        raise status_error(response, body_of(response))

    def after_error(self, exc: Exception, request: httpx.Request) -> float:
        """A wait before retrying after a transport failure, or it raises the typed error."""
        error = transport_error(exc, request)
        if self.done >= self.spec.max_retries:
            raise error from exc
        self.done += 1
        return retry_delay(self.done - 1)


class SyncSender:
    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def send(self, spec: RequestSpec) -> httpx.Response:
        """The response to `spec`, retried as allowed: a stream unread, anything else read."""
        attempts = _Attempts(spec)
        while True:
            request = build_request(self.http, spec)
            try:
                response = self.http.send(request, stream=True)
                if attempts.streams(response):
                    return response
                response.read()
            except httpx.TransportError as exc:
                time.sleep(attempts.after_error(exc, request))
                continue
            if (wait := attempts.after_read(response)) is None:
                return response
            time.sleep(wait)

    def close(self) -> None:
        self.http.close()


class AsyncSender:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def send(self, spec: RequestSpec) -> httpx.Response:
        attempts = _Attempts(spec)
        while True:
            request = build_request(self.http, spec)
            try:
                response = await self.http.send(request, stream=True)
                if attempts.streams(response):
                    return response
                await response.aread()
            except httpx.TransportError as exc:
                await asyncio.sleep(attempts.after_error(exc, request))
                continue
            if (wait := attempts.after_read(response)) is None:
                return response
            await asyncio.sleep(wait)

    async def close(self) -> None:
        await self.http.aclose()

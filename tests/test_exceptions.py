"""The error hierarchy and how an HTTP error answer becomes an exception."""

from __future__ import annotations

import pickle
from typing import Any

import httpx
import openai
import pytest

import rillet
from rillet._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    IncompleteStreamError,
    InternalServerError,
    NotFoundError,
    OpenAIError,
    PermissionDeniedError,
    RateLimitError,
    StreamIdleTimeoutError,
    UnprocessableEntityError,
    status_error,
)

URL = "http://test.invalid/v1/chat/completions"


def _exception_names() -> list[str]:
    return [
        name
        for name in rillet.__all__
        if isinstance(getattr(rillet, name), type)
        and issubclass(getattr(rillet, name), BaseException)
    ]


def _shared_exception_names() -> list[str]:
    return [name for name in _exception_names() if hasattr(openai, name)]


def test_every_official_exception_we_export_is_shared() -> None:
    # The names the official client's users catch most.
    expected = {
        "OpenAIError",
        "APIError",
        "APIStatusError",
        "APIConnectionError",
        "APITimeoutError",
        "APIResponseValidationError",
        "BadRequestError",
        "AuthenticationError",
        "PermissionDeniedError",
        "NotFoundError",
        "ConflictError",
        "UnprocessableEntityError",
        "RateLimitError",
        "InternalServerError",
    }
    assert expected <= set(_shared_exception_names())
    assert set(_exception_names()) - set(_shared_exception_names()) == {
        "IncompleteStreamError",
        "StreamIdleTimeoutError",
    }


@pytest.mark.parametrize("name", _shared_exception_names())
def test_hierarchy_matches_the_official_client(name: str) -> None:
    ours = [c.__name__ for c in getattr(rillet, name).__mro__]
    theirs = [c.__name__ for c in getattr(openai, name).__mro__]
    assert set(theirs) <= set(ours), f"{name}: missing bases {set(theirs) - set(ours)}"
    common = [n for n in ours if n in theirs]
    assert common == [n for n in theirs if n in ours]
    # Every base that is an exception of the official API is the same rillet class.
    for base in getattr(rillet, name).__mro__:
        if base.__module__.startswith("rillet") and hasattr(openai, base.__name__):
            assert getattr(rillet, base.__name__) is base


def test_rillets_own_errors_are_caught_by_official_except_clauses() -> None:
    assert issubclass(IncompleteStreamError, APIConnectionError)
    assert not issubclass(IncompleteStreamError, APITimeoutError)
    assert issubclass(StreamIdleTimeoutError, APITimeoutError)
    assert issubclass(StreamIdleTimeoutError, APIConnectionError)
    request = httpx.Request("POST", URL)
    with pytest.raises(APIConnectionError) as info:
        raise IncompleteStreamError(message="stream ended early", request=request)
    assert info.value.message == "stream ended early"
    assert info.value.request is request
    with pytest.raises(APITimeoutError) as idle:
        raise StreamIdleTimeoutError(request, message="idle for 5 s")
    assert str(idle.value) == "idle for 5 s"


def test_connection_and_timeout_defaults() -> None:
    request = httpx.Request("GET", URL)
    conn = APIConnectionError(request=request)
    assert conn.message == "Connection error."
    assert conn.body is None
    assert conn.code is None and conn.param is None and conn.type is None
    timeout = APITimeoutError(request)
    assert timeout.message == "Request timed out."
    assert timeout.request is request


def _response(
    status: int, body: Any = None, *, headers: dict[str, str] | None = None, text: str | None = None
) -> httpx.Response:
    request = httpx.Request("POST", URL)
    if text is not None:
        return httpx.Response(status, text=text, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


def _openai_error(message: str, **fields: Any) -> dict[str, Any]:
    return {"error": {"message": message, **fields}}


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
        (599, InternalServerError),
        (402, APIStatusError),
        (405, APIStatusError),
        (418, APIStatusError),
        (499, APIStatusError),
    ],
)
def test_status_maps_to_class(status: int, cls: type[APIStatusError]) -> None:
    body = _openai_error("boom")
    response = _response(status, body)
    err = status_error(response, body)
    assert type(err) is cls
    assert err.status_code == status
    assert err.response is response
    assert err.request is response.request
    assert str(err) == err.message == f"Error code: {status} - boom"
    # The official client maps the same status to the class of the same name.
    official_client: Any = openai.OpenAI(api_key="k")
    official = official_client._make_status_error("x", body=body, response=response)
    assert type(official).__name__ == cls.__name__


def test_error_fields_from_an_openai_style_body() -> None:
    inner = {
        "message": "Invalid value for 'temperature'",
        "type": "invalid_request_error",
        "param": "temperature",
        "code": "invalid_value",
    }
    response = _response(400, {"error": inner}, headers={"x-request-id": "req_123"})
    err = status_error(response, {"error": inner})
    assert isinstance(err, BadRequestError)
    assert err.message == "Error code: 400 - Invalid value for 'temperature'"
    assert err.body == inner  # the inner error object, as the official client
    assert err.code == "invalid_value"
    assert err.param == "temperature"
    assert err.type == "invalid_request_error"
    assert err.request_id == "req_123"


def test_numeric_code_becomes_a_string_and_bad_fields_are_dropped() -> None:
    inner = {"message": "slow down", "code": 429, "param": 5, "type": ["x"]}
    err = status_error(_response(429, {"error": inner}), {"error": inner})
    assert err.code == "429"
    assert err.param is None
    assert err.type is None


def test_missing_fields_are_none() -> None:
    err = status_error(_response(404, _openai_error("nope")), _openai_error("nope"))
    assert err.code is None and err.param is None and err.type is None
    assert err.request_id is None


def test_body_without_an_error_wrapper() -> None:
    # e.g. vLLM / some proxies: the error fields at the top level.
    body = {"object": "error", "message": "model not found", "type": "NotFoundError", "code": 404}
    err = status_error(_response(404, body), body)
    assert isinstance(err, NotFoundError)
    assert err.message == "Error code: 404 - model not found"
    assert err.body == body
    assert err.type == "NotFoundError"
    assert err.code == "404"


def test_error_given_as_a_string() -> None:
    body = {"error": "Unauthorized"}
    err = status_error(_response(401, body), body)
    assert isinstance(err, AuthenticationError)
    assert err.message == "Error code: 401 - Unauthorized"
    assert err.body == "Unauthorized"
    assert err.code is None


def test_plain_text_body() -> None:
    err = status_error(_response(503, text="upstream unavailable"), "upstream unavailable")
    assert isinstance(err, InternalServerError)
    assert err.message == "Error code: 503 - upstream unavailable"
    assert err.body == "upstream unavailable"


@pytest.mark.parametrize("body", [None, "", {}, {"error": {}}, {"error": {"message": ""}}, []])
def test_no_message_gives_the_bare_status(body: Any) -> None:
    err = status_error(_response(500, text=""), body)
    assert err.message == "Error code: 500"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"detail": "Not Found"}, 'Error code: 404 - {"detail":"Not Found"}'),
        ({"error": {"code": "x"}}, 'Error code: 404 - {"code":"x"}'),
        ({"errors": ["a" * 300]}, None),
    ],
)
def test_bodies_without_a_message_are_shown(body: Any, expected: str | None) -> None:
    err = status_error(_response(404, body), body)
    assert isinstance(err, NotFoundError)
    if expected is not None:
        assert err.message == expected
    else:
        assert err.message.startswith('Error code: 404 - {"errors":["aaa')
        assert len(err.message) <= len("Error code: 404 - ") + 200


def test_html_bodies_are_excerpted() -> None:
    page = (
        "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n"
        + "<center><h1>502 Bad Gateway</h1></center>\n" * 50
        + "<hr><center>nginx</center>\n</body>\n</html>\n"
    )
    err = status_error(_response(502, text=page), page)
    assert isinstance(err, InternalServerError)
    assert err.message.startswith("Error code: 502 - <html> <head><title>502 Bad Gateway")
    assert "\n" not in err.message
    assert len(err.message) <= len("Error code: 502 - ") + 200
    assert err.message.endswith("…")
    assert err.body == page  # the whole page stays available


def test_short_text_is_not_truncated() -> None:
    text = "x" * 200
    err = status_error(_response(500, text=text), text)
    assert err.message == f"Error code: 500 - {text}"


def test_request_id_header() -> None:
    response = _response(500, _openai_error("oops"), headers={"X-Request-ID": "req_abc"})
    err = status_error(response, _openai_error("oops"))
    assert err.request_id == "req_abc"


def test_status_classes_declare_their_status() -> None:
    assert BadRequestError.status_code == 400
    assert AuthenticationError.status_code == 401
    assert PermissionDeniedError.status_code == 403
    assert NotFoundError.status_code == 404
    assert ConflictError.status_code == 409
    assert UnprocessableEntityError.status_code == 422
    assert RateLimitError.status_code == 429


def test_response_validation_error() -> None:
    response = _response(200, text="[1,2]")
    err = APIResponseValidationError(response, [1, 2])
    assert isinstance(err, APIError)
    assert err.status_code == 200
    assert err.response is response
    assert err.body == [1, 2]
    assert err.message == "Data returned by API invalid for expected schema."
    custom = APIResponseValidationError(response, None, message="bad chunk")
    assert str(custom) == "bad chunk"


def test_all_are_openai_errors() -> None:
    for name in _exception_names():
        assert issubclass(getattr(rillet, name), OpenAIError)
    assert issubclass(OpenAIError, Exception)


def test_base_api_error_fields() -> None:
    request = httpx.Request("GET", URL)
    err = APIError("m", request, body={"code": None, "param": "p", "type": "t"})
    assert (err.code, err.param, err.type) == (None, "p", "t")
    assert APIError("m", request, body="text").code is None


def test_status_error_survives_str_and_repr() -> None:
    err = status_error(_response(429, _openai_error("slow")), _openai_error("slow"))
    assert "slow" in str(err)
    assert "RateLimitError" in repr(err)


def test_openai_error_pickles() -> None:
    err = pickle.loads(pickle.dumps(OpenAIError("no key")))
    assert type(err) is OpenAIError
    assert str(err) == "no key"

"""`/v1/responses`: create (streamed or not), retrieve or reattach, delete and cancel.

Every response runs as a :class:`ResponseRun` whether it is stored or not, so
a streamed request, a non-streamed one and a reattaching `GET` all read the
same event log. The backend's first event is awaited before answering: a
request the backend refuses (an unsatisfiable schema, a prompt too long) gets
a plain 400 rather than a stream that fails at once.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from rillet.server.context import get_context
from rillet.server.http.asgi import ClientDisconnected, first_item, run_until_disconnect
from rillet.server.http.errors import APIError, bad_request
from rillet.server.http.sse import EventStreamResponse
from rillet.server.http.validation import read_json
from rillet.server.ids import new_request_id
from rillet.server.responses.events import ResponseBuilder
from rillet.server.responses.request import parse_responses_request, with_history
from rillet.server.responses.store import ResponseRun
from rillet.server.responses.store import StoredResponse as Stored
from rillet.server.resume.log import (
    LAST_EVENT_ID_HEADER,
    RESUMABLE_HEADER,
    opted_in,
    parse_event_id,
)

DEFAULT_PAGE = 20  # input items per page, as upstream
MAX_PAGE = 100
# `include` values upstream accepts; the items already hold all rillet has (message text).
INCLUDABLE = frozenset({
    "file_search_call.results", "web_search_call.results", "web_search_call.action.sources",
    "message.input_image.image_url", "computer_call_output.output.image_url",
    "code_interpreter_call.outputs", "reasoning.encrypted_content", "message.output_text.logprobs",
})  # fmt: skip


async def create_response(request: Request) -> Response:
    context = get_context(request)
    store = context.responses
    body = await read_json(request.scope, request.receive, context.config.max_body_bytes)
    parsed = parse_responses_request(body)
    context.check_model(parsed.generation.model)
    if parsed.previous_response_id is not None:
        previous = await _previous(request, parsed.previous_response_id)
        with_history(parsed, previous.history())
    conversation = parsed.generation.messages[parsed.lead :]
    builder = ResponseBuilder(
        model=parsed.generation.model,
        echo=parsed.echo,
        previous_response_id=parsed.previous_response_id,
        store=parsed.store,
        background=parsed.background,
    )
    resumable = opted_in(request.headers)
    window = store.resume_window if resumable else None
    run = ResponseRun(builder, conversation, parsed.background, window, parsed.input_items)
    events = context.backend.generate(parsed.generation, 0)
    try:
        first = await first_item(request.receive, events)
    except ClientDisconnected:
        return Response(status_code=499)  # nobody is listening; the status only reaches logs
    run.start(events, first)
    if parsed.store:
        store.add(run)
        if context.shared_responses is not None:
            try:
                mirror = window is not None or run.background
                await context.shared_responses.publish(run, mirror=mirror)
            except BaseException:
                await run.aclose()
                store.delete(run.id)
                raise
    headers = {"x-request-id": new_request_id()}
    if resumable and parsed.store:
        headers[RESUMABLE_HEADER] = "1"  # reattach with GET /v1/responses/{id}?stream=true
    if parsed.stream:
        return EventStreamResponse(
            run.follow(), keepalive=context.config.keepalive, headers=headers
        )
    if parsed.background:
        return _json(run.snapshot(), headers)
    try:
        result = await run_until_disconnect(request.receive, run.result())
    except ClientDisconnected:
        return Response(status_code=499)
    return _json(result, headers)


async def _previous(request: Request, response_id: str) -> Stored:
    run = await _lookup(request, response_id)
    if run is None:
        # As upstream: a 400 naming the parameter (not the 404 of GET /v1/responses/{id}).
        raise bad_request(
            f"Previous response with id '{response_id}' not found.",
            "previous_response_id",
            "previous_response_not_found",
        )
    if not run.done:
        raise bad_request(
            f"Previous response with id '{response_id}' is still in progress; "
            "wait for it to finish before continuing it.",
            "previous_response_id",
            "invalid_value",
        )
    return run


async def retrieve_response(request: Request) -> Response:
    run = await _stored(request)
    query = request.query_params
    stream = _query_bool(query.get("stream"), "stream")
    after = _query_int(query.get("starting_after"), "starting_after")
    last_event_id = request.headers.get(LAST_EVENT_ID_HEADER)
    if after is None and last_event_id is not None and stream:
        # The SSE way of saying `starting_after`: `Last-Event-ID: resp_...:<sequence_number>`.
        named, after = parse_event_id(last_event_id)
        if named != run.id:
            raise bad_request(
                f"Last-Event-ID {last_event_id!r} names another stream than '{run.id}'.",
                "Last-Event-ID",
                "invalid_last_event_id",
            )
    headers = {"x-request-id": new_request_id()}
    if stream:
        context = get_context(request)
        return EventStreamResponse(
            run.follow(-1 if after is None else after),
            keepalive=context.config.keepalive,
            headers=headers,
        )
    if after is not None:
        raise bad_request(
            "The 'starting_after' parameter is only allowed when 'stream' is true.",
            "starting_after",
            "invalid_value",
        )
    return _json(run.snapshot(), headers)


async def list_input_items(request: Request) -> Response:
    """`GET /v1/responses/{id}/input_items`: a cursor page of the items the request sent."""
    items = (await _stored(request)).input_items
    query = request.query_params
    limit = _query_int(query.get("limit"), "limit")
    limit = DEFAULT_PAGE if limit is None else limit
    if not 1 <= limit <= MAX_PAGE:
        raise bad_request(
            f"Invalid 'limit': expected an integer from 1 to {MAX_PAGE}, got {limit}.",
            "limit",
            "invalid_value",
        )
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise bad_request(
            f"Invalid value for 'order': expected 'asc' or 'desc', got {order!r}.",
            "order",
            "invalid_value",
        )
    for value in query.getlist("include") + query.getlist("include[]"):
        if value not in INCLUDABLE:
            raise bad_request(
                f"Invalid value for 'include': {value!r} is not one of the values it accepts.",
                "include",
                "invalid_value",
            )
    ordered = items if order == "asc" else items[::-1]
    start, end = 0, len(ordered)
    after, before = query.get("after"), query.get("before")
    if after is not None:
        start = _position(ordered, after, "after") + 1
    if before is not None:
        end = _position(ordered, before, "before")
    window = ordered[start:end]
    # `before` pages backwards: the items nearest the cursor.
    page = window[-limit:] if before is not None and after is None else window[:limit]
    more = len(window) > len(page)
    body = {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": more,
    }
    return _json(body, {"x-request-id": new_request_id()})


def _position(items: list[dict[str, Any]], item_id: str, param: str) -> int:
    for i, item in enumerate(items):
        if item["id"] == item_id:
            return i
    raise bad_request(
        f"No input item with id '{item_id}' in this response.", param, "invalid_value"
    )


async def delete_response(request: Request) -> Response:
    response_id = request.path_params["response_id"]
    context = get_context(request)
    deleted = context.responses.delete(response_id)
    if context.shared_responses is not None:
        deleted = await context.shared_responses.delete(response_id) or deleted
    if not deleted:
        raise not_found(response_id)
    body = {"id": response_id, "object": "response.deleted", "deleted": True}
    return _json(body, {"x-request-id": new_request_id()})


async def cancel_response(request: Request) -> Response:
    """Stop a response that runs without a reader: a background one (as upstream) or, a
    rillet extension, one that asked for a resumable stream (it outlives its connection,
    so a client that closes it on purpose must be able to stop it)."""
    run = await _stored(request)
    if not run.cancellable:
        raise bad_request(
            "Only responses created with 'background' set to true (or streamed with "
            "X-Rillet-Resumable) can be cancelled.",
            code="invalid_value",
        )
    await run.aclose()
    snapshot = run.snapshot()
    if not run.done:  # running on another replica: the cancel reaches it within a heartbeat
        snapshot = {**snapshot, "status": "cancelled"}
    return _json(snapshot, {"x-request-id": new_request_id()})


async def _stored(request: Request) -> Stored:
    response_id = request.path_params["response_id"]
    run = await _lookup(request, response_id)
    if run is None:
        raise not_found(response_id)
    return run


async def _lookup(request: Request, response_id: str) -> Stored | None:
    """A stored response: in this process, or (with a shared store) on any replica. The
    shared record decides whether it exists, so a DELETE anywhere is seen everywhere."""
    context = get_context(request)
    run = context.responses.get(response_id)
    shared = context.shared_responses
    if shared is None:
        return run
    remote = await shared.get(response_id)
    if remote is None:
        if run is not None:
            context.responses.delete(response_id)
        return None
    return remote if run is None else run


def not_found(response_id: str) -> APIError:
    return APIError(404, f"Response with id '{response_id}' not found.")


def _query_bool(value: str | None, param: str) -> bool:
    if value is None or value in ("false", "False", "0"):
        return False
    if value in ("true", "True", "1"):
        return True
    raise bad_request(
        f"Invalid value for '{param}': expected a boolean, got {value!r}.", param, "invalid_type"
    )


def _query_int(value: str | None, param: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise bad_request(
            f"Invalid value for '{param}': expected an integer, got {value!r}.",
            param,
            "invalid_type",
        ) from None
    if number < 0:
        raise bad_request(
            f"Invalid '{param}': {number} is less than the minimum of 0.",
            param,
            "integer_below_min_value",
        )
    return number


def _json(body: dict[str, Any], headers: dict[str, str]) -> Response:
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)

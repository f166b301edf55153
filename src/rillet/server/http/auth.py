"""Bearer-token check in front of every route except the open ones (e.g. `/health`).

A plain ASGI middleware: it looks at the request headers once and passes `send`
through untouched, so it adds nothing to the per-chunk cost of a stream.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp

from rillet.server.http.asgi import Receive, Scope, Send
from rillet.server.http.errors import APIError, send_error
from rillet.server.ids import new_request_id


class BearerAuth:
    def __init__(self, app: ASGIApp, api_key: str | None, open_paths: frozenset[str]) -> None:
        self.app = app
        self.expected = f"Bearer {api_key}".encode() if api_key else None
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.expected is None or scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        supplied = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                supplied = value
                break
        if hmac.compare_digest(supplied, self.expected):
            await self.app(scope, receive, send)
            return
        if supplied:
            message = "Incorrect API key provided: use the key `rillet serve` was started with."
        else:
            message = (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        await send_error(send, APIError(401, message, code="invalid_api_key"), new_request_id())

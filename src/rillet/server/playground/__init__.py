"""The browser playground `rillet serve` shows at `/`: a chat page over the server's own API.

Three hand-written static files beside this module (`index.html`, `app.js`, `app.css`), no
build step and nothing fetched from elsewhere. They are read once, when the routes are built,
and served from memory with:

- a strict Content-Security-Policy (scripts, styles and connections to this origin only, no
  inline script or style, no frames, no plugins) and `X-Content-Type-Options: nosniff`;
- a weak ETag (the same for the gzipped and the plain body) and `Cache-Control: no-cache`,
  so a reload revalidates and gets a 304 while the files are unchanged;
- gzip when accepted: Starlette's GZipMiddleware wraps these routes only, never the API's
  event streams.

The page and its assets need no API key (they hold no data): the page asks for the key and
sends it with every API call, as any other client would.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

PAGE_PATH = "/"
ASSET_PREFIX = "/playground/"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",  # older browsers, besides frame-ancestors
}

# URL path -> (file beside this module, media type)
FILES = {
    PAGE_PATH: ("index.html", "text/html; charset=utf-8"),
    f"{ASSET_PREFIX}app.js": ("app.js", "text/javascript; charset=utf-8"),
    f"{ASSET_PREFIX}app.css": ("app.css", "text/css; charset=utf-8"),
}
PATHS = frozenset(FILES)


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    etag: str  # weak: gzip changes the bytes, not the meaning

    @classmethod
    def load(cls, filename: str, media_type: str) -> Asset:
        body = resources.files(__package__).joinpath(filename).read_bytes()
        digest = hashlib.sha256(body).hexdigest()[:32]
        return cls(body, media_type, f'W/"{digest}"')

    async def serve(self, request: Request) -> Response:
        headers = {
            **SECURITY_HEADERS,
            "ETag": self.etag,
            "Cache-Control": "no-cache",
        }
        if _matches(request.headers.get("if-none-match"), self.etag):
            return Response(status_code=304, headers=headers)
        return Response(self.body, media_type=self.media_type, headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison against an If-None-Match list (or `*`)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))


def load_assets() -> dict[str, Asset]:
    return {path: Asset.load(name, media_type) for path, (name, media_type) in FILES.items()}


def playground_routes() -> list[BaseRoute]:
    """The page at `/` and its two assets, gzipped when the browser accepts it."""
    gzip = [Middleware(GZipMiddleware, minimum_size=512)]
    return [
        Route(path, asset.serve, methods=["GET"], middleware=gzip)
        for path, asset in load_assets().items()
    ]


__all__ = ["CONTENT_SECURITY_POLICY", "PATHS", "playground_routes"]

"""`OpenAI` and `AsyncOpenAI`: settings, headers and request building, shared by both.

The two classes differ only in the httpx client they own and in how a request is awaited;
`_ClientCore` (settings, requests) and `_Client` (the httpx client, the resources) do the
rest. Resources call `_request(spec, cast_to)` for a parsed body and `_stream(spec, ...)`
for a stream of typed items, both typed, so what an endpoint returns is checked.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any, Generic, TypedDict, TypeVar, Unpack, cast

import httpx

from rillet._constants import (
    DEFAULT_BASE_URL,
    DEFAULT_CONNECTION_LIMITS,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
)
from rillet._encode import check_header, check_query, encode_body
from rillet._exceptions import OpenAIError
from rillet._official import official_items, require_official, to_official
from rillet._response import (
    AsyncOpenAIWithRawResponse,
    AsyncOpenAIWithStreamedResponse,
    OpenAIWithRawResponse,
    OpenAIWithStreamedResponse,
)
from rillet._response import cast_response as _cast
from rillet._send import AsyncSender, RequestSpec, SyncSender
from rillet._streams.resume import DEFAULT_MAX_STREAM_RESUMES, Resume, Target
from rillet._streams.stream import AsyncStream, EventDecoder, Progress, Stream
from rillet._transports.http11 import AsyncHTTP11Transport, HTTP11Transport, env_proxies_set
from rillet._types import (
    NOT_GIVEN,
    AsyncCloses,
    Closes,
    NotGiven,
    Omit,
    is_given,
    is_not_given,
    is_omit,
)
from rillet._types import REQUEST_OPTIONS as _REQUEST_OPTIONS
from rillet._version import __version__

__all__ = ["AsyncOpenAI", "OpenAI"]

T = TypeVar("T")  # what a request's body is parsed as
E = TypeVar("E")  # a stream's items
H = TypeVar("H", httpx.Client, httpx.AsyncClient)

_BODYLESS = frozenset({"GET", "DELETE"})
_MISSING_KEY = (
    "The api_key client option must be set either by passing api_key to the client or by "
    "setting the OPENAI_API_KEY environment variable"
)


def _as_timeout(value: float | httpx.Timeout | None) -> httpx.Timeout:
    return value if isinstance(value, httpx.Timeout) else httpx.Timeout(value)


def _merge_headers(headers: dict[str, str], extra: Mapping[str, str | Omit]) -> None:
    """Apply `extra` to `headers`; names match whatever their case, `omit` removes and
    `NOT_GIVEN` leaves the header as it was (either sentinel rillet's or the official one)."""
    for key, value in extra.items():
        if is_not_given(value):
            continue
        for existing in [k for k in headers if k.lower() == key.lower()]:
            del headers[existing]
        if not is_omit(value):
            headers[key] = check_header(key, value)


class ClientSettings(TypedDict, total=False):
    """The settings both clients take, as keyword arguments."""

    api_key: str | None
    organization: str | None
    project: str | None
    base_url: str | httpx.URL | None
    timeout: float | httpx.Timeout | NotGiven | None
    max_retries: int
    default_headers: Mapping[str, str | Omit] | None
    default_query: Mapping[str, object] | None
    stream_idle_timeout: float | None
    max_stream_resumes: int
    official_types: bool


class _ClientCore:
    """Settings and request building; no I/O."""

    api_key: str
    organization: str | None
    project: str | None
    base_url: httpx.URL
    timeout: httpx.Timeout
    max_retries: int
    stream_idle_timeout: float | None
    max_stream_resumes: int
    official_types: bool

    def __init__(
        self,
        *,
        api_key: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        base_url: str | httpx.URL | None = None,
        timeout: float | httpx.Timeout | NotGiven | None = NOT_GIVEN,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str | Omit] | None = None,
        default_query: Mapping[str, object] | None = None,
        stream_idle_timeout: float | None = None,
        max_stream_resumes: int = DEFAULT_MAX_STREAM_RESUMES,
        official_types: bool = False,
    ) -> None:
        api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        if not api_key:
            raise OpenAIError(_MISSING_KEY)
        self.api_key = api_key
        self.organization = organization or os.environ.get("OPENAI_ORG_ID")
        self.project = project or os.environ.get("OPENAI_PROJECT_ID")
        url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        self.base_url = httpx.URL(str(url).rstrip("/") + "/")
        if is_not_given(timeout):
            self.timeout = DEFAULT_TIMEOUT
        else:
            self.timeout = _as_timeout(cast("float | httpx.Timeout | None", timeout))
        self.max_retries = max_retries if is_given(max_retries) else DEFAULT_MAX_RETRIES
        self._custom_headers = dict(default_headers or {})
        self._custom_query = dict(default_query or {})
        self.stream_idle_timeout = stream_idle_timeout
        self.max_stream_resumes = max_stream_resumes
        # Results and stream items as the official package's objects (rillet/_official.py),
        # for libraries that check for its classes; rillet's own views otherwise.
        if official_types:
            require_official()
        self.official_types = official_types

    @property
    def default_headers(self) -> dict[str, str]:
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": f"rillet/{__version__}",
            "Authorization": f"Bearer {self.api_key}",
        }
        if self.organization:
            headers["OpenAI-Organization"] = self.organization
        if self.project:
            headers["OpenAI-Project"] = self.project
        _merge_headers(headers, self._custom_headers)
        return headers

    @property
    def default_query(self) -> dict[str, object]:
        return dict(self._custom_query)

    def _settings(self) -> dict[str, Any]:
        return {
            "api_key": self.api_key,
            "organization": self.organization,
            "project": self.project,
            "base_url": self.base_url,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "default_headers": self._custom_headers,
            "default_query": self._custom_query,
            "stream_idle_timeout": self.stream_idle_timeout,
            "max_stream_resumes": self.max_stream_resumes,
            "official_types": self.official_types,
        }

    def _copy_settings(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """`with_options` settings: as in the official client, `default_headers` and
        `default_query` add to this client's, `set_default_headers`/`set_default_query`
        replace them."""
        settings = self._settings()
        # As officially, a setting passed as `NOT_GIVEN` keeps this client's value.
        overrides = {k: v for k, v in overrides.items() if is_given(v)}
        for name in ("default_headers", "default_query"):
            add = overrides.pop(name, None)
            replace = overrides.pop(f"set_{name}", None)
            if add is not None and replace is not None:
                raise ValueError(f"The `{name}` and `set_{name}` arguments are mutually exclusive")
            if replace is not None:
                settings[name] = replace
            elif add is not None:
                settings[name] = {**settings[name], **add}
        return {**settings, **overrides}

    def _spec(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        query: Mapping[str, Any] | None = None,
        stream: bool | None = None,
    ) -> RequestSpec:
        """Split an endpoint call's keyword arguments into the body and the request options."""
        body: dict[str, Any] = {}
        options: dict[str, Any] = {}
        for key, value in (params or {}).items():
            if key in _REQUEST_OPTIONS:
                options[key] = value
            elif is_given(value):
                body[key] = value
        extra_body = options.get("extra_body")
        if isinstance(extra_body, Mapping):
            body.update((k, v) for k, v in extra_body.items() if is_given(v))

        headers = self.default_headers
        _merge_headers(headers, options.get("extra_headers") or {})
        query_params = {**self._custom_query, **(query or {}), **(options.get("extra_query") or {})}
        query_params = {k: v for k, v in query_params.items() if is_given(v)}
        if query_params:
            check_query(query_params)

        timeout = options.get("timeout", NOT_GIVEN)
        idle = options.get("stream_idle_timeout", NOT_GIVEN)
        retries = options.get("max_retries", NOT_GIVEN)
        resumes = options.get("max_stream_resumes", NOT_GIVEN)
        if stream is None:
            stream = bool(body.get("stream"))
        return RequestSpec(
            method=method,
            url=str(self.base_url.join(path.lstrip("/"))),
            headers=headers,
            params=query_params,
            content=None if method in _BODYLESS else encode_body(body),
            timeout=self.timeout if not is_given(timeout) else _as_timeout(timeout),
            max_retries=retries if is_given(retries) else self.max_retries,
            stream=stream,
            idle_timeout=self.stream_idle_timeout if not is_given(idle) else idle,
            max_stream_resumes=resumes if is_given(resumes) else self.max_stream_resumes,
        )

    def _answer(self, result: T) -> T:
        """A request's result as this client returns it (the official object, if asked)."""
        return to_official(result) if self.official_types else result

    def _items(
        self, construct: Callable[[dict[str, Any]], E], own_types: bool
    ) -> Callable[[dict[str, Any]], E]:
        """How a stream's items are built: `construct`, or official objects if asked and the
        caller does not read rillet's own (`own_types`: the `.stream()` helpers do)."""
        return official_items(construct) if self.official_types and not own_types else construct

    def _generic(
        self, method: str, path: str, body: object, options: Mapping[str, Any] | None
    ) -> RequestSpec:
        """The request of `client.get/post/delete(path, ...)`."""
        return self._spec(method, path, _generic_params(body, options))


# The official client's resources that rillet does not provide: asking for one says so
# (tests/test_compat_surface.py keeps this list equal to the official client's).
NOT_PROVIDED = frozenset(
    {
        "admin",
        "audio",
        "batches",
        "beta",
        "containers",
        "content_provenance_checks",
        "conversations",
        "decisions",
        "evals",
        "files",
        "fine_tuning",
        "images",
        "live",
        "moderations",
        "realtime",
        "safety",
        "skills",
        "uploads",
        "vector_stores",
        "videos",
        "webhooks",
    }
)


class _Client(_ClientCore, Generic[H]):
    """Around the httpx client (`H`): built, or the user's, then the sender and the resources
    bound to it (`_bind`). Subclasses name the kinds of httpx client and transport."""

    _http_type: type[H]
    _transport_type: type[HTTP11Transport] | type[AsyncHTTP11Transport]

    def __init__(
        self,
        *,
        http_client: H | None = None,
        connection_limits: httpx.Limits | None = None,
        **settings: Unpack[ClientSettings],
    ) -> None:
        super().__init__(**settings)
        # The transport this client built for its own httpx client, for tests and debugging
        # (httpx has no public way to ask a client for its transport). None when the httpx
        # client is the user's or shared by `with_options`, or a proxy needs httpx's own.
        self._transport: HTTP11Transport | AsyncHTTP11Transport | None = None
        self._http: H = http_client or self._own_http(connection_limits)
        self._bind()

    def _own_http(self, limits: httpx.Limits | None) -> H:
        """The httpx client made when the user passes none: on rillet's HTTP/1.1 transport,
        unless the environment names a proxy, which needs httpx's own."""
        limits = limits or DEFAULT_CONNECTION_LIMITS
        if not env_proxies_set():
            self._transport = self._transport_type(limits=limits)
        options: dict[str, Any] = {
            "timeout": self.timeout,
            "limits": limits,
            "follow_redirects": True,
            "transport": self._transport,
        }
        return self._http_type(**options)

    def _bind(self) -> None:
        raise NotImplementedError

    def _settings(self) -> dict[str, Any]:
        return {"http_client": self._http, **super()._settings()}

    def __getattr__(self, name: str) -> Any:
        """Only for names no attribute has: an official resource rillet lacks says so."""
        kind = type(self).__name__
        if name in NOT_PROVIDED:
            raise AttributeError(
                f"{kind!r} object has no attribute {name!r}: the official client's "
                f"`{name}` API is not provided by rillet. Call its endpoints with "
                f"`client.post(path, cast_to=object, body={{...}})` (or `client.get` / "
                f"`client.delete`), or use the official `openai` package for it "
                f"(docs/client.md lists what rillet covers)",
                name=name,
                obj=self,
            )
        raise AttributeError(f"{kind!r} object has no attribute {name!r}", name=name, obj=self)


def _events(
    response: httpx.Response,
    construct: Callable[[dict[str, Any]], E],
    progress: Callable[[], Progress],
) -> EventDecoder[E]:
    return EventDecoder(response, construct, progress())


def _generic_params(body: object, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """`client.post(path, body=..., options=...)` arguments as endpoint keyword arguments."""
    params: dict[str, Any] = dict(body) if isinstance(body, Mapping) else {}
    renamed = {"headers": "extra_headers", "params": "extra_query", "extra_json": "extra_body"}
    for key, value in (options or {}).items():
        name = renamed.get(key, key)
        if name not in _REQUEST_OPTIONS:
            raise TypeError(f"unsupported request option {key!r}")
        params[name] = value
    return params


class OpenAI(Closes, _Client[httpx.Client]):
    """The synchronous client. Use as a context manager, or call `close()`, to free connections."""

    _http_type = httpx.Client
    _transport_type = HTTP11Transport

    def _bind(self) -> None:
        from rillet.resources.chat import Chat
        from rillet.resources.completions import Completions
        from rillet.resources.embeddings import Embeddings
        from rillet.resources.models import Models
        from rillet.resources.responses import Responses

        self._sender = SyncSender(self._http)
        self.chat = Chat(self)
        self.completions = Completions(self)
        self.embeddings = Embeddings(self)
        self.models = Models(self)
        self.responses = Responses(self)

    @cached_property
    def with_raw_response(self) -> OpenAIWithRawResponse:
        """`client.with_raw_response.chat.completions.create(...)` and the like."""
        return OpenAIWithRawResponse(self)

    @cached_property
    def with_streaming_response(self) -> OpenAIWithStreamedResponse:
        return OpenAIWithStreamedResponse(self)

    def _request(self, spec: RequestSpec, cast_to: type[T]) -> T:
        """Send `spec`; its read body as `cast_to`."""
        return self._answer(_cast(self._sender.send(spec), cast_to))

    def _stream(
        self,
        spec: RequestSpec,
        construct: Callable[[dict[str, Any]], E],
        progress: Callable[[], Progress] = Progress,
        target: Target | None = None,
        *,
        own_types: bool = False,
    ) -> Stream[E]:
        """Send `spec`; a stream of `construct(data)` items, finished as `progress` says,
        reattached as `target` says when its connection fails (docs/client.md)."""
        send = self._sender.send
        response = send(spec)
        resume = None if target is None else Resume(target, spec, response)
        decoder = _events(response, self._items(construct, own_types), progress)
        return Stream(decoder, spec.idle_timeout, resume=resume, send=send)

    def get(
        self, path: str, *, cast_to: type[Any], options: Mapping[str, Any] | None = None
    ) -> Any:
        """Any GET endpoint, for paths the resources do not cover (as officially)."""
        return self._request(self._generic("GET", path, None, options), cast_to)

    def post(
        self,
        path: str,
        *,
        cast_to: type[Any],
        body: object = None,
        options: Mapping[str, Any] | None = None,
    ) -> Any:
        return self._request(self._generic("POST", path, body, options), cast_to)

    def delete(
        self, path: str, *, cast_to: type[Any], options: Mapping[str, Any] | None = None
    ) -> Any:
        return self._request(self._generic("DELETE", path, None, options), cast_to)

    def with_options(self, **overrides: Any) -> OpenAI:
        """A copy with some settings changed; it shares this client's connection pool."""
        return OpenAI(**self._copy_settings(overrides))

    copy = with_options

    def close(self) -> None:
        self._sender.close()


class AsyncOpenAI(AsyncCloses, _Client[httpx.AsyncClient]):
    """The asynchronous client. Use `async with`, or `await close()`, to free connections."""

    _http_type = httpx.AsyncClient
    _transport_type = AsyncHTTP11Transport

    def _bind(self) -> None:
        from rillet.resources.chat import AsyncChat
        from rillet.resources.completions import AsyncCompletions
        from rillet.resources.embeddings import AsyncEmbeddings
        from rillet.resources.models import AsyncModels
        from rillet.resources.responses import AsyncResponses

        self._sender = AsyncSender(self._http)
        self.chat = AsyncChat(self)
        self.completions = AsyncCompletions(self)
        self.embeddings = AsyncEmbeddings(self)
        self.models = AsyncModels(self)
        self.responses = AsyncResponses(self)

    @cached_property
    def with_raw_response(self) -> AsyncOpenAIWithRawResponse:
        return AsyncOpenAIWithRawResponse(self)

    @cached_property
    def with_streaming_response(self) -> AsyncOpenAIWithStreamedResponse:
        return AsyncOpenAIWithStreamedResponse(self)

    async def _request(self, spec: RequestSpec, cast_to: type[T]) -> T:
        return self._answer(_cast(await self._sender.send(spec), cast_to))

    async def _stream(
        self,
        spec: RequestSpec,
        construct: Callable[[dict[str, Any]], E],
        progress: Callable[[], Progress] = Progress,
        target: Target | None = None,
        *,
        own_types: bool = False,
    ) -> AsyncStream[E]:
        send = self._sender.send
        response = await send(spec)
        resume = None if target is None else Resume(target, spec, response)
        decoder = _events(response, self._items(construct, own_types), progress)
        return AsyncStream(decoder, spec.idle_timeout, resume=resume, send=send)

    async def get(
        self, path: str, *, cast_to: type[Any], options: Mapping[str, Any] | None = None
    ) -> Any:
        """Any GET endpoint, for paths the resources do not cover (as officially)."""
        return await self._request(self._generic("GET", path, None, options), cast_to)

    async def post(
        self,
        path: str,
        *,
        cast_to: type[Any],
        body: object = None,
        options: Mapping[str, Any] | None = None,
    ) -> Any:
        return await self._request(self._generic("POST", path, body, options), cast_to)

    async def delete(
        self, path: str, *, cast_to: type[Any], options: Mapping[str, Any] | None = None
    ) -> Any:
        return await self._request(self._generic("DELETE", path, None, options), cast_to)

    def with_options(self, **overrides: Any) -> AsyncOpenAI:
        """A copy with some settings changed; it shares this client's connection pool."""
        return AsyncOpenAI(**self._copy_settings(overrides))

    copy = with_options

    async def close(self) -> None:
        await self._sender.close()

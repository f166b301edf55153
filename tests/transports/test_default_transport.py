"""Which transport the clients' default http client runs on, seen from outside.

httpx has no public way to ask a client for its transport, so the tests look at what
answers: httpx's own (httpcore) transport sets the documented `network_stream` response
extension, rillet's does not. The client's documented-private `_transport` says which
transport it built, if any.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

import rillet
from rillet._transports.http11 import AsyncHTTP11Transport, HTTP11Transport
from tests.integration.canned import CannedServer, canned_server
from tests.integration.scenarios import scenarios

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(scope="module")
def server() -> Iterator[CannedServer]:
    with canned_server(scenarios()) as running:
        yield running


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def _served_by_httpx(response: httpx.Response) -> bool:
    """Whether httpx's own transport answered: only it sets `network_stream`."""
    return "network_stream" in response.extensions


def _answer(client: rillet.OpenAI) -> httpx.Response:
    response: httpx.Response = client.get("/models", cast_to=httpx.Response)
    assert response.status_code == 200
    return response


async def _answer_async(client: rillet.AsyncOpenAI) -> httpx.Response:
    response: httpx.Response = await client.get("/models", cast_to=httpx.Response)
    assert response.status_code == 200
    return response


@pytest.mark.usefixtures("no_proxy")
def test_default_clients_use_the_http11_transport(server: CannedServer) -> None:
    limits = httpx.Limits(max_connections=3, max_keepalive_connections=1)
    url = server.base_url("models")
    with rillet.OpenAI(api_key="k", base_url=url, connection_limits=limits) as client:
        assert isinstance(client._transport, HTTP11Transport)
        assert client._transport.limits == limits
        assert not _served_by_httpx(_answer(client))

    async def main() -> None:
        async with rillet.AsyncOpenAI(api_key="k", base_url=url) as client:
            assert isinstance(client._transport, AsyncHTTP11Transport)
            assert not _served_by_httpx(await _answer_async(client))

    asyncio.run(main())


@pytest.mark.usefixtures("no_proxy")
def test_a_users_http_client_is_kept(server: CannedServer) -> None:
    http = httpx.Client()
    with rillet.OpenAI(api_key="k", base_url=server.base_url("models"), http_client=http) as c:
        assert c._http is http
        assert c._transport is None
        assert _served_by_httpx(_answer(c))
    assert http.is_closed  # closing the client closes the http client it was given


@pytest.mark.usefixtures("no_proxy")
def test_a_proxy_in_the_environment_keeps_httpx_own_transport(
    server: CannedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """httpx routes environment proxies only when it builds the transport itself: the
    request reaches the proxy (the canned server) in absolute form."""
    monkeypatch.setenv("HTTP_PROXY", server.url)
    target = "http://api.invalid/v1"
    with rillet.OpenAI(api_key="k", base_url=target, max_retries=0) as client:
        assert client._transport is None
        with pytest.raises(rillet.NotFoundError):  # the canned server has no such scenario
            client.models.list()
    assert server.requests[-1].path == f"{target}/models"

    async def main() -> None:
        async with rillet.AsyncOpenAI(api_key="k", base_url=target, max_retries=0) as client:
            assert client._transport is None
            with pytest.raises(rillet.NotFoundError):
                await client.models.retrieve("m")

    asyncio.run(main())
    assert server.requests[-1].path == f"{target}/models/m"

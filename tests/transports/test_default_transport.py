"""Which transport the clients' default http client runs on."""

from __future__ import annotations

import httpx
import pytest

import rillet
from rillet._transports.http11 import AsyncHTTP11Transport, HTTP11Transport


def test_default_clients_use_the_http11_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    limits = httpx.Limits(max_connections=3, max_keepalive_connections=1)
    sync = rillet.OpenAI(api_key="k", connection_limits=limits)
    transport = sync._http._transport
    assert isinstance(transport, HTTP11Transport)
    assert (transport._pool._slots.max_open, transport._pool._slots.max_idle) == (3, 1)
    assert isinstance(rillet.AsyncOpenAI(api_key="k")._http._transport, AsyncHTTP11Transport)
    sync.close()


def test_a_users_http_client_is_kept() -> None:
    http = httpx.Client()
    client = rillet.OpenAI(api_key="k", http_client=http)
    assert client._http is http
    assert type(http._transport) is httpx.HTTPTransport
    client.close()


def test_a_proxy_in_the_environment_keeps_httpx_own_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """httpx routes environment proxies only when it builds the transport itself."""
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    client = rillet.OpenAI(api_key="k")
    assert type(client._http._transport) is httpx.HTTPTransport
    assert any(m is not None for m in client._http._mounts.values())
    aclient = rillet.AsyncOpenAI(api_key="k")
    assert type(aclient._http._transport) is httpx.AsyncHTTPTransport
    client.close()

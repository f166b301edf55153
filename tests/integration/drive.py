"""Run the same client scenario through `OpenAI` or `AsyncOpenAI`, so each test covers both."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

import rillet

MESSAGES = [{"role": "user", "content": "Hello!"}]
MODES = ("sync", "async")
# "default": the client builds its own http client (rillet's HTTP/1.1 transport);
# "httpx": a plain httpx client is passed as `http_client`, as users may. Set per test.
STACKS = ("default", "httpx")
stack = "default"


def _settings(mode: str, base_url: str, client_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    settings = {
        "api_key": "sk-test",
        "base_url": base_url,
        "max_retries": 0,
        **(client_kwargs or {}),
    }
    if stack == "httpx" and "http_client" not in settings:
        settings["http_client"] = httpx.Client() if mode == "sync" else httpx.AsyncClient()
    return settings


def stream_all(
    mode: str, base_url: str, client_kwargs: dict[str, Any] | None = None, **create: Any
) -> list[Any]:
    """Every item of one streamed chat completion."""
    create.setdefault("model", "gpt-4")
    create.setdefault("messages", MESSAGES)
    settings = _settings(mode, base_url, client_kwargs)
    if mode == "sync":
        with rillet.OpenAI(**settings) as client:
            return list(client.chat.completions.create(stream=True, **create))

    async def main() -> list[Any]:
        async with rillet.AsyncOpenAI(**settings) as client:
            stream = await client.chat.completions.create(stream=True, **create)
            return [item async for item in stream]

    return asyncio.run(main())


def complete(
    mode: str, base_url: str, client_kwargs: dict[str, Any] | None = None, **create: Any
) -> Any:
    """One non-streamed chat completion."""
    create.setdefault("model", "gpt-4")
    create.setdefault("messages", MESSAGES)
    settings = _settings(mode, base_url, client_kwargs)
    if mode == "sync":
        with rillet.OpenAI(**settings) as client:
            return client.chat.completions.create(**create)

    async def main() -> Any:
        async with rillet.AsyncOpenAI(**settings) as client:
            return await client.chat.completions.create(**create)

    return asyncio.run(main())


def run(mode: str, base_url: str, call: Any, client_kwargs: dict[str, Any] | None = None) -> Any:
    """`call(client)` on an `OpenAI`, or awaited on an `AsyncOpenAI`: one call, both ways."""
    settings = _settings(mode, base_url, client_kwargs)
    if mode == "sync":
        with rillet.OpenAI(**settings) as client:
            return call(client)

    async def main() -> Any:
        async with rillet.AsyncOpenAI(**settings) as client:
            return await call(client)

    return asyncio.run(main())

"""Run the same client scenario through `OpenAI` or `AsyncOpenAI`, so each test covers both."""

from __future__ import annotations

import asyncio
from typing import Any

import rillet

MESSAGES = [{"role": "user", "content": "Hello!"}]
MODES = ("sync", "async")


def stream_all(
    mode: str, base_url: str, client_kwargs: dict[str, Any] | None = None, **create: Any
) -> list[Any]:
    """Every item of one streamed chat completion."""
    create.setdefault("model", "gpt-4")
    create.setdefault("messages", MESSAGES)
    settings = {
        "api_key": "sk-test",
        "base_url": base_url,
        "max_retries": 0,
        **(client_kwargs or {}),
    }
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
    settings = {
        "api_key": "sk-test",
        "base_url": base_url,
        "max_retries": 0,
        **(client_kwargs or {}),
    }
    if mode == "sync":
        with rillet.OpenAI(**settings) as client:
            return client.chat.completions.create(**create)

    async def main() -> Any:
        async with rillet.AsyncOpenAI(**settings) as client:
            return await client.chat.completions.create(**create)

    return asyncio.run(main())

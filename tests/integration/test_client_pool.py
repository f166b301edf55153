"""Connections go back to the pool however a stream is left: 200 abandoned streams, 2 connections.

With a leak, the third stream would wait for a free connection and fail with a pool timeout.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import rillet
from tests.integration.canned import CannedServer

STREAMS = 200
LIMITS = httpx.Limits(max_connections=2, max_keepalive_connections=2)
TIMEOUT = httpx.Timeout(10.0, pool=3.0)


class Abandon(Exception):
    pass


def _close(stream: Any) -> None:
    next(stream)
    next(stream)
    stream.close()


def _with_block(stream: Any) -> None:
    with stream:
        for i, _ in enumerate(stream):
            if i == 2:
                break


def _exception_escapes(stream: Any) -> None:
    try:
        for _ in stream:
            raise Abandon
    except Abandon:
        pass


def _dropped(stream: Any) -> None:
    next(stream)
    next(stream)
    # the caller drops its reference: garbage collection must free the connection


def _break_then_close(stream: Any) -> None:
    for i, _ in enumerate(stream):
        if i >= 3:
            stream.close()
            break


@pytest.mark.parametrize(
    "abandon", [_close, _with_block, _exception_escapes, _dropped, _break_then_close]
)
def test_sync_streams_release_connections(
    canned: CannedServer, abandon: Callable[[Any], None]
) -> None:
    with rillet.OpenAI(
        api_key="k", base_url=canned.base_url("long"), connection_limits=LIMITS, timeout=TIMEOUT
    ) as client:
        for _ in range(STREAMS):
            abandon(client.chat.completions.create(model="m", messages=[], stream=True))
        # the pool still serves a complete request afterwards
        final = client.with_options(base_url=canned.base_url("story"))
        chunks = list(final.chat.completions.create(model="m", messages=[], stream=True))
        assert chunks[-1].choices[0].finish_reason == "stop"


async def _aclose(stream: Any) -> None:
    await stream.__anext__()
    await stream.close()


async def _async_with(stream: Any) -> None:
    async with stream:
        async for _ in stream:
            break


async def _async_exception(stream: Any) -> None:
    try:
        async for _ in stream:
            raise Abandon
    except Abandon:
        pass


async def _async_dropped(stream: Any) -> None:
    await stream.__anext__()
    await stream.__anext__()


@pytest.mark.parametrize("abandon", [_aclose, _async_with, _async_exception, _async_dropped])
async def test_async_streams_release_connections(canned: CannedServer, abandon: Any) -> None:
    async with rillet.AsyncOpenAI(
        api_key="k", base_url=canned.base_url("long"), connection_limits=LIMITS, timeout=TIMEOUT
    ) as client:
        for _ in range(STREAMS):
            await abandon(await client.chat.completions.create(model="m", messages=[], stream=True))
            gc.collect(0)
            await asyncio.sleep(0)  # let scheduled closes run
        final = client.with_options(base_url=canned.base_url("story"))
        stream = await final.chat.completions.create(model="m", messages=[], stream=True)
        chunks = [c async for c in stream]
        assert chunks[-1].choices[0].finish_reason == "stop"


def test_a_leak_would_be_caught(canned: CannedServer) -> None:
    """The harness itself: holding streams open does exhaust the 2-connection pool."""
    with rillet.OpenAI(
        api_key="k",
        base_url=canned.base_url("long"),
        connection_limits=LIMITS,
        timeout=TIMEOUT,
        max_retries=0,
    ) as client:
        held = [client.chat.completions.create(model="m", messages=[], stream=True) for _ in "ab"]
        with pytest.raises(rillet.APITimeoutError):
            client.chat.completions.create(model="m", messages=[], stream=True)
        for stream in held:
            stream.close()

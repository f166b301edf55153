"""`client.completions` and `client.embeddings` against a real `rillet serve --backend
synthetic`, sync and async, on rillet's client and on the official `openai` package."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from tests._server import CLIENT_MODULES, import_client, run_server

MODES = ("sync", "async")
STORY = "Write a story about a robot."


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with run_server("--backend", "synthetic") as url:
        yield url


@pytest.fixture(params=CLIENT_MODULES)
def sdk(request: pytest.FixtureRequest) -> ModuleType:
    return import_client(request.param)


def call(sdk: ModuleType, mode: str, base_url: str, method: str, **params: Any) -> Any:
    """`client.<method>(**params)` on a sync or async client; a stream comes back as a list."""
    settings = {"base_url": base_url, "api_key": "anything", "max_retries": 0}
    resource, name = method.split(".")
    if mode == "sync":
        with sdk.OpenAI(**settings) as client:
            result = getattr(getattr(client, resource), name)(**params)
            return list(result) if params.get("stream") else result

    async def main() -> Any:
        async with sdk.AsyncOpenAI(**settings) as client:
            result = await getattr(getattr(client, resource), name)(**params)
            if params.get("stream"):
                return [item async for item in result]
            return result

    return asyncio.run(main())


@pytest.mark.parametrize("mode", MODES)
def test_completion_and_its_stream_agree(sdk: ModuleType, mode: str, base_url: str) -> None:
    settings = {"model": "gpt-3.5-turbo-instruct", "prompt": STORY, "seed": 4, "max_tokens": 30}
    result = call(sdk, mode, base_url, "completions.create", **settings)
    assert result.object == "text_completion" and result.id.startswith("cmpl-")
    [choice] = result.choices
    assert choice.finish_reason == "length" and "robot" in choice.text.lower()
    assert result.usage.completion_tokens == 30
    chunks = call(
        sdk, mode, base_url, "completions.create", stream=True,
        stream_options={"include_usage": True}, **settings,
    )  # fmt: skip
    assert all(c.object == "text_completion" for c in chunks)
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == choice.text
    assert chunks[-1].usage.total_tokens == result.usage.total_tokens


@pytest.mark.parametrize("mode", MODES)
def test_several_prompts_and_choices(sdk: ModuleType, mode: str, base_url: str) -> None:
    for prompt in (["Tell a joke.", "Write a poem."], [[11, 12, 13], [14]]):
        result = call(
            sdk, mode, base_url, "completions.create", model="m",
            prompt=prompt, n=2, max_tokens=5, logprobs=1,
        )  # fmt: skip
        assert [c.index for c in result.choices] == [0, 1, 2, 3]
        assert result.choices[0].text != result.choices[2].text  # different prompts
        for choice in result.choices:
            assert len(choice.logprobs.tokens) == len(choice.logprobs.token_logprobs) == 5
            assert "".join(choice.logprobs.tokens) == choice.text


@pytest.mark.parametrize("mode", MODES)
def test_bad_completion_requests_raise_bad_request(
    sdk: ModuleType, mode: str, base_url: str
) -> None:
    with pytest.raises(sdk.BadRequestError) as caught:
        call(sdk, mode, base_url, "completions.create", model="m", prompt="x", suffix="y")
    assert caught.value.status_code == 400
    assert caught.value.body["param"] == "suffix"
    with pytest.raises(sdk.BadRequestError) as caught:
        call(sdk, mode, base_url, "completions.create", model="m", prompt=[], stream=True)
    assert caught.value.body["param"] == "prompt"


@pytest.mark.parametrize("mode", MODES)
def test_embeddings_default_base64_and_float_agree(
    sdk: ModuleType, mode: str, base_url: str
) -> None:
    texts = ["The cat sat on the mat.", "A cat sat on a mat.", "Interest rates rose."]
    # Without `encoding_format` both clients ask for base64 and decode it to floats.
    decoded = call(sdk, mode, base_url, "embeddings.create", model="m", input=texts)
    floats = call(
        sdk, mode, base_url, "embeddings.create", model="m", input=texts, encoding_format="float"
    )
    assert decoded.object == "list" and decoded.usage.prompt_tokens > 0
    vectors = [item.embedding for item in decoded.data]
    assert vectors == [item.embedding for item in floats.data]
    assert all(math.isclose(sum(v * v for v in vec), 1.0, rel_tol=1e-5) for vec in vectors)
    near = sum(a * b for a, b in zip(vectors[0], vectors[1], strict=True))
    far = sum(a * b for a, b in zip(vectors[0], vectors[2], strict=True))
    assert near > far
    short = call(sdk, mode, base_url, "embeddings.create", model="m", input="hi", dimensions=32)
    assert len(short.data[0].embedding) == 32


@pytest.mark.parametrize("mode", MODES)
def test_bad_embedding_requests_raise_bad_request(
    sdk: ModuleType, mode: str, base_url: str
) -> None:
    with pytest.raises(sdk.BadRequestError) as caught:
        call(sdk, mode, base_url, "embeddings.create", model="m", input=[])
    assert caught.value.body["param"] == "input"
    with pytest.raises(sdk.BadRequestError) as caught:
        call(sdk, mode, base_url, "embeddings.create", model="m", input="x", dimensions=4096)
    assert caught.value.body["param"] == "dimensions"

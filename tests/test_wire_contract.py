"""The request fields of the client's `create()` and the server's endpoints, kept in step.

Three lists name the top-level fields of a chat completion, a Responses request, a legacy
completion and an embeddings request: the
official `openai` package's (pinned in the dev extra), rillet's client parameters
(`ChatCompletionCreateParams`, `ResponseCreateParams`) and the server's known fields
(implemented, ignored or refused: see `rillet.server.http.fields`). Every field must be in
all three, or have an entry in INTENDED_DIFFERENCES saying which lists hold it and why; so a
field added to one side alone fails here instead of reaching users as an "Unrecognized
request argument" 400.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from openai.types import completion_create_params as legacy_create_params
from openai.types import embedding_create_params
from openai.types.chat import completion_create_params
from openai.types.responses import response_create_params

from rillet._types import REQUEST_OPTIONS
from rillet.resources.chat import ChatCompletionCreateParams
from rillet.resources.completions import CompletionCreateParams
from rillet.resources.embeddings import EmbeddingCreateParams
from rillet.resources.responses import ResponseCreateParams
from rillet.server.chat.request import FIELDS as CHAT_FIELDS
from rillet.server.completions.request import FIELDS as COMPLETIONS_FIELDS
from rillet.server.embeddings.request import FIELDS as EMBEDDINGS_FIELDS
from rillet.server.http.fields import RequestFields
from rillet.server.responses.request import FIELDS as RESPONSES_FIELDS

OFFICIAL, CLIENT, SERVER = "official", "client", "server"
ALL = frozenset({OFFICIAL, CLIENT, SERVER})

# (endpoint, field) -> (the lists that hold the field, why the others do not). Keep each
# reason current: an entry that no longer describes a difference fails the test too.
INTENDED_DIFFERENCES: dict[tuple[str, str], tuple[frozenset[str], str]] = {
    # rillet's own extension: the server samples reproducibly with it, as chat's `seed`
    # does; the official Responses API has no seed (its client sends one via extra_body).
    ("responses", "seed"): (frozenset({CLIENT, SERVER}), "rillet extension"),
}


def _keys(params: Any) -> frozenset[str]:
    keys: frozenset[str] = params.__required_keys__ | params.__optional_keys__
    return keys


def client_fields(params: Any) -> frozenset[str]:
    """A create() TypedDict's API fields: its keys less the request options, plus `stream`."""
    return (_keys(params) - REQUEST_OPTIONS) | {"stream"}


LISTS: dict[str, dict[str, frozenset[str]]] = {
    "chat": {
        OFFICIAL: _keys(completion_create_params.CompletionCreateParamsStreaming),
        CLIENT: client_fields(ChatCompletionCreateParams),
        SERVER: CHAT_FIELDS.known,
    },
    "responses": {
        OFFICIAL: _keys(response_create_params.ResponseCreateParamsStreaming),
        CLIENT: client_fields(ResponseCreateParams),
        SERVER: RESPONSES_FIELDS.known,
    },
    "completions": {
        OFFICIAL: _keys(legacy_create_params.CompletionCreateParamsStreaming),
        CLIENT: client_fields(CompletionCreateParams),
        SERVER: COMPLETIONS_FIELDS.known,
    },
    "embeddings": {
        OFFICIAL: _keys(embedding_create_params.EmbeddingCreateParams),
        # Embeddings are never streamed: the client's parameters are the fields as they are.
        CLIENT: _keys(EmbeddingCreateParams) - REQUEST_OPTIONS,
        SERVER: EMBEDDINGS_FIELDS.known,
    },
}
SERVER_FIELDS: dict[str, RequestFields] = {
    "chat": CHAT_FIELDS,
    "responses": RESPONSES_FIELDS,
    "completions": COMPLETIONS_FIELDS,
    "embeddings": EMBEDDINGS_FIELDS,
}


@pytest.mark.parametrize("endpoint", sorted(LISTS))
def test_every_field_is_on_every_side_or_an_intended_difference(endpoint: str) -> None:
    lists = LISTS[endpoint]
    fields = frozenset().union(*lists.values())
    drift = {}
    for field in sorted(fields):
        holders = frozenset(side for side, names in lists.items() if field in names)
        intended = INTENDED_DIFFERENCES.get((endpoint, field), (ALL, ""))[0]
        if holders != intended:
            drift[field] = f"in {sorted(holders)}, expected in {sorted(intended)}"
    assert not drift, drift


def test_every_intended_difference_names_a_real_field() -> None:
    for (endpoint, field), (holders, reason) in INTENDED_DIFFERENCES.items():
        assert holders and holders != ALL and reason, (endpoint, field)
        assert any(field in LISTS[endpoint][side] for side in holders), (endpoint, field)


@pytest.mark.parametrize("endpoint", sorted(SERVER_FIELDS))
def test_what_the_server_ignores_or_refuses_is_documented(endpoint: str) -> None:
    """docs/server.md's table of fields the server does not implement names each of them."""
    docs = (Path(__file__).resolve().parents[1] / "docs" / "server.md").read_text()
    section = docs.split("### Fields the server does not implement", 1)[1].split("\n### ", 1)[0]
    documented = set(re.findall(r"`([a-z_]+)", section))
    fields = SERVER_FIELDS[endpoint]
    missing = (fields.ignored | fields.refused.keys()) - documented
    assert not missing, f"docs/server.md does not say what {endpoint} does with {sorted(missing)}"

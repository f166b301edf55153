"""Turn a `POST /v1/embeddings` body into the inputs and output options of one request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from rillet.server.backends.base import EmbeddingInput
from rillet.server.http.errors import bad_request, missing_parameter
from rillet.server.http.fields import RequestFields
from rillet.server.http.validation import (
    optional_int,
    optional_str,
    parse_texts_or_tokens,
    required_str,
)

MAX_INPUTS = 2048  # upstream's limit on one request's inputs

FIELDS = RequestFields(
    implemented=frozenset({"model", "input", "encoding_format", "dimensions", "user"}),
    ignored=frozenset(),
    refused={},
)

EncodingFormat = Literal["float", "base64"]


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    model: str
    inputs: list[EmbeddingInput]
    encoding_format: EncodingFormat
    dimensions: int | None


def parse_embedding_request(body: dict[str, Any]) -> EmbeddingRequest:
    FIELDS.check(body)
    model = required_str(body, "model")
    inputs = parse_input(body)
    encoding = optional_str(body, "encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise bad_request(
            f"Invalid value for 'encoding_format': expected 'float' or 'base64', got {encoding!r}.",
            "encoding_format",
            "invalid_value",
        )
    dimensions = optional_int(body, "dimensions", minimum=1)
    optional_str(body, "user")
    return EmbeddingRequest(model, inputs, encoding, dimensions)  # type: ignore[arg-type]


def parse_input(body: dict[str, Any]) -> list[EmbeddingInput]:
    """A string, strings, token ids, or arrays of them: never empty, at most 2048 inputs."""
    value = body.get("input")
    if value is None:
        raise missing_parameter("input")
    inputs = parse_texts_or_tokens(value, "input", empty_text=False)
    if len(inputs) > MAX_INPUTS:
        raise bad_request(
            f"Invalid 'input': at most {MAX_INPUTS} inputs are allowed, got {len(inputs)}.",
            "input",
            "array_above_max_length",
        )
    return inputs

"""`Progress`: when a chat stream that ended without `[DONE]` had in fact finished."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

import rillet
from rillet._streams.stream import EventDecoder, Progress, UsageProgress
from rillet.resources.chat import _progress as chat_progress

USAGE = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}


def chunk(*choices: tuple[int, str | None], usage: dict[str, int] | None = None) -> dict[str, Any]:
    """A chunk whose choices are (index, finish_reason) pairs."""
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": i, "delta": {}, "finish_reason": f} for i, f in choices],
        "usage": usage,
    }


def fed(progress: Progress, *chunks: dict[str, Any]) -> Progress:
    for data in chunks:
        assert progress.observe(data) is None
    return progress


def test_one_choice_by_default() -> None:
    assert not fed(Progress()).complete()
    assert fed(Progress()).missing() == "before any choice arrived"
    assert not fed(Progress(), chunk((0, None))).complete()
    assert fed(Progress(), chunk((0, None)), chunk((0, "stop"))).complete()


def test_every_choice_asked_for_must_finish_not_only_those_seen() -> None:
    """The server may send all of choice 0 before choice 1's first chunk."""
    first_whole = fed(Progress(2), chunk((0, None)), chunk((0, "stop")))
    assert not first_whole.complete()
    assert first_whole.missing() == "before choice(s) 1 finished"
    assert fed(first_whole, chunk((1, "length"))).complete()


def test_interleaved_choices_one_still_open() -> None:
    progress = fed(Progress(2), chunk((0, None)), chunk((1, None)), chunk((1, "stop")))
    assert not progress.complete()
    assert progress.missing() == "before choice(s) 0 finished"


def test_a_choice_beyond_n_that_was_seen_must_finish_too() -> None:
    progress = fed(Progress(1), chunk((0, "stop")), chunk((1, None)))
    assert not progress.complete()
    assert progress.missing() == "before choice(s) 1 finished"


def test_missing_choices_are_listed_in_numeric_order() -> None:
    progress = fed(Progress(12), chunk(*((i, "stop") for i in range(12) if i not in (2, 10))))
    assert progress.missing() == "before choice(s) 2, 10 finished"


def test_an_n_below_one_counts_as_one() -> None:
    assert not Progress(0).complete()
    assert fed(Progress(0), chunk((0, "stop"))).complete()


def test_usage_asked_for_must_arrive() -> None:
    progress = fed(UsageProgress(), chunk((0, None)), chunk((0, "stop")))
    assert not progress.complete()
    assert progress.missing() == "before the usage chunk (stream_options include_usage) arrived"
    assert fed(progress, chunk(usage=USAGE)).complete()


def test_usage_on_a_chunk_with_choices_is_not_the_usage_chunk() -> None:
    """Some servers put running usage on every chunk; the usage chunk has no choices."""
    progress = fed(UsageProgress(), chunk((0, "stop"), usage=USAGE))
    assert not progress.complete()


def test_usage_chunk_does_not_stand_for_the_choices() -> None:
    progress = fed(UsageProgress(2), chunk((0, "stop")), chunk(usage=USAGE))
    assert not progress.complete()
    assert progress.missing() == "before choice(s) 1 finished"
    both = fed(UsageProgress(2), chunk((0, None)))
    assert both.missing() == (
        "before choice(s) 0, 1 finished and "
        "before the usage chunk (stream_options include_usage) arrived"
    )


def test_error_events_are_reported() -> None:
    error = {"message": "boom"}
    assert Progress().observe({"error": error}) is error
    assert UsageProgress().observe({"error": error}) is error


@pytest.mark.parametrize(
    ("params", "kind", "choices"),
    [
        ({}, Progress, 1),
        ({"n": 3}, Progress, 3),
        ({"n": None}, Progress, 1),
        ({"n": rillet.NOT_GIVEN}, Progress, 1),
        ({"n": 1, "extra_body": {"n": 2}}, Progress, 2),
        ({"stream_options": {"include_usage": True}}, UsageProgress, 1),
        ({"stream_options": {"include_usage": False}}, Progress, 1),
        ({"stream_options": None}, Progress, 1),
        ({"n": 2, "extra_body": {"stream_options": {"include_usage": True}}}, UsageProgress, 2),
    ],
)
def test_chat_progress_comes_from_the_request(
    params: dict[str, Any], kind: type[Progress], choices: int
) -> None:
    progress = chat_progress(params)
    assert type(progress) is kind
    assert progress.choices == choices


def _decoder(progress: Progress) -> EventDecoder[dict[str, Any]]:
    request = httpx.Request("POST", "http://test/v1/chat/completions")
    return EventDecoder(httpx.Response(200, request=request), lambda data: data, progress)


def test_the_decoder_raises_at_the_end_of_a_body_short_of_n() -> None:
    decoder = _decoder(Progress(2))
    body = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in [chunk((0, "stop"))])
    assert len(list(decoder.feed(body))) == 1
    assert decoder.missing() == "before choice(s) 1 finished"
    with pytest.raises(rillet.IncompleteStreamError, match=r"choice\(s\) 1 finished"):
        decoder.finish()


def test_done_makes_any_stream_whole() -> None:
    decoder = _decoder(UsageProgress(2))
    list(decoder.feed(b"data: " + orjson.dumps(chunk((0, "stop"))) + b"\n\ndata: [DONE]\n\n"))
    assert decoder.missing() is None
    decoder.finish()

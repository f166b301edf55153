"""Stop strings: cutting a known text, and holding back while streaming."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from rillet.server.backends.stops import StopMatcher, first_stop


def test_first_stop_finds_the_earliest_of_several() -> None:
    assert first_stop("one two three", ["three", "two"]) == 4
    assert first_stop("one two", ["four", ""]) is None


def test_matcher_holds_back_a_possible_start_of_a_stop() -> None:
    m = StopMatcher(["</end>"])
    assert m.feed("text </") == "text "
    assert m.feed("en") == ""
    assert m.feed("d> more") == ""
    assert m.stopped and m.flush() == ""


def test_matcher_releases_a_false_alarm() -> None:
    m = StopMatcher(["STOP"])
    assert m.feed("a ST") == "a "
    assert m.feed("ART") == "START"
    assert m.feed(" S") == " "
    assert m.flush() == "S" and not m.stopped


_ALPHABET = st.sampled_from("ab \n")


@given(
    text=st.text(_ALPHABET, max_size=40),
    stops=st.lists(st.text(_ALPHABET, min_size=1, max_size=4), max_size=4),
    cuts=st.lists(st.integers(0, 40), max_size=8),
)
def test_any_split_of_a_stream_emits_the_text_before_the_first_stop(
    text: str, stops: list[str], cuts: list[int]
) -> None:
    bounds = sorted({0, len(text), *(min(c, len(text)) for c in cuts)})
    m = StopMatcher(stops)
    emitted = ""
    for start, end in itertools.pairwise(bounds):
        emitted += m.feed(text[start:end])
        cut = first_stop(text, stops)
        assert not any(stop in emitted for stop in stops)
        assert text.startswith(emitted)
        assert cut is None or len(emitted) <= cut
    emitted += m.flush()
    cut = first_stop(text, stops)
    assert emitted == (text if cut is None else text[:cut])
    assert m.stopped == (cut is not None)

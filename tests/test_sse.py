"""The SSE decoder against the WHATWG event-stream rules, fed whole and in every kind of piece."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rillet._sse import ServerSentEvent, SSEDecoder

BOM = b"\xef\xbb\xbf"
Row = tuple[str, str, str | None, int | None]


def decode(*chunks: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    return [event for chunk in chunks for event in decoder.feed(chunk)]


def rows(events: list[ServerSentEvent]) -> list[Row]:
    return [(e.event, e.data, e.id, e.retry) for e in events]


def reference(stream: bytes) -> list[Row]:
    """The spec's algorithm, line by line over the decoded text, with no shortcuts."""
    text = stream.removeprefix(BOM).decode("utf-8", "replace")
    lines = re.split("\r\n|\r|\n", text)
    lines.pop()  # whatever follows the last line end is an unterminated line: discarded
    out: list[Row] = []
    data, event_type, last_id, retry = "", "", None, None
    for line in lines:
        if line == "":
            if data:
                out.append((event_type or "message", data.removesuffix("\n"), last_id, retry))
            data, event_type, retry = "", "", None
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data += value + "\n"
        elif name == "event":
            event_type = value
        elif name == "id" and "\0" not in value:
            last_id = value
        elif name == "retry" and value and all(c in "0123456789" for c in value):
            retry = int(value)
    return out


# -- one rule at a time ---------------------------------------------------------------


def test_data_line_makes_a_message_event() -> None:
    [event] = decode(b'data: {"a": 1}\n\n')
    assert (event.event, event.data, event.id, event.retry) == ("message", '{"a": 1}', None, None)
    assert event.raw_data == b'{"a": 1}'
    assert event.json() == {"a": 1}


@pytest.mark.parametrize("end", [b"\n", b"\r", b"\r\n"])
def test_each_line_end_is_recognised(end: bytes) -> None:
    stream = b"event: e" + end + b"data: x" + end + b"data: y" + end + end
    assert rows(decode(stream)) == [("e", "x\ny", None, None)]


def test_crlf_split_across_feeds_is_one_line_end() -> None:
    # Were the CR and LF counted apart, the LF would be a blank line dispatching "a" alone.
    assert rows(decode(b"data: a\r", b"\ndata: b\r\n\r\n")) == [("message", "a\nb", None, None)]
    assert rows(decode(b"data: a\r", b"", b"\n", b"data: b\r", b"\n\r", b"\n")) == [
        ("message", "a\nb", None, None)
    ]


def test_cr_then_cr_is_two_line_ends() -> None:
    assert rows(decode(b"data: a\r", b"\rdata: b\r\r")) == [
        ("message", "a", None, None),
        ("message", "b", None, None),
    ]


def test_leading_bom_is_dropped_once() -> None:
    assert rows(decode(BOM + b"data: x\n\n")) == [("message", "x", None, None)]
    # A second BOM is part of the first line's field name, so that line is ignored.
    assert decode(BOM + BOM + b"data: x\n\n") == []
    # Later in the stream a BOM is ordinary text.
    assert rows(decode(b"data: x\n\ndata: " + BOM + b"y\n\n"))[1][1] == "\ufeffy"


@pytest.mark.parametrize("cut", [1, 2])
def test_bom_split_across_feeds_is_still_dropped(cut: int) -> None:
    assert rows(decode(BOM[:cut], BOM[cut:], b"data: x\n\n")) == [("message", "x", None, None)]
    assert rows(decode(BOM[:cut], BOM[cut:] + b"data: x\n\n")) == [("message", "x", None, None)]


def test_bom_prefix_that_is_not_a_bom_is_kept() -> None:
    assert rows(decode(b"\xef", b"data: x\n\ndata: y\n\n")) == [("message", "y", None, None)]


def test_comments_are_ignored() -> None:
    assert rows(decode(b": keep-alive\n\n:\ndata: x\n: in the middle\n\n")) == [
        ("message", "x", None, None)
    ]


def test_line_without_colon_is_a_field_with_empty_value() -> None:
    # "data" alone appends an empty line: one such line dispatches an event with data "".
    assert rows(decode(b"data\n\n")) == [("message", "", None, None)]
    assert rows(decode(b"data\ndata\n\n")) == [("message", "\n", None, None)]
    assert rows(decode(b"event\ndata: x\n\n")) == [("message", "x", None, None)]


def test_only_one_space_after_the_colon_is_removed() -> None:
    assert rows(decode(b"data:x\n\ndata:  x\n\ndata:\tx\n\n")) == [
        ("message", "x", None, None),
        ("message", " x", None, None),
        ("message", "\tx", None, None),
    ]


def test_event_field_sets_the_type_of_one_event() -> None:
    assert rows(decode(b"event: ping\ndata: 1\n\ndata: 2\n\nevent:\ndata: 3\n\n")) == [
        ("ping", "1", None, None),
        ("message", "2", None, None),
        ("message", "3", None, None),
    ]


@pytest.mark.parametrize(
    "stream",
    [
        b"id: 7\nevent: response.created\ndata: {}\n\nevent: a:b\ndata:  x\n\n",
        b"event: \ndata: 1\n\nevent: e\ndata: 1\ndata: 2\n\nevent: e\nid: 9\ndata: 3\n\n",
        b"event: e\ndata: \n\nevent: e\n: note\ndata: z\n\nevent: e\ndata: \xe2\x82\xac\n\n",
    ],
)
def test_event_then_data_framing_follows_the_rules(stream: bytes) -> None:
    """The Responses API's `event:` + `data:` pairs (which have a fast path) decode as the
    spec says, including the cases the fast path must leave to the general one."""
    assert rows(decode(stream)) == reference(stream)


def test_id_persists_to_later_events() -> None:
    stream = b"data: 1\n\nid: 7\ndata: 2\n\ndata: 3\n\nid\ndata: 4\n\n"
    assert [e.id for e in decode(stream)] == [None, "7", "7", ""]


def test_id_after_data_in_the_same_event_applies_to_it() -> None:
    assert [e.id for e in decode(b"data: 1\nid: a\n\n")] == ["a"]


def test_id_on_an_event_without_data_still_persists() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 9\n\n") == []
    assert decoder.last_event_id == "9"
    assert [e.id for e in decoder.feed(b"data: x\n\n")] == ["9"]


def test_id_containing_nul_is_ignored() -> None:
    assert [e.id for e in decode(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n")] == ["1", "1"]


def test_retry_needs_ascii_digits_and_belongs_to_its_event() -> None:
    stream = (
        b"retry: 1500\ndata: a\n\n"
        b"data: b\n\n"
        b"retry: 15x\ndata: c\n\n"
        b"retry: -1\ndata: d\n\n"
        b"retry:\ndata: e\n\n"
        b"retry: \xd9\xa1\xd9\xa2\ndata: f\n\n"  # Arabic-Indic digits are not ASCII digits
    )
    assert [e.retry for e in decode(stream)] == [1500, None, None, None, None, None]


def test_retry_without_data_sets_the_reconnection_time_only() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"retry: 3000\n\ndata: x\n\n") == [ServerSentEvent("x")]
    assert decoder.reconnection_time == 3000


def test_unknown_fields_are_ignored() -> None:
    assert rows(decode(b"foo: bar\ndata : no\nDATA: no\ndata: yes\n\n")) == [
        ("message", "yes", None, None)
    ]


def test_blank_line_without_data_dispatches_nothing_and_resets_the_type() -> None:
    assert rows(decode(b"\n\n\nevent: lost\n\ndata: x\n\n")) == [("message", "x", None, None)]


def test_one_trailing_newline_is_removed_from_data() -> None:
    assert [e.data for e in decode(b"data: a\ndata:\n\n")] == ["a\n"]


def test_done_marker_is_an_ordinary_event() -> None:
    assert rows(decode(b"data: [DONE]\n\n")) == [("message", "[DONE]", None, None)]


def test_multibyte_character_split_across_feeds() -> None:
    stream = "data: \u00e9\u20ac\U0001f600\n\n".encode()
    for cut in range(len(stream) + 1):
        assert [e.data for e in decode(stream[:cut], stream[cut:])] == ["\u00e9\u20ac\U0001f600"]


def test_invalid_utf8_decodes_with_replacement_but_raw_data_is_untouched() -> None:
    [event] = decode(b"event: \xff\ndata: a\xffb\xe2\x82\n\n")
    assert event.event == "\ufffd"
    assert event.data == "a\ufffdb\ufffd"
    assert event.raw_data == b"a\xffb\xe2\x82"


def test_an_unterminated_event_is_never_dispatched() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: complete\n\ndata: partial\n") == [ServerSentEvent("complete")]
    assert decode(b"data: x") == []
    assert decode(b"data: x\r") == []


def test_event_split_at_every_byte() -> None:
    stream = b"data: 1\n\nevent: e\nid: i\ndata: 2\ndata: 3\n\ndata: 4\n\n"
    whole = decode(stream)
    assert len(whole) == 3
    assert decode(*[stream[i : i + 1] for i in range(len(stream))]) == whole


def test_single_line_events_around_a_multiline_one() -> None:
    # Mixes the decoder's shortcut for one-line data events with the general field rules.
    stream = b"data: a\n\ndata: b\ndata: c\n\ndata: d\n\nid: 5\n\ndata: e\n\ndata: f"
    assert rows(decode(stream)) == [
        ("message", "a", None, None),
        ("message", "b\nc", None, None),
        ("message", "d", None, None),
        ("message", "e", "5", None),
    ]


def test_large_event_fed_in_small_pieces() -> None:
    payload = b"x" * 200_000
    stream = b"data: " + payload + b"\n\n"
    [event] = decode(*[stream[i : i + 1000] for i in range(0, len(stream), 1000)])
    assert event.raw_data == payload


# -- the event object -------------------------------------------------------------------


def test_events_compare_by_value() -> None:
    a = ServerSentEvent("x", event="e", id="1", retry=5)
    assert a == ServerSentEvent(b"x", "e", "1", 5)
    assert hash(a) == hash(ServerSentEvent(b"x", "e", "1", 5))
    assert a != ServerSentEvent("x", event="e", id="1")
    assert a != ServerSentEvent("y", event="e", id="1", retry=5)
    assert a != ("e", "x", "1", 5)


def test_decoded_event_equals_a_constructed_one() -> None:
    assert decode(b"id: 1\ndata: x\n\n") == [ServerSentEvent("x", id="1")]


def test_event_repr_shows_every_field() -> None:
    event = ServerSentEvent('{"a": 1}', event="ping", id="7", retry=100)
    assert repr(event) == ("ServerSentEvent(event='ping', data='{\"a\": 1}', id='7', retry=100)")


def test_event_is_read_only() -> None:
    event = ServerSentEvent("x")
    with pytest.raises(AttributeError):
        event.data = "y"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        event.other = 1  # type: ignore[attr-defined]


def test_json_parses_raw_data() -> None:
    assert ServerSentEvent(b'{"n": [1, 2]}').json() == {"n": [1, 2]}


# -- any split gives the same events ------------------------------------------------------

_TEXT = st.text(
    alphabet=st.sampled_from([*'ab {}":,\\\t\0', "\u00e9", "\u20ac", "\U0001f600"]),
    max_size=12,
)
_INVALID = st.sampled_from([b"\xff", b"\xe2\x82", b"\xc3", b"\xef\xbb"])


@st.composite
def _value(draw: st.DrawFn) -> bytes:
    value = draw(_TEXT).encode()
    if draw(st.integers(0, 9)) == 0:
        cut = draw(st.integers(0, len(value)))
        value = value[:cut] + draw(_INVALID) + value[cut:]
    return value


_LINE = st.one_of(
    _value().map(lambda v: b"data: " + v),
    _value().map(lambda v: b"data:" + v),
    st.just(b"data"),
    _value().map(lambda v: b"event: " + v),
    _value().map(lambda v: b"id: " + v),  # sometimes holds a NUL: then ignored
    st.just(b"id"),
    st.sampled_from([b"retry: 10", b"retry: 2500", b"retry: 1x", b"retry: ", b"retry: \xd9\xa1"]),
    _value().map(lambda v: b":" + v),
    st.sampled_from([b"", b"", b"", b"unknown: x", b"data : x"]),
)
_END = st.sampled_from([b"\n", b"\n", b"\r", b"\r\n"])


@st.composite
def soup_streams(draw: st.DrawFn) -> bytes:
    """Arbitrary field lines with arbitrary line ends, perhaps a BOM first."""
    lines = draw(st.lists(st.tuples(_LINE, _END), max_size=30))
    body = b"".join(line + end for line, end in lines)
    tail = draw(st.sampled_from([b"", b"data: unterminated", b"data: x\n"]))
    return (BOM if draw(st.booleans()) else b"") + body + tail


@st.composite
def chat_streams(draw: st.DrawFn) -> bytes:
    """Mostly one-line ``data:`` events with LF ends, with the odd other event between."""
    events = []
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.integers(0, 9))
        if kind < 7:
            events.append(b"data: " + draw(_value()) + b"\n\n")
        else:
            events.append(b"".join(line + b"\n" for line in draw(st.lists(_LINE, max_size=4))))
            events.append(b"\n")
    return b"".join(events) + draw(st.sampled_from([b"", b"data: {", b"data: x\n", b"\n"]))


@st.composite
def splits(draw: st.DrawFn, streams: st.SearchStrategy[bytes]) -> tuple[bytes, list[bytes]]:
    stream = draw(streams)
    cuts = sorted(draw(st.sets(st.integers(0, len(stream)), max_size=12)))
    bounds = [0, *cuts, len(stream)]
    return stream, [stream[a:b] for a, b in itertools.pairwise(bounds)]


_PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_PROPERTY
@given(splits(soup_streams()))
def test_any_split_of_any_stream_matches_the_reference(case: tuple[bytes, list[bytes]]) -> None:
    stream, chunks = case
    whole = decode(stream)
    assert rows(whole) == reference(stream)
    assert decode(*chunks) == whole


@_PROPERTY
@given(splits(chat_streams()))
def test_any_split_of_a_chat_stream_matches_the_reference(case: tuple[bytes, list[bytes]]) -> None:
    stream, chunks = case
    whole = decode(stream)
    assert rows(whole) == reference(stream)
    pieces = decode(*chunks)
    assert pieces == whole
    if stream.decode("utf-8", "replace").encode() == stream:  # valid UTF-8 throughout
        assert [e.raw_data for e in pieces] == [row[1].encode() for row in reference(stream)]

"""The sans-IO HTTP/1.1 core: response heads, body framing and request heads, bytes only."""

from __future__ import annotations

import itertools

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rillet._transports.wire import (
    PIECE_BYTES,
    BodyDecoder,
    ResponseHead,
    body_decoder,
    encode_chunk,
    encode_request_head,
    keeps_alive,
    parse_response_head,
)

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def _chunked_head() -> ResponseHead:
    return ResponseHead(200, b"OK", b"HTTP/1.1", [(b"transfer-encoding", b"chunked")])


def _head(*headers: tuple[bytes, bytes], status: int = 200) -> ResponseHead:
    return ResponseHead(status, b"", b"HTTP/1.1", list(headers))


def _feed(decoder: BodyDecoder, reads: list[bytes]) -> tuple[bytes, bytearray]:
    """Feed `reads` as a connection would: decode until nothing more comes, then read on."""
    buffer = bytearray()
    out = bytearray()
    for read in reads:
        buffer += read
        while data := decoder.decode(buffer):
            out += data
    return bytes(out), buffer


def _chunked(*pieces: bytes, end: bytes = b"0\r\n\r\n") -> bytes:
    return b"".join(encode_chunk(p) for p in pieces) + end


# -- response heads -----------------------------------------------------------------------


def test_head_is_parsed_and_taken_off_the_buffer() -> None:
    buffer = bytearray(HEAD + b"5\r\nhello")
    head = parse_response_head(buffer)
    assert head is not None
    assert (head.status, head.reason, head.version) == (200, b"OK", b"HTTP/1.1")
    assert head.headers == [
        (b"content-type", b"text/event-stream"),
        (b"transfer-encoding", b"chunked"),
    ]
    assert buffer == b"5\r\nhello"


def test_head_split_at_every_byte_is_none_until_complete() -> None:
    for cut in range(len(HEAD)):
        buffer = bytearray(HEAD[:cut])
        assert parse_response_head(buffer) is None
        assert buffer == HEAD[:cut]  # nothing consumed yet
        buffer += HEAD[cut:]
        head = parse_response_head(buffer)
        assert head is not None and head.status == 200 and not buffer


def test_interim_responses_are_skipped_and_101_refused() -> None:
    buffer = bytearray(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: x\r\n\r\n")
    assert parse_response_head(buffer) is None  # the final head has not come yet
    buffer += b"HTTP/1.1 404 Not Found\r\n\r\n"
    head = parse_response_head(buffer)
    assert head is not None and head.status == 404
    with pytest.raises(httpx.RemoteProtocolError, match="101"):
        parse_response_head(bytearray(b"HTTP/1.1 101 Switching Protocols\r\n\r\n"))


def test_reason_is_optional_and_bare_lf_heads_are_accepted() -> None:
    head = parse_response_head(bytearray(b"HTTP/1.0 204\nx-a:  b \n\n"))
    assert head is not None
    assert (head.status, head.reason, head.version) == (204, b"", b"HTTP/1.0")
    assert head.headers == [(b"x-a", b"b")]


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/2 200 OK\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
    ],
)
def test_malformed_heads_are_protocol_errors(raw: bytes) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        parse_response_head(bytearray(raw))


def test_a_head_that_never_ends_is_refused() -> None:
    buffer = bytearray(b"HTTP/1.1 200 OK\r\n" + b"x-pad: " + b"a" * 70_000)
    with pytest.raises(httpx.RemoteProtocolError, match="too large"):
        parse_response_head(buffer)


def test_keep_alive_rules() -> None:
    plain = httpx.Headers()
    assert keeps_alive(_head(), plain)
    assert not keeps_alive(_head((b"Connection", b"keep-alive, Close")), plain)
    assert not keeps_alive(ResponseHead(200, b"", b"HTTP/1.0", []), plain)
    assert not keeps_alive(_head(), httpx.Headers({"connection": "close"}))


# -- chunked bodies -------------------------------------------------------------------------

BODY = [b'data: {"a": 1}\n\n', b'data: {"b": 2}\n\n', b"x" * 300, b"\n"]
WIRE = _chunked(*BODY)


def test_chunked_body_in_one_read() -> None:
    decoder = body_decoder(b"POST", _chunked_head())
    out, rest = _feed(decoder, [WIRE])
    assert out == b"".join(BODY)
    assert decoder.done and decoder.reusable and not rest


def test_chunked_body_split_at_every_byte() -> None:
    for cut in range(len(WIRE) + 1):
        decoder = body_decoder(b"POST", _chunked_head())
        out, rest = _feed(decoder, [WIRE[:cut], WIRE[cut:]])
        assert out == b"".join(BODY), cut
        assert decoder.done and not rest, cut


def test_chunked_body_one_byte_per_read() -> None:
    decoder = body_decoder(b"POST", _chunked_head())
    out, _ = _feed(decoder, [WIRE[i : i + 1] for i in range(len(WIRE))])
    assert out == b"".join(BODY) and decoder.done


@given(
    pieces=st.lists(st.binary(min_size=1, max_size=40), max_size=12),
    crlf=st.booleans(),
    extensions=st.lists(st.booleans(), max_size=12),
    trailers=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=8),
)
def test_any_split_of_any_chunking_gives_the_same_body(
    pieces: list[bytes], crlf: bool, extensions: list[bool], trailers: bool, cuts: list[int]
) -> None:
    """Also with what the batch path cannot cut on: CRLF in data, extensions, trailers."""
    if crlf:
        pieces = [p + b"\r\n" for p in pieces]
    extended = [*extensions, *[False] * len(pieces)]
    wire = b"".join(
        b"%x%s\r\n%s\r\n" % (len(p), b";k=v" if ext else b"", p)
        for p, ext in zip(pieces, extended, strict=False)
    ) + (b"0\r\nx-t: 1\r\n\r\n" if trailers else b"0\r\n\r\n")
    bounds = sorted({min(c, len(wire)) for c in cuts} | {0, len(wire)})
    reads = [wire[a:b] for a, b in itertools.pairwise(bounds)]
    decoder = body_decoder(b"POST", _chunked_head())
    out, rest = _feed(decoder, reads)
    assert out == b"".join(pieces)
    assert decoder.done and not rest


@pytest.mark.parametrize("end", [b"\n\n", b"\r\n\r\n"])  # CRLF: the chunk-by-chunk path
def test_many_chunks_come_out_as_few_large_pieces(end: bytes) -> None:
    event = b"data: " + b"y" * 200 + end
    wire = _chunked(*[event] * 2000)
    decoder = body_decoder(b"POST", _chunked_head())
    buffer = bytearray(wire)
    pieces = []
    while data := decoder.decode(buffer):
        pieces.append(data)
    assert b"".join(pieces) == event * 2000 and decoder.done
    assert len(pieces) <= len(wire) // PIECE_BYTES + 2
    assert max(map(len, pieces)) <= PIECE_BYTES + len(event)


def test_chunk_extensions_whitespace_and_upper_case_sizes() -> None:
    wire = b'5;name=value\r\nhello\r\n6 ; a ; b="c"\r\n world\r\nA \r\n0123456789\r\n0\r\n\r\n'
    decoder = body_decoder(b"POST", _chunked_head())
    out, rest = _feed(decoder, [wire])
    assert out == b"hello world0123456789" and decoder.done and not rest


def test_trailers_are_read_past() -> None:
    wire = _chunked(b"abc", end=b"0\r\nx-checksum: 1\r\nx-other: 2\r\n\r\n")
    for cut in range(len(wire) + 1):
        decoder = body_decoder(b"POST", _chunked_head())
        out, rest = _feed(decoder, [wire[:cut], wire[cut:]])
        assert out == b"abc" and decoder.done and not rest


def test_bytes_after_the_body_stay_in_the_buffer() -> None:
    decoder = body_decoder(b"POST", _chunked_head())
    out, rest = _feed(decoder, [_chunked(b"abc") + b"HTTP/1.1 200 OK\r\n"])
    assert out == b"abc" and decoder.done
    assert rest == b"HTTP/1.1 200 OK\r\n"


@pytest.mark.parametrize(
    "wire",
    [
        b"zz\r\nhello\r\n0\r\n\r\n",  # not hex
        b"0x5\r\nhello\r\n0\r\n\r\n",  # a prefix int() would take
        b"+5\r\nhello\r\n0\r\n\r\n",
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"5_0\r\nhello\r\n0\r\n\r\n",
        b"\r\nhello\r\n0\r\n\r\n",  # empty size
        b"5\r\nhelloXY0\r\n\r\n",  # data not followed by CRLF
        b"3\r\nhello\r\n0\r\n\r\n",  # size shorter than the data
        b"5\r\nhello\r\n0\r\nno-colon\r\n\r\n",  # a trailer that is no header field
        b"11111111111111111\r\n",  # a size too long to be real
    ],
)
def test_bad_framing_is_a_protocol_error(wire: bytes) -> None:
    decoder = body_decoder(b"POST", _chunked_head())
    with pytest.raises(httpx.RemoteProtocolError):
        _feed(decoder, [wire])
    for cut in range(1, len(wire)):  # found wherever the reads split
        decoder = body_decoder(b"POST", _chunked_head())
        with pytest.raises(httpx.RemoteProtocolError):
            _feed(decoder, [wire[:cut], wire[cut:]])


def test_a_size_line_that_never_ends_is_refused() -> None:
    decoder = body_decoder(b"POST", _chunked_head())
    with pytest.raises(httpx.RemoteProtocolError, match="too long"):
        _feed(decoder, [b"5" * 5000])


def test_a_chunked_body_cut_short_is_an_incomplete_read() -> None:
    decoder = body_decoder(b"POST", _chunked_head())
    _feed(decoder, [WIRE[:40]])
    assert not decoder.done
    with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
        decoder.end_of_input()


# -- other framings -----------------------------------------------------------------------


def test_content_length_body() -> None:
    decoder = body_decoder(b"GET", _head((b"Content-Length", b"11")))
    out, rest = _feed(decoder, [b"hello", b" world", b"HTTP/1.1"])
    assert out == b"hello world" and decoder.done and decoder.reusable
    assert rest == b"HTTP/1.1"


def test_content_length_cut_short() -> None:
    decoder = body_decoder(b"GET", _head((b"content-length", b"11")))
    _feed(decoder, [b"hello"])
    with pytest.raises(httpx.RemoteProtocolError, match="6 bytes"):
        decoder.end_of_input()


@pytest.mark.parametrize(
    "headers",
    [
        [(b"content-length", b"5"), (b"content-length", b"6")],
        [(b"content-length", b"5, 6")],
        [(b"content-length", b"-1")],
        [(b"content-length", b"abc")],
    ],
)
def test_bad_content_length_is_a_protocol_error(headers: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match="Content-Length"):
        body_decoder(b"GET", _head(*headers))


def test_repeated_equal_content_lengths_are_one() -> None:
    decoder = body_decoder(b"GET", _head((b"content-length", b"2"), (b"Content-Length", b"2")))
    assert _feed(decoder, [b"ok"])[0] == b"ok" and decoder.done


@pytest.mark.parametrize("coding", [b"gzip", b"gzip, chunked", b"chunked, chunked", b"identity"])
def test_unknown_transfer_codings_are_refused(coding: bytes) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match="Unsupported Transfer-Encoding"):
        body_decoder(b"GET", _head((b"transfer-encoding", coding)))


def test_no_body_for_head_204_and_304() -> None:
    length = (b"content-length", b"10")
    for decoder in (
        body_decoder(b"HEAD", _head(length)),
        body_decoder(b"GET", _head(length, status=204)),
        body_decoder(b"GET", _head(length, status=304)),
    ):
        assert decoder.done and decoder.decode(bytearray(b"next")) == b""


def test_a_body_without_length_runs_until_close_and_is_not_reused() -> None:
    decoder = body_decoder(b"GET", _head())
    out, _ = _feed(decoder, [b"some ", b"text"])
    assert out == b"some text" and not decoder.done and not decoder.reusable
    decoder.end_of_input()
    assert decoder.done


def test_transfer_encoding_wins_over_content_length() -> None:
    decoder = body_decoder(
        b"GET", _head((b"content-length", b"3"), (b"transfer-encoding", b"Chunked"))
    )
    assert _feed(decoder, [_chunked(b"hello")])[0] == b"hello"


# -- requests -------------------------------------------------------------------------------


def test_request_head() -> None:
    head = encode_request_head(b"POST", b"/v1/x?a=1", [(b"Host", b"h"), (b"X-A", b"b")])
    assert head == b"POST /v1/x?a=1 HTTP/1.1\r\nHost: h\r\nX-A: b\r\n\r\n"


@pytest.mark.parametrize(
    "header", [(b"X-A", b"b\r\nX-Evil: 1"), (b"X-A", b"b\nc"), (b"X-A\r\nB", b"c"), (b"A:B", b"c")]
)
def test_request_heads_cannot_be_split(header: tuple[bytes, bytes]) -> None:
    with pytest.raises(httpx.LocalProtocolError):
        encode_request_head(b"GET", b"/", [header])


def test_encode_chunk() -> None:
    assert encode_chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"

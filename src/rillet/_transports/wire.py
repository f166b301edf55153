"""HTTP/1.1 on the wire, without I/O: request heads out, response heads and bodies in.

Both transports in `rillet._transports.http11` feed received bytes into one `bytearray` per
connection and let the functions and decoders here consume it. Bodies are decoded as many
chunks at a time as the buffer holds, and handed out as one `bytes` object per call,
because per-piece overhead (not byte copying) is what dominates a stream of small SSE
events each in its own HTTP chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat

import httpx

__all__ = [
    "BodyDecoder",
    "ResponseHead",
    "body_decoder",
    "encode_chunk",
    "encode_request_head",
    "keeps_alive",
    "parse_response_head",
]

MAX_HEAD_BYTES = 64 * 1024
MAX_LINE_BYTES = 4 * 1024  # a chunk-size line or a trailer field
# Body bytes handed out per `decode` call, about. Bigger pieces save little per chunk but
# make consumers hold more decoded events at once, which costs more in garbage collection.
PIECE_BYTES = 64 * 1024
_HEX = b"0123456789abcdefABCDEF"
_TOKEN_BAD = frozenset(b' \t"(),/:;<=>?@[\\]{}')
_CRLF = b"\r\n"


def _protocol_error(message: str) -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError(message)


# -- requests ----------------------------------------------------------------------------


def encode_request_head(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    """The request line and header block; refuses values that would split the message."""
    lines = [method + b" " + target + b" HTTP/1.1"]
    for name, value in headers:
        if b"\r" in value or b"\n" in value or b"\r" in name or b"\n" in name or b":" in name:
            raise httpx.LocalProtocolError(f"Illegal header {name!r}: {value!r}")
        lines.append(name + b": " + value)
    lines.append(b"\r\n")
    return _CRLF.join(lines)


def encode_chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


# -- response heads -----------------------------------------------------------------------


@dataclass(slots=True)
class ResponseHead:
    status: int
    reason: bytes
    version: bytes  # b"HTTP/1.1" or b"HTTP/1.0"
    headers: list[tuple[bytes, bytes]]

    def values(self, name: bytes) -> list[bytes]:
        """Every value of header `name` (lower case), comma lists split and lowered."""
        found: list[bytes] = []
        for key, value in self.headers:
            if key.lower() == name:
                found.extend(v.strip().lower() for v in value.split(b","))
        return found


def parse_response_head(buffer: bytearray) -> ResponseHead | None:
    """Take one response head off the front of `buffer`, or None if it is not all there.

    Interim 1xx responses are consumed and skipped; 101 is refused, since these transports
    never ask to switch protocols.
    """
    while True:
        end = buffer.find(b"\r\n\r\n")
        size = end + 4
        if end < 0:
            end = buffer.find(b"\n\n")  # bare LF line ends, as lenient parsers accept
            size = end + 2
        if end < 0:
            if len(buffer) > MAX_HEAD_BYTES:
                raise _protocol_error("Response head is too large.")
            return None
        block = bytes(buffer[:end])
        del buffer[:size]
        head = _parse_head_block(block)
        if head.status == 101:
            raise _protocol_error("Unexpected 101 Switching Protocols response.")
        if head.status >= 200:
            return head


def _parse_head_block(block: bytes) -> ResponseHead:
    status_line, *lines = block.split(b"\n")
    parts = status_line.rstrip(b"\r").split(b" ", 2)
    if len(parts) < 2 or parts[0] not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise _protocol_error(f"Malformed status line {status_line[:80]!r}.")
    code = parts[1]
    if len(code) != 3 or not code.isdigit():
        raise _protocol_error(f"Malformed status code in {status_line[:80]!r}.")
    headers: list[tuple[bytes, bytes]] = []
    for raw in lines:
        line = raw.rstrip(b"\r")
        name, colon, value = line.partition(b":")
        if not colon or not name or any(c in _TOKEN_BAD or c < 33 for c in name):
            raise _protocol_error(f"Malformed header line {line[:80]!r}.")
        headers.append((name, value.strip(b" \t")))
    reason = parts[2] if len(parts) == 3 else b""
    return ResponseHead(int(code), reason, parts[0], headers)


def keeps_alive(head: ResponseHead, request_headers: httpx.Headers) -> bool:
    """Whether the connection may carry another request once this response is read."""
    if head.version != b"HTTP/1.1" or b"close" in head.values(b"connection"):
        return False
    return "close" not in request_headers.get("connection", "").lower()


# -- response bodies ----------------------------------------------------------------------


class BodyDecoder:
    """Takes body bytes off the front of a connection's buffer.

    `decode` returns whatever body data the buffer holds (b"" if none yet) and sets `done`
    once the body is complete; `end_of_input` is called when the peer closes first.
    `reusable` says whether the framing leaves the connection clean for another request.
    """

    __slots__ = ("done",)

    reusable = True

    def __init__(self) -> None:
        self.done = False

    def decode(self, buffer: bytearray) -> bytes:
        raise NotImplementedError

    def end_of_input(self) -> None:
        raise _protocol_error(
            "Server closed the connection without sending the complete message body."
        )


class _Length(BodyDecoder):
    __slots__ = ("_remaining",)

    def __init__(self, length: int) -> None:
        super().__init__()
        self._remaining = length
        self.done = length == 0

    def decode(self, buffer: bytearray) -> bytes:
        take = min(self._remaining, len(buffer), PIECE_BYTES)
        if take == len(buffer):
            data = bytes(buffer)
            buffer.clear()
        else:
            data = bytes(buffer[:take])
            del buffer[:take]
        self._remaining -= take
        self.done = self._remaining == 0
        return data

    def end_of_input(self) -> None:
        raise _protocol_error(
            "Server closed the connection without sending the complete message body: "
            f"{self._remaining} bytes of Content-Length missing."
        )


class _UntilClose(BodyDecoder):
    """No length given: the body is whatever comes until the server closes."""

    __slots__ = ()

    reusable = False

    def decode(self, buffer: bytearray) -> bytes:
        if len(buffer) > PIECE_BYTES:
            data = bytes(buffer[:PIECE_BYTES])
            del buffer[:PIECE_BYTES]
            return data
        data = bytes(buffer)
        buffer.clear()
        return data

    def end_of_input(self) -> None:
        self.done = True


_SIZE, _DATA, _DATA_END, _TRAILERS = range(4)
_MAX_MISSES = 4  # a body whose chunks hold CRLF stops trying the batch path after this


class _Chunked(BodyDecoder):
    """`Transfer-Encoding: chunked`: sizes, data, optional extensions and trailers."""

    __slots__ = ("_misses", "_remaining", "_state")

    def __init__(self) -> None:
        super().__init__()
        self._state = _SIZE
        self._remaining = 0  # bytes of the current chunk's data still to come
        self._misses = 0  # times the run-at-once path had to give way to the exact one

    def decode(self, buffer: bytearray) -> bytes:
        pieces: list[bytes | bytearray] = []
        pos, end, state = 0, len(buffer), self._state
        stop_at = PIECE_BYTES  # output so far that ends this call at the next chunk boundary
        find = buffer.find
        batch = self._misses < _MAX_MISSES
        while True:
            if state == _SIZE:
                if batch:
                    batch = False
                    run = _whole_chunks(buffer, pos)
                    if run is None:
                        self._misses += 1
                    elif run[0]:
                        pieces += run[0]
                        pos = run[1]
                        break  # enough for one piece; the next call goes on from here
                eol = find(_CRLF, pos)
                if eol < 0:
                    if end - pos > MAX_LINE_BYTES:
                        raise _protocol_error("Chunk size line is too long.")
                    break
                size = _chunk_size(buffer[pos:eol])
                pos = eol + 2
                if size == 0:
                    state = _TRAILERS
                    continue
                stop = pos + size
                if stop + 2 <= end:  # the usual case: the whole chunk is here
                    if buffer[stop : stop + 2] != _CRLF:
                        raise _protocol_error("Chunk data is not followed by CRLF.")
                    pieces.append(buffer[pos:stop])
                    pos = stop + 2
                    stop_at -= size
                    if stop_at <= 0:
                        break
                    continue
                self._remaining = size
                state = _DATA
            if state == _DATA:
                take = min(self._remaining, end - pos)
                if take:
                    pieces.append(buffer[pos : pos + take])
                    pos += take
                    self._remaining -= take
                if self._remaining:
                    break
                state = _DATA_END
            if state == _DATA_END:
                if end - pos < 2:
                    break
                if buffer[pos : pos + 2] != _CRLF:
                    raise _protocol_error("Chunk data is not followed by CRLF.")
                pos += 2
                state = _SIZE
                continue
            # _TRAILERS: header fields until a blank line; their values are not kept.
            eol = find(_CRLF, pos)
            if eol < 0:
                if end - pos > MAX_LINE_BYTES:
                    raise _protocol_error("Trailer line is too long.")
                break
            if eol == pos:
                pos += 2
                self.done = True
                break
            if b":" not in buffer[pos:eol]:
                raise _protocol_error(f"Malformed trailer line {bytes(buffer[pos:eol][:80])!r}.")
            pos = eol + 2
        self._state = state
        del buffer[:pos]
        return b"".join(pieces)

    def end_of_input(self) -> None:
        raise _protocol_error(
            "Server closed the connection without sending the complete message body: "
            "incomplete chunked read."
        )


def _whole_chunks(buffer: bytearray, pos: int) -> tuple[list[bytes], int] | None:
    """The complete chunks in about `PIECE_BYTES` from `pos`, cut and checked in C.

    Cutting at each CRLF leaves size lines and data in turn, unless a chunk's data holds a
    CRLF or a size line has extensions. Each size must then equal its data's length, in
    order, which proves the cut matched the framing. Returns the data pieces and the new
    position, or None when the cut cannot be trusted (the exact path then takes over).
    """
    parts = bytes(buffer[pos : pos + PIECE_BYTES]).split(_CRLF)
    count = (len(parts) - 1) // 2  # the element after the last CRLF is never complete
    if count == 0:
        return [], pos
    lines = parts[0 : 2 * count : 2]
    data = parts[1 : 2 * count : 2]
    digits = b"".join(lines)
    if not digits.isalnum() or b"x" in digits or b"X" in digits:
        return None  # extensions, whitespace or junk: only the exact path can tell
    try:
        sizes = list(map(int, lines, repeat(16)))
    except ValueError:
        return None
    if 0 in sizes:  # the last chunk: trailers and the end go the exact way
        count = sizes.index(0)
        del sizes[count:], lines[count:], data[count:]
    lengths = list(map(len, data))
    if sizes != lengths:
        return None
    return data, pos + sum(map(len, lines)) + sum(lengths) + 4 * count


def _chunk_size(line: bytearray) -> int:
    """The size of a chunk-size line, extensions (`;name=value`) ignored."""
    digits = line
    if b";" in line:
        digits = line[: line.index(b";")]
    if digits.strip(_HEX):  # not bare hex digits: allow trailing whitespace, nothing else
        digits = digits.rstrip(b" \t")
    if not digits or len(digits) > 16 or digits.strip(_HEX):
        raise _protocol_error(f"Malformed chunk size line {bytes(line[:80])!r}.")
    return int(digits, 16)


def body_decoder(method: bytes, head: ResponseHead) -> BodyDecoder:
    """How this response's body is framed (RFC 9112 section 6.3)."""
    if method == b"HEAD" or head.status in (204, 304):
        return _Length(0)
    codings = head.values(b"transfer-encoding")
    if codings:
        if codings != [b"chunked"]:
            shown = ", ".join(c.decode("latin-1") for c in codings)
            raise _protocol_error(f"Unsupported Transfer-Encoding: {shown}.")
        return _Chunked()
    lengths = set(head.values(b"content-length"))
    if lengths:
        length = lengths.pop()
        if lengths or not length.isdigit() or len(length) > 18:
            raise _protocol_error("Malformed Content-Length header.")
        return _Length(int(length))
    return _UntilClose()

"""A minimal loopback SSE server for client benchmarks: replays one canned chat stream.

Run as `python benchmarks/_canned_sse.py CHUNKS`; prints the port, then serves every POST
with CHUNKS chat-completion chunks (each its own HTTP chunk, as a real server flushes them)
and `[DONE]`, over keep-alive HTTP/1.1. Another process, so it costs the client nothing.
The whole answer is rendered once and written in one go: a server writing piece by piece
is slower than a fast client, which then waits on it and gets a few events per read, so
the figures would measure this server's speed rather than the client's cost.
"""

from __future__ import annotations

import asyncio
import json
import sys

WORDS = [
    "The",
    "quick",
    "robot",
    "wandered",
    "through",
    "the",
    "quiet",
    "city",
    ",",
    "humming",
    "to",
    "itself",
    "as",
]


def canned_body(chunks: int) -> list[bytes]:
    pieces = []
    for i in range(chunks):
        delta = {"content": " " + WORDS[i % len(WORDS)]}
        if i == 0:
            delta["role"] = "assistant"
        event = {
            "id": "chatcmpl-bench0123456789",
            "object": "chat.completion.chunk",
            "created": 1732400000,
            "model": "gpt-4o-mini-2024-07-18",
            "system_fingerprint": "fp_bench",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}],
        }
        data = b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"
        pieces.append(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    last = {
        "id": "chatcmpl-bench0123456789",
        "object": "chat.completion.chunk",
        "created": 1732400000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}],
    }
    tail = (b"data: " + json.dumps(last).encode() + b"\n\n", b"data: [DONE]\n\n")
    pieces.extend(f"{len(data):x}\r\n".encode() + data + b"\r\n" for data in tail)
    pieces.append(b"0\r\n\r\n")
    return pieces


async def main(chunks: int) -> None:
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
        b"transfer-encoding: chunked\r\nx-request-id: req_bench\r\n\r\n"
    )
    answer = head + b"".join(canned_body(chunks))

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                header = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in header.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))

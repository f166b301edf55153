"""A minimal loopback SSE server for client benchmarks: replays canned streams.

Run as `python benchmarks/_canned_sse.py CHUNKS`; prints the port, then serves every POST
with CHUNKS chat-completion chunks (each its own HTTP chunk, as a real server flushes them)
and `[DONE]` (or, for POST .../responses, a Responses stream of CHUNKS text deltas between
its opening and closing events), over keep-alive HTTP/1.1. Another process, so it costs
the client nothing.
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


def _frame(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def responses_body(chunks: int) -> list[bytes]:
    """The events OpenAI sends for one text answer, numbered, with their `event:` lines."""
    response = {
        "id": "resp_bench0123456789",
        "object": "response",
        "created_at": 1732400000,
        "status": "in_progress",
        "model": "gpt-5.2",
        "output": [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }
    where = {"item_id": "msg_bench", "output_index": 0, "content_index": 0}
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    item = {"type": "message", "id": "msg_bench", "role": "assistant", "status": "in_progress"}
    text = "".join(" " + WORDS[i % len(WORDS)] for i in range(chunks))
    done_item = {**item, "status": "completed", "content": [{**part, "text": text}]}
    events = [
        {"type": "response.created", "response": response},
        {"type": "response.in_progress", "response": response},
        {"type": "response.output_item.added", "output_index": 0, "item": {**item, "content": []}},
        {"type": "response.content_part.added", **where, "part": part},
    ]
    events += [
        {"type": "response.output_text.delta", **where, "delta": " " + WORDS[i % len(WORDS)],
         "logprobs": []}
        for i in range(chunks)
    ]  # fmt: skip
    events += [
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": {**part, "text": text}},
        {"type": "response.output_item.done", "output_index": 0, "item": done_item},
        {"type": "response.completed", "response": {**response, "status": "completed",
                                                    "output": [done_item]}},
    ]  # fmt: skip
    pieces = []
    for number, event in enumerate(events):
        event["sequence_number"] = number
        data = json.dumps(event, separators=(",", ":")).encode()
        pieces.append(_frame(b"event: " + event["type"].encode() + b"\ndata: " + data + b"\n\n"))
    pieces.append(b"0\r\n\r\n")
    return pieces


async def main(chunks: int) -> None:
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
        b"transfer-encoding: chunked\r\nx-request-id: req_bench\r\n\r\n"
    )
    answer = head + b"".join(canned_body(chunks))
    responses_answer = head + b"".join(responses_body(chunks))

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                header = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in header.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                path = header.split(b" ", 2)[1]
                writer.write(responses_answer if path.endswith(b"/responses") else answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))

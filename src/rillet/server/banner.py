"""The lines `rillet serve` prints to stdout once it listens: written and parsed here only.

    rillet serve: listening on http://127.0.0.1:8000/v1 (backend: synthetic)
    rillet serve: model loaded from /path/to/model.gguf
    rillet serve: playground on http://127.0.0.1:8000/

The first is the one scripts wait for; a backend with more to say (where its model came
from) adds notes after it, and the last line gives the browser playground's address
(absent with `--no-ui`). Standard library only, and `rillet.server` imports its public
names lazily, so the client's `rillet chat`, the test harness and the benchmarks read the
banner without loading the server (Starlette, uvicorn) or any client code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "rillet serve: "
_LISTENING = re.compile(r"rillet serve: listening on (http://\S+/v1) \(backend: ([^)]*)\)")
_PAGE = re.compile(r"rillet serve: playground on (http://\S+/)")


@dataclass(frozen=True, slots=True)
class Listening:
    """What the listening line says: the API's base URL (ending in /v1) and the backend."""

    base_url: str
    backend: str


def listening_line(base_url: str, backend: str) -> str:
    return f"{PREFIX}listening on {base_url} (backend: {backend})\n"


def note_line(note: str) -> str:
    return f"{PREFIX}{note}\n"


def page_line(url: str) -> str:
    """The line giving the playground's address (`http://HOST:PORT/`)."""
    return f"{PREFIX}playground on {url}\n"


def parse_listening(line: str) -> Listening | None:
    """The listening line's contents, or None for any other line (end of line ignored)."""
    match = _LISTENING.fullmatch(line.rstrip("\r\n"))
    return Listening(match.group(1), match.group(2)) if match else None


def parse_page(line: str) -> str | None:
    """The playground's URL from its line, or None for any other line."""
    match = _PAGE.fullmatch(line.rstrip("\r\n"))
    return match.group(1) if match else None


def parse_note(line: str) -> str | None:
    """A backend's note: a `rillet serve:` line other than the listening and the playground
    ones: its text; else None."""
    if not line.startswith(PREFIX) or parse_listening(line) is not None:
        return None
    if parse_page(line) is not None:
        return None
    return line.removeprefix(PREFIX).rstrip()

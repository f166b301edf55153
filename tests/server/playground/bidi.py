"""Headless Firefox driven over WebDriver BiDi, for the playground's browser tests.

Firefox speaks WebDriver BiDi itself when started with `--remote-debugging-port`, so the
tests need neither geckodriver (not in the registries the project installs from) nor
Playwright's own Firefox build. What they need of the protocol is small: a session, the
page's browsing context, script evaluation, real pointer and key input, and the events
that record the page's requests and console errors. It runs over a WebSocket client of a
few dozen lines below (RFC 6455, text frames, client-side masking), so no package is added.

Loopback only: Firefox listens on 127.0.0.1 at a port it picks and prints.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import queue
import re
import shutil
import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

FIREFOX = Path("/usr/bin/firefox-esr")
REPLY_TIMEOUT = 30.0  # seconds a command may take (a navigation waits for the page's load)
START_TIMEOUT = 60.0  # seconds Firefox may take to start listening on a cold profile
LISTENING = re.compile(r"WebDriver BiDi listening on (ws://\S+)")
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455's fixed handshake suffix

# Quiet profile: no first-run pages, updates or background calls home (there is no network
# beyond loopback anyway; these keep Firefox from trying). Firefox adds its own recommended
# automation preferences on top (remote.prefs.recommended).
PREFERENCES = {
    "app.update.disabledForTesting": True,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.startup.page": 0,
    "browser.newtabpage.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "extensions.update.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
}


class BiDiError(RuntimeError):
    """A command the browser answered with an error."""


class WebSocket:
    """A blocking RFC 6455 client: text messages in and out, nothing else."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        assert parts.scheme == "ws" and parts.hostname in ("127.0.0.1", "localhost"), url
        self._sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self._sock.sendall(
            (
                f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            more = self._sock.recv(4096)
            if not more:
                raise ConnectionError("the browser closed the WebSocket handshake")
            head += more
        head, self._buffer = head.split(b"\r\n\r\n", 1)
        status, *lines = head.decode("latin-1").split("\r\n")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        fields = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)
        }
        if " 101 " not in f"{status} " or fields.get("sec-websocket-accept") != accept:
            raise ConnectionError(f"not a WebSocket answer: {status}")
        self._sock.settimeout(None)
        self._send_lock = threading.Lock()

    def send(self, text: str) -> None:
        self._frame(0x1, text.encode())

    def _frame(self, opcode: int, payload: bytes) -> None:
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        mask = os.urandom(4)  # a client masks every frame
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        with self._send_lock:
            self._sock.sendall(header + mask + masked)

    def _read(self, size: int) -> bytes:
        while len(self._buffer) < size:
            more = self._sock.recv(65536)
            if not more:
                raise ConnectionError("the browser closed the WebSocket")
            self._buffer += more
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def receive(self) -> str:
        """The next text message (fragments joined; pings answered); raises when closed."""
        message = b""
        while True:
            first, second = self._read(2)
            opcode, size = first & 0x0F, second & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", self._read(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", self._read(8))
            mask = self._read(4) if second & 0x80 else b""
            payload = self._read(size)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x8:
                raise ConnectionError("the browser closed the WebSocket")
            if opcode == 0x9:
                self._frame(0xA, payload)
                continue
            if opcode in (0x0, 0x1, 0x2):
                message += payload
                if first & 0x80:
                    return message.decode()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._frame(0x8, b"")
        with contextlib.suppress(OSError):
            self._sock.close()


class Session:
    """One BiDi session: `command` waits for its answer; events go to their handlers."""

    def __init__(self, url: str) -> None:
        self._socket = WebSocket(url)
        self._next = 0
        self._waiting: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._handlers: dict[str, list[Callable[[dict[str, Any]], None]]] = {}
        self._reader = threading.Thread(target=self._dispatch, daemon=True)
        self._reader.start()

    def _dispatch(self) -> None:
        try:
            while True:
                message = json.loads(self._socket.receive())
                if "id" in message and message.get("type") in ("success", "error"):
                    with self._lock:
                        waiting = self._waiting.pop(message["id"], None)
                    if waiting is not None:
                        waiting.put(message)
                elif message.get("type") == "event":
                    for handler in self._handlers.get(message["method"], []):
                        handler(message["params"])
        except (ConnectionError, OSError, ValueError):
            with self._lock:
                waiting_all = list(self._waiting.values())
                self._waiting.clear()
            for waiting in waiting_all:
                waiting.put({"type": "error", "error": "closed", "message": "connection lost"})

    def command(self, method: str, **params: Any) -> dict[str, Any]:
        answer: queue.Queue[dict[str, Any]] = queue.Queue(1)
        with self._lock:
            self._next += 1
            number = self._next
            self._waiting[number] = answer
        self._socket.send(json.dumps({"id": number, "method": method, "params": params}))
        try:
            message = answer.get(timeout=REPLY_TIMEOUT)
        except queue.Empty:
            raise BiDiError(f"{method}: no answer within {REPLY_TIMEOUT} s") from None
        if message["type"] == "error":
            raise BiDiError(f"{method}: {message.get('error')}: {message.get('message')}")
        result: dict[str, Any] = message["result"]
        return result

    def on(self, event: str, handler: Callable[[dict[str, Any]], None]) -> None:
        self._handlers.setdefault(event, []).append(handler)

    def close(self) -> None:
        """Close the browser (its windows, then the process) and the connection."""
        with contextlib.suppress(BiDiError, OSError):
            self.command("browser.close")
        self._socket.close()


def value_of(remote: dict[str, Any]) -> Any:
    """A BiDi RemoteValue as Python data (nodes as their remote reference)."""
    kind = remote["type"]
    if kind in ("undefined", "null"):
        return None
    if kind in ("string", "boolean"):
        return remote["value"]
    if kind == "number":
        number = remote["value"]
        return number if not isinstance(number, str) else float(number.replace("Infinity", "inf"))
    if kind == "array":
        return [value_of(item) for item in remote.get("value", [])]
    if kind == "object":
        return {key: value_of(item) for key, item in remote.get("value", [])}
    if kind == "node":
        return {"sharedId": remote["sharedId"]}
    return remote.get("value")


def argument(value: Any) -> dict[str, Any]:
    """Python data as a BiDi LocalValue (JSON-shaped values only)."""
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "boolean", "value": value}
    if isinstance(value, int | float):
        return {"type": "number", "value": value}
    if isinstance(value, str):
        return {"type": "string", "value": value}
    if isinstance(value, list | tuple):
        return {"type": "array", "value": [argument(item) for item in value]}
    if isinstance(value, dict):
        return {"type": "object", "value": [[str(k), argument(v)] for k, v in value.items()]}
    raise TypeError(f"cannot pass {value!r} to the page")


@contextlib.contextmanager
def firefox(profile: Path) -> Iterator[Session]:
    """Headless Firefox with a fresh profile in `profile`, and a BiDi session on it."""
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "user.js").write_text(
        "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in PREFERENCES.items())
    )
    process = subprocess.Popen(
        [
            str(FIREFOX),
            "--headless",
            "--no-remote",
            "--profile",
            str(profile),
            "--remote-debugging-port",
            "0",
            "--remote-allow-hosts",
            "127.0.0.1",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MOZ_CRASHREPORTER_DISABLE": "1", "MOZ_HEADLESS": "1"},
    )
    found: queue.Queue[str] = queue.Queue(1)
    log: list[str] = []

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:  # kept drained for as long as Firefox runs
            log.append(line)
            match = LISTENING.search(line)
            if match:
                found.put(match.group(1))

    threading.Thread(target=read, daemon=True).start()
    session: Session | None = None
    try:
        try:
            url = found.get(timeout=START_TIMEOUT)
        except queue.Empty:
            raise RuntimeError(
                "Firefox did not start its WebDriver BiDi server:\n" + "".join(log)
            ) from None
        session = Session(url.rstrip("/") + "/session")
        session.command("session.new", capabilities={})
        yield session
    finally:
        if session is not None:
            session.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
        if process.poll() is None:
            process.kill()
            process.wait(10)
        shutil.rmtree(profile, ignore_errors=True)

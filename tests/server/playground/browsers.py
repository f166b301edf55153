"""What the playground's browser tests share: the servers they start, and one small tab API
over the two browsers they drive.

Chromium (Debian's) is driven by Playwright's Python package; Firefox ESR (Debian's) over
WebDriver BiDi by `bidi.py`, since Playwright cannot drive a stock Firefox. A test written
against `Tab` runs in both: it finds elements with a script in the page, clicks them with
real pointer input, presses real keys, and reads the page and its localStorage by script.

Without a browser (or the playwright package) these tests skip, saying what to install;
with `CI` set they fail instead, since CI installs both (scripts/browser.sh).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rillet.server import (
    Finish,
    GenerationEvent,
    GenerationRequest,
    ServerConfig,
    TextDelta,
    create_app,
)
from rillet.server.banner import parse_listening
from tests._server import run_server
from tests._wait import wait_until

from ..fakes import serve_app
from . import bidi

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TIMEOUT = 15.0  # seconds any one wait in a page may take
BROWSERS = ("chromium", "firefox")

try:
    from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright
except ImportError:  # pragma: no cover - CI installs it with the dev extra
    sync_playwright = None  # type: ignore[assignment]


def missing(browser: str) -> str | None:
    """Why `browser` cannot run here, or None."""
    if browser == "chromium":
        if sync_playwright is None:
            return "the playwright package is missing: pip install -e '.[dev]'"
        if not CHROMIUM.exists():
            return f"{CHROMIUM} is missing: run scripts/browser.sh (Debian's chromium)"
    elif not bidi.FIREFOX.exists():
        return f"{bidi.FIREFOX} is missing: run scripts/browser.sh (Debian's firefox-esr)"
    return None


def require(browser: str) -> None:
    """Skip a test whose browser is missing; under CI (which installs both) fail it."""
    reason = missing(browser)
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI runs the browser tests, but {reason}")
    pytest.skip(reason)


# ---------------------------------------------------------------- servers


def page_url(base_url: str) -> str:
    """The page's URL (…/) of a server whose API is at `base_url` (…/v1)."""
    return base_url.removesuffix("v1")


class EchoBackend:
    """Answers the last user message verbatim, whitespace included, a word at a time."""

    name = "echo"

    def model_ids(self) -> list[str]:
        return ["echo"]

    async def generate(
        self, request: GenerationRequest, choice: int
    ) -> AsyncIterator[GenerationEvent]:
        text = str(request.messages[-1]["content"] or "")
        pieces = [piece for piece in re.split(r"(\s+)", text) if piece]
        for piece in pieces:
            yield TextDelta(piece)
        yield Finish("stop", prompt_tokens=len(pieces), completion_tokens=len(pieces))

    async def aclose(self) -> None:
        pass


# Module-scoped servers, imported as fixtures by the test modules: the page's URL (…/).


@pytest.fixture(scope="module")
def synthetic() -> Iterator[str]:
    """`rillet serve --backend synthetic`, unpaced."""
    with run_server("--backend", "synthetic") as url:
        yield page_url(url)


@pytest.fixture(scope="module")
def paced() -> Iterator[str]:
    """The synthetic backend at 20 tokens/s: slow enough to stop mid-answer."""
    with run_server("--backend", "synthetic", "--tokens-per-second", "20") as url:
        yield page_url(url)


@pytest.fixture(scope="module")
def echo() -> Iterator[str]:
    """An in-process server whose backend echoes the user's message."""
    with serve_app(create_app(EchoBackend(), ServerConfig(keepalive=None))) as url:
        yield page_url(url)


@contextlib.contextmanager
def killable_server(*cli_args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A `rillet serve` subprocess the test may kill: (page URL, process)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rillet", "serve", "--port", "0", *cli_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        listening = parse_listening(process.stdout.readline())
        assert listening is not None
        threading.Thread(target=process.stdout.read, daemon=True).start()
        yield page_url(listening.base_url), process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def chat_body(messages: list[dict[str, str]], **params: Any) -> dict[str, Any]:
    return {"model": "synthetic", "messages": messages, **params}


def api_answer(root: str, messages: list[dict[str, str]], **params: Any) -> str:
    """The server's non-streamed chat answer to the same request the page makes."""
    response = httpx.post(f"{root}v1/chat/completions", json=chat_body(messages, **params))
    response.raise_for_status()
    content: str = response.json()["choices"][0]["message"]["content"]
    return content


# ---------------------------------------------------------------- tabs

# Finds the `index`th element matching `selector` whose accessible name (aria-label, else
# its text) is `name` (any name when null), or null.
FIND = """(selector, name, index) => {
    const all = [...document.querySelectorAll(selector)].filter((e) =>
        name === null || (e.getAttribute("aria-label") || e.textContent.trim()) === name);
    return all.at(index) ?? null;
}"""
# Whether FIND's element is there and shown.
SHOWN = f"(s, n, i) => {{ const e = ({FIND})(s, n, i); return !!e && e.checkVisibility(); }}"
# Sets a form field's value as typing would end, with the events the page listens to.
FILL = """(field, value) => {
    field.focus();
    field.value = value;
    field.dispatchEvent(new Event("input", { bubbles: true }));
    field.dispatchEvent(new Event("change", { bubbles: true }));
}"""
KEYS = {"Enter": "\ue007", "Tab": "\ue004", "Escape": "\ue00c", "Shift": "\ue008"}


class Tab:
    """One page in a fresh browser profile, with the requests and errors it makes."""

    def __init__(self) -> None:
        self.requests: list[str] = []  # every URL the page's browsing context asked for
        self.problems: list[str] = []  # script errors and console errors

    def goto(self, url: str) -> None:
        raise NotImplementedError

    def reload(self) -> None:
        raise NotImplementedError

    def js(self, function: str, *args: Any) -> Any:
        """`function(...args)` evaluated in the page (awaited); its JSON-shaped result."""
        raise NotImplementedError

    def click(self, selector: str, name: str | None = None, index: int = -1) -> None:
        """A real click on an element (see FIND), once it is there and visible."""
        raise NotImplementedError

    def press(self, key: str) -> None:
        """A real key press (a name in KEYS) on the focused element."""
        raise NotImplementedError

    def fill(self, selector: str, value: str) -> None:
        self.wait(f"() => !!document.querySelector({json.dumps(selector)})")
        self.js(
            f"(value) => ({FILL})(document.querySelector({json.dumps(selector)}), value)", value
        )

    def wait(self, predicate: str, *args: Any, timeout: float = TIMEOUT) -> None:
        """Until the page's `predicate(...args)` is truthy."""
        wait_until(lambda: self.js(predicate, *args), timeout=timeout)

    def visible(self, selector: str, name: str | None = None, index: int = -1) -> bool:
        return bool(self.js(SHOWN, selector, name, index))

    def open(self, url: str) -> None:
        """Load the page and wait until its message box is there."""
        self.goto(url)
        self.wait("() => !!document.querySelector('#message') && !!window.localStorage")


class ChromiumTab(Tab):
    def __init__(self, playwright: Playwright, profile: Path, viewport: dict[str, int]) -> None:
        super().__init__()
        self.context: BrowserContext = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=viewport,  # type: ignore[arg-type]
        )
        self.context.set_default_timeout(TIMEOUT * 1000)
        self.context.on("request", lambda request: self.requests.append(request.url))
        self.page: Page = self.context.pages[0] if self.context.pages else self.context.new_page()
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on(
            "console",
            lambda message: (
                self.problems.append(f"console {message.type}: {message.text}")
                if message.type == "error" and "Failed to load resource" not in message.text
                else None
            ),
        )

    def goto(self, url: str) -> None:
        response = self.page.goto(url)
        assert response is not None and response.ok, response

    def reload(self) -> None:
        self.page.reload()
        self.wait("() => !!document.querySelector('#message')")

    def js(self, function: str, *args: Any) -> Any:
        return self.page.evaluate(f"(args) => ({function})(...args)", list(args))

    def click(self, selector: str, name: str | None = None, index: int = -1) -> None:
        self.wait(SHOWN, selector, name, index)
        handle = self.page.evaluate_handle(
            f"(args) => ({FIND})(...args)", [selector, name, index]
        ).as_element()
        assert handle is not None
        handle.click()

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)

    def close(self) -> None:
        self.context.close()


class FirefoxTab(Tab):
    """A tab of its own user context (its own storage) in a shared Firefox."""

    def __init__(self, session: bidi.Session, viewport: dict[str, int]) -> None:
        super().__init__()
        self.session = session
        self.user_context = session.command("browser.createUserContext")["userContext"]
        self.context: str = session.command(
            "browsingContext.create", type="tab", userContext=self.user_context
        )["context"]
        session.command("browsingContext.setViewport", context=self.context, viewport=viewport)
        session.on("network.beforeRequestSent", self._request)
        session.on("log.entryAdded", self._log)
        self._subscription = session.command(
            "session.subscribe",
            events=["network.beforeRequestSent", "log.entryAdded"],
            contexts=[self.context],
        ).get("subscription")
        self._closed = False

    def _request(self, event: dict[str, Any]) -> None:
        if event.get("context") == self.context and not self._closed:
            self.requests.append(event["request"]["url"])

    def _log(self, event: dict[str, Any]) -> None:
        source = event.get("source", {})
        if source.get("context") == self.context and event.get("level") == "error":
            self.problems.append(f"{event.get('type')} error: {event.get('text')}")

    def goto(self, url: str) -> None:
        self.session.command(
            "browsingContext.navigate", context=self.context, url=url, wait="complete"
        )

    def reload(self) -> None:
        self.session.command("browsingContext.reload", context=self.context, wait="complete")
        self.wait("() => !!document.querySelector('#message')")

    def _call(self, function: str, args: list[dict[str, Any]]) -> dict[str, Any]:
        answer = self.session.command(
            "script.callFunction",
            functionDeclaration=function,
            arguments=args,
            awaitPromise=True,
            target={"context": self.context},
            resultOwnership="none",
        )
        if answer["type"] == "exception":
            details = answer["exceptionDetails"]
            raise AssertionError(f"script error in the page: {details.get('text')}")
        result: dict[str, Any] = answer["result"]
        return result

    def js(self, function: str, *args: Any) -> Any:
        return bidi.value_of(self._call(function, [bidi.argument(a) for a in args]))

    def click(self, selector: str, name: str | None = None, index: int = -1) -> None:
        self.wait(SHOWN, selector, name, index)
        found = self._call(
            f"(s, n, i) => {{ const e = ({FIND})(s, n, i); e.scrollIntoView({{block: 'center'}});"
            " return e; }",
            [bidi.argument(selector), bidi.argument(name), bidi.argument(index)],
        )
        assert found["type"] == "node", found
        origin = {"type": "element", "element": {"sharedId": found["sharedId"]}}
        self._actions(
            {
                "type": "pointer",
                "id": "mouse",
                "parameters": {"pointerType": "mouse"},
                "actions": [
                    {"type": "pointerMove", "x": 0, "y": 0, "origin": origin},
                    {"type": "pointerDown", "button": 0},
                    {"type": "pointerUp", "button": 0},
                ],
            }
        )

    def press(self, key: str) -> None:
        value = KEYS[key]
        self._actions(
            {
                "type": "key",
                "id": "keyboard",
                "actions": [{"type": "keyDown", "value": value}, {"type": "keyUp", "value": value}],
            }
        )

    def _actions(self, source: dict[str, Any]) -> None:
        self.session.command("input.performActions", context=self.context, actions=[source])
        self.session.command("input.releaseActions", context=self.context)

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(bidi.BiDiError):
            if self._subscription:
                self.session.command("session.unsubscribe", subscriptions=[self._subscription])
            self.session.command("browsingContext.close", context=self.context)
            self.session.command("browser.removeUserContext", userContext=self.user_context)


# ---------------------------------------------------------------- the page, through a tab


def send(tab: Tab, text: str) -> None:
    tab.fill("#message", text)
    tab.click("#send")


def answer_count(tab: Tab) -> int:
    count: int = tab.js("() => document.querySelectorAll('li.msg.assistant').length")
    return count


def status(tab: Tab, index: int = -1) -> str | None:
    """The `data-status` of an answer (the last by default)."""
    found: str | None = tab.js(
        "(i) => document.querySelectorAll('li.msg.assistant')[i < 0 ? "
        "document.querySelectorAll('li.msg.assistant').length + i : i]?.dataset.status ?? null",
        index,
    )
    return found


def part(tab: Tab, selector: str, index: int = -1) -> str:
    """The text of `selector` inside an answer ('' when absent)."""
    text: str = tab.js(
        "(s, i) => { const all = document.querySelectorAll('li.msg.assistant');"
        " const item = all[i < 0 ? all.length + i : i];"
        " return item?.querySelector(s)?.innerText ?? ''; }",
        selector,
        index,
    )
    return text


def wait_answered(tab: Tab, count: int = 1, timeout: float = TIMEOUT) -> str:
    """Wait for the `count`th answer to finish streaming; its status."""
    tab.wait(
        "(n) => { const all = document.querySelectorAll('li.msg.assistant');"
        " return all.length === n && all[n - 1].dataset.status !== 'streaming'; }",
        count,
        timeout=timeout,
    )
    found = status(tab, count - 1)
    assert found is not None
    return found


def _evaluate(page: Tab | Page, function: str) -> Any:
    return page.js(function) if isinstance(page, Tab) else page.evaluate(function)


def stored(page: Tab | Page) -> list[dict[str, Any]]:
    """The conversations as the page keeps them in localStorage (a `Tab` or Playwright's
    `Page`: the Chromium-only tests use the latter)."""
    value = _evaluate(page, "() => localStorage.getItem('rillet.playground.conversations')")
    conversations: list[dict[str, Any]] = json.loads(value or "[]")
    return conversations


def stored_answer(page: Tab | Page) -> dict[str, Any]:
    """The last message of the open conversation, as stored."""
    current = _evaluate(page, "() => JSON.parse(localStorage.getItem('rillet.playground.current'))")
    (conversation,) = [c for c in stored(page) if c["id"] == current]
    message: dict[str, Any] = conversation["messages"][-1]
    return message


def open_settings(tab: Tab) -> None:
    if not tab.js("() => document.querySelector('#settings').open"):
        tab.click("#settings summary")


def words(text: str) -> str:
    return " ".join(text.split())


@contextlib.contextmanager
def tabs(browser: str, playwright: Any, session: Any, profile: Path) -> Iterator[Tab]:
    """A fresh desktop-sized tab of `browser`."""
    tab: ChromiumTab | FirefoxTab
    if browser == "chromium":
        tab = ChromiumTab(playwright, profile, DESKTOP)
    else:
        tab = FirefoxTab(session, DESKTOP)
    try:
        yield tab
    finally:
        tab.close()

"""The browser playground at `/`, in a real Chromium driven by Playwright.

Every test loads the page from a real server on loopback: `rillet serve --backend synthetic`
in a subprocess (deterministic, so the page's answer can be compared with the API's answer to
the same request), or, for the Markdown and script-injection cases, `create_app` with a
backend that answers the user's message verbatim. Chromium is Debian's (`scripts/browser.sh`
installs it), never a downloaded one. Waits are on conditions (Playwright's `expect`, or a
poll with a deadline), never fixed sleeps.

`RILLET_SCREENSHOTS=docs/images` also writes the screenshots docs/playground.md shows.
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
from urllib.parse import urlsplit

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
from rillet.server.playground import CONTENT_SECURITY_POLICY
from tests._server import run_server
from tests._wait import wait_until
from tests.server.fakes import serve_app

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
TIMEOUT_MS = 15_000

try:
    from playwright.sync_api import BrowserContext, Page, Playwright, expect, sync_playwright
except ImportError:  # pragma: no cover - CI installs it with the dev extra
    sync_playwright = None

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        sync_playwright is None,
        reason="the playwright package is missing: pip install -e '.[dev]'",
    ),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} is missing: run scripts/browser.sh (Debian's chromium)",
    ),
]


# ---------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def synthetic() -> Iterator[str]:
    """`rillet serve --backend synthetic`, unpaced: its page's URL (…/)."""
    with run_server("--backend", "synthetic") as url:
        yield page_url(url)


@pytest.fixture(scope="module")
def paced() -> Iterator[str]:
    """The synthetic backend at 20 tokens/s: slow enough to stop mid-answer."""
    with run_server("--backend", "synthetic", "--tokens-per-second", "20") as url:
        yield page_url(url)


def page_url(base_url: str) -> str:
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


@pytest.fixture(scope="module")
def echo() -> Iterator[str]:
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


def api_answer(root: str, messages: list[dict[str, str]], **params: Any) -> str:
    """The server's non-streamed chat answer to the same request the page makes."""
    body = {"model": "synthetic", "messages": messages, **params}
    response = httpx.post(f"{root}v1/chat/completions", json=body, timeout=30)
    response.raise_for_status()
    content: str = response.json()["choices"][0]["message"]["content"]
    return content


# ---------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    assert sync_playwright is not None
    with sync_playwright() as driver:
        yield driver


class Browser:
    """One fresh Chromium profile; records every request and console problem of its pages."""

    def __init__(self, playwright: Playwright, profile: Path, viewport: dict[str, int]) -> None:
        self.context: BrowserContext = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=viewport,  # type: ignore[arg-type]
        )
        self.context.set_default_timeout(TIMEOUT_MS)
        self.requests: list[str] = []
        self.problems: list[str] = []
        self.context.on("request", lambda request: self.requests.append(request.url))

    def open(self, url: str) -> Page:
        page = self.context.pages[0] if self.context.pages else self.context.new_page()
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on(
            "console",
            lambda message: (
                self.problems.append(f"console {message.type}: {message.text}")
                if message.type == "error" and "Failed to load resource" not in message.text
                else None
            ),
        )
        response = page.goto(url)
        assert response is not None and response.ok, response
        expect(page.get_by_role("textbox", name="Message", exact=True)).to_be_visible()
        return page


@pytest.fixture
def browser(playwright: Playwright, tmp_path: Path) -> Iterator[Browser]:
    session = Browser(playwright, tmp_path / "profile", DESKTOP)
    try:
        yield session
    finally:
        session.context.close()


@pytest.fixture
def phone(playwright: Playwright, tmp_path: Path) -> Iterator[Browser]:
    session = Browser(playwright, tmp_path / "phone-profile", PHONE)
    try:
        yield session
    finally:
        session.context.close()


def send(page: Page, text: str) -> None:
    page.get_by_role("textbox", name="Message", exact=True).fill(text)
    page.get_by_role("button", name="Send", exact=True).click()


def answers(page: Page) -> Any:
    return page.locator("li.msg.assistant")


def wait_answered(page: Page, count: int = 1) -> Any:
    """The `count`th answer, once it is no longer streaming."""
    expect(answers(page)).to_have_count(count)
    answer = answers(page).nth(count - 1)
    expect(answer).not_to_have_attribute("data-status", "streaming")
    return answer


def stored(page: Page) -> list[dict[str, Any]]:
    """The conversations as the page keeps them in localStorage."""
    value = page.evaluate("localStorage.getItem('rillet.playground.conversations')")
    conversations: list[dict[str, Any]] = json.loads(value or "[]")
    return conversations


def stored_answer(page: Page) -> dict[str, Any]:
    current = page.evaluate("JSON.parse(localStorage.getItem('rillet.playground.current'))")
    (conversation,) = [c for c in stored(page) if c["id"] == current]
    message: dict[str, Any] = conversation["messages"][-1]
    return message


def words(text: str) -> str:
    return " ".join(text.split())


def open_settings(page: Page) -> None:
    settings = page.locator("#settings")
    if settings.get_attribute("open") is None:
        page.locator("#settings summary").click()


def screenshot(page: Page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / name))
    target = os.environ.get("RILLET_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / name))


# ---------------------------------------------------------------- streaming chat


def test_the_page_streams_the_same_answer_as_the_api(synthetic: str, browser: Browser) -> None:
    page = browser.open(synthetic)
    prompt = "Write a story about a robot."
    send(page, prompt)
    answer = wait_answered(page)
    expected = api_answer(synthetic, [{"role": "user", "content": prompt}])
    assert stored_answer(page)["content"] == expected
    assert words(answer.locator(".content").inner_text()) == words(expected)
    expect(answer).to_have_attribute("data-status", "done")
    meta = answer.locator(".meta").inner_text()
    assert re.search(r"\d+ ms to first token", meta), meta
    usage = httpx.post(
        f"{synthetic}v1/chat/completions",
        json={"model": "synthetic", "messages": [{"role": "user", "content": prompt}]},
    ).json()["usage"]
    assert f"{usage['completion_tokens']} tokens" in meta
    assert "finish: stop" in meta
    expect(answer.get_by_role("button", name="Copy", exact=True)).to_be_visible()
    expect(answer.get_by_role("button", name="Regenerate")).to_be_visible()
    # The page asked only its own server, and nothing was blocked or thrown.
    assert {urlsplit(url).netloc for url in browser.requests} == {urlsplit(synthetic).netloc}
    assert browser.problems == []


def test_the_page_and_assets_carry_the_security_headers(synthetic: str, browser: Browser) -> None:
    page = browser.context.new_page()
    responses: dict[str, dict[str, str]] = {}
    page.on("response", lambda r: responses.__setitem__(urlsplit(r.url).path, r.headers))
    page.goto(synthetic)
    expect(page.get_by_role("textbox", name="Message", exact=True)).to_be_visible()
    for path in ("/", "/playground/app.js", "/playground/app.css"):
        headers = responses[path]
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert headers["x-content-type-options"] == "nosniff"
        assert headers.get("etag")
    assert responses["/playground/app.js"]["content-encoding"] == "gzip"
    assert responses["/"]["content-type"].startswith("text/html")
    assert browser.problems == []  # no CSP violation, no script error


def test_the_answer_streams_in_and_stop_ends_the_generation(paced: str, browser: Browser) -> None:
    page = browser.open(paced)
    prompt = "Write a long story about a lighthouse keeper."
    full = api_answer(paced, [{"role": "user", "content": prompt}], max_tokens=200)
    open_settings(page)
    page.get_by_label("Max tokens").fill("200")
    send(page, prompt)
    answer = answers(page).last
    content = answer.locator(".content")
    # Token by token: some text shows while the answer is still streaming.
    expect(answer).to_have_attribute("data-status", "streaming")
    expect(content).not_to_be_empty()
    assert answer.get_attribute("data-status") == "streaming"
    shown_early = len(content.inner_text())
    expect(content).not_to_have_text(content.inner_text())  # and more arrives
    assert len(content.inner_text()) > shown_early
    page.get_by_role("button", name="Stop").click()
    expect(answer).to_have_attribute("data-status", "stopped")
    expect(answer.locator(".flag")).to_have_text("Stopped")
    expect(page.get_by_role("button", name="Send", exact=True)).to_be_visible()
    kept = stored_answer(page)["content"]
    assert kept and len(kept) < len(full) and full.startswith(kept)
    assert "finish: stopped" in answer.locator(".meta").inner_text()
    # The next request is served, while the stopped answer stays as it was.
    send(page, "Hi")
    wait_answered(page, 2)
    expect(answers(page).last).to_have_attribute("data-status", "done")
    assert len(stored(page)[0]["messages"]) == 4
    assert stored(page)[0]["messages"][1]["content"] == kept


def test_stop_cancels_a_responses_api_answer_on_the_server(paced: str, browser: Browser) -> None:
    page = browser.open(paced)
    open_settings(page)
    page.get_by_label("API", exact=True).select_option(label="Responses")
    page.get_by_label("Max tokens").fill("200")
    prompt = "Write a long story about a lighthouse keeper."
    full = api_answer(paced, [{"role": "user", "content": prompt}], max_tokens=200)
    send(page, prompt)
    answer = answers(page).last
    expect(answer.locator(".content")).not_to_be_empty()
    page.get_by_role("button", name="Stop").click()
    expect(answer).to_have_attribute("data-status", "stopped")
    message = stored_answer(page)
    response_id = message["meta"]["id"]
    assert response_id.startswith("resp_")

    def server_side() -> dict[str, Any]:
        got: dict[str, Any] = httpx.get(f"{paced}v1/responses/{response_id}").json()
        return got

    # The server noticed the page went away and stopped generating.
    wait_until(lambda: server_side()["status"] == "cancelled", timeout=10)
    output = server_side()["output"]
    generated = "".join(part["text"] for item in output for part in item.get("content", []))
    assert generated.startswith(message["content"])
    assert len(generated) < len(full)


def test_the_responses_api_gives_the_same_answer(synthetic: str, browser: Browser) -> None:
    page = browser.open(synthetic)
    open_settings(page)
    page.get_by_label("API", exact=True).select_option(label="Responses")
    prompt = "Write a haiku about coding."
    send(page, prompt)
    answer = wait_answered(page)
    expect(answer).to_have_attribute("data-status", "done")
    expected = api_answer(synthetic, [{"role": "user", "content": prompt}])
    message = stored_answer(page)
    assert message["content"] == expected
    assert message["meta"]["api"] == "responses"
    assert "finish: stop" in answer.locator(".meta").inner_text()


def test_settings_reach_the_request_and_are_remembered(synthetic: str, browser: Browser) -> None:
    page = browser.open(synthetic)
    open_settings(page)
    page.get_by_label("System prompt").fill("You are terse.")
    page.get_by_label("Temperature").fill("0.5")
    page.get_by_label("top_p").fill("0.9")
    page.get_by_label("Max tokens").fill("7")
    sent: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda r: sent.append(json.loads(r.post_data or "{}")) if r.method == "POST" else None,
    )
    send(page, "Tell me about the sea.")
    answer = wait_answered(page)
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Tell me about the sea."},
    ]
    assert sent[-1]["messages"] == messages
    assert (sent[-1]["temperature"], sent[-1]["top_p"], sent[-1]["max_tokens"]) == (0.5, 0.9, 7)
    expected = api_answer(synthetic, messages, temperature=0.5, top_p=0.9, max_tokens=7)
    assert stored_answer(page)["content"] == expected
    assert "7 tokens" in answer.locator(".meta").inner_text()
    assert "finish: length" in answer.locator(".meta").inner_text()
    page.reload()
    open_settings(page)
    expect(page.get_by_label("System prompt")).to_have_value("You are terse.")
    expect(page.get_by_label("Max tokens")).to_have_value("7")
    expect(page.get_by_label("Model")).to_have_attribute("placeholder", "synthetic (default)")


# ---------------------------------------------------------------- conversations


def test_conversations_survive_a_reload_and_can_be_renamed_and_deleted(
    synthetic: str, browser: Browser
) -> None:
    page = browser.open(synthetic)
    send(page, "Write a poem about the moon.")
    first = wait_answered(page).locator(".content").inner_text()
    page.get_by_role("button", name="New chat").click()
    expect(answers(page)).to_have_count(0)
    send(page, "Tell me a joke.")
    wait_answered(page)
    nav = page.get_by_role("navigation", name="Conversations")
    expect(nav.locator(".conv-open")).to_have_text(
        ["Tell me a joke.", "Write a poem about the moon."]
    )

    page.reload()
    expect(nav.locator(".conv-open")).to_have_count(2)
    expect(answers(page)).to_have_count(1)  # the current conversation is still open
    nav.get_by_role("button", name="Write a poem about the moon.", exact=True).click()
    expect(page.locator("li.msg.user .content")).to_have_text("Write a poem about the moon.")
    assert answers(page).last.locator(".content").inner_text() == first

    nav.get_by_role("button", name="Rename “Write a poem about the moon.”").click()
    name = page.get_by_role("textbox", name="Conversation name")
    name.fill("Moon poem")
    name.press("Enter")
    expect(nav.get_by_role("button", name="Moon poem", exact=True)).to_be_focused()
    expect(page.locator("#title")).to_have_text("Moon poem")

    nav.get_by_role("button", name="Delete “Tell me a joke.”").click()
    page.reload()
    expect(nav.locator(".conv-open")).to_have_text(["Moon poem"])
    assert [c["title"] for c in stored(page)] == ["Moon poem"]


def test_edit_a_question_and_regenerate_an_answer(synthetic: str, browser: Browser) -> None:
    page = browser.open(synthetic)
    send(page, "Write a story about a cat.")
    wait_answered(page)
    page.locator("li.msg.user").get_by_role("button", name="Edit").click()
    editor = page.get_by_role("textbox", name="Edit message")
    editor.fill("Write a story about a dog.")
    editor.press("Enter")
    answer = wait_answered(page)
    edited = [{"role": "user", "content": "Write a story about a dog."}]
    assert stored_answer(page)["content"] == api_answer(synthetic, edited)
    assert len(stored(page)[0]["messages"]) == 2

    answer.get_by_role("button", name="Regenerate").click()
    wait_answered(page)
    assert stored_answer(page)["content"] == api_answer(synthetic, edited)  # deterministic
    assert len(stored(page)[0]["messages"]) == 2


# ---------------------------------------------------------------- errors


def test_a_server_killed_mid_stream_keeps_the_partial_answer(browser: Browser) -> None:
    with killable_server("--backend", "synthetic", "--tokens-per-second", "20") as (url, process):
        page = browser.open(url)
        send(page, "Write a long story about a lighthouse keeper.")
        answer = answers(page).last
        expect(answer.locator(".content")).not_to_be_empty()
        process.kill()
        process.wait(10)
        expect(answer).to_have_attribute("data-status", "cut")
        expect(answer.locator(".flag")).to_have_text("Incomplete")
        expect(answer.locator(".error")).to_contain_text("connection to the server was lost")
        kept = stored_answer(page)["content"]
        assert kept and words(answer.locator(".content").inner_text()) == words(kept)

        send(page, "Are you there?")
        second = wait_answered(page, 2)
        expect(second.locator(".error")).to_contain_text("Could not reach the server")
        assert stored(page)[0]["messages"][1]["content"] == kept  # nothing thrown away
    browser.problems.clear()  # the browser logs the failed fetches


def test_an_api_error_shows_its_message(browser: Browser) -> None:
    with run_server("--backend", "synthetic", "--strict-models") as url:
        page = browser.open(page_url(url))
        open_settings(page)
        page.get_by_label("Model").fill("no-such-model")
        send(page, "Hello")
        answer = wait_answered(page)
        expect(answer).to_have_attribute("data-status", "error")
        expect(answer.locator(".error")).to_have_text(
            "Error 404: The model `no-such-model` does not exist or you do not have access to it."
        )
        page.get_by_label("Model").fill("synthetic")
        answer.get_by_role("button", name="Regenerate").click()
        expect(wait_answered(page)).to_have_attribute("data-status", "done")


def test_with_an_api_key_the_page_asks_for_it(browser: Browser) -> None:
    with run_server("--backend", "synthetic", "--api-key", "sesame") as url:
        page = browser.open(page_url(url))
        expect(page.get_by_role("alert")).to_contain_text("requires an API key")
        expect(page.get_by_label("API key")).to_be_visible()
        send(page, "Hello")
        answer = wait_answered(page)
        expect(answer.locator(".error")).to_contain_text("Error 401: You didn't provide an API key")
        expect(page.get_by_label("API key")).to_be_focused()
        page.get_by_label("API key").fill("sesame")
        page.get_by_label("API key").press("Tab")  # `change`: the page lists the models again
        expect(page.get_by_role("alert")).to_be_hidden()
        answer.get_by_role("button", name="Regenerate").click()
        expect(wait_answered(page)).to_have_attribute("data-status", "done")
        assert (
            stored_answer(page)["content"]
            == httpx.post(
                f"{url}/chat/completions",
                headers={"Authorization": "Bearer sesame"},
                json={"model": "synthetic", "messages": [{"role": "user", "content": "Hello"}]},
            ).json()["choices"][0]["message"]["content"]
        )
    browser.problems.clear()  # the browser logs the 401s


def test_no_ui_serves_no_page(browser: Browser) -> None:
    with run_server("--backend", "synthetic", "--no-ui") as url:
        page = browser.context.new_page()
        response = page.goto(page_url(url))
        assert response is not None and response.status == 404
        assert json.loads(page.locator("body").inner_text()) == {
            "error": {
                "message": "Invalid URL (GET /)",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
        assert httpx.get(f"{url}/models").status_code == 200
    browser.problems.clear()


# ---------------------------------------------------------------- Markdown and safety

MARKDOWN = """Some *emphasis*, **strong** text and `inline <code>`.

- one
- two with a [link](https://example.com/docs)

1. first
2. second

```python
print("hi")
```"""

HOSTILE = """Hello <img src=x onerror="window.__pwned='img'"> there
<script>window.__pwned='script'</script>
[click me](javascript:window.__pwned='link') and [tab](java\tscript:window.__pwned='tab')
<a href="javascript:window.__pwned='anchor'">raw anchor</a>
<iframe src="http://remote.example/frame"></iframe>
![tracker](http://remote.example/pixel.png) ![local](/health)
<https://remote.example/auto> [relative](/v1/models)
```html
<script>window.__pwned='fence'</script><img src=http://remote.example/fence.png>
```"""


def test_markdown_renders_as_elements(echo: str, browser: Browser) -> None:
    page = browser.open(echo)
    send(page, MARKDOWN)
    content = wait_answered(page).locator(".content")
    expect(content.locator("em")).to_have_text("emphasis")
    expect(content.locator("strong")).to_have_text("strong")
    expect(content.locator("p > code")).to_have_text("inline <code>")
    expect(content.locator("ul > li")).to_have_text(["one", "two with a link"])
    expect(content.locator("ol > li")).to_have_text(["first", "second"])
    expect(content.locator("pre > code")).to_have_text('print("hi")')
    expect(content.get_by_role("button", name="Copy code")).to_be_visible()
    link = content.get_by_role("link", name="link")
    expect(link).to_have_attribute("href", "https://example.com/docs")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(link).to_have_attribute("target", "_blank")
    assert browser.problems == []


def test_model_output_can_neither_run_script_nor_load_anything(echo: str, browser: Browser) -> None:
    page = browser.open(echo)
    send(page, HOSTILE)
    answer = wait_answered(page)
    content = answer.locator(".content")
    expect(content).to_contain_text("<img src=x onerror=\"window.__pwned='img'\">")
    expect(content).to_contain_text("<script>window.__pwned='script'</script>")
    expect(content).to_contain_text("[click me](javascript:window.__pwned='link')")
    expect(content).to_contain_text("[image: tracker]")
    expect(content.locator("pre code")).to_contain_text("<script>window.__pwned='fence'</script>")
    messages = page.locator("#messages")
    for tag in ("img", "script", "iframe", "object", "embed", "style", "[style]"):
        expect(messages.locator(tag)).to_have_count(0)
    # Links: http(s) only, opened apart from the page (and never followed by the test).
    links = messages.locator("a").evaluate_all("links => links.map(a => [a.href, a.rel])")
    assert sorted(links) == [
        ["http://remote.example/frame", "noopener noreferrer nofollow"],  # the text of src=
        ["https://remote.example/auto", "noopener noreferrer nofollow"],
    ]
    page.get_by_role("button", name="Copy", exact=True).focus()  # nothing fires on focus
    assert page.evaluate("window.__pwned") is None
    hosts = {urlsplit(url).netloc for url in browser.requests}
    assert hosts == {urlsplit(echo).netloc}, browser.requests
    assert not [url for url in browser.requests if url.endswith(("/x", "/health"))]
    page.reload()  # and again when rendered from storage
    expect(answers(page).last.locator(".content")).to_contain_text("[image: tracker]")
    assert page.evaluate("window.__pwned") is None
    assert {urlsplit(url).netloc for url in browser.requests} == {urlsplit(echo).netloc}
    assert browser.problems == []


# ---------------------------------------------------------------- keyboard, phone, screenshots


def test_keyboard_only(paced: str, browser: Browser, tmp_path: Path) -> None:
    page = browser.open(paced)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to message")).to_be_focused()
    page.keyboard.press("Enter")
    textbox = page.get_by_role("textbox", name="Message", exact=True)
    expect(textbox).to_be_focused()
    page.keyboard.type("Write a haiku")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("about the sea")
    expect(textbox).to_have_value("Write a haiku\nabout the sea")
    page.keyboard.press("Enter")
    wait_answered(page)
    expect(page.locator("li.msg.user .content")).to_have_text("Write a haiku\nabout the sea")
    expect(textbox).to_have_value("")
    # Every control is reached by Tab, in reading order, and shows where the focus is.
    page.reload()
    expect(answers(page)).to_have_count(1)
    stops: list[str] = []
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => {
                const e = document.activeElement;
                if (e === document.body) return null;
                const style = getComputedStyle(e);
                const box = e.getBoundingClientRect();
                return {name: e.getAttribute('aria-label') || e.textContent.trim() || e.id,
                        outline: style.outlineStyle, visible: box.width > 0 && box.height > 0};
            }"""
        )
        if focused is None or (stops and focused["name"] == stops[0]):
            break
        assert focused["outline"] != "none", focused
        assert focused["visible"], focused
        stops.append(focused["name"])
    assert stops == [
        "Skip to message",
        "New chat",
        "Write a haiku about the sea",
        "Rename “Write a haiku about the sea”",
        "Delete “Write a haiku about the sea”",
        "Settings",
        "Edit",
        "Copy",
        "Regenerate",
        "message",
        "Send",
    ]
    screenshot(page, tmp_path, "playground-desktop.png")


def test_a_phone_sized_screen(paced: str, phone: Browser, tmp_path: Path) -> None:
    page = phone.open(paced)
    send(page, "Write a haiku about a robot.")
    wait_answered(page)
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"]
    expect(page.get_by_role("button", name="Send", exact=True)).to_be_in_viewport()
    expect(page.get_by_role("button", name="New chat")).to_be_hidden()
    menu = page.get_by_role("button", name="Chats & settings")
    expect(menu).to_have_attribute("aria-expanded", "false")
    screenshot(page, tmp_path, "playground-phone.png")
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("button", name="New chat")).to_be_visible()
    open_settings(page)
    expect(page.get_by_label("Model")).to_be_visible()
    assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
    screenshot(page, tmp_path, "playground-phone-settings.png")

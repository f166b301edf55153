"""The browser playground at `/`, in a real Chromium driven by Playwright: what only
Chromium checks (the other tests run in Chromium and Firefox alike:
tests/integration/test_playground_browsers.py).

Every test loads the page from a real server on loopback: `rillet serve --backend synthetic`
in a subprocess (deterministic, so the page's answer can be compared with the API's answer to
the same request), or, for Markdown, `create_app` with a backend that answers the user's
message verbatim. Chromium is Debian's (`scripts/browser.sh` installs it), never a downloaded
one. Waits are on conditions (Playwright's `expect`, or a poll with a deadline), never fixed
sleeps.

`RILLET_SCREENSHOTS=docs/images` also writes the screenshots docs/playground.md shows.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from rillet.server.playground import CONTENT_SECURITY_POLICY
from tests._server import run_server
from tests.server.playground import browsers
from tests.server.playground.browsers import (
    DESKTOP,
    PHONE,
    ChromiumTab,
    api_answer,
    page_url,
    require,
    stored,
    stored_answer,
)

try:
    from playwright.sync_api import Page, Playwright, expect, sync_playwright
except ImportError:  # pragma: no cover - CI installs it with the dev extra
    sync_playwright = None  # type: ignore[assignment]

pytestmark = pytest.mark.browser

# The shared servers' fixtures (module-scoped): each yields its page's URL.
synthetic, paced, echo = browsers.synthetic, browsers.paced, browsers.echo


@pytest.fixture(autouse=True)
def _chromium() -> None:
    require("chromium")


# ---------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    assert sync_playwright is not None
    with sync_playwright() as driver:
        yield driver


class Browser(ChromiumTab):
    """One fresh Chromium profile, recording every request and console problem of its page,
    which the tests here drive with Playwright's own locators."""

    def page_at(self, url: str) -> Page:
        self.goto(url)
        expect(self.page.get_by_role("textbox", name="Message", exact=True)).to_be_visible()
        return self.page


@contextlib.contextmanager
def chromium(playwright: Playwright, profile: Path, viewport: dict[str, int]) -> Iterator[Browser]:
    session = Browser(playwright, profile, viewport)
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def browser(playwright: Playwright, tmp_path: Path) -> Iterator[Browser]:
    with chromium(playwright, tmp_path / "profile", DESKTOP) as session:
        yield session


@pytest.fixture
def phone(playwright: Playwright, tmp_path: Path) -> Iterator[Browser]:
    with chromium(playwright, tmp_path / "phone-profile", PHONE) as session:
        yield session


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


def test_settings_reach_the_request_and_are_remembered(synthetic: str, browser: Browser) -> None:
    page = browser.page_at(synthetic)
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
    page = browser.page_at(synthetic)
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
    page = browser.page_at(synthetic)
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


def test_with_an_api_key_the_page_asks_for_it(browser: Browser) -> None:
    with run_server("--backend", "synthetic", "--api-key", "sesame") as url:
        page = browser.page_at(page_url(url))
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


def test_markdown_renders_as_elements(echo: str, browser: Browser) -> None:
    page = browser.page_at(echo)
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


TABLE_AND_LIST = """Release plan:

| Step | Owner | Days | Status |
|:-----|:-----:|-----:|--------|
| Design the `resume` flow | ana | 3 | **done** |
| Build it | ben | 5 | in review |
| Ship | cy | 1 | next |

1. Before the release
   - freeze the API
     - tag `v1.2`
   - write the notes
2. After it
   - watch the *error rate*"""

WIDE = (
    "| "
    + " | ".join(f"column {n}" for n in range(12))
    + " |\n"
    + "|---" * 12
    + "|\n"
    + ("| " + " | ".join("a-rather-long-cell" for _ in range(12)) + " |")
)


def test_a_table_and_nested_lists_look_right(echo: str, browser: Browser, tmp_path: Path) -> None:
    page = browser.page_at(echo)
    send(page, TABLE_AND_LIST)
    content = wait_answered(page).locator(".content")
    table = content.get_by_role("table")
    expect(table.get_by_role("columnheader")).to_have_text(["Step", "Owner", "Days", "Status"])
    expect(table.get_by_role("row")).to_have_count(4)
    expect(table.get_by_role("cell", name="3", exact=True)).to_have_css("text-align", "right")
    expect(table.get_by_role("cell", name="ana")).to_have_css("text-align", "center")
    expect(table.locator("td code")).to_have_text("resume")
    expect(content.locator("ol > li > ul > li > ul > li")).to_have_text("tag v1.2")
    expect(content.locator("ol > li > ul > li em")).to_have_text("error rate")
    screenshot(page, tmp_path, "playground-markdown.png")
    assert browser.problems == []


def test_a_wide_table_scrolls_inside_its_box_on_a_phone(echo: str, phone: Browser) -> None:
    page = phone.page_at(echo)
    send(page, WIDE)
    box = wait_answered(page).locator(".table-wrap")
    expect(box.locator("th")).to_have_count(12)
    assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]
    assert box.evaluate("box => box.scrollWidth > box.clientWidth")  # it scrolls, by itself
    box.focus()  # and from the keyboard
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.querySelector('.table-wrap').scrollLeft > 0")


# ---------------------------------------------------------------- keyboard, phone, screenshots


def test_keyboard_only(paced: str, browser: Browser, tmp_path: Path) -> None:
    page = browser.page_at(paced)
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
    page = phone.page_at(paced)
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

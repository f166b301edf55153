"""The playground in both browsers it supports: Chromium and Firefox, each headless and
Debian's own, against real servers on loopback.

Each test runs once per browser through the small `Tab` API of
tests/server/playground/browsers.py (Playwright drives Chromium, WebDriver BiDi drives
Firefox): streaming, Stop (the server stops too), reload, the Responses API, an API error,
Markdown tables and nested lists, model output that tries to run script or load anything,
and streams cut mid-way by a proxy, which the page resumes where it stopped, or, when the
server cannot resume them, keeps and marks. The Chromium-only rest (keyboard, phone, API
key, screenshots) is tests/integration/test_playground.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests._server import run_server
from tests._wait import wait_until
from tests.server.playground import bidi, browsers
from tests.server.playground.browsers import (
    BROWSERS,
    Tab,
    answer_count,
    api_answer,
    chat_body,
    killable_server,
    missing,
    open_settings,
    page_url,
    part,
    require,
    send,
    status,
    stored,
    stored_answer,
    tabs,
    wait_answered,
    words,
)
from tests.server.playground.proxy import cut_proxy

pytestmark = pytest.mark.browser

# The shared servers' fixtures (module-scoped): each yields its page's URL.
synthetic, paced, echo = browsers.synthetic, browsers.paced, browsers.echo

LONG = "Write a long story about a lighthouse keeper."


# ---------------------------------------------------------------- servers and browsers


@pytest.fixture(scope="module")
def quick() -> Iterator[str]:
    """The synthetic backend at 200 tokens/s: an answer arrives over a second, event by
    event, so the page has read what came before a cut (data a browser holds unread when a
    connection fails is dropped with it, and then replayed by the reattach)."""
    with run_server("--backend", "synthetic", "--tokens-per-second", "200") as url:
        yield page_url(url)


class Drivers:
    """Playwright and Firefox, each started on first use and shared by the module's tests
    (every test still gets a fresh profile: a Chromium context, a Firefox user context)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._stack: list[Any] = []
        self._playwright: Any = None
        self._firefox: bidi.Session | None = None

    def playwright(self) -> Any:
        if self._playwright is None:
            from playwright.sync_api import sync_playwright

            manager = sync_playwright()
            self._playwright = manager.__enter__()
            self._stack.append(manager)
        return self._playwright

    def firefox(self) -> bidi.Session:
        if self._firefox is None:
            manager = bidi.firefox(self.root / "firefox-profile")
            self._firefox = manager.__enter__()
            self._stack.append(manager)
        return self._firefox

    def close(self) -> None:
        while self._stack:
            self._stack.pop().__exit__(None, None, None)


@pytest.fixture(scope="module")
def drivers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Drivers]:
    started = Drivers(tmp_path_factory.mktemp("browsers"))
    try:
        yield started
    finally:
        started.close()


@pytest.fixture(params=BROWSERS)
def tab(request: pytest.FixtureRequest, drivers: Drivers, tmp_path: Path) -> Iterator[Tab]:
    browser: str = request.param
    require(browser)
    playwright = drivers.playwright() if browser == "chromium" else None
    session = drivers.firefox() if browser == "firefox" else None
    with tabs(browser, playwright, session, tmp_path / "profile") as opened:
        yield opened


def hosts(tab: Tab) -> set[str]:
    """The hosts the page asked for (`data:` URLs, such as its empty icon, reach none)."""
    return {urlsplit(url).netloc for url in tab.requests if not url.startswith("data:")}


def meta(tab: Tab, index: int = -1) -> str:
    return part(tab, ".meta", index)


def cancelled_log(root: str, completion: str, prompt: str, **params: Any) -> str:
    """The server's log of the page's chat stream, replayed from its start, once it ends
    with the cancel the page sent (the request body is the page's, rebuilt)."""
    body = chat_body(
        [{"role": "user", "content": prompt}],
        stream=True,
        stream_options={"include_usage": True},
        **params,
    )

    def replay() -> str:
        headers = {"Last-Event-ID": f"{completion}:0"}
        answer = httpx.post(f"{root}v1/chat/completions", json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.text

    wait_until(lambda: "stream_cancelled" in replay(), timeout=10)
    return replay()


# ---------------------------------------------------------------- streaming, Stop, reload


def test_the_page_streams_the_same_answer_as_the_api(synthetic: str, tab: Tab) -> None:
    tab.open(synthetic)
    prompt = "Write a story about a robot."
    send(tab, prompt)
    assert wait_answered(tab) == "done"
    expected = api_answer(synthetic, [{"role": "user", "content": prompt}])
    assert stored_answer(tab)["content"] == expected
    assert words(part(tab, ".content")) == words(expected)
    usage = httpx.post(
        f"{synthetic}v1/chat/completions", json=chat_body([{"role": "user", "content": prompt}])
    ).json()["usage"]
    assert re.search(r"\d+ ms to first token", meta(tab)), meta(tab)
    assert f"{usage['completion_tokens']} tokens" in meta(tab)
    assert "finish: stop" in meta(tab)
    assert "resumed" not in meta(tab)
    assert tab.visible("li.msg.assistant button", "Copy")
    assert tab.visible("li.msg.assistant button", "Regenerate")
    assert hosts(tab) == {urlsplit(synthetic).netloc}  # only its own server
    assert tab.problems == []


def test_stop_ends_the_answer_and_the_generation(paced: str, tab: Tab) -> None:
    tab.open(paced)
    open_settings(tab)
    tab.fill("#s-max-tokens", "200")
    send(tab, LONG)
    # Token by token: text shows while the answer is still streaming, and more arrives.
    tab.wait("() => document.querySelector('li.msg.assistant .content').innerText.length > 0")
    early = len(part(tab, ".content"))
    tab.wait(
        "(n) => document.querySelector('li.msg.assistant .content').innerText.length > n", early
    )
    assert status(tab) == "streaming"
    tab.click("#stop")
    assert wait_answered(tab) == "stopped"
    assert part(tab, ".flag") == "Stopped"
    assert "finish: stopped" in meta(tab)
    full = api_answer(paced, [{"role": "user", "content": LONG}], max_tokens=200)
    kept = stored_answer(tab)["content"]
    assert kept and len(kept) < len(full) and full.startswith(kept)
    # The page cancelled the stream on the server: replayed from its start, the server's
    # log ends with the cancel, well short of the full answer.
    log = cancelled_log(paced, stored_answer(tab)["meta"]["id"], LONG, max_tokens=200)
    assert '"finish_reason":"length"' not in log
    # The next request is served, and the stopped answer stays as it was.
    send(tab, "Hi")
    assert wait_answered(tab, 2) == "done"
    assert stored(tab)[0]["messages"][1]["content"] == kept


def test_stop_cancels_a_responses_api_answer_on_the_server(paced: str, tab: Tab) -> None:
    tab.open(paced)
    open_settings(tab)
    tab.fill("#s-api", "responses")
    tab.fill("#s-max-tokens", "200")
    full = api_answer(paced, [{"role": "user", "content": LONG}], max_tokens=200)
    send(tab, LONG)
    tab.wait("() => document.querySelector('li.msg.assistant .content').innerText.length > 0")
    tab.click("#stop")
    assert wait_answered(tab) == "stopped"
    message = stored_answer(tab)
    response_id = message["meta"]["id"]
    assert response_id.startswith("resp_")

    def server_side() -> dict[str, Any]:
        got: dict[str, Any] = httpx.get(f"{paced}v1/responses/{response_id}").json()
        return got

    wait_until(lambda: server_side()["status"] == "cancelled", timeout=10)
    output = server_side()["output"]
    generated = "".join(part["text"] for item in output for part in item.get("content", []))
    assert generated.startswith(message["content"])
    assert len(generated) < len(full)


def test_the_responses_api_gives_the_same_answer(synthetic: str, tab: Tab) -> None:
    tab.open(synthetic)
    open_settings(tab)
    tab.fill("#s-api", "responses")
    prompt = "Write a haiku about coding."
    send(tab, prompt)
    assert wait_answered(tab) == "done"
    message = stored_answer(tab)
    assert message["content"] == api_answer(synthetic, [{"role": "user", "content": prompt}])
    assert message["meta"]["api"] == "responses"
    assert "finish: stop" in meta(tab)
    assert tab.problems == []


def test_a_reload_keeps_the_conversation(synthetic: str, tab: Tab) -> None:
    tab.open(synthetic)
    send(tab, "Write a poem about the moon.")
    assert wait_answered(tab) == "done"
    shown = part(tab, ".content")
    tab.click("#new-chat")
    send(tab, "Tell me a joke.")
    assert wait_answered(tab) == "done"
    tab.reload()
    titles = tab.js("() => [...document.querySelectorAll('.conv-open')].map((b) => b.textContent)")
    assert titles == ["Tell me a joke.", "Write a poem about the moon."]
    assert answer_count(tab) == 1  # the current conversation is still open
    tab.click(".conv-open", "Write a poem about the moon.")
    tab.wait(
        "() => document.querySelector('li.msg.user .content')?.textContent === "
        "'Write a poem about the moon.'"
    )
    assert part(tab, ".content") == shown
    assert tab.problems == []


def test_an_api_error_shows_its_message(tab: Tab) -> None:
    with run_server("--backend", "synthetic", "--strict-models") as url:
        tab.open(page_url(url))
        open_settings(tab)
        tab.fill("#s-model", "no-such-model")
        send(tab, "Hello")
        assert wait_answered(tab) == "error"
        assert part(tab, ".error") == (
            "Error 404: The model `no-such-model` does not exist or you do not have access to it."
        )
        tab.fill("#s-model", "synthetic")
        tab.click("li.msg.assistant button", "Regenerate")
        assert wait_answered(tab) == "done"
    tab.problems.clear()  # the browser may log the 404


# ---------------------------------------------------------------- resuming a cut stream


def test_a_cut_chat_stream_is_resumed_without_losing_or_repeating_text(
    quick: str, tab: Tab
) -> None:
    # The first stream's connection closes after 3000 bytes (ten events into an answer of
    # about 20 KB); the reattach goes through untouched.
    with cut_proxy(quick, [3000]) as (url, proxy):
        tab.open(url)
        open_settings(tab)
        tab.fill("#s-max-tokens", "200")
        send(tab, LONG)
        assert wait_answered(tab) == "done"
        assert proxy.cuts == 1 and proxy.streams == 2
    expected = api_answer(quick, [{"role": "user", "content": LONG}], max_tokens=200)
    message = stored_answer(tab)
    assert message["content"] == expected
    assert words(part(tab, ".content")) == words(expected)
    # Chromium may drop what it received but the page had not read when the connection
    # fails: then the page saw no event, and (as documented) asked again from the start
    # instead of reattaching; the text must be whole either way.
    resumes = message["meta"].get("resumes", 0)
    assert resumes in (0, 1)
    if resumes:
        assert "resumed after a cut" in meta(tab)
    assert "finish: stop" in meta(tab)
    assert tab.problems == []


def test_a_cut_responses_stream_is_resumed(quick: str, tab: Tab) -> None:
    with cut_proxy(quick, [6000, 4000]) as (url, proxy):
        tab.open(url)
        open_settings(tab)
        tab.fill("#s-api", "responses")
        tab.fill("#s-max-tokens", "200")
        send(tab, LONG)
        assert wait_answered(tab) == "done"
        assert proxy.cuts == 2 and proxy.streams == 3  # cut, and its reattach cut again
    expected = api_answer(quick, [{"role": "user", "content": LONG}], max_tokens=200)
    message = stored_answer(tab)
    assert message["content"] == expected
    assert message["meta"]["resumes"] == 2
    assert "resumed after 2 cuts" in meta(tab)
    assert tab.problems == []


def test_a_stream_cut_before_its_first_event_is_asked_for_again(quick: str, tab: Tab) -> None:
    # 300 bytes: the answer's head and part of its first event. The stream's id is unknown,
    # so the page sends the request again; nothing had been shown, so nothing repeats.
    with cut_proxy(quick, [300]) as (url, proxy):
        tab.open(url)
        send(tab, LONG)
        assert wait_answered(tab) == "done"
        assert proxy.cuts == 1 and proxy.streams == 2
    assert stored_answer(tab)["content"] == api_answer(quick, [{"role": "user", "content": LONG}])
    assert tab.problems == []


def test_a_cut_stream_that_cannot_be_resumed_is_kept_and_marked(quick: str, tab: Tab) -> None:
    # Without the server's X-Rillet-Resumable answer the page must not try to reattach.
    with cut_proxy(quick, [3000], strip_resumable=True) as (url, proxy):
        tab.open(url)
        send(tab, LONG)
        assert wait_answered(tab) == "cut"
        assert proxy.streams == 1
    assert part(tab, ".flag") == "Incomplete"
    assert "connection to the server was lost" in part(tab, ".error")
    kept = stored_answer(tab)["content"]
    expected = api_answer(quick, [{"role": "user", "content": LONG}])
    assert kept and expected.startswith(kept) and len(kept) < len(expected)
    assert words(part(tab, ".content")) == words(kept)
    tab.problems.clear()  # the browser may log the failed read


def test_resuming_gives_up_after_three_tries_in_a_row(quick: str, tab: Tab) -> None:
    # Cut mid-answer, then every reattach closed before a byte: three tries, then Incomplete.
    with cut_proxy(quick, [3000, 0, 0, 0, 0, 0]) as (url, proxy):
        tab.open(url)
        send(tab, LONG)
        assert wait_answered(tab) == "cut"
        # Three reattaches (a browser may send one again by itself on a fresh connection).
        assert proxy.streams >= 4
    assert "3 tries to resume it failed" in part(tab, ".error")
    kept = stored_answer(tab)["content"]
    assert kept and api_answer(quick, [{"role": "user", "content": LONG}]).startswith(kept)
    tab.problems.clear()


RESUMING = (
    "() => /^Connection lost: resuming \\(try [1-3] of 3\\)…$/"
    ".test(document.querySelector('li.msg.assistant .flag')?.textContent ?? '')"
)


def test_stop_while_resuming_cancels_the_stream(paced: str, tab: Tab) -> None:
    with cut_proxy(paced, [3000, 0, 0, 0, 0, 0]) as (url, _):
        tab.open(url)
        open_settings(tab)
        tab.fill("#s-max-tokens", "200")
        send(tab, LONG)
        tab.wait(RESUMING)  # the page shows it is resuming, between tries
        assert status(tab) == "streaming"
        tab.click("#stop")
        assert wait_answered(tab) == "stopped"
    kept = stored_answer(tab)["content"]
    assert kept and api_answer(paced, [{"role": "user", "content": LONG}]).startswith(kept)
    log = cancelled_log(paced, stored_answer(tab)["meta"]["id"], LONG, max_tokens=200)
    assert '"finish_reason":"length"' not in log  # stopped on the server, long before its end
    tab.problems.clear()


def test_a_server_killed_mid_stream_keeps_the_partial_answer(tab: Tab) -> None:
    with killable_server("--backend", "synthetic", "--tokens-per-second", "20") as (url, process):
        tab.open(url)
        send(tab, LONG)
        tab.wait("() => document.querySelector('li.msg.assistant .content').innerText.length > 0")
        process.kill()
        process.wait(10)
        assert wait_answered(tab) == "cut"
        assert part(tab, ".flag") == "Incomplete"
        assert "connection to the server was lost" in part(tab, ".error")
        kept = stored_answer(tab)["content"]
        assert kept and words(part(tab, ".content")) == words(kept)
        send(tab, "Are you there?")
        assert wait_answered(tab, 2) == "error"
        assert "Could not reach the server" in part(tab, ".error")
        assert stored(tab)[0]["messages"][1]["content"] == kept  # nothing thrown away
    tab.problems.clear()  # the browser logs the failed fetches


# ---------------------------------------------------------------- Markdown and safety

TABLES_AND_LISTS = """| Name | Qty | Price | Note |
|:-----|:---:|------:|------|
| apple | 3 | 1.50 | *fresh* |
| pear \\| quince | 10 | 12.00 |
| fig | 1 | 0.99 | `a|b` x | extra |

1. first
   - a bullet under it
     1. numbered, two levels down
     2. and its sibling
   - another bullet
2. second
* a new list: another marker kind
  + nested once
    - nested twice
      - nested three times"""


def test_markdown_tables_and_nested_lists(echo: str, tab: Tab) -> None:
    tab.open(echo)
    send(tab, TABLES_AND_LISTS)
    assert wait_answered(tab) == "done"
    table = tab.js(
        """() => {
            const t = document.querySelector('li.msg.assistant .content table');
            const cells = (row) =>
                [...row.children].map((c) => [c.tagName, c.textContent, c.className]);
            return {head: [...t.tHead.rows].map(cells), body: [...t.tBodies[0].rows].map(cells),
                    emphasis: t.querySelector('td em')?.textContent ?? null,
                    code: t.querySelector('td code')?.textContent ?? null};
        }"""
    )
    aligned = ["align-left", "align-center", "align-right", ""]
    names = ["Name", "Qty", "Price", "Note"]
    assert table["head"] == [[["TH", n, a] for n, a in zip(names, aligned, strict=True)]]
    rows = [[text for _, text, _ in row] for row in table["body"]]
    assert rows == [
        ["apple", "3", "1.50", "fresh"],
        ["pear | quince", "10", "12.00", ""],  # an escaped pipe, a short row padded
        ["fig", "1", "0.99", "`a"],  # a pipe splits even in backticks (GFM); extras dropped
    ]
    assert [cls for _, _, cls in table["body"][0]] == aligned
    assert table["emphasis"] == "fresh"
    # Each item as "<indent by depth><its list's tag>: <its own text>".
    outline = tab.js(
        """() => {
            const lines = [];
            const walk = (list, depth) => {
                for (const li of list.children) {
                    const own = [...li.childNodes].filter((n) => n.nodeType === 3);
                    const text = own.map((n) => n.textContent).join("").trim();
                    lines.push("  ".repeat(depth) + list.tagName.toLowerCase() + ": " + text);
                    for (const inner of li.querySelectorAll(":scope > ul, :scope > ol")) {
                        walk(inner, depth + 1);
                    }
                }
            };
            const content = document.querySelector("li.msg.assistant .content");
            const top = content.querySelectorAll(":scope > ul, :scope > ol");
            top.forEach((list) => walk(list, 0));
            return [top.length, lines];
        }"""
    )
    assert outline == [
        2,
        [
            "ol: first",
            "  ul: a bullet under it",
            "    ol: numbered, two levels down",
            "    ol: and its sibling",
            "  ul: another bullet",
            "ol: second",
            "ul: a new list: another marker kind",
            "  ul: nested once",
            "    ul: nested twice",
            "      ul: nested three times",
        ],
    ]
    assert tab.problems == []


HOSTILE = """Hello <img src=x onerror="window.__pwned='img'"> there
<script>window.__pwned='script'</script>
[click me](javascript:window.__pwned='link') and [tab](java\tscript:window.__pwned='tab')
<a href="javascript:window.__pwned='anchor'">raw anchor</a>
<iframe src="http://remote.example/frame"></iframe>
![tracker](http://remote.example/pixel.png) ![local](/health)
<https://remote.example/auto> [relative](/v1/models)
```html
<script>window.__pwned='fence'</script><img src=http://remote.example/fence.png>
```

| <img src=x onerror="window.__pwned='cell'"> | <script>window.__pwned='th'</script> |
|---|---|
| [cell link](javascript:window.__pwned='td') | ![cell](http://remote.example/cell.png) |

- <svg onload="window.__pwned='svg'"></svg>
  - [item](javascript:window.__pwned='item') ![nested](http://remote.example/item.png)
    1. <style>body{display:none}</style><b style="color:red">styled</b>"""


def test_model_output_can_neither_run_script_nor_load_anything(echo: str, tab: Tab) -> None:
    tab.open(echo)
    send(tab, HOSTILE)
    assert wait_answered(tab) == "done"
    text = part(tab, ".content")
    for shown in (
        "<img src=x onerror=\"window.__pwned='img'\">",
        "<script>window.__pwned='script'</script>",
        "[click me](javascript:window.__pwned='link')",
        "[image: tracker]",
        "<script>window.__pwned='fence'</script>",
        "[cell link](javascript:window.__pwned='td')",
        "[image: cell]",
        "<svg onload=\"window.__pwned='svg'\"></svg>",
        "[item](javascript:window.__pwned='item')",
        "[image: nested]",
        '<style>body{display:none}</style><b style="color:red">styled</b>',
    ):
        assert shown in text, shown
    # The table and the lists are there, their hostile content only as text.
    cells = tab.js(
        "() => [...document.querySelectorAll('#messages th, #messages td')]"
        ".map((c) => c.textContent)"
    )
    assert cells[0] == "<img src=x onerror=\"window.__pwned='cell'\">"
    assert cells[1] == "<script>window.__pwned='th'</script>"
    depth = tab.js("() => document.querySelectorAll('#messages ul ul ol li').length")
    assert depth == 1
    counts = tab.js(
        """() => Object.fromEntries(['img', 'script', 'iframe', 'object', 'embed', 'style',
            '[style]', 'svg', 'b', '[onerror]', '[onload]'].map((s) =>
            [s, document.querySelectorAll('#messages ' + s).length]))"""
    )
    assert set(counts.values()) == {0}, counts
    links = tab.js(
        "() => [...document.querySelectorAll('#messages a')].map((a) => [a.href, a.rel])"
    )
    assert sorted(links) == [
        ["http://remote.example/frame", "noopener noreferrer nofollow"],  # the text of src=
        ["https://remote.example/auto", "noopener noreferrer nofollow"],
    ]
    assert tab.js("() => window.__pwned ?? null") is None
    assert hosts(tab) == {urlsplit(echo).netloc}, tab.requests
    assert not [url for url in tab.requests if url.endswith(("/x", "/health"))]
    tab.reload()  # and again when rendered from storage
    tab.wait("() => document.querySelectorAll('#messages table').length === 1")
    assert tab.js("() => window.__pwned ?? null") is None
    assert hosts(tab) == {urlsplit(echo).netloc}
    assert tab.problems == []


def test_the_tab_records_errors_and_requests(echo: str, tab: Tab) -> None:
    """The harness itself: `problems == []` and the request checks above mean something."""
    tab.open(echo)
    assert f"{echo}playground/app.js" in tab.requests
    tab.js("() => { console.error('seen'); setTimeout(() => { throw new Error('thrown'); }); }")
    # Each check calls into the page: Playwright delivers its events only during a call.
    wait_until(lambda: tab.js("() => true") and len(tab.problems) >= 2, timeout=10)
    assert any("seen" in problem for problem in tab.problems), tab.problems
    assert any("thrown" in problem for problem in tab.problems), tab.problems
    tab.problems.clear()


def test_a_missing_browser_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without its binary a browser's tests say what to install (and fail under CI)."""
    monkeypatch.setattr(bidi, "FIREFOX", Path("/nonexistent/firefox-esr"))
    assert (
        missing("firefox")
        == "/nonexistent/firefox-esr is missing: run scripts/browser.sh (Debian's firefox-esr)"
    )
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI runs the browser tests"):
        require("firefox")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="firefox-esr is missing"):
        require("firefox")

"""The playground's routes, in process: headers, compression, validators, auth, `--no-ui`.

The page itself is tested in a browser by tests/integration/test_playground.py.
"""

from __future__ import annotations

import gzip
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources

import httpx
import pytest

from rillet.server.app import create_app
from rillet.server.banner import page_line, parse_listening, parse_note, parse_page
from rillet.server.cli import build_parser
from rillet.server.context import ServerConfig
from rillet.server.playground import CONTENT_SECURITY_POLICY, PATHS

from ..fakes import ScriptedBackend, serve_app

ASSETS = {
    "/": "text/html; charset=utf-8",
    "/playground/app.js": "text/javascript; charset=utf-8",
    "/playground/app.css": "text/css; charset=utf-8",
}
FIRST_LOAD_LIMIT = 100 * 1024  # docs/playground.md states the real figure


def serve(config: ServerConfig) -> Iterator[str]:
    with serve_app(create_app(ScriptedBackend(), config)) as url:
        yield url.removesuffix("/v1")


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    yield from serve(ServerConfig())


@pytest.fixture(scope="module")
def keyed_root() -> Iterator[str]:
    yield from serve(ServerConfig(api_key="sekrit"))


def source(name: str) -> str:
    return resources.files("rillet.server.playground").joinpath(name).read_text()


@pytest.mark.parametrize(("path", "media_type"), ASSETS.items())
def test_assets_have_their_type_and_the_security_headers(
    root: str, path: str, media_type: str
) -> None:
    response = httpx.get(root + path, headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"
    assert "content-encoding" not in response.headers
    assert response.content == source(path.rsplit("/", 1)[-1] or "index.html").encode()


def test_the_policy_is_the_strict_one() -> None:
    assert CONTENT_SECURITY_POLICY == (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )


@pytest.mark.parametrize("path", ASSETS)
def test_gzip_when_accepted_and_an_etag_that_revalidates(root: str, path: str) -> None:
    with httpx.Client() as client:  # httpx asks for gzip and decodes it
        first = client.get(root + path, headers={"Accept-Encoding": "gzip"})
        assert first.headers["content-encoding"] == "gzip"
        assert "accept-encoding" in first.headers["vary"].lower()
        etag = first.headers["etag"]
        assert re.fullmatch(r'W/"[0-9a-f]{32}"', etag)
        again = client.get(root + path, headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert again.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        strong = etag.removeprefix("W/")
        assert (
            client.get(root + path, headers={"If-None-Match": f'"x", {strong}'}).status_code == 304
        )
        assert client.get(root + path, headers={"If-None-Match": '"other"'}).status_code == 200
        assert client.head(root + path).status_code == 200


def test_the_api_streams_are_not_compressed(root: str) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    response = httpx.post(f"{root}/v1/chat/completions", json=body)
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert "content-security-policy" not in response.headers


def test_the_page_loads_without_the_key_and_the_api_still_needs_it(keyed_root: str) -> None:
    for path in PATHS:
        assert httpx.get(keyed_root + path).status_code == 200
    assert httpx.get(f"{keyed_root}/v1/models").status_code == 401
    assert httpx.get(f"{keyed_root}/playground/other.js").status_code == 401
    ok = httpx.get(f"{keyed_root}/v1/models", headers={"Authorization": "Bearer sekrit"})
    assert ok.status_code == 200


def test_without_the_playground_slash_is_an_openai_shaped_404() -> None:
    for root in serve(ServerConfig(playground=False)):
        for path in PATHS:
            response = httpx.get(root + path)
            assert response.status_code == 404
            assert response.json() == {
                "error": {
                    "message": f"Invalid URL (GET {path})",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            }


def test_the_first_load_is_small() -> None:
    total = sum(
        len(gzip.compress(source(name).encode())) for name in ("index.html", "app.js", "app.css")
    )
    assert total < FIRST_LOAD_LIMIT


def test_the_page_has_no_inline_script_or_style() -> None:
    html = source("index.html")
    assert re.findall(r"<script\b[^>]*>", html) == ['<script src="/playground/app.js" defer>']
    assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=|javascript:", html, re.I)
    assert not re.search(r"\b(?:https?:)?//", html.replace("http://", "").replace("https://", ""))


def test_the_script_never_parses_html() -> None:
    script = source("app.js")
    for risky in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        'setAttribute("style"',
        ".style.",
        "srcdoc",
        "DOMParser",
    ):
        assert risky not in script, risky
    assert not re.search(r"createElement\(\s*[\"'](?:img|script|iframe)", script)


def test_no_ui_turns_the_page_off() -> None:
    assert build_parser().parse_args([]).no_ui is False
    assert build_parser().parse_args(["--no-ui"]).no_ui is True


def test_the_page_line_parses_back_and_is_no_backend_note() -> None:
    line = page_line("http://127.0.0.1:8000/")
    assert line == "rillet serve: playground on http://127.0.0.1:8000/\n"
    assert parse_page(line) == "http://127.0.0.1:8000/"
    assert parse_listening(line) is None
    assert parse_note(line) is None  # `rillet chat` does not pass it on
    assert parse_page("rillet serve: model loaded from x.gguf\n") is None


@pytest.mark.parametrize("no_ui", [False, True])
def test_rillet_serve_prints_the_page_address_after_its_banner(no_ui: bool) -> None:
    command = [sys.executable, "-m", "rillet", "serve", "--port", "0", "--backend", "synthetic"]
    process = subprocess.Popen(
        command + (["--no-ui"] if no_ui else []),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    listening = parse_listening(process.stdout.readline())
    assert listening is not None
    process.send_signal(signal.SIGINT)
    rest = process.stdout.read()  # what the wrapper holds already, then up to the exit
    assert process.wait(10) == 0
    pages = [parse_page(line) for line in rest.splitlines() if parse_page(line)]
    assert pages == ([] if no_ui else [listening.base_url.removesuffix("v1")])

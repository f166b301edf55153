"""Admission (429 with Retry-After before any work, streams included) and /metrics, no model."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx

from rillet.server.app import create_app
from rillet.server.backends.base import Overloaded
from rillet.server.context import ServerConfig
from rillet.server.http.load import metrics_text

from ..fakes import ScriptedBackend, assert_openai_error, serve_app


class LimitedBackend(ScriptedBackend):
    """One place: a second request while one holds it is refused."""

    def __init__(self) -> None:
        super().__init__()
        self.held = 0
        self.places = 1

    @contextlib.contextmanager
    def admission(self) -> Iterator[None]:
        if self.held >= self.places:
            raise Overloaded("full", retry_after=2.2)
        self.held += 1
        try:
            yield
        finally:
            self.held -= 1

    def metrics(self) -> list[tuple[str, str, str, float]]:
        return [("sequences_running", "gauge", "sequences being decoded", self.held)]


BODY = {"model": "m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}


def test_a_full_backend_answers_429_with_retry_after_even_for_streams() -> None:
    backend = LimitedBackend()
    backend.places = 0
    with serve_app(create_app(backend, ServerConfig())) as url:
        for body in (BODY, {**BODY, "stream": True}):
            response = httpx.post(f"{url}/chat/completions", json=body, timeout=10)
            assert_openai_error(response.json(), 429, response.status_code)
            assert response.json()["error"]["code"] == "rate_limit_exceeded"
            assert response.headers["retry-after"] == "3"  # whole seconds, rounded up
        response = httpx.post(f"{url}/responses", json={"model": "m", "input": "Hi"}, timeout=10)
        assert response.status_code == 429
        assert backend.requests == []  # refused before any work
        assert httpx.get(f"{url}/models", timeout=10).status_code == 200  # not limited


def test_a_place_is_held_for_the_request_and_given_back() -> None:
    backend = LimitedBackend()
    with serve_app(create_app(backend, ServerConfig())) as url:
        for _ in range(2):  # the second runs once the first has given its place back
            response = httpx.post(f"{url}/chat/completions", json=BODY, timeout=10)
            assert response.status_code == 200
        assert backend.held == 0
        page = httpx.get(f"{url.removesuffix('/v1')}/metrics", timeout=10)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
        assert "rillet_llama_sequences_running 0" in page.text.splitlines()


def test_metrics_text_is_prometheus_and_empty_without_counters() -> None:
    assert metrics_text(ScriptedBackend()) == "\n"
    text = metrics_text(LimitedBackend())
    assert text.splitlines() == [
        "# HELP rillet_llama_sequences_running sequences being decoded",
        "# TYPE rillet_llama_sequences_running gauge",
        "rillet_llama_sequences_running 0",
    ]

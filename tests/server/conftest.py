from __future__ import annotations

from collections.abc import Iterator

import pytest

from rillet.server.app import create_app
from rillet.server.context import ServerConfig

from .fakes import ScriptedBackend, serve_app


@pytest.fixture
def backend() -> ScriptedBackend:
    return ScriptedBackend()


@pytest.fixture
def base_url(backend: ScriptedBackend) -> Iterator[str]:
    with serve_app(create_app(backend, ServerConfig())) as url:
        yield url

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.canned import CannedServer, canned_server
from tests.integration.scenarios import scenarios


@pytest.fixture(scope="session")
def canned() -> Iterator[CannedServer]:
    with canned_server(scenarios()) as server:
        yield server

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration import drive
from tests.integration.canned import CannedServer, canned_server
from tests.integration.scenarios import scenarios

# Modules whose `mode`-parametrised tests (all run through `drive`) also run on plain httpx.
_BOTH_STACKS = {"test_client_streams", "test_client_retries"}


@pytest.fixture(scope="session")
def canned() -> Iterator[CannedServer]:
    with canned_server(scenarios()) as server:
        yield server


@pytest.fixture(autouse=True)
def http_stack(request: pytest.FixtureRequest) -> Iterator[str]:
    """The HTTP stack `drive` builds clients on: rillet's default, or a user's httpx client."""
    drive.stack = getattr(request, "param", "default")
    yield drive.stack
    drive.stack = "default"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if module in _BOTH_STACKS and "mode" in metafunc.fixturenames:
        metafunc.parametrize("http_stack", drive.STACKS, indirect=True)

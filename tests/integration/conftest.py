from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration import drive
from tests.integration.canned import CannedServer, canned_server
from tests.integration.scenarios import scenarios


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
    """A module marked `pytestmark = pytest.mark.both_stacks` runs each of its
    `mode`-parametrised tests (all made through `drive`) on every stack in `drive.STACKS`."""
    marked = metafunc.definition.get_closest_marker("both_stacks") is not None
    if marked and "mode" in metafunc.fixturenames:
        metafunc.parametrize("http_stack", drive.STACKS, indirect=True)

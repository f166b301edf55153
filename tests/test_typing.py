"""What users' type checkers see: tests/typing/*.py are checked by `mypy --strict` (in a
subprocess, as a user's project would run it) and must pass; they are never run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CASES = sorted((Path(__file__).parent / "typing").glob("*.py"))


@pytest.mark.parametrize("case", CASES, ids=lambda path: path.stem)
def test_types_as_users_see_them(case: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(case)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr

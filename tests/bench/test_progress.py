from __future__ import annotations

import io

from rillet.bench.progress import ProgressLine, describe
from rillet.bench.runner import Live


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_nothing_when_not_a_terminal() -> None:
    out = io.StringIO()
    with ProgressLine(out, "c=1") as line:
        line(Live(started=3, finished=2, in_flight=1, elapsed=1.0))
    assert out.getvalue() == ""


def test_plain_carriage_return_line_on_a_terminal() -> None:
    out = Terminal()
    with ProgressLine(out, "c=1", rich=False) as line:
        line(Live(finished=12, failed=1, in_flight=3, content_chunks=400, elapsed=2.5))
        line(Live(finished=2, elapsed=3.0))
    text = out.getvalue()
    first = describe(
        "c=1", Live(finished=12, failed=1, in_flight=3, content_chunks=400, elapsed=2.5)
    )
    assert text.startswith("\r" + first)
    assert "12 done (1 failed)  3 in flight  400 chunks" in first
    second = text.split("\r")[2]
    assert len(second) == len(first)  # padded over the longer line before it
    assert text.endswith("\r")  # cleared at the end


def test_rich_line_on_a_terminal() -> None:
    out = Terminal()
    with ProgressLine(out, "c=1", rich=True) as line:
        line(Live(finished=5, elapsed=1.0))
    assert "5 done" in out.getvalue()

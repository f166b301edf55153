"""The live progress line: rich when it is installed, else a carriage-return line, and
nothing at all when the output is not a terminal."""

from __future__ import annotations

from types import TracebackType
from typing import IO, Any

from rillet.bench.runner import Live


def describe(label: str, live: Live) -> str:
    return (
        f"{label}: {live.elapsed:6.1f} s  {live.finished} done ({live.failed} failed)  "
        f"{live.in_flight} in flight  {live.content_chunks} chunks"
    )


class ProgressLine:
    """A callable for `run_load(progress=...)`; use as a context manager per run."""

    def __init__(
        self, stream: IO[str], label: str, *, rich: bool | None = None, enabled: bool = True
    ) -> None:
        """`rich`: None uses rich when importable, False never, True always."""
        self.stream = stream
        self.label = label
        self.enabled = enabled and stream.isatty()
        self._width = 0
        self._live: Any = None
        if self.enabled and rich is not False:
            try:
                from rich.console import Console
                from rich.live import Live as RichLive
            except ImportError:
                if rich:
                    raise
            else:
                console = Console(file=stream)
                self._live = RichLive("", console=console, transient=True, auto_refresh=False)

    def __enter__(self) -> ProgressLine:
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __call__(self, live: Live) -> None:
        if not self.enabled:
            return
        line = describe(self.label, live)
        if self._live is not None:
            from rich.text import Text

            self._live.update(Text(line), refresh=True)  # Text: no markup, no highlighting
            return
        pad = " " * max(0, self._width - len(line))
        self._width = len(line)
        self.stream.write("\r" + line + pad)
        self.stream.flush()

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        elif self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

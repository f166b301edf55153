"""Continuous batching: up to `parallel` sequences decoded together in one llama.cpp context.

One context holds a sequence id per slot, each with its own KV buffer. A step of the
scheduler thread is one `llama_decode` of the next token of every decoding sequence
(one batch, a logits row each), each sequence then sampling from its own row with its
own sampler chain (its seed, grammar and penalties) and its `Run` turning the token into
events; and, while a prompt waits, a second `llama_decode` of one chunk of that prompt
(prompts are evaluated first come, first served, in chunks of `PREFILL_CHUNK_BUSY`
tokens while others decode, so a long prompt stalls them one chunk per step, not for its
whole length). Only a prompt's last token asks for logits. A request joins at the next
step; a finished or cancelled one leaves at once and frees its answer's KV cells.

Why two calls and not one mixed batch: measured on Gemma 3 270M (docs/local-model.md),
llama.cpp's results for a row depend on where its KV cells sit and how its batch is
cut. With one unified KV cache a sequence's cells interleave with the others', and a
prompt evaluated after a prefix copied from another sequence gave logprobs 0.15 away
from a cold evaluation, enough to change a greedy answer. With one buffer per sequence
its cells sit where they would alone, the decoding rows (one token per sequence, one
batch) computed logits bit-for-bit equal to decoding each sequence alone, and a prompt
chunk in its own call is evaluated exactly as `--parallel 1` evaluates it; llama.cpp cuts
a batch over separate buffers into micro-batches with as many tokens of each sequence,
which would cut a prompt chunk mixed with decoding tokens differently (not measured).

The prefix cache works across sequences: a prompt starts from the longest prefix (cut
at a multiple of four) that any slot's KV holds from an earlier prompt, copied into its
own sequence (`llama_memory_seq_cp` of the whole buffer, then the tail removed), and a
prompt identical to one whose final logits a slot kept samples at once.
"""

from __future__ import annotations

import asyncio
import ctypes
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import llama_cpp.llama_cpp as llama_cpp
import numpy as np
import numpy.typing as npt
from llama_cpp import Llama
from llama_cpp._internals import LlamaSampler, LlamaTokenDataArray

from rillet.server.backends.base import Finish, GenerationEvent
from rillet.server.backends.llama.cache import GROUP
from rillet.server.backends.llama.run import WAIT, Run, Wait

PREFILL_CHUNK = 64  # prompt tokens per step while no other sequence is decoding
PREFILL_CHUNK_BUSY = 16  # ... while others are: bounds the stall a long prompt causes them


@dataclass(slots=True)
class Job:
    """One choice of one request: its `Run`, where its events go, and its cancel flag."""

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


@dataclass(eq=False, slots=True)
class Slot:
    """One sequence id of the context, and what its part of the KV cache holds."""

    seq: int
    kv: list[int] = field(default_factory=list)  # tokens at positions 0.. of this sequence
    exact: int = 0  # leading `kv` tokens a fresh evaluation would compute identically
    final: npt.NDArray[np.float32] | None = None  # next-token logits after `kv[:final_len]`
    final_len: int = 0
    released: float = 0.0  # when its last job left (the least recently used is reused first)
    job: Job | None = None
    events: Iterator[GenerationEvent | Wait] | None = None
    prompt: list[int] = field(default_factory=list)  # the prompt being evaluated
    todo: int = -1  # next prompt position to evaluate; -1: not planned yet
    reused: int = 0
    pending: int | None = None  # a sampled token to decode at the next step
    row: int = -1  # batch row of the logits to sample from, -1 if none
    saved: npt.NDArray[np.float32] | None = None  # or kept logits to sample from


class SlotSource:
    """A `Run`'s view of its slot: prompts and tokens go through the scheduler's steps."""

    def __init__(self, engine: BatchEngine, slot: Slot) -> None:
        self._engine = engine
        self._slot = slot
        self._cancelled: Callable[[], bool] = lambda: False

    def n_ctx(self) -> int:
        return self._engine.n_ctx

    def prefill(
        self, tokens: list[int], cancelled: Callable[[], bool]
    ) -> Generator[Wait, None, int]:
        slot = self._slot
        self._cancelled = cancelled
        slot.prompt, slot.todo, slot.row, slot.saved = list(tokens), -1, -1, None
        self._engine.prefills.append(slot)
        while slot.row < 0 and slot.saved is None:
            if cancelled() or self._engine.closing:  # end here, as a cancelled prefill does
                return slot.reused
            yield WAIT
        return slot.reused

    def tokens(
        self, options: dict[str, Any], seed: int, avoid_first: Sequence[int]
    ) -> Generator[int | Wait, None, None]:
        """As `SingleSource.tokens`: with `avoid_first` the first token has its own sampler,
        and the rest a fresh one (the same seed, no penalty history), as `Llama.generate`
        does when called twice."""
        slot = self._slot
        if slot.row < 0 and slot.saved is None:  # the prompt was left unfinished (closing)
            return
        chain = self._engine.sampler(options, seed)
        try:
            token = self._sample(chain, avoid_first)
            if avoid_first:
                chain.close()  # type: ignore[no-untyped-call]
                chain = self._engine.sampler(options, seed)
            while True:
                yield token
                slot.pending, slot.row, slot.saved = token, -1, None
                while slot.row < 0:
                    if self._cancelled() or self._engine.closing:  # end the answer here
                        return
                    yield WAIT
                token = self._sample(chain, ())
        finally:
            chain.close()  # type: ignore[no-untyped-call]

    def logits(self) -> npt.NDArray[np.float32]:
        slot = self._slot
        if slot.saved is not None:
            return slot.saved
        return self._engine.row_logits(slot.row)

    def _sample(self, chain: LlamaSampler, avoid: Sequence[int]) -> int:
        slot, engine = self._slot, self._engine
        banned = list(avoid)
        if slot.saved is not None:  # the kept logits of an identical prompt
            logits = slot.saved
            if banned:
                logits = logits.copy()
                logits[banned] = -np.inf
            return engine.sample_array(chain, logits)
        if not banned:
            token: int = llama_cpp.llama_sampler_sample(chain.sampler, engine.ctx, slot.row)
            return token
        row = engine.row_logits(slot.row)
        kept = row[banned].copy()
        row[banned] = -np.inf  # in place, restored at once: logprobs read the raw row
        try:
            token = llama_cpp.llama_sampler_sample(chain.sampler, engine.ctx, slot.row)
        finally:
            row[banned] = kept
        return token


@dataclass(slots=True)
class Stats:
    """Counters for /metrics; written by the scheduler thread, read anywhere."""

    tokens_generated: int = 0
    prompt_tokens_reused: int = 0
    prompt_tokens_evaluated: int = 0
    prompt_cache_hits: int = 0  # prompts that took at least one token from the cache
    steps: int = 0
    step_seconds: float = 0.0


class BatchEngine:
    """The scheduler: admits jobs into slots, runs batch steps, advances each slot's `Run`."""

    def __init__(self, model: Llama, *, parallel: int, n_ctx: int, chunk: int = PREFILL_CHUNK):
        if chunk % GROUP or PREFILL_CHUNK_BUSY % GROUP:
            raise ValueError(f"prompt chunks must be multiples of {GROUP}")
        self.model = model
        self.ctx = model.ctx
        self.n_ctx = n_ctx
        self.parallel = parallel
        self._chunk = chunk
        self._memory = llama_cpp.llama_get_memory(model.ctx)
        self._vocab = model.n_vocab()
        self._batch = llama_cpp.llama_batch_init(max(chunk, parallel), 0, 1)
        self._candidates = LlamaTokenDataArray(n_vocab=self._vocab)
        self.slots = [Slot(seq) for seq in range(parallel)]
        self.prefills: deque[Slot] = deque()  # slots whose prompt waits, first come first served
        self.waiting: deque[Job] = deque()  # jobs without a slot yet, in arrival order
        self.stats = Stats()
        self._lock = threading.Condition()
        self._closing = False
        self._running = 0
        self._thread = threading.Thread(target=self._work, name="rillet-llama-batch", daemon=True)
        self._thread.start()

    # --- the event loop's side --------------------------------------------------------

    def submit(self, job: Job) -> None:
        with self._lock:
            if self._closing:
                raise RuntimeError("the llama backend is closed")
            self.waiting.append(job)
            self._lock.notify()

    def load(self) -> tuple[int, int]:
        """(sequences running, sequences waiting for a slot)."""
        with self._lock:
            return self._running, len(self.waiting)

    @property
    def closing(self) -> bool:
        return self._closing

    def shut(self) -> None:
        """Admit nothing more: running sequences finish at their next step, waiting ones fail."""
        with self._lock:
            self._closing = True
            self._lock.notify()

    def close(self) -> None:
        """`shut`, then wait for the scheduler thread and free the batch (blocking)."""
        self.shut()
        self._thread.join()
        llama_cpp.llama_batch_free(self._batch)

    # --- sampling helpers used by SlotSource -------------------------------------------

    def sampler(self, options: dict[str, Any], seed: int) -> LlamaSampler:
        """The chain `Llama.generate` builds for these options (penalties, grammar, ...)."""
        chain = LlamaSampler()  # type: ignore[no-untyped-call]
        model = self.model
        chain.add_penalties(
            n_vocab=self._vocab,
            penalty_last_n=model.last_n_tokens_size,
            penalty_repeat=options["repeat_penalty"],
            penalty_freq=options["frequency_penalty"],
            penalty_present=options["presence_penalty"],
        )
        if options["grammar"] is not None:
            chain.add_grammar(model._model, options["grammar"])
        temp = options["temp"]
        if temp == 0.0:
            chain.add_greedy()  # type: ignore[no-untyped-call]
        else:
            chain.add_top_k(options["top_k"])
            chain.add_typical(1.0, 1)
            chain.add_top_p(options["top_p"], 1)
            chain.add_min_p(options["min_p"], 1)
            chain.add_temp(temp)
            chain.add_dist(seed)
        return chain

    def row_logits(self, row: int) -> npt.NDArray[np.float32]:
        pointer = llama_cpp.llama_get_logits_ith(self.ctx, row)
        return np.ctypeslib.as_array(pointer, shape=(self._vocab,))

    def sample_array(self, chain: LlamaSampler, logits: npt.NDArray[np.float32]) -> int:
        """What `llama_sampler_sample` does, from logits that are not in the context."""
        candidates = self._candidates
        candidates.copy_logits(logits)
        llama_cpp.llama_sampler_apply(chain.sampler, ctypes.byref(candidates.candidates))
        token = int(candidates.candidates_data.id[candidates.candidates.selected])
        llama_cpp.llama_sampler_accept(chain.sampler, token)
        return token

    # --- the scheduler thread ----------------------------------------------------------

    def _active(self) -> list[Slot]:
        return [slot for slot in self.slots if slot.job is not None]

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._closing and not self.waiting and not self._running:
                    self._lock.wait()
                if self._closing:
                    break
                admitted = self._admit()
            for slot in admitted:
                self._advance(slot)
            if any(slot.job is not None for slot in self.slots):
                self._step()
        for slot in self._active():  # their sources see the engine closing: the runs finish
            slot.pending = None
            self._advance(slot)
            if slot.job is not None:  # it asked for another step all the same
                self._release(slot, cancelled=True)
        with self._lock:
            late, self.waiting = list(self.waiting), deque()
        for job in late:
            job.deliver(RuntimeError("the llama backend closed before this request ran"))

    def _admit(self) -> list[Slot]:
        """Give waiting jobs the free slots, least recently used first (under the lock)."""
        free = sorted((s for s in self.slots if s.job is None), key=lambda s: s.released)
        admitted = []
        for slot in free:
            while self.waiting and self.waiting[0].cancel.is_set():
                self.waiting.popleft()  # its client left while it waited
            if not self.waiting:
                break
            job = self.waiting.popleft()
            slot.job = job
            job.run.bind(SlotSource(self, slot))
            slot.events = job.run.events()
            admitted.append(slot)
        self._running += len(admitted)
        return admitted

    def _advance(self, slot: Slot) -> None:
        """Run the slot's generation until it needs a step (WAIT), or until it ends."""
        job, events = slot.job, slot.events
        assert job is not None and events is not None
        try:
            for item in events:
                if isinstance(item, Wait):
                    return
                if isinstance(item, Finish):
                    self._count(job.run)  # before the consumer can see the end
                    self._release(slot)
                    job.deliver(item)
                    return
                if not job.deliver(item):
                    break
        except Exception as exc:  # reported to that request's consumer, never kills the thread
            self._count(job.run)
            self._release(slot)
            job.deliver(exc)
            return
        self._release(slot, cancelled=True)

    def _count(self, run: Run) -> None:
        self.stats.tokens_generated += run.completion_tokens
        self.stats.prompt_tokens_reused += run.prompt_tokens_reused

    def _release(self, slot: Slot, *, cancelled: bool = False) -> None:
        """Free the slot at once; its prompt's KV stays as prefix cache, the rest goes."""
        job, events = slot.job, slot.events
        slot.job, slot.events = None, None
        if cancelled and events is not None:
            if job is not None:
                self._count(job.run)
            close = getattr(events, "close", None)
            if close is not None:
                close()
        if slot in self.prefills:
            self.prefills.remove(slot)
        if slot.todo >= 0 and slot.todo < len(slot.prompt):  # left during its prompt
            slot.kv = slot.prompt[: slot.todo]
            slot.exact, slot.final = slot.todo, None
        elif slot.final is not None:  # keep the prompt, drop the answer's tokens
            slot.kv = slot.kv[: slot.final_len]
        else:
            slot.kv = slot.kv[: slot.exact]
        llama_cpp.llama_memory_seq_rm(self._memory, slot.seq, len(slot.kv), -1)
        slot.prompt, slot.todo, slot.pending, slot.row, slot.saved = [], -1, None, -1, None
        slot.released = time.monotonic()
        with self._lock:
            self._running -= 1

    def _plan(self, slot: Slot) -> None:
        """Start `slot`'s prompt from the best prefix any slot's KV holds."""
        tokens = slot.prompt
        source, keep = slot, 0
        for other in self.slots:
            if (
                other.final is not None
                and other.final_len == len(tokens)
                and other.kv[: len(tokens)] == tokens
            ):
                source, keep = other, len(tokens)
                break
            common = _common_prefix(other.kv[: other.exact], tokens)
            cut = min(common, len(tokens) - 1) // GROUP * GROUP
            if cut > keep or (cut == keep and other is slot):
                source, keep = other, cut
        memory = self._memory
        if source is slot:
            llama_cpp.llama_memory_seq_rm(memory, slot.seq, keep, -1)
        else:  # between KV buffers llama.cpp copies whole sequences only
            llama_cpp.llama_memory_seq_rm(memory, slot.seq, -1, -1)
            llama_cpp.llama_memory_seq_cp(memory, source.seq, slot.seq, -1, -1)
            llama_cpp.llama_memory_seq_rm(memory, slot.seq, keep, -1)
        final = source.final if keep == len(tokens) else None
        slot.kv, slot.todo, slot.reused = tokens[:keep], keep, keep
        slot.exact = keep // GROUP * GROUP
        slot.final, slot.final_len = final, len(tokens) if final is not None else 0
        if keep:
            self.stats.prompt_cache_hits += 1
        if final is not None:  # nothing to evaluate: sample from the kept logits
            slot.saved = final
            self.prefills.remove(slot)

    def _step(self) -> None:
        for slot in self._active():
            job = slot.job
            if job is not None and (job.cancel.is_set() or self._closing):
                self._release(slot, cancelled=True)
        decoding = [s for s in self.slots if s.job is not None and s.pending is not None]
        if decoding:
            self._decode_tokens(decoding)
        while self.prefills:
            head = self.prefills[0]
            if head.todo < 0:
                self._plan(head)
                if head.saved is not None:  # sampled from kept logits, no evaluation
                    self._advance(head)
                    continue
            self._prefill_chunk(head, PREFILL_CHUNK_BUSY if decoding else self._chunk)
            break

    def _decode(self, n: int) -> bool:
        self._batch.n_tokens = n
        started = time.perf_counter()
        status = llama_cpp.llama_decode(self.ctx, self._batch)
        self.stats.step_seconds += time.perf_counter() - started
        self.stats.steps += 1
        return int(status) == 0

    def _fail(self, slots: list[Slot]) -> None:
        failure = RuntimeError("llama_decode failed")
        for slot in slots:
            if slot.job is not None:
                self._count(slot.job.run)
                slot.job.deliver(failure)
                self._release(slot, cancelled=True)

    def _decode_tokens(self, decoding: list[Slot]) -> None:
        """One token of each decoding sequence, one logits row each; then each samples."""
        for n, slot in enumerate(decoding):
            assert slot.pending is not None
            _put(self._batch, n, slot.pending, len(slot.kv), slot.seq, True)
        if not self._decode(len(decoding)):
            self._fail(decoding)
            return
        for n, slot in enumerate(decoding):
            assert slot.pending is not None
            slot.kv.append(slot.pending)
            slot.pending, slot.row = None, n
        for slot in decoding:  # each samples from its row before the next decode
            if slot.job is not None:
                self._advance(slot)

    def _prefill_chunk(self, head: Slot, budget: int) -> None:
        """The next chunk of the head prompt, alone in its batch, logits for its last token."""
        chunk = min(budget, len(head.prompt) - head.todo)
        last = head.todo + chunk == len(head.prompt)
        for i in range(chunk):
            pos = head.todo + i
            _put(self._batch, i, head.prompt[pos], pos, head.seq, last and i == chunk - 1)
        if not self._decode(chunk):
            self._fail([head])
            return
        head.kv.extend(head.prompt[head.todo : head.todo + chunk])
        head.todo += chunk
        self.stats.prompt_tokens_evaluated += chunk
        if not last:
            head.exact = head.todo  # whole chunks only, so whole groups of four
            return
        head.exact = len(head.prompt) // GROUP * GROUP
        head.final = self.row_logits(chunk - 1).copy()
        head.final_len = len(head.prompt)
        head.row = chunk - 1
        self.prefills.popleft()
        self._advance(head)


def _put(batch: llama_cpp.llama_batch, i: int, token: int, pos: int, seq: int, out: bool) -> None:
    batch.token[i] = token
    batch.pos[i] = pos  # type: ignore[call-overload]  # its stub says an array of arrays
    batch.n_seq_id[i] = 1
    batch.seq_id[i][0] = seq
    batch.logits[i] = out


def _common_prefix(cached: list[int], tokens: list[int]) -> int:
    size = min(len(cached), len(tokens))
    if not size:
        return 0
    left = np.asarray(cached[:size], dtype=np.intc)
    differ = np.flatnonzero(left != np.asarray(tokens[:size], dtype=np.intc))
    return int(differ[0]) if differ.size else size


def retry_after(waiting: int, parallel: int, seconds_per_request: float) -> float:
    """Seconds until a slot is likely free: the queue ahead drains `parallel` at a time."""
    return max(1.0, math.ceil((waiting + 1) / parallel * seconds_per_request))


__all__ = ["BatchEngine", "Job", "Slot", "SlotSource", "retry_after"]

"""Sends the requests with rillet's AsyncOpenAI and records when every chunk arrived.

All times in a `RequestRecord` are seconds since the run's start (`time.perf_counter`).
One run is one load level: a fixed concurrency, or a request rate with an optional cap on
requests in flight. A run stops issuing requests once its bounds (`requests` after the
warm-up ones, `duration` seconds) are reached and waits for those in flight; setting the
`stop` event ends it at once, and requests cut short are marked `cancelled`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from rillet import AsyncOpenAI
from rillet.bench.load import arrival_offsets
from rillet.bench.workload import Prompt, Workload

Api = Literal["chat", "responses"]


@dataclass(slots=True)
class RequestRecord:
    index: int
    warmup: bool
    scheduled: float  # when the schedule wanted it sent
    start: float = 0.0  # when it was sent (after waiting for a --max-concurrency slot)
    headers: float | None = None  # response headers received ("first byte")
    first_event: float | None = None  # first SSE event of any kind
    end: float | None = None  # stream finished, or the request failed
    content_times: list[float] = field(default_factory=list)  # each chunk carrying text
    events: int = 0  # SSE events received
    usage_output_tokens: int | None = None  # the server's count, when it sent usage
    usage_input_tokens: int | None = None
    error_type: str | None = None
    error: str | None = None
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.error_type is None and not self.cancelled and self.end is not None


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """One load level. Exactly one of `concurrency` and `rate` is set."""

    concurrency: int | None = None
    rate: float | None = None
    burstiness: float = 1.0
    max_concurrency: int | None = None
    requests: int | None = None  # measured requests, warm-up ones not included
    duration: float | None = None  # seconds, warm-up included
    warmup: int = 0
    seed: int = 0

    @property
    def label(self) -> str:
        if self.concurrency is not None:
            return f"concurrency={self.concurrency}"
        cap = f",max_concurrency={self.max_concurrency}" if self.max_concurrency else ""
        shape = f",burstiness={self.burstiness:g}" if self.burstiness != 1.0 else ""
        return f"rate={self.rate:g}{shape}{cap}"


@dataclass(slots=True)
class RunResult:
    spec: LoadSpec
    records: list[RequestRecord]
    wall: float  # seconds from the run's start to its end
    cpu: float  # this process's CPU seconds over the run
    interrupted: bool = False


@dataclass(frozen=True, slots=True)
class Target:
    client: AsyncOpenAI
    api: Api
    model: str
    extra_body: dict[str, Any] | None = None


@dataclass(slots=True)
class Live:
    """What the progress line shows; updated by the runner as it goes."""

    started: int = 0
    finished: int = 0
    failed: int = 0
    in_flight: int = 0
    content_chunks: int = 0
    elapsed: float = 0.0


Progress = Callable[[Live], None]


class _Run:
    def __init__(self, target: Target, workload: Workload, spec: LoadSpec) -> None:
        self.target = target
        self.workload = workload
        self.spec = spec
        self.records: list[RequestRecord] = []
        self.live = Live()
        self.t0 = time.perf_counter()
        self.limit = None if spec.requests is None else spec.warmup + spec.requests
        self.tasks: set[asyncio.Task[None]] = set()

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def may_issue(self, index: int) -> bool:
        if self.limit is not None and index >= self.limit:
            return False
        return self.spec.duration is None or self.now() < self.spec.duration

    def new_record(self, index: int) -> RequestRecord:
        record = RequestRecord(index, index < self.spec.warmup, self.now())
        self.records.append(record)
        return record

    async def workers(self, count: int) -> None:
        counter = iter(range(1 << 62))

        async def worker() -> None:
            while True:
                index = next(counter)
                if not self.may_issue(index):
                    return
                await self.send(self.new_record(index))

        await asyncio.gather(*(worker() for _ in range(count)))

    async def arrivals(self) -> None:
        assert self.spec.rate is not None
        rng = random.Random(self.spec.seed)
        slots = asyncio.Semaphore(self.spec.max_concurrency) if self.spec.max_concurrency else None
        for index, offset in enumerate(arrival_offsets(self.spec.rate, self.spec.burstiness, rng)):
            if self.spec.duration is not None and offset >= self.spec.duration:
                break
            if not self.may_issue(index):
                break
            delay = offset - self.now()
            if delay > 0:
                await asyncio.sleep(delay)
            record = RequestRecord(index, index < self.spec.warmup, offset)
            self.records.append(record)
            task = asyncio.create_task(self.send_when_free(record, slots))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        while self.tasks:
            await asyncio.wait(set(self.tasks))

    async def send_when_free(self, record: RequestRecord, slots: asyncio.Semaphore | None) -> None:
        if slots is None:
            await self.send(record)
            return
        async with slots:
            await self.send(record)

    async def send(self, record: RequestRecord) -> None:
        prompt = self.workload.prompt(record.index)
        live = self.live
        live.started += 1
        live.in_flight += 1
        record.start = self.now()
        try:
            if self.target.api == "chat":
                await self._chat(record, prompt)
            else:
                await self._responses(record, prompt)
        except asyncio.CancelledError:
            record.cancelled = True
            raise
        except Exception as exc:
            record.error_type = type(exc).__name__
            record.error = " ".join(str(exc).split()) or record.error_type
            live.failed += 1
        finally:
            record.end = self.now()
            live.in_flight -= 1
            live.finished += 1

    async def _chat(self, record: RequestRecord, prompt: Prompt) -> None:
        params: dict[str, Any] = {"stream_options": {"include_usage": True}}
        if prompt.max_tokens is not None:
            params["max_tokens"] = prompt.max_tokens
        if self.target.extra_body:
            params["extra_body"] = self.target.extra_body
        stream = await self.target.client.chat.completions.create(
            model=self.target.model, messages=prompt.messages, stream=True, **params
        )
        t0, clock, times = self.t0, time.perf_counter, record.content_times
        record.headers = clock() - t0
        async with stream:
            async for chunk in stream:
                now = clock() - t0
                if record.events == 0:
                    record.first_event = now
                record.events += 1
                choices = chunk.choices
                if choices and choices[0].delta.content:
                    times.append(now)
                elif chunk.usage is not None:
                    record.usage_output_tokens = chunk.usage.completion_tokens
                    record.usage_input_tokens = chunk.usage.prompt_tokens
        self.live.content_chunks += len(times)

    async def _responses(self, record: RequestRecord, prompt: Prompt) -> None:
        params: dict[str, Any] = {}
        if prompt.max_tokens is not None:
            params["max_output_tokens"] = prompt.max_tokens
        if self.target.extra_body:
            params["extra_body"] = self.target.extra_body
        stream = await self.target.client.responses.create(
            model=self.target.model, input=prompt.responses_input(), stream=True, **params
        )
        t0, clock, times = self.t0, time.perf_counter, record.content_times
        record.headers = clock() - t0
        async with stream:
            async for event in stream:
                now = clock() - t0
                if record.events == 0:
                    record.first_event = now
                record.events += 1
                if event.type == "response.output_text.delta":
                    if event.delta:
                        times.append(now)
                elif event.type == "response.completed" or event.type == "response.incomplete":
                    # incomplete: stopped at max_output_tokens, with usage all the same
                    usage = event.response.usage
                    if usage is not None:
                        record.usage_output_tokens = usage.output_tokens
                        record.usage_input_tokens = usage.input_tokens
        self.live.content_chunks += len(times)


async def run_load(
    target: Target,
    workload: Workload,
    spec: LoadSpec,
    *,
    stop: asyncio.Event | None = None,
    progress: Progress | None = None,
    tick: float = 0.25,
) -> RunResult:
    """Run one load level to its bounds (or until `stop` is set) and return the records."""
    if (spec.concurrency is None) == (spec.rate is None):
        raise ValueError("set exactly one of concurrency and rate")
    if spec.requests is None and spec.duration is None:
        raise ValueError("set requests, duration or both")
    run = _Run(target, workload, spec)
    cpu0 = time.process_time()
    if spec.concurrency is not None:
        main = asyncio.ensure_future(run.workers(spec.concurrency))
    else:
        main = asyncio.ensure_future(run.arrivals())
    stop = stop or asyncio.Event()
    stopper = asyncio.ensure_future(stop.wait())
    ticker = asyncio.ensure_future(_tick(run, progress, tick)) if progress else None
    interrupted = False
    try:
        await asyncio.wait({main, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not main.done():
            interrupted = True
            main.cancel()
            for task in list(run.tasks):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await main
            if run.tasks:
                await asyncio.gather(*run.tasks, return_exceptions=True)
        else:
            main.result()  # a bug in the runner itself surfaces here
    finally:
        stopper.cancel()
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
    wall = run.now()
    cpu = time.process_time() - cpu0
    if progress is not None:
        run.live.elapsed = wall
        progress(run.live)
    return RunResult(spec, run.records, wall, cpu, interrupted)


async def _tick(run: _Run, progress: Progress, every: float) -> None:
    while True:
        run.live.elapsed = run.now()
        progress(run.live)
        await asyncio.sleep(every)

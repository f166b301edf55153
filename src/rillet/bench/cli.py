"""`rillet bench`: options, the run (or sweep) and its outputs; `rillet bench compare A B`.

Every usage problem is one line on stderr and exit code 2, before any load is sent. During
a run, failed requests are counted by error type; a run in which every request failed also
ends with exit code 2, and Ctrl-C stops at once, still reporting and writing what was
measured (exit code 130).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import math
import os
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

import httpx

from rillet import APIConnectionError, APIStatusError, AsyncOpenAI, OpenAIError
from rillet.bench.metrics import Slo, parse_slo, summarize
from rillet.bench.progress import ProgressLine
from rillet.bench.report import ResultsError, compare, format_report, load_summary, write_results
from rillet.bench.runner import LoadSpec, RunResult, Target, run_load
from rillet.bench.workload import (
    Workload,
    WorkloadError,
    load_jsonl,
    load_sharegpt,
    parse_spread,
)

PROG = "rillet bench"
DEFAULT_REQUESTS = 100


class UsageError(Exception):
    """Bad input: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Load-test an OpenAI-compatible streaming server and report TTFT, TPOT, "
        "ITL, E2E latency, throughput and goodput (docs/bench.md defines each). "
        f"`{PROG} compare DIR_A DIR_B` compares two --out folders.",
    )
    target = parser.add_argument_group("server")
    target.add_argument(
        "--base-url",
        default=os.environ.get("OPENAI_BASE_URL"),
        help="the server's /v1 URL (default: $OPENAI_BASE_URL)",
    )
    target.add_argument(
        "--api-key",
        default=os.environ.get("OPENAI_API_KEY"),
        help="bearer key (default: $OPENAI_API_KEY, else none)",
    )
    target.add_argument("--model", help="model to request (default: the server's first)")
    target.add_argument(
        "--api",
        choices=("chat", "responses"),
        default="chat",
        help="chat: /v1/chat/completions; responses: /v1/responses",
    )
    target.add_argument(
        "--timeout",
        type=_positive_float,
        default=600.0,
        help="seconds a request may take (default: 600)",
    )
    load = parser.add_argument_group("load")
    load.add_argument(
        "--concurrency",
        type=_positive_int,
        nargs="+",
        help="requests kept in flight; several values run a sweep (default: 1)",
    )
    load.add_argument(
        "--rate",
        type=_positive_float,
        help="requests per second, gamma-distributed arrivals (Poisson by default)",
    )
    load.add_argument(
        "--burstiness",
        type=_positive_float,
        default=1.0,
        help="gamma shape of --rate arrivals: 1 Poisson, <1 burstier, >1 steadier",
    )
    load.add_argument(
        "--max-concurrency",
        type=_positive_int,
        help="with --rate: at most this many requests in flight",
    )
    load.add_argument(
        "--requests",
        type=_positive_int,
        help=f"measured requests per load level (default: {DEFAULT_REQUESTS} "
        "unless --duration is given)",
    )
    load.add_argument(
        "--duration",
        type=_positive_float,
        help="seconds per load level after which no request is started",
    )
    load.add_argument(
        "--warmup",
        type=_non_negative_int,
        default=0,
        help="requests sent first and left out of the results",
    )
    load.add_argument("--seed", type=int, default=0, help="seed for prompts and arrivals")
    work = parser.add_argument_group("workload")
    work.add_argument(
        "--input-tokens",
        default="128",
        metavar="MEAN[:SPREAD]",
        help="synthetic prompt length in tokens (default: 128)",
    )
    work.add_argument(
        "--output-tokens",
        metavar="MEAN[:SPREAD]",
        help="max_tokens per request (default: the server decides)",
    )
    work.add_argument(
        "--extra-body",
        metavar="JSON",
        help="JSON object merged into each request, e.g. '{\"ignore_eos\": true}'",
    )
    work.add_argument(
        "--dataset",
        type=Path,
        metavar="FILE.jsonl",
        help='prompts, one a line: "text", {"prompt": ...} or {"messages": [...]}',
    )
    work.add_argument(
        "--sharegpt",
        type=Path,
        metavar="FILE.json",
        help="ShareGPT conversations; each first human turn is a prompt",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--slo",
        nargs="+",
        metavar="NAME=LIMIT",
        help="goodput limits, e.g. ttft=500ms tpot=50ms (also itl, e2e)",
    )
    out.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write summary.json, requests.jsonl, requests.csv (and PNG plots)",
    )
    out.add_argument(
        "--plot",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="PNG plots into --out (default: when --out is given and matplotlib is installed)",
    )
    out.add_argument("--no-progress", action="store_true", help="no live progress line")
    return parser


def build_compare_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=f"{PROG} compare",
        description="Print two result folders side by side, with B/A ratios.",
    )
    parser.add_argument("a", type=Path, metavar="DIR_A")
    parser.add_argument("b", type=Path, metavar="DIR_B")
    return parser


def _fail(message: str) -> int:
    sys.stderr.write(f"{PROG}: {message}\n")
    return 2


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    try:
        if args_list[:1] == ["compare"]:
            return compare_main(args_list[1:])
        args = build_parser().parse_args(args_list)
        plan = Plan.from_args(args)
    except UsageError as exc:
        return _fail(str(exc))
    try:
        return asyncio.run(plan.run())
    except UsageError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:  # before the load started, or a second Ctrl-C
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130


def compare_main(argv: list[str]) -> int:
    args = build_compare_parser().parse_args(argv)
    try:
        a, b = load_summary(args.a), load_summary(args.b)
    except ResultsError as exc:
        raise UsageError(str(exc)) from None
    sys.stdout.write(f"A: {args.a}\nB: {args.b}\n\n" + compare(a, b) + "\n")
    return 0


def matplotlib_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


class Plan:
    """Checked options: everything a run needs, built before anything is sent."""

    def __init__(
        self,
        args: argparse.Namespace,
        workload: Workload,
        specs: list[LoadSpec],
        extra_body: dict[str, Any] | None,
        slo: Slo | None,
        plot: bool,
    ) -> None:
        self.args = args
        self.workload = workload
        self.specs = specs
        self.extra_body = extra_body
        self.slo = slo
        self.plot = plot

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Plan:
        if not args.base_url:
            raise UsageError("no server: pass --base-url URL or set OPENAI_BASE_URL")
        if not args.base_url.startswith(("http://", "https://")):
            raise UsageError(
                f"--base-url must start with http:// or https://, got {args.base_url!r}"
            )
        try:
            url = httpx.URL(args.base_url)
            port = url.port
        except (httpx.InvalidURL, ValueError) as exc:
            raise UsageError(f"--base-url {args.base_url!r}: {exc}") from None
        if not url.host or (port is not None and not 0 < port < 65536):
            raise UsageError(f"--base-url {args.base_url!r}: needs a host and a port in 1-65535")
        if args.concurrency and args.rate is not None:
            raise UsageError("--concurrency and --rate are exclusive: pick one kind of load")
        if args.rate is None and (args.max_concurrency is not None or args.burstiness != 1.0):
            raise UsageError("--max-concurrency and --burstiness apply to --rate only")
        if args.dataset is not None and args.sharegpt is not None:
            raise UsageError("--dataset and --sharegpt are exclusive")
        try:
            output = parse_spread(args.output_tokens) if args.output_tokens else None
            inputs = parse_spread(args.input_tokens)
            if args.dataset is not None:
                workload = Workload(
                    load_jsonl(args.dataset),
                    output_tokens=output,
                    seed=args.seed,
                    source=str(args.dataset),
                )
            elif args.sharegpt is not None:
                workload = Workload(
                    load_sharegpt(args.sharegpt),
                    output_tokens=output,
                    seed=args.seed,
                    source=str(args.sharegpt),
                )
            else:
                workload = Workload(input_tokens=inputs, output_tokens=output, seed=args.seed)
        except WorkloadError as exc:
            raise UsageError(str(exc)) from None
        extra_body = None
        if args.extra_body is not None:
            try:
                extra_body = json.loads(args.extra_body)
            except json.JSONDecodeError as exc:
                raise UsageError(f"--extra-body is not JSON: {exc.msg}") from None
            if not isinstance(extra_body, dict):
                raise UsageError("--extra-body must be a JSON object")
        try:
            slo = parse_slo(args.slo) if args.slo else None
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if args.out is not None and args.out.exists() and not args.out.is_dir():
            raise UsageError(f"--out {args.out}: exists and is not a directory")
        if args.plot and args.out is None:
            raise UsageError("--plot writes PNG files into --out DIR: pass --out too")
        if args.plot and not matplotlib_available():
            raise UsageError("--plot needs matplotlib: pip install 'rillet[bench]'")
        plot = args.out is not None and args.plot is not False and matplotlib_available()
        requests = args.requests
        if requests is None and args.duration is None:
            requests = DEFAULT_REQUESTS
        common: dict[str, Any] = {
            "requests": requests,
            "duration": args.duration,
            "warmup": args.warmup,
            "seed": args.seed,
        }
        if args.rate is not None:
            specs = [
                LoadSpec(
                    rate=args.rate,
                    burstiness=args.burstiness,
                    max_concurrency=args.max_concurrency,
                    **common,
                )
            ]
        else:
            specs = [LoadSpec(concurrency=c, **common) for c in (args.concurrency or [1])]
        return cls(args, workload, specs, extra_body, slo, plot)

    def config(self, model: str) -> dict[str, Any]:
        args = self.args
        return {
            "base_url": args.base_url,
            "model": model,
            "api": args.api,
            "workload": self.workload.source,
            "input_tokens": args.input_tokens,
            "output_tokens": args.output_tokens,
            "extra_body": self.extra_body,
            "loads": [spec.label for spec in self.specs],
            "requests": self.specs[0].requests,
            "duration": args.duration,
            "warmup": args.warmup,
            "seed": args.seed,
            "slo_ms": None if self.slo is None else self.slo.limits,
        }

    async def run(self) -> int:
        args = self.args
        try:
            client = self._client()
        except (httpx.InvalidURL, ValueError) as exc:
            raise UsageError(f"--base-url {args.base_url!r}: {exc}") from None
        async with client:
            model = args.model or await self._first_model(client)
            if args.model:
                await self._check_reachable(client)
            target = Target(client, args.api, model, self.extra_body)
            results = await self._run_all(target)
        return self._finish(results, model)

    def _client(self) -> AsyncOpenAI:
        args = self.args
        widest = max(spec.concurrency or spec.max_concurrency or 0 for spec in self.specs)
        return AsyncOpenAI(
            base_url=args.base_url,
            api_key=args.api_key or "none",
            max_retries=0,
            # Measure plain streams: a resumable one would make rillet serve log every event
            # and keep generating after a drop, and a resumed request would blur its latencies.
            max_stream_resumes=0,
            timeout=httpx.Timeout(args.timeout, connect=10.0),
            connection_limits=httpx.Limits(
                max_connections=max(1000, widest), max_keepalive_connections=max(100, widest)
            ),
        )

    async def _first_model(self, client: AsyncOpenAI) -> str:
        try:
            page = await client.with_options(timeout=10.0).models.list()
        except APIConnectionError as exc:
            raise UsageError(f"cannot reach {self.args.base_url}: {exc}") from None
        except APIStatusError as exc:
            raise UsageError(
                f"{self.args.base_url}/models answered {exc.status_code}: {_one_line(exc)}"
                + ("" if exc.status_code in (401, 403) else "; pass --model to skip this")
            ) from None
        except OpenAIError as exc:
            raise UsageError(f"cannot list models: {_one_line(exc)}; pass --model") from None
        except Exception as exc:  # a transport failure the client did not type
            raise UsageError(f"cannot reach {self.args.base_url}: {_describe(exc)}") from None
        for item in page.data:
            return str(item.id)
        raise UsageError(f"{self.args.base_url}/models lists no model: pass --model")

    async def _check_reachable(self, client: AsyncOpenAI) -> None:
        """With --model, /models is only asked to catch a dead server or a refused key."""
        try:
            await client.with_options(timeout=10.0).models.list()
        except APIConnectionError as exc:
            raise UsageError(f"cannot reach {self.args.base_url}: {exc}") from None
        except APIStatusError as exc:
            if exc.status_code in (401, 403):
                raise UsageError(
                    f"{self.args.base_url}/models answered {exc.status_code}: {_one_line(exc)}"
                ) from None
        except OpenAIError:
            pass  # some servers have no /models; the run shows whether requests work
        except Exception as exc:  # a transport failure the client did not type
            raise UsageError(f"cannot reach {self.args.base_url}: {_describe(exc)}") from None

    async def _run_all(self, target: Target) -> list[RunResult]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def interrupt() -> None:
            stop.set()
            loop.remove_signal_handler(signal.SIGINT)  # a second Ctrl-C ends at once

        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGINT, interrupt)
        results = []
        try:
            for spec in self.specs:
                if stop.is_set():
                    break
                sys.stderr.write(f"{PROG}: running {spec.label} against {target.model}\n")
                sys.stderr.flush()
                line = ProgressLine(sys.stderr, spec.label, enabled=not self.args.no_progress)
                with line:
                    results.append(
                        await run_load(
                            target,
                            self.workload,
                            spec,
                            stop=stop,
                            progress=line if line.enabled else None,
                        )
                    )
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGINT)
        return results

    def _finish(self, results: list[RunResult], model: str) -> int:
        summaries = [summarize(result, self.slo) for result in results]
        sys.stdout.write(format_report(summaries) + "\n")
        if self.args.out is not None:
            runs = [(s, r.records) for s, r in zip(summaries, results, strict=True)]
            try:
                paths = write_results(self.args.out, self.config(model), runs)
                if self.plot:
                    from rillet.bench.plots import save_plots

                    paths += save_plots(self.args.out, runs)
            except OSError as exc:
                sys.stderr.write(f"{PROG}: cannot write results to {self.args.out}: {exc}\n")
                return 2
            sys.stdout.write(f"\nwrote {', '.join(str(p) for p in paths)}\n")
        if any(r.interrupted for r in results):
            return 130
        for summary in summaries:
            counts = summary["requests"]
            if counts["measured"] and not counts["completed"]:
                sys.stderr.write(
                    f"{PROG}: every request of {summary['label']} failed; "
                    f"first error: {summary['first_error']}\n"
                )
                return 2
        return 0


def _one_line(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return " ".join(str(message).split())


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {_one_line(exc)}"

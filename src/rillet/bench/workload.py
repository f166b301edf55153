"""What each request asks: synthetic prompts of a chosen length, or prompts from a file."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# One-syllable English words: each is one token in the common BPE vocabularies, so a prompt
# of N words is close to N input tokens whatever the server's tokenizer.
_TEXT = (
    "the cat sat on a mat and saw one red dog run by the old oak tree in the cold wind "
    "as rain fell hard on the roof of a small house near the sea where ships come in"
)
_WORDS = tuple(_TEXT.split())


class WorkloadError(ValueError):
    """A workload option or file that cannot be used; the message is for the user."""


@dataclass(frozen=True, slots=True)
class Spread:
    """A length drawn uniformly from [mean - spread, mean + spread], at least 1."""

    mean: int
    spread: int = 0

    def sample(self, rng: random.Random) -> int:
        if self.spread == 0:
            return self.mean
        return max(1, rng.randint(self.mean - self.spread, self.mean + self.spread))


def parse_spread(text: str) -> Spread:
    """`MEAN` or `MEAN:SPREAD`, both integers, mean >= 1, 0 <= spread."""
    mean_text, _, spread_text = text.partition(":")
    try:
        mean = int(mean_text)
        spread = int(spread_text) if spread_text else 0
    except ValueError:
        raise WorkloadError(f"expected MEAN or MEAN:SPREAD (integers), got {text!r}") from None
    if mean < 1 or spread < 0:
        raise WorkloadError(f"need MEAN >= 1 and SPREAD >= 0, got {text!r}")
    return Spread(mean, spread)


@dataclass(frozen=True, slots=True)
class Prompt:
    """One request's input: chat messages and the output cap (None: the server decides)."""

    messages: list[dict[str, Any]]
    max_tokens: int | None = None

    def responses_input(self) -> str | list[dict[str, Any]]:
        """The same prompt as a Responses API `input`: a bare string for one user turn."""
        if len(self.messages) == 1 and self.messages[0].get("role") == "user":
            content = self.messages[0].get("content")
            if isinstance(content, str):
                return content
        return self.messages


class Workload:
    """Prompt `i` of a run, for any i: synthetic ones are drawn afresh, file ones cycle."""

    def __init__(
        self,
        prompts: list[Prompt] | None = None,
        *,
        input_tokens: Spread | None = None,
        output_tokens: Spread | None = None,
        seed: int = 0,
        source: str = "synthetic",
    ) -> None:
        if prompts is not None and not prompts:
            raise WorkloadError(f"{source} holds no prompts")
        self._prompts = prompts
        self._input = input_tokens or Spread(128)
        self._output = output_tokens
        self._seed = seed
        self.source = source

    def prompt(self, index: int) -> Prompt:
        rng = random.Random(f"{self._seed}:{index}")
        cap = self._output.sample(rng) if self._output is not None else None
        if self._prompts is not None:
            base = self._prompts[index % len(self._prompts)]
            return Prompt(base.messages, cap if cap is not None else base.max_tokens)
        return Prompt([{"role": "user", "content": synthetic_text(index, self._input, rng)}], cap)


def synthetic_text(index: int, length: Spread, rng: random.Random) -> str:
    """About `length` tokens of words; the leading index keeps prefix caches from hiding
    the prompt's cost (no two requests share more than the first word)."""
    count = length.sample(rng)
    words = [str(index)] + [rng.choice(_WORDS) for _ in range(max(0, count - 1))]
    return " ".join(words)


def load_jsonl(path: Path) -> list[Prompt]:
    """One prompt per line: a JSON string, {"prompt": str} or {"messages": [...]}, each
    optionally with "max_tokens". Blank lines are skipped."""
    prompts: list[Prompt] = []
    for number, line in enumerate(_read(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise WorkloadError(f"{path}:{number}: not JSON ({exc.msg})") from None
        prompts.append(_prompt_from(item, f"{path}:{number}"))
    if not prompts:
        raise WorkloadError(f"{path} holds no prompts")
    return prompts


def load_sharegpt(path: Path) -> list[Prompt]:
    """ShareGPT JSON: a list of {"conversations": [{"from": "human", "value": ...}, ...]};
    each conversation's first human turn is a prompt (as vLLM's `bench serve` takes it)."""
    try:
        data = json.loads(_read(path))
    except json.JSONDecodeError as exc:
        raise WorkloadError(f"{path}: not JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise WorkloadError(f"{path}: expected a JSON list of conversations")
    prompts: list[Prompt] = []
    for entry in data:
        turns = entry.get("conversations") if isinstance(entry, dict) else None
        if not isinstance(turns, list):
            continue
        for turn in turns:
            if isinstance(turn, dict) and turn.get("from") in ("human", "user"):
                value = turn.get("value")
                if isinstance(value, str) and value.strip():
                    prompts.append(Prompt([{"role": "user", "content": value}]))
                break
    if not prompts:
        raise WorkloadError(f"{path}: no conversation with a human turn")
    return prompts


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WorkloadError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkloadError(f"{path}: cannot read ({exc})") from None


def _prompt_from(item: object, where: str) -> Prompt:
    if isinstance(item, str):
        return Prompt([{"role": "user", "content": item}])
    if not isinstance(item, dict):
        raise WorkloadError(f"{where}: expected a string or an object")
    cap = item.get("max_tokens")
    if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
        raise WorkloadError(f"{where}: max_tokens must be a positive integer")
    messages = item.get("messages")
    if messages is not None:
        if not isinstance(messages, list) or not messages:
            raise WorkloadError(f"{where}: messages must be a non-empty list")
        if not all(isinstance(m, dict) and "role" in m for m in messages):
            raise WorkloadError(f"{where}: each message needs a role")
        return Prompt(list(messages), cap)
    prompt = item.get("prompt")
    if isinstance(prompt, str):
        return Prompt([{"role": "user", "content": prompt}], cap)
    raise WorkloadError(f'{where}: expected a "prompt" string or a "messages" list')

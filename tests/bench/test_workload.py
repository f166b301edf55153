from __future__ import annotations

import json
from pathlib import Path

import pytest

from rillet.bench.workload import (
    Prompt,
    Spread,
    Workload,
    WorkloadError,
    load_jsonl,
    load_sharegpt,
    parse_spread,
)


def test_parse_spread() -> None:
    assert parse_spread("128") == Spread(128, 0)
    assert parse_spread("100:20") == Spread(100, 20)
    for bad in ("", "x", "0", "10:-1", "1.5", "10:x"):
        with pytest.raises(WorkloadError):
            parse_spread(bad)


def test_synthetic_prompts_have_the_asked_lengths_and_are_reproducible() -> None:
    w = Workload(input_tokens=Spread(50, 10), output_tokens=Spread(20, 5), seed=3)
    lengths, caps = [], []
    for i in range(200):
        p = w.prompt(i)
        assert p == w.prompt(i)  # the same index, the same prompt
        text = p.messages[0]["content"]
        assert text.split()[0] == str(i)  # distinct first word: no shared prefix
        lengths.append(len(text.split()))
        caps.append(p.max_tokens)
    assert min(lengths) >= 40 and max(lengths) <= 60 and len(set(lengths)) > 5
    assert all(c is not None and 15 <= c <= 25 for c in caps)
    assert Workload(seed=1).prompt(0).max_tokens is None
    assert w.prompt(0) != Workload(input_tokens=Spread(50, 10), seed=4).prompt(0)


def test_jsonl_forms(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    lines = [
        json.dumps("plain"),
        "",
        json.dumps({"prompt": "object", "max_tokens": 7}),
        json.dumps(
            {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]}
        ),
    ]
    path.write_text("\n".join(lines) + "\n")
    prompts = load_jsonl(path)
    assert prompts[0] == Prompt([{"role": "user", "content": "plain"}])
    assert prompts[1].max_tokens == 7
    assert len(prompts[2].messages) == 2
    w = Workload(prompts, output_tokens=Spread(3))
    assert w.prompt(4).messages == prompts[1].messages  # cycles
    assert w.prompt(1).max_tokens == 3  # --output-tokens wins
    assert prompts[0].responses_input() == "plain"
    assert prompts[2].responses_input() == prompts[2].messages


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json\n", "p.jsonl:1: not JSON"),
        ("3\n", "expected a string or an object"),
        ('{"other": 1}\n', 'expected a "prompt"'),
        ('{"messages": []}\n', "non-empty list"),
        ('{"messages": [{"content": "x"}]}\n', "needs a role"),
        ('{"prompt": "x", "max_tokens": 0}\n', "positive integer"),
        ("\n\n", "holds no prompts"),
    ],
)
def test_jsonl_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(content)
    with pytest.raises(WorkloadError, match=message):
        load_jsonl(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WorkloadError, match="no such file"):
        load_jsonl(tmp_path / "nope.jsonl")
    with pytest.raises(WorkloadError, match="no such file"):
        load_sharegpt(tmp_path / "nope.json")


def test_sharegpt(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    data = [
        {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]},
        {"conversations": [{"from": "gpt", "value": "only a model turn"}]},
        {"conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "q"}]},
        {"no": "conversations"},
    ]
    path.write_text(json.dumps(data))
    prompts = load_sharegpt(path)
    assert [p.messages[0]["content"] for p in prompts] == ["hi", "q"]
    path.write_text(json.dumps({"a": 1}))
    with pytest.raises(WorkloadError, match="JSON list"):
        load_sharegpt(path)
    path.write_text("[]")
    with pytest.raises(WorkloadError, match="no conversation"):
        load_sharegpt(path)

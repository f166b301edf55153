from __future__ import annotations

import pytest

from rillet.bench import metrics
from rillet.bench.metrics import distribution, parse_slo, percentile, summarize
from tests.bench._records import failed, record, result


def test_percentile_interpolates_like_numpy() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 90) == pytest.approx(3.7)  # position 2.7: 3 + 0.7 * 1
    assert percentile(values, 100) == 4.0
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_distribution() -> None:
    assert distribution([]) is None
    d = distribution([3.0, 1.0, 2.0])
    assert d == {
        "count": 3,
        "mean": 2.0,
        "median": 2.0,
        "p90": pytest.approx(2.8),
        "p95": pytest.approx(2.9),
        "p99": pytest.approx(2.98),
        "max": 3.0,
    }


def test_per_request_metrics_by_hand() -> None:
    # Sent at 1.0; text at 1.2, 1.25, 1.35; done at 1.4; the server says 4 tokens.
    r = record(0, 1.0, [1.2, 1.25, 1.35], 1.4, usage=4, scheduled=0.9)
    assert metrics.ttft(r) == pytest.approx(200)
    assert metrics.ttfb(r) == pytest.approx(1)
    assert metrics.first_event(r) == pytest.approx(200)
    assert metrics.e2e(r) == pytest.approx(400)
    assert metrics.tpot(r) == pytest.approx((400 - 200) / 3)  # usage tokens, not chunks
    assert metrics.itls(r) == pytest.approx([50, 100])
    assert metrics.queue_time(r) == pytest.approx(100)
    assert metrics.e2e_queued(r) == pytest.approx(500)
    assert metrics.output_tokens(r) == 4
    no_usage = record(1, 0.0, [0.1, 0.2], 0.3)
    assert metrics.output_tokens(no_usage) == 2  # chunks counted
    assert metrics.tpot(no_usage) == pytest.approx(200)
    assert metrics.tpot(record(2, 0.0, [0.1], 0.1)) is None  # one token: no TPOT
    assert metrics.ttft(record(3, 0.0, [], 0.1)) is None


def test_summary_counts_weights_and_token_source() -> None:
    records = [
        record(0, 0.0, [0.5, 0.6], 0.7, usage=2, warmup=True),  # left out
        record(1, 1.0, [1.1, 1.2, 1.3], 1.3, usage=3),  # ttft 100, tpot 100, e2e 300
        record(2, 1.0, [1.3, 1.4], 1.5, usage=2),  # ttft 300, tpot 200, e2e 500
        failed(3, 1.5, 2.0, "APIStatusError", "boom"),
        failed(4, 1.6, 2.5, "APIStatusError", "later"),
    ]
    s = summarize(result(records))
    assert s["requests"] == {
        "measured": 4,
        "completed": 2,
        "failed": 2,
        "cancelled": 0,
        "warmup": 1,
    }
    assert s["errors"] == {"APIStatusError": 2}
    assert s["first_error"] == "APIStatusError: boom"
    assert s["duration_s"] == pytest.approx(1.5)  # 1.0 (first measured sent) -> 2.5
    assert s["output_tokens"] == 5
    assert s["token_source"] == "usage"
    assert s["output_throughput"] == pytest.approx(5 / 1.5)
    assert s["request_throughput"] == pytest.approx(2 / 1.5)
    lat = s["latency_ms"]
    assert lat["ttft"]["mean"] == pytest.approx(200)
    assert lat["tpot"]["mean"] == pytest.approx(150)  # request-weighted: (100 + 200) / 2
    # ITL is chunk-weighted: gaps 100, 100 (request 1) and 100 (request 2).
    assert lat["itl"]["count"] == 3
    assert lat["itl"]["mean"] == pytest.approx(100)
    assert lat["e2e"]["max"] == pytest.approx(500)
    gen = s["generator"]
    assert gen["events"] == sum(r.events for r in records)
    assert gen["cpu_us_per_event"] == pytest.approx(0.5 / gen["events"] * 1e6)
    assert gen["cpu_share_of_one_core"] == pytest.approx(0.25)
    assert not gen["saturated"]


def test_token_source_mixed_and_chunks() -> None:
    both = [record(0, 0.0, [0.1, 0.2], 0.3, usage=2), record(1, 0.0, [0.1], 0.2)]
    assert summarize(result(both))["token_source"] == "mixed"
    assert summarize(result(both[1:]))["token_source"] == "chunks"
    assert summarize(result([failed(0, 0, 1, "X", "y")]))["token_source"] == "none"


def test_saturation_flag() -> None:
    assert summarize(result([record(0, 0.0, [0.1], 0.2)], cpu=1.9, wall=2.0))["generator"][
        "saturated"
    ]


def test_goodput() -> None:
    records = [
        record(0, 0.0, [0.1, 0.12, 0.14], 0.14),  # ttft 100, tpot 20: meets both
        record(1, 0.0, [0.6, 0.62], 0.62),  # ttft 600: misses ttft
        record(2, 0.0, [0.1, 0.2], 0.2),  # tpot 100: misses tpot
        record(3, 0.0, [0.1], 0.1),  # one token: ttft only, meets
    ]
    s = summarize(result(records), parse_slo(["ttft=500ms", "tpot=0.05s"]))
    goodput = s["goodput"]
    assert goodput["slo_ms"] == {"ttft": 500, "tpot": 50}
    assert goodput["requests_met"] == 2
    assert goodput["share_met"] == 0.5
    assert goodput["requests_per_s"] == pytest.approx(2 / 0.62)


def test_itl_and_e2e_slo() -> None:
    r = record(0, 0.0, [0.1, 0.3], 0.3)
    assert parse_slo(["itl=250"]).met(r)
    assert not parse_slo(["itl=150ms"]).met(r)
    assert not parse_slo(["e2e=0.2s"]).met(r)
    assert not parse_slo(["ttft=1s"]).met(record(1, 0.0, [], 0.3))  # no text at all


@pytest.mark.parametrize("bad", ["ttft", "speed=3ms", "ttft=fast", "ttft=-1ms", "ttft=0"])
def test_parse_slo_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="--slo"):
        parse_slo([bad])

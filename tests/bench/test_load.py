"""Arrival schedules. Statistical checks use a seeded RNG, so they are deterministic; the
tolerances are what a correct generator meets for any seed with overwhelming probability."""

from __future__ import annotations

import itertools
import random
import statistics

import pytest

from rillet.bench.load import arrival_offsets

N = 20_000


def gaps(rate: float, burstiness: float, seed: int) -> list[float]:
    offsets = list(itertools.islice(arrival_offsets(rate, burstiness, random.Random(seed)), N))
    return [b - a for a, b in zip([0.0, *offsets], offsets, strict=False)]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("rate", [0.5, 10.0, 400.0])
def test_poisson_arrivals_have_the_requested_mean_rate(rate: float, seed: int) -> None:
    g = gaps(rate, 1.0, seed)
    # Exponential gaps: the mean of N has a relative standard error of 1/sqrt(N) = 0.71%;
    # 3% is more than 4 standard errors.
    assert N / sum(g) == pytest.approx(rate, rel=0.03)
    # And they are exponential: standard deviation equals the mean (CV 1, within 5%).
    assert statistics.stdev(g) / statistics.mean(g) == pytest.approx(1.0, rel=0.05)


@pytest.mark.parametrize("burstiness", [0.25, 4.0])
def test_gamma_shape_keeps_the_rate_and_sets_the_spread(burstiness: float) -> None:
    g = gaps(20.0, burstiness, 7)
    # Gamma gaps with shape k: mean 1/rate and CV 1/sqrt(k). For k = 0.25 the relative
    # standard error of the mean is 2/sqrt(N) = 1.4%, so 6% is over 4 standard errors.
    assert N / sum(g) == pytest.approx(20.0, rel=0.06)
    assert statistics.stdev(g) / statistics.mean(g) == pytest.approx(burstiness**-0.5, rel=0.08)


def test_offsets_increase_and_bad_rates_are_refused() -> None:
    offsets = list(itertools.islice(arrival_offsets(5.0, 1.0, random.Random(0)), 100))
    assert all(b > a for a, b in itertools.pairwise(offsets))
    with pytest.raises(ValueError):
        next(arrival_offsets(0.0, 1.0, random.Random(0)))
    with pytest.raises(ValueError):
        next(arrival_offsets(1.0, 0.0, random.Random(0)))

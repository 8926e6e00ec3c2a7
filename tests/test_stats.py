"""Latency statistics: exact medians, percentiles, cv, drift and robust cv on tiny inputs."""
from __future__ import annotations

import math

import pytest

from latmodel.measure.stats import P90_P10_SIGMAS, TimingStats, stats_from_samples


def test_stats_from_samples_exact():
    s = stats_from_samples([float(v) for v in range(1, 11)])
    assert s.median_ms == 5.5
    assert s.p10_ms == pytest.approx(1.9)
    assert s.p90_ms == pytest.approx(9.1)
    assert s.cv == pytest.approx(math.sqrt(8.25) / 5.5)
    assert s.n == 10
    assert s.drift == pytest.approx(9 / 2 - 1)  # median(8,9,10) / median(1,2,3) - 1
    assert TimingStats.from_dict(s.to_dict()) == s


def test_stats_single_sample_and_empty():
    s = stats_from_samples([2.0])
    assert (s.median_ms, s.p10_ms, s.p90_ms, s.cv, s.n, s.drift) == (2.0, 2.0, 2.0, 0.0, 1, 0.0)
    with pytest.raises(ValueError):
        stats_from_samples([])



def test_robust_cv_divides_the_p90_p10_spread_by_its_normal_width():
    s = TimingStats(median_ms=2.0, p10_ms=1.0, p90_ms=1.0 + P90_P10_SIGMAS, cv=0.0, n=10)
    assert s.robust_cv == pytest.approx(0.5)
    assert TimingStats(median_ms=0.0, p10_ms=0.0, p90_ms=1.0, cv=0.0, n=2).robust_cv == 0.0

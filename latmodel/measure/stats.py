"""Summary statistics of latency samples: median, percentiles, cv, drift."""
from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Sequence

__all__ = ["P90_P10_SIGMAS", "TimingStats", "stats_from_samples"]

#: p90 - p10 of a normal distribution, in standard deviations: divides a p90-p10 spread into a robust cv.
P90_P10_SIGMAS = 2.5631


@dataclasses.dataclass(frozen=True)
class TimingStats:
    """Summary of ``n`` latency samples, milliseconds.

    ``cv`` is std / mean (population std).  ``drift`` is the median of the last
    third of the samples divided by the median of the first third, minus one
    (0.0 with fewer than 3 samples): positive when the device slowed down.
    ``min_ms`` is the smallest sample.
    """

    median_ms: float
    p10_ms: float
    p90_ms: float
    cv: float
    n: int
    drift: float = 0.0
    min_ms: float = math.nan

    @property
    def robust_cv(self) -> float:
        """(p90 - p10) / (:data:`P90_P10_SIGMAS` * median): equals the cv for normal noise, but stays
        (nearly) unchanged when fewer than one repeat in ten is preempted."""
        return (self.p90_ms - self.p10_ms) / (P90_P10_SIGMAS * self.median_ms) if self.median_ms > 0 else 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TimingStats":
        return cls(median_ms=float(d["median_ms"]), p10_ms=float(d["p10_ms"]), p90_ms=float(d["p90_ms"]),
                   cv=float(d["cv"]), n=int(d["n"]), drift=float(d.get("drift", 0.0)),
                   min_ms=float(d.get("min_ms", math.nan)))


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default method)."""
    if len(sorted_values) == 1:
        return float(sorted_values[0])
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo))


def stats_from_samples(samples_ms: Sequence[float]) -> TimingStats:
    """Median, 10th / 90th percentile (linear interpolation), cv and drift of ``samples_ms``."""
    values = [float(v) for v in samples_ms]
    if not values:
        raise ValueError("stats_from_samples needs at least one sample")
    ordered = sorted(values)
    mean = statistics.fmean(values)
    cv = statistics.pstdev(values) / mean if len(values) > 1 and mean > 0 else 0.0
    drift = 0.0
    third = len(values) // 3
    if third >= 1:
        first = statistics.median(values[:third])
        last = statistics.median(values[-third:])
        drift = last / first - 1.0 if first > 0 else 0.0
    floor = ordered[0]
    return TimingStats(median_ms=_percentile(ordered, 50), p10_ms=_percentile(ordered, 10),
                       p90_ms=_percentile(ordered, 90), cv=cv, n=len(values), drift=drift, min_ms=floor)

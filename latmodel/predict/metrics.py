"""Relative-error metrics for latency predictions.

All metrics compare predicted and measured latencies (both > 0 ms) by their
relative error ``(predicted - measured) / measured``:

* ``rmspe_pct``: root mean squared percentage error;
* ``mape_pct``: mean absolute percentage error;
* ``within_5_pct`` / ``within_10_pct``: share (in %) of predictions within
  +-5 % / +-10 % of the measurement.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

from ..records import Record

__all__ = ["ErrorMetrics", "error_metrics", "metrics_table"]


@dataclasses.dataclass(frozen=True)
class ErrorMetrics(Record):
    """Relative-error summary of ``n`` (predicted, measured) pairs; percentages."""

    n: int
    rmspe_pct: float
    mape_pct: float
    within_5_pct: float
    within_10_pct: float


    def row(self) -> list:
        return [self.n, round(self.rmspe_pct, 2), round(self.mape_pct, 2), round(self.within_5_pct, 1),
                round(self.within_10_pct, 1)]


_EPS = 1e-9  # so that exactly 5 % / 10 % counts as within, despite rounding
HEADERS = ["n", "RMSPE %", "MAPE %", "within 5 %", "within 10 %"]


def error_metrics(predicted_ms: Sequence[float], measured_ms: Sequence[float]) -> ErrorMetrics:
    """Relative-error metrics of ``predicted_ms`` against ``measured_ms`` (same length, measured > 0)."""
    import numpy as np

    pred = np.asarray(predicted_ms, dtype=float)
    meas = np.asarray(measured_ms, dtype=float)
    if pred.shape != meas.shape:
        raise ValueError(f"predicted and measured differ in shape: {pred.shape} vs {meas.shape}")
    if pred.size == 0:
        return ErrorMetrics(n=0, rmspe_pct=math.nan, mape_pct=math.nan, within_5_pct=math.nan, within_10_pct=math.nan)
    if not (meas > 0).all():
        raise ValueError("measured latencies must be > 0 ms")
    rel = (pred - meas) / meas
    absrel = np.abs(rel)
    return ErrorMetrics(
        n=int(pred.size),
        rmspe_pct=float(np.sqrt(np.mean(rel**2)) * 100.0),
        mape_pct=float(np.mean(absrel) * 100.0),
        within_5_pct=float(np.mean(absrel <= 0.05 + _EPS) * 100.0),
        within_10_pct=float(np.mean(absrel <= 0.10 + _EPS) * 100.0),
    )


def metrics_table(rows: dict[str, ErrorMetrics], *, label: str = "") -> str:
    """Text table: one line per named :class:`ErrorMetrics`."""
    from tabulate import tabulate

    body = [[name, *m.row()] for name, m in rows.items()]
    return tabulate(body, headers=[label, *HEADERS], tablefmt="simple", floatfmt="g")

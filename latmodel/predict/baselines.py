"""Simple latency estimators that the XGBoost predictor must beat.

All of them answer for every row of a measurement table (one row per block of a
configuration) the latency of the *prefix* ending at that block, i.e. of a TRN
cut there, so they compare directly with ``prefix_ms``:

* :class:`FlopsLinearBaseline` -- latency linear in the prefix's FLOPs
  (``intercept_ms + ms_per_gflop * cumulative GFLOPs``), fitted on training rows by
  least squares on the *relative* error (weights 1 / measured latency), which is
  the most favourable fit for the relative metrics we report.
* :class:`FlopsLogLogBaseline` -- ``log latency`` linear in ``log FLOPs`` (a power law;
  the best of the FLOPs-only estimators in ../shared/reference/anchors.md).
* :func:`alone_lookup_prefix_ms` -- a lookup table of blocks timed alone
  (``alone_ms``), summed along the chain.
* :func:`incontext_sum_prefix_ms` -- the blocks' measured in-context latencies
  summed along the chain (oracle-ish: needs the network measured already).

Tables must be sorted by configuration and block index (:func:`sort_blocks`).
"""
from __future__ import annotations

import dataclasses
import logging

from ..errors import TableError
from ..records import Record

__all__ = [
    "FlopsLinearBaseline",
    "FlopsLogLogBaseline",
    "alone_lookup_prefix_ms",
    "has_alone_lookup",
    "incontext_sum_prefix_ms",
    "sort_blocks",
    "cumsum_by_config",
]

logger = logging.getLogger(__name__)


def sort_blocks(table):
    """``table`` sorted by (config_id, block_index), index reset; checks blocks are 0..n-1 per config."""
    df = table.sort_values(["config_id", "block_index"], kind="stable").reset_index(drop=True)
    expected = df.groupby("config_id", sort=False).cumcount()
    if not (expected.to_numpy() == df["block_index"].to_numpy()).all():
        bad = df.loc[expected.to_numpy() != df["block_index"].to_numpy(), "config_id"].iloc[0]
        raise TableError(
            f"configuration {bad!r} does not have consecutive blocks 0..n-1 (duplicated or missing rows); "
            "re-measure it or remove its rows from the table"
        )
    return df


def cumsum_by_config(table, values):
    """Cumulative sum of ``values`` (aligned with the sorted ``table``) along each configuration's chain."""
    import numpy as np
    import pandas as pd

    s = pd.Series(np.asarray(values, dtype=float), index=table.index)
    return s.groupby(table["config_id"].to_numpy(), sort=False).cumsum().to_numpy()


def _prefix_gflops_and_ms(table, what: str):
    """(cumulative GFLOPs, measured prefix ms) of every row of the sorted ``table``."""
    if "prefix_ms" not in table.columns or table["prefix_ms"].isna().all():
        raise TableError(f"the {what} baseline needs the 'prefix_ms' column")
    gflops = cumsum_by_config(table, table["flops"]) / 1e9
    return gflops, table["prefix_ms"].to_numpy(dtype=float)


def _line_fit(x, y, weights=None) -> tuple[float, float]:
    """(intercept, slope) of ``y ~ intercept + slope * x`` by (weighted) least squares."""
    import numpy as np

    w = np.ones_like(x) if weights is None else weights
    design = np.stack([np.ones_like(x), x], axis=1) * w[:, None]
    (intercept, slope), *_ = np.linalg.lstsq(design, y * w, rcond=None)
    return float(intercept), float(slope)


@dataclasses.dataclass(frozen=True)
class FlopsLinearBaseline(Record):
    """Prefix latency = ``intercept_ms + ms_per_gflop * GFLOPs of the prefix``."""

    intercept_ms: float = 0.0
    ms_per_gflop: float = 0.0
    n_rows: int = 0

    @classmethod
    def fit(cls, table) -> "FlopsLinearBaseline":
        """Least squares on relative error (weights 1 / measured) over the prefix rows of the (sorted) ``table``."""
        import numpy as np

        gflops, y = _prefix_gflops_and_ms(table, "linear-in-FLOPs")
        ok = np.isfinite(y) & (y > 0)
        intercept, slope = _line_fit(gflops[ok], y[ok], weights=1.0 / y[ok])
        return cls(intercept_ms=intercept, ms_per_gflop=slope, n_rows=int(ok.sum()))

    def predict_prefix_ms(self, table):
        import numpy as np

        gflops = cumsum_by_config(table, table["flops"]) / 1e9
        return np.maximum(self.intercept_ms + self.ms_per_gflop * gflops, 1e-3)


@dataclasses.dataclass(frozen=True)
class FlopsLogLogBaseline(Record):
    """Prefix latency = ``exp(log_ms_at_1_gflop) * GFLOPs ** exponent`` (least squares in log space)."""

    log_ms_at_1_gflop: float = 0.0
    exponent: float = 1.0
    n_rows: int = 0

    @classmethod
    def fit(cls, table) -> "FlopsLogLogBaseline":
        import numpy as np

        gflops, y = _prefix_gflops_and_ms(table, "log-log FLOPs")
        ok = np.isfinite(y) & (y > 0) & (gflops > 0)
        intercept, slope = _line_fit(np.log(gflops[ok]), np.log(y[ok]))
        return cls(log_ms_at_1_gflop=intercept, exponent=slope, n_rows=int(ok.sum()))

    def predict_prefix_ms(self, table):
        import numpy as np

        gflops = np.maximum(cumsum_by_config(table, table["flops"]) / 1e9, 1e-9)
        return np.exp(self.log_ms_at_1_gflop + self.exponent * np.log(gflops))


def has_alone_lookup(table) -> bool:
    """Whether every row has its block timed alone (tables whose runtime's node profiler gave the in-context
    latencies leave ``alone_ms`` empty: no lookup-table baseline for them)."""
    return "alone_ms" in table.columns and bool(table["alone_ms"].notna().all())


def alone_lookup_prefix_ms(table):
    """Prefix latency as the sum of the blocks' ``alone_ms`` (a lookup table of blocks timed alone)."""
    if not has_alone_lookup(table):
        raise TableError("the lookup-table baseline needs every row's 'alone_ms' (blocks timed alone); this table "
                         "has none or some empty")
    return cumsum_by_config(table, table["alone_ms"])


def incontext_sum_prefix_ms(table):
    """Prefix latency as the sum of the blocks' measured ``incontext_ms``."""
    return cumsum_by_config(table, table["incontext_ms"])

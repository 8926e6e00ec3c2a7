"""Put windows measured at different times on one scale: divide out each window's yardstick.

Every windowed table row carries the yardstick workload's statistic in its window (``yardstick_ms``,
:func:`latmodel.measure.bursts.yardstick`).  On a shared host a whole window can fall into a slow phase (30-45%
slow for over a minute on the 2-core Xeon guest); the yardstick slows with it.  Scaling a row's latencies
by ``reference_ms / yardstick_ms`` gives them at the machine speed where the yardstick takes
``reference_ms``: by default the fastest window of the table (its fast state), or a device's reference
carried by a predictor, so two tables of one device compare on the same scale.

A scaled row's ``yardstick_ms`` becomes the reference (what it was measured at moves to
``window_yardstick_ms``), so scaling again to the same reference changes nothing.

Only rows whose yardstick is the current one (:data:`latmodel.measure.bursts.YARDSTICK_NAME`) and that were measured
in the yardstick's own runtime (:data:`~latmodel.measure.bursts.YARDSTICK_RUNTIME`, eager torch) are scaled; others
(round-model rows, schema 4 GEMM yardsticks, ONNX Runtime / OpenVINO rows) keep their values and are counted in the
result.  Why not the other runtimes: two passes of the ``repeat`` corpus in ONNX Runtime on the stepping-1 Xeon
(2026-12-05, 35 configurations, one after the other) had yardsticks 3-14% slower in the second pass while its
networks ran a median 3-4% slower; network ratio and yardstick ratio correlated -0.25, and scaling took the
prefixes within +-10% of each other from 94.9% to 73.4%.  The torch yardstick does not speak for ONNX Runtime there.
On the Xeon 6/207/2 it does (2026-12-06, the `repeat` corpus in ONNX Runtime after a whole pass, 39 configurations:
each configuration's log ratio between the passes correlated 0.88 with its windows' yardstick ratio, and scaling
took the prefixes within +-10% of each other from 31% to 77-81%), so rows of another runtime are scaled where a pair
of passes marked the share they follow (``yardstick_tracks`` above 0, ``scripts/calibration_stability.py
--mark-yardstick``), and only there.
"""
from __future__ import annotations

import dataclasses
import math

from ..errors import NetcutError
from ..records import Record
from .bursts import YARDSTICK_NAME, YARDSTICK_RUNTIME

__all__ = ["yardstick_rows", "own_runtime_rows", "SCALED_COLUMNS", "TRACKS_COLUMN", "YardstickScale", "scale_to_yardstick", "reference_ms_of",
           "scalable_rows"]

#: The latency columns a window's speed scales (yardstick_ms itself is kept as measured).
SCALED_COLUMNS: tuple[str, ...] = ("incontext_ms", "incontext_median_ms", "alone_ms", "alone_median_ms", "prefix_ms",
                                   "prefix_median_ms", "prefix_p90_ms", "network_ms", "network_median_ms")

#: Optional table column: how much of the yardstick's change the networks follow, as an exponent ``e`` in [0, 1]
#: (rows are scaled by ``(reference_ms / yardstick_ms) ** e``); absent or empty: 1, the yardstick tracks; 0: never
#: scaled.  On the Intel Xeon 6/207/2 guest (2026-12-06) the yardstick read 8.7-13.9 ms over the 9 windows of one pass
#: while its networks' speed moved about 10%: fully scaled, that pass and its repeat agreed within +-10% on 51.3% of
#: prefixes, as measured on 78.5%; the per-configuration log ratio of the two passes rose with the log yardstick ratio at
#: a slope of 0.28, and a second pair of that host at 0.24.  ``scripts/calibration_stability.py --mark-yardstick`` fits
#: that slope on two passes and writes it (0 where even partial scaling takes them apart).
TRACKS_COLUMN = "yardstick_tracks"


@dataclasses.dataclass(frozen=True)
class YardstickScale(Record):
    """What :func:`scale_to_yardstick` did: the reference, how many rows it scaled and left, the factors' range, and
    the median exponent it scaled them by (:data:`TRACKS_COLUMN`; a predictor carries it to the tables of its device
    that lack the column)."""

    reference_ms: float
    rows_scaled: int
    rows_unscaled: int
    min_factor: float
    max_factor: float
    tracks: float = 1.0


def yardstick_rows(df):
    """Boolean mask of the rows that carry the current yardstick, whatever their runtime (None when the table has no
    yardstick columns): the rows a pair of passes can show to track it (``scripts/calibration_stability.py``)."""
    if "yardstick_ms" not in df.columns or "yardstick" not in df.columns:
        return None
    import numpy as np

    y = df["yardstick_ms"].astype(float)
    return (df["yardstick"].astype(str) == YARDSTICK_NAME) & np.isfinite(y) & (y > 0)


def own_runtime_rows(df):
    """Boolean mask of the rows measured in the yardstick's own runtime (every row of a table without a runtime)."""
    import pandas as pd

    if "runtime" not in df.columns:
        return pd.Series(True, index=df.index)
    return df["runtime"].isna() | (df["runtime"].astype(str) == YARDSTICK_RUNTIME)


def scalable_rows(df):
    """Boolean mask of the rows :func:`scale_to_yardstick` scales (None when the table has no yardstick columns):
    the yardstick's own runtime's rows unless marked as not tracking (share 0), and another runtime's rows only
    where a pair of passes marked a share above 0 (ONNX Runtime followed the torch yardstick on the Xeon 6/207/2,
    not on the stepping-1 Xeon: the module docstring)."""
    ok = yardstick_rows(df)
    if ok is None:
        return None
    if TRACKS_COLUMN not in df.columns:
        return ok & own_runtime_rows(df)
    share = df[TRACKS_COLUMN].astype(float)
    # rows whose yardstick was shown not to track their host (share 0) are left, and other runtimes' unless marked
    return ok & (own_runtime_rows(df) | (share.fillna(0) > 0)) & (share.fillna(1) != 0)


def reference_ms_of(df) -> float:
    """The table's fastest window's yardstick (ms); NaN when no row has the current yardstick."""
    ok = scalable_rows(df)
    if ok is None or not ok.any():
        return math.nan
    return float(df.loc[ok, "yardstick_ms"].astype(float).min())


def scale_to_yardstick(df, reference_ms: float | None = None, *, tracks: float = 1.0):
    """``(scaled copy of df, YardstickScale)``: latency columns times ``reference_ms / yardstick_ms`` (to the power of
    the row's :data:`TRACKS_COLUMN`; ``tracks`` for rows without one: a predictor's share for its device's tables).

    ``reference_ms`` defaults to :func:`reference_ms_of` (the table's fastest window).  Raises
    :class:`~latmodel.errors.NetcutError` for a reference that is not a positive number.
    """
    import pandas as pd

    ref = reference_ms_of(df) if reference_ms is None else float(reference_ms)
    ok = scalable_rows(df)
    out = df.copy()
    if ok is None or not ok.any():
        return out, YardstickScale(ref, 0, len(df), 1.0, 1.0)
    if not (math.isfinite(ref) and ref > 0):
        raise NetcutError(f"the yardstick reference must be a positive number of ms, got {reference_ms!r}")
    factor = ref / out.loc[ok, "yardstick_ms"].astype(float)
    # a yardstick that tracks only partly (above): each row scaled by its share of the change
    share = (out.loc[ok, TRACKS_COLUMN].astype(float) if TRACKS_COLUMN in out.columns
             else pd.Series(math.nan, index=factor.index)).fillna(float(tracks))
    factor = factor ** share
    for col in SCALED_COLUMNS:
        if col in out.columns:
            out[col] = out[col].astype(float)
            out.loc[ok, col] = out.loc[ok, col] * factor
    if "window_yardstick_ms" not in out.columns:
        out["window_yardstick_ms"] = out["yardstick_ms"].astype(float)
    out["yardstick_ms"] = out["yardstick_ms"].astype(float)
    out.loc[ok, "yardstick_ms"] = ref
    # the record's factors take each row from its window as measured (a table scaled before reports them again, not 1)
    total = (ref / out.loc[ok, "window_yardstick_ms"].astype(float)) ** share
    return out, YardstickScale(ref, int(ok.sum()), int((~ok).sum()), float(total.min()), float(total.max()),
                               float(share.median()))

"""What a predictor was fitted on, and whether a question lies outside it (an extrapolation).

Gradient-boosted trees cannot extrapolate: a block with four times the largest training block's FLOPs
is priced like that largest block.  So a predictor records the ranges of its training table
(:func:`fitted_ranges`: resolution, width, batch size, threads and every feature column), and each
prediction says which of its values lie outside them (:func:`extrapolation_reasons`), in words a
user can act on.  A feature counts as outside when it exceeds the training maximum by more than
:data:`FEATURE_TOLERANCE` (or falls that far under a positive minimum): within that the trees'
last split still describes it.

How far outside (:func:`extrapolation_distance`: the largest ratio of a configuration value or a
size feature to the nearest end of its training range) widens a prediction's upper bound by
``distance ** WIDEN_EXPONENT`` (:func:`widen_upper`), a rule measured on held-out resolutions
beyond a fit's range by benchmarks/bench_extrapolation.py.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping

__all__ = ["FEATURE_TOLERANCE", "CONFIG_RANGES", "SIZE_FEATURES", "WIDEN_EXPONENT", "fitted_ranges", "merge_ranges",
           "extrapolation_reasons", "extrapolation_reasons_many", "extrapolation_distance",
           "extrapolation_distance_of", "extrapolation_distance_many", "widen_upper"]

#: A feature beyond the training range by more than this factor is an extrapolation.
FEATURE_TOLERANCE = 1.10
#: Configuration columns whose training range a prediction is checked against (table column -> words).
CONFIG_RANGES: dict[str, str] = {"resolution_px": "resolution", "width": "width", "batch_size": "batch size",
                                 "threads": "threads"}
#: Features that measure a block's size: how far beyond their training range a block lies is how far its
#: latency can lie beyond what the trees learned (counts, strides and kernel sizes are not sizes).
SIZE_FEATURES: tuple[str, ...] = ("flops", "in_bytes", "out_bytes", "param_bytes", "intermediate_bytes",
                                  "activations", "params")
#: The upper bound of a prediction at extrapolation distance d is multiplied by d ** WIDEN_EXPONENT: the
#: smallest exponent tried that kept 95% of measured held-out prefixes under the bound in every scenario of
#: benchmarks/bench_extrapolation.py (Xeon table, 2026-12-03: above the fitted resolutions 97-99% held unwidened;
#: below them 88% unwidened, 97% at 0.5, 100% at 1; README "Outside the calibrated range").
WIDEN_EXPONENT = 0.5


def fitted_ranges(df, feature_columns: Iterable[str]) -> dict:
    """``{"config": {column: [lo, hi]}, "features": {column: [lo, hi]}}`` of a training table."""
    import pandas as pd

    def span(col):
        values = pd.to_numeric(df[col], errors="coerce").dropna()
        return [float(values.min()), float(values.max())] if len(values) else None

    config = {c: span(c) for c in CONFIG_RANGES if c in df.columns}
    features = {c: span(c) for c in feature_columns if c in df.columns}
    return {"config": {k: v for k, v in config.items() if v is not None},
            "features": {k: v for k, v in features.items() if v is not None}}


def merge_ranges(a: Mapping | None, b: Mapping | None) -> dict | None:
    """The union of two :func:`fitted_ranges` (an adapted predictor keeps its base's ranges and adds its own)."""
    if not a or not b:
        return dict(a or b) if (a or b) else None
    out: dict = {}
    for part in ("config", "features"):
        pa, pb = a.get(part) or {}, b.get(part) or {}
        out[part] = {k: [min(x[0] for x in spans), max(x[1] for x in spans)]
                     for k in set(pa) | set(pb) for spans in [[v for v in (pa.get(k), pb.get(k)) if v]]}
    return out


def _fmt(v: float) -> str:
    return f"{v:g}" if abs(v) < 1e5 else f"{v:.3g}"


def _config_reasons(ranges: Mapping, config: Mapping[str, float]) -> list[str]:
    reasons = []
    for col, value in config.items():
        span = (ranges.get("config") or {}).get(col)
        if span is None or value is None:
            continue
        lo, hi = span
        if not lo <= float(value) <= hi:
            reasons.append(f"{CONFIG_RANGES.get(col, col)} {_fmt(float(value))} is outside the "
                           f"{_fmt(lo)}..{_fmt(hi)} it was fitted on")
    return reasons


def _checked_features(ranges: Mapping) -> list[tuple[str, float, float]]:
    """(column, lo, hi) of the ranges' features, in their order; all-zero training columns are left to the
    predictor's unseen features."""
    return [(col, float(lo), float(hi)) for col, (lo, hi) in (ranges.get("features") or {}).items() if hi != 0]


def _outside_above(values, lo, hi):
    """How far each value lies above [lo, hi] beyond :data:`FEATURE_TOLERANCE` (1.0 when it does not; inf for a
    positive value where ``hi`` is 0), element-wise over columns (``lo``, ``hi``: one per column)."""
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        above = (values > hi * FEATURE_TOLERANCE) & (values > 0)
        return np.where(above, np.where(hi > 0, values / np.where(hi > 0, hi, 1.0), np.inf), 1.0)


def _outside_below(values, lo, hi):
    """How far each value lies below a positive ``lo`` beyond :data:`FEATURE_TOLERANCE` (1.0 when it does not;
    inf for a value of 0), element-wise over columns."""
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        below = (lo > 0) & (values < lo / FEATURE_TOLERANCE)  # never also above: lo / tolerance <= hi * tolerance
        return np.where(below, np.where(values > 0, lo / np.where(values > 0, values, 1.0), np.inf), 1.0)


def _feature_reasons(checked, worst, max_features: int) -> list[str]:
    import numpy as np

    out = [(float(worst[j]), *checked[j]) for j in np.flatnonzero(np.asarray(worst) > 1.0)]
    out.sort(key=lambda t: -t[0])  # stable: ties keep the ranges' order
    reasons = [f"{col} up to {_fmt(w)}x beyond the {_fmt(lo)}..{_fmt(hi)} of its training blocks"
               if w < math.inf else f"{col} outside the {_fmt(lo)}..{_fmt(hi)} of its training blocks"
               for w, col, lo, hi in out[:max_features]]
    if len(out) > max_features:
        reasons.append(f"{len(out) - max_features} more feature(s) out of range")
    return reasons


def extrapolation_reasons(ranges: Mapping | None, rows: list[dict], config: Mapping[str, float],
                          max_features: int = 3) -> list[str]:
    """Why a prediction of the blocks ``rows`` at ``config`` (e.g. ``{"resolution_px": 1024}``) extrapolates:
    one phrase per configuration value outside its training range, then up to ``max_features`` features,
    furthest out first.  ``[]`` inside every range, or when the predictor recorded none (older artifacts)."""
    import numpy as np

    if not ranges:
        return []
    checked = _checked_features(ranges)
    values = np.array([[float(r.get(col, 0.0) or 0.0) for col, _, _ in checked] for r in rows], dtype=float)
    return extrapolation_reasons_many(ranges, values.reshape(len(rows), len(checked)), [col for col, _, _ in checked],
                                      [0], [config], max_features)[0]


def extrapolation_reasons_many(ranges: Mapping | None, X, columns, starts, configs,
                               max_features: int = 3) -> list[list[str]]:
    """:func:`extrapolation_reasons` of many chains at once (a search prices thousands of blocks: one
    vectorised pass instead of a Python loop per block and feature).  ``X``: every chain's blocks stacked
    (rows) by ``columns``; chain ``i`` starts at row ``starts[i]`` (ascending, every chain non-empty) and is
    asked at ``configs[i]``.  A range feature missing from ``columns`` counts as 0, as a missing key does."""
    import numpy as np

    if not ranges:
        return [[] for _ in configs]
    checked = _checked_features(ranges)
    X = np.asarray(X, dtype=float)
    config_reasons = _memo(lambda c: _config_reasons(ranges, c))  # a search asks few distinct configurations
    if not checked or not X.shape[0]:
        return [list(config_reasons(c)) for c in configs]
    index = {c: i for i, c in enumerate(columns)}
    present = [(j, index[col]) for j, (col, _, _) in enumerate(checked) if col in index]
    lo = np.array([c[1] for c in checked])
    hi = np.array([c[2] for c in checked])
    # how far outside is monotone in the value on each side of the range: a chain's worst block per column is its
    # largest value (above) or its smallest (below), so only those are compared, not every block; reduced over
    # every column first, then the checked ones picked (a chain's row, not every block's)
    starts = np.asarray(starts, dtype=int)
    largest, least = (np.zeros((len(starts), len(checked))) for _ in range(2))
    if present:
        to, frm = [j for j, _ in present], [i for _, i in present]
        largest[:, to] = np.maximum.reduceat(X, starts, axis=0)[:, frm]
        least[:, to] = np.minimum.reduceat(X, starts, axis=0)[:, frm]
    worst = np.maximum(_outside_above(largest, lo, hi), _outside_below(least, lo, hi))
    beyond = (worst > 1.0).any(axis=1)  # words only for the chains with a feature out of range
    return [config_reasons(config) + (_feature_reasons(checked, w, max_features) if out else [])
            for config, w, out in zip(configs, worst, beyond)]


def _memo(fn):
    """``fn`` of a configuration dict, computed once per distinct configuration (its items, in order)."""
    seen: dict = {}

    def call(config):
        key = tuple(config.items())
        if key not in seen:
            seen[key] = fn(config)
        return seen[key]
    return call


def _ratio_outside(value: float, lo: float, hi: float, tolerance: float = 1.0) -> float:
    """``value / hi`` above the range, ``lo / value`` below it (each only beyond ``tolerance``), else 1."""
    if value > hi * tolerance and hi > 0:
        return value / hi
    if 0 < value < lo / tolerance:
        return lo / value
    return 1.0


def extrapolation_distance(ranges: Mapping | None, rows: list[dict], config: Mapping[str, float]) -> list[float]:
    """How far outside the training ranges each prefix of the blocks ``rows`` lies (1.0: inside), as the
    running maximum along the chain of the largest ratio of a configuration value (resolution, width,
    batch size, threads) or a :data:`SIZE_FEATURES` value to the nearest end of its range (features only
    beyond :data:`FEATURE_TOLERANCE`, as :func:`extrapolation_reasons` counts them)."""
    import numpy as np

    columns = [c for c in SIZE_FEATURES if c in ((ranges or {}).get("features") or {})]
    X = np.array([[float(r.get(c, 0.0) or 0.0) for c in columns] for r in rows], dtype=float)
    return extrapolation_distance_of(ranges, X.reshape(len(rows), len(columns)), columns, config).tolist()


def extrapolation_distance_of(ranges: Mapping | None, X, columns, config: Mapping[str, float]):
    """:func:`extrapolation_distance` of one chain whose blocks are the rows of ``X`` (``columns`` name its
    columns; a size feature missing from them counts as 0), as an array."""
    import numpy as np

    X = np.asarray(X, dtype=float)
    return extrapolation_distance_many(ranges, X, columns, np.zeros(X.shape[0], dtype=int), [config])


def _config_distance(ranges: Mapping, config: Mapping[str, float]) -> float:
    """The largest ratio of a configuration value to the nearest end of its training range (1.0: inside)."""
    base = 1.0
    for col, value in config.items():
        span = (ranges.get("config") or {}).get(col)
        if span is not None and value is not None:
            base = max(base, _ratio_outside(float(value), *span))
    return base


def extrapolation_distance_many(ranges: Mapping | None, X, columns, row_starts, configs):
    """:func:`extrapolation_distance` of many chains at once, one value per row of ``X`` (every chain's blocks
    stacked; ``row_starts[i]``: the first row of row i's chain, as :attr:`latmodel.predict.chains.Chains.starts`;
    ``configs``: one per chain, in order): vectorised, as a search asks it of thousands of blocks."""
    import numpy as np

    from .chains import segment_cummax

    X = np.asarray(X, dtype=float)
    row_starts = np.asarray(row_starts, dtype=int)
    if not ranges or not X.shape[0]:
        return np.ones(X.shape[0])
    first = np.flatnonzero(row_starts == np.arange(len(row_starts)))
    lengths = np.diff(np.append(first, len(row_starts)))
    config_distance = _memo(lambda c: _config_distance(ranges, c))
    worst = np.repeat([config_distance(c) for c in configs], lengths).astype(float)
    index = {c: i for i, c in enumerate(columns)}
    spans = [(col, lo, hi) for col, (lo, hi) in (ranges.get("features") or {}).items() if col in SIZE_FEATURES and hi > 0]
    if spans:
        V = np.column_stack([X[:, index[c]] if c in index else np.zeros(X.shape[0]) for c, _, _ in spans])
        lo, hi = np.array([s[1] for s in spans], dtype=float), np.array([s[2] for s in spans], dtype=float)
        # a block without the feature (0) is not "below" here: it is sized by its other features
        ratio = np.maximum(_outside_above(V, lo, hi), _outside_below(np.where(V > 0, V, lo), lo, hi))
        worst = np.maximum(worst, ratio.max(axis=1))
    return segment_cummax(worst, row_starts)


def widen_upper(upper_ms, distance, exponent: float = WIDEN_EXPONENT):
    """``upper_ms * distance ** exponent`` element-wise (the rule for a prediction outside the ranges)."""
    import numpy as np

    return np.asarray(upper_ms, dtype=float) * np.asarray(distance, dtype=float) ** float(exponent)

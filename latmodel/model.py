"""XGBoost latency predictor: block features -> block latency -> TRN prefix latency.

Model (see docs in :class:`LatencyModel`):

* **stage 1** -- XGBoost on the block features (:data:`latmodel.features.FEATURE_COLUMNS`)
  predicting ``log(incontext_ms)`` (latencies span three orders of magnitude;
  a log target makes the squared loss a relative one).  Optionally on top of a
  roofline prior (``stage1_prior="roofline"``, as ``base_margin``); on the 1-thread
  table that prior made held-out prefixes worse (it misprices channel shuffles), so
  it is off by default.
* **stage 2** -- a small XGBoost on prefix-level features (:data:`STAGE2_FEATURES`:
  block index, cumulative stage-1 latency, cumulative bytes, ...) predicting
  ``log(prefix_ms / cumulative in-context latency)``: the correction for
  running the prefix alone (cold caches make the first blocks cost less alone than
  in context).  At prediction time the ratio multiplies the cumulative stage-1
  prediction, so prefix sums stay additive up to a bounded factor; the result is
  made non-decreasing along the chain.
* **roofline** -- a non-negative least-squares fit of in-context block latency on
  per-kind FLOPs, bytes moved and layer count (:data:`ROOFLINE_TERMS`); it prices
  the new classification head (:meth:`LatencyModel.head_latency_ms`), which no
  measured block resembles.

Predicting all prefixes of a network is one batched ``inplace_predict`` per stage.
``prefix_upper_ms`` multiplies the prediction by ``exp(q)``, ``q`` the
``upper_quantile`` of out-of-fold log residuals in the prefix's position bucket.

The predictor is saved as a folder (:mod:`latmodel.artifact`): XGBoost JSON model
files and a ``manifest.json``; nothing is pickled.

Every booster is trained by :func:`_train_booster`, the one place that chooses
between local ``xgboost.train`` and ``xgboost.dask.train`` on a Dask cluster
(``fit_tables(..., scheduler=...)``, ``latmodel fit --scheduler``); both return the
same kind of :class:`xgboost.Booster`, so saving, loading and prediction do not
depend on where it was trained.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import inspect
import json
import logging
import math
import time
from pathlib import Path
from typing import Any, Sequence

from .artifact import (
    MANIFEST_NAME,
    PREDICTOR_SCHEMA_VERSION,
    read_predictor_folder,
    sha256_file,
    write_predictor_folder,
)
from .baselines import (
    FlopsLinearBaseline,
    FlopsLogLogBaseline,
    alone_lookup_prefix_ms,
    incontext_sum_prefix_ms,
    sort_blocks,
)
from .errors import ArtifactError, NetcutError, TableError
from .cluster import connect_scheduler
from .fileio import first_line
from .features import FEATURE_COLUMNS
from .metrics import ErrorMetrics, error_metrics, metrics_table

__all__ = [
    "LatencyModel",
    "NetworkPrediction",
    "FitReport",
    "EvaluationReport",
    "NotFittedError",
    "ROOFLINE_TERMS",
    "STAGE2_FEATURES",
    "POSITION_BUCKETS",
    "load_predictor",
    "fit_tables",
    "evaluate_tables",
    "cross_validate",
    "CrossValidation",
]

logger = logging.getLogger(__name__)

#: Roofline terms: name -> (columns summed, scale).  Coefficients are ms per unit.
ROOFLINE_TERMS: dict[str, tuple[tuple[str, ...], float]] = {
    "const": ((), 1.0),
    "gflops_conv_dense": (("flops_conv_dense",), 1e-9),
    "gflops_gemm": (("flops_conv_pointwise", "flops_linear"), 1e-9),
    "gflops_conv_depthwise": (("flops_conv_depthwise",), 1e-9),
    "gflops_conv_grouped": (("flops_conv_grouped",), 1e-9),
    "gflops_memory_bound": (("flops_norm", "flops_pool", "flops_elementwise", "flops_other"), 1e-9),
    "gbytes_activations": (("in_bytes", "out_bytes", "intermediate_bytes"), 1e-9),
    "gbytes_params": (("param_bytes",), 1e-9),
    "n_layers": (("n_conv_dense", "n_conv_pointwise", "n_conv_depthwise", "n_conv_grouped", "n_linear", "n_norm",
                  "n_pool", "n_act"), 1.0),
}

#: Prefix-level features of stage 2 (computed from stage-1 predictions and block features).
STAGE2_FEATURES: tuple[str, ...] = (
    "block_index",
    "log_cum_pred_ms",
    "log_block_pred_ms",
    "first_block_share",
    "last_block_share",
    "log_cum_gflops",
    "log_cum_param_bytes",
    "log_cum_activation_bytes",
    "log_input_bytes",
    "log_out_bytes",
)

#: Prefix position buckets for the residual quantiles: (first index, last index or None).
POSITION_BUCKETS: tuple[tuple[int, int | None], ...] = ((0, 0), (1, 1), (2, 3), (4, 7), (8, None))

_LIBRARIES = ("xgboost", "scikit-learn", "torch", "numpy", "pandas")
#: Seconds to wait for a Dask scheduler before giving up (``fit_tables(..., scheduler=...)``).
STAGE1_FILE = "stage1.json"
_STAGE1_FILES = {"plain": STAGE1_FILE, "roofline": "stage1_roofline.json"}
STAGE2_FILE = "stage2.json"


class NotFittedError(NetcutError, ValueError):
    """The predictor was used before ``fit`` (or ``load``)."""


# =========================================================================== records


@dataclasses.dataclass(frozen=True)
class NetworkPrediction:
    """Predicted latency of every block and of every prefix (TRN cut) of one network.

    ``prefix_latency_ms[k]`` is the predicted latency of blocks ``0..k`` run alone as
    a network (a TRN backbone cut after block k, head excluded);
    ``prefix_upper_ms[k]`` its upper bound at the predictor's ``upper_quantile``;
    ``block_latency_ms[k]`` the block's in-context latency (stage 1).
    """

    model: str
    resolution_px: int
    width: float
    block_names: tuple[str, ...]
    block_latency_ms: tuple[float, ...]
    prefix_latency_ms: tuple[float, ...]
    prefix_upper_ms: tuple[float, ...]
    total_latency_ms: float

    def __len__(self) -> int:
        return len(self.block_names)

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "resolution_px": self.resolution_px,
            "width": self.width,
            "total_latency_ms": self.total_latency_ms,
            "blocks": [
                {"index": i, "name": n, "block_latency_ms": b, "prefix_latency_ms": p, "prefix_upper_ms": u}
                for i, (n, b, p, u) in enumerate(zip(self.block_names, self.block_latency_ms,
                                                      self.prefix_latency_ms, self.prefix_upper_ms))
            ],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "NetworkPrediction":
        blocks = sorted(d["blocks"], key=lambda b: int(b["index"]))
        return cls(
            model=str(d["model"]),
            resolution_px=int(d["resolution_px"]),
            width=float(d["width"]),
            block_names=tuple(str(b["name"]) for b in blocks),
            block_latency_ms=tuple(float(b["block_latency_ms"]) for b in blocks),
            prefix_latency_ms=tuple(float(b["prefix_latency_ms"]) for b in blocks),
            prefix_upper_ms=tuple(float(b["prefix_upper_ms"]) for b in blocks),
            total_latency_ms=float(d["total_latency_ms"]),
        )

    def to_text(self) -> str:
        from tabulate import tabulate

        rows = [[i, n, f"{b:.3f}", f"{p:.3f}", f"{u:.3f}"]
                for i, (n, b, p, u) in enumerate(zip(self.block_names, self.block_latency_ms,
                                                      self.prefix_latency_ms, self.prefix_upper_ms))]
        head = f"{self.model} at {self.resolution_px}px, width {self.width:g}: {len(self)} blocks"
        table = tabulate(rows, headers=["index", "block", "block ms", "prefix ms", "prefix upper ms"],
                         tablefmt="simple", disable_numparse=True)
        return f"{head}\n{table}\ntotal: {self.total_latency_ms:.3f} ms (feature blocks, head excluded)"


def _metrics_dict(d: dict[str, ErrorMetrics]) -> dict:
    return {k: v.to_dict() for k, v in d.items()}


def _metrics_from(d: dict) -> dict[str, ErrorMetrics]:
    return {k: ErrorMetrics.from_dict(v) for k, v in d.items()}


@dataclasses.dataclass(frozen=True)
class CrossValidation:
    """Leave-one-family-out metrics: ``levels[estimator][level]`` with level in block/prefix/network."""

    held_out_families: tuple[str, ...]
    levels: dict[str, dict[str, ErrorMetrics]]
    prefix_within_10_by_family: dict[str, float]
    residual_note: str = ""

    def to_dict(self) -> dict:
        return {
            "held_out_families": list(self.held_out_families),
            "levels": {est: _metrics_dict(lv) for est, lv in self.levels.items()},
            "prefix_within_10_by_family": dict(self.prefix_within_10_by_family),
            "residual_note": self.residual_note,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "CrossValidation":
        return cls(
            held_out_families=tuple(d["held_out_families"]),
            levels={est: _metrics_from(lv) for est, lv in d["levels"].items()},
            prefix_within_10_by_family={k: float(v) for k, v in d["prefix_within_10_by_family"].items()},
            residual_note=str(d.get("residual_note", "")),
        )

    def to_text(self) -> str:
        lines = []
        for level, label in (("block", "block level (vs incontext_ms)"),
                             ("prefix", "prefix level (vs prefix_ms)"),
                             ("network", "whole networks (vs network_ms)")):
            rows = {est: lv[level] for est, lv in self.levels.items() if level in lv}
            if rows:
                lines.append(label)
                lines.append(metrics_table(rows, label="estimator"))
                lines.append("")
        if self.prefix_within_10_by_family:
            fam = ", ".join(f"{k} {v:.0f}%" for k, v in sorted(self.prefix_within_10_by_family.items()))
            lines.append(f"ours, prefixes within 10% by held-out family: {fam}")
        return "\n".join(lines).rstrip()


@dataclasses.dataclass(frozen=True)
class FitReport:
    """What ``fit_tables`` did: data used, leave-one-family-out metrics, where the predictor went."""

    out: str
    tables: tuple[str, ...]
    n_rows: int
    n_configs: int
    families: tuple[str, ...]
    n_flagged: int
    flagged_weight: float
    fit_seconds: float
    base: str | None
    cross_validation: CrossValidation | None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["tables"] = list(self.tables)
        d["families"] = list(self.families)
        d["cross_validation"] = self.cross_validation.to_dict() if self.cross_validation else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "FitReport":
        cv = d.get("cross_validation")
        return cls(out=str(d["out"]), tables=tuple(d["tables"]), n_rows=int(d["n_rows"]),
                   n_configs=int(d["n_configs"]), families=tuple(d["families"]), n_flagged=int(d["n_flagged"]),
                   flagged_weight=float(d["flagged_weight"]), fit_seconds=float(d["fit_seconds"]),
                   base=d.get("base"), cross_validation=CrossValidation.from_dict(cv) if cv else None)

    def to_text(self) -> str:
        lines = [
            f"fitted on {self.n_rows} rows, {self.n_configs} configurations, {len(self.families)} families "
            f"({', '.join(self.families)})" + (f", adapted from {self.base}" if self.base else ""),
            f"flagged rows: {self.n_flagged} (weighted {self.flagged_weight:g} in training, left out of the metrics)",
        ]
        if self.cross_validation is not None:
            lines.append("")
            lines.append("leave-one-family-out cross-validation ('random' always in training, not reported):")
            lines.append(self.cross_validation.to_text())
        else:
            lines.append("cross-validation skipped (--no-cv)")
        lines.append("")
        lines.append(f"predictor written to {self.out} in {self.fit_seconds:.1f} s")
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class EvaluationReport:
    """A predictor scored on tables it never saw: ours and the simple estimators, three levels."""

    predictor: str
    tables: tuple[str, ...]
    n_rows: int
    n_configs: int
    n_flagged_left_out: int
    levels: dict[str, dict[str, ErrorMetrics]]
    prefix_within_10_by_family: dict[str, float]
    plot: str | None

    def to_dict(self) -> dict:
        return {
            "predictor": self.predictor,
            "tables": list(self.tables),
            "n_rows": self.n_rows,
            "n_configs": self.n_configs,
            "n_flagged_left_out": self.n_flagged_left_out,
            "levels": {est: _metrics_dict(lv) for est, lv in self.levels.items()},
            "prefix_within_10_by_family": dict(self.prefix_within_10_by_family),
            "plot": self.plot,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "EvaluationReport":
        return cls(predictor=str(d["predictor"]), tables=tuple(d["tables"]), n_rows=int(d["n_rows"]),
                   n_configs=int(d["n_configs"]), n_flagged_left_out=int(d["n_flagged_left_out"]),
                   levels={e: _metrics_from(lv) for e, lv in d["levels"].items()},
                   prefix_within_10_by_family={k: float(v) for k, v in d["prefix_within_10_by_family"].items()},
                   plot=d.get("plot"))

    def to_text(self) -> str:
        cv = CrossValidation(held_out_families=(), levels=self.levels,
                             prefix_within_10_by_family=self.prefix_within_10_by_family)
        lines = [f"predictor {self.predictor} on {self.n_rows} rows, {self.n_configs} configurations "
                 f"({self.n_flagged_left_out} flagged rows left out)", "", cv.to_text()]
        if self.plot:
            lines += ["", f"predicted-vs-measured plot: {self.plot}"]
        return "\n".join(lines)


# =========================================================================== helpers


_FEATURE_INDEX = {name: i for i, name in enumerate(FEATURE_COLUMNS)}


@dataclasses.dataclass(frozen=True)
class _Chains:
    """Blocks of one or more chains as arrays: the fast path of prediction (no pandas).

    ``X``: features in :data:`FEATURE_COLUMNS` order, one row per block; rows of a chain
    are consecutive and in block order; ``starts[i]``: row index of row i's chain start.
    """

    X: Any
    starts: Any
    block_index: Any

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def col(self, name: str):
        return self.X[:, _FEATURE_INDEX[name]]

    @classmethod
    def from_frame(cls, df) -> "_Chains":
        """From a frame sorted by (config_id, block_index) (see :func:`sort_blocks`)."""
        import numpy as np

        X = df[list(FEATURE_COLUMNS)].to_numpy(dtype=float)
        ids = df["config_id"].to_numpy()
        new = np.ones(len(ids), dtype=bool)
        new[1:] = ids[1:] != ids[:-1]
        first = np.flatnonzero(new)
        starts = first[np.cumsum(new) - 1]
        return cls(X=X, starts=starts, block_index=df["block_index"].to_numpy(dtype=int))

    @classmethod
    def from_rows(cls, rows: Sequence[dict]) -> "_Chains":
        """One chain from per-block feature dicts, in order."""
        import numpy as np

        try:
            X = np.array([[float(r[c]) for c in FEATURE_COLUMNS] for r in rows], dtype=float)
        except KeyError as exc:
            raise NetcutError(f"block features lack column {exc.args[0]!r}; compute them with "
                              "latmodel.features.network_features") from None
        n = len(rows)
        return cls(X=X.reshape(n, len(FEATURE_COLUMNS)), starts=np.zeros(n, dtype=int), block_index=np.arange(n))

    def cumsum(self, values):
        """Cumulative sum of ``values`` along each chain."""
        import numpy as np

        v = np.asarray(values, dtype=float)
        c = np.cumsum(v)
        return c - c[self.starts] + v[self.starts]

    def cummax(self, values):
        """Running maximum along each chain."""
        import numpy as np

        v = np.asarray(values, dtype=float).copy()
        firsts = np.flatnonzero(self.starts == np.arange(len(v)))
        for a, b in zip(firsts, [*firsts[1:], len(v)]):
            v[a:b] = np.maximum.accumulate(v[a:b])
        return v


def _as_chains(data) -> _Chains:
    if isinstance(data, _Chains):
        return data
    return _Chains.from_frame(data)


def _roofline_design(data):
    """Design matrix of :data:`ROOFLINE_TERMS` for blocks (a frame or :class:`_Chains`)."""
    import numpy as np

    ch = _as_chains(data)
    cols = []
    for name, (columns, scale) in ROOFLINE_TERMS.items():
        if not columns:
            cols.append(np.ones(len(ch)))
        else:
            cols.append(sum(ch.col(c) for c in columns) * scale)
    return np.stack(cols, axis=1)


def _fit_roofline(df, y_ms, weights) -> dict[str, float]:
    """Non-negative least squares on relative error: ms ~ sum(coef * term)."""
    import numpy as np
    from scipy.optimize import nnls

    design = _roofline_design(df)
    w = np.asarray(weights, dtype=float) / np.asarray(y_ms, dtype=float)
    scale = design.max(axis=0)
    scale[scale == 0] = 1.0
    coef, _ = nnls((design / scale) * w[:, None], np.asarray(y_ms, dtype=float) * w, maxiter=50 * design.shape[1])
    coef = coef / scale
    return {name: float(c) for name, c in zip(ROOFLINE_TERMS, coef)}


def _roofline_ms(data, coef: dict[str, float]):
    import numpy as np

    design = _roofline_design(data)
    c = np.array([coef[name] for name in ROOFLINE_TERMS])
    return np.maximum(design @ c, 1e-3)


def _to_chains(features) -> _Chains:
    """Blocks given as a frame, a list of feature dicts (one chain), one dict, or a 2-D array."""
    import numpy as np
    import pandas as pd

    if isinstance(features, _Chains):
        return features
    if isinstance(features, pd.DataFrame):
        missing = [c for c in FEATURE_COLUMNS if c not in features.columns]
        if missing:
            raise NetcutError(f"features lack column(s) {', '.join(missing[:6])}; compute them with "
                              "latmodel.features.network_features")
        if "config_id" in features.columns and "block_index" in features.columns:
            return _Chains.from_frame(features)
        return _Chains.from_rows(features[list(FEATURE_COLUMNS)].to_dict("records"))
    if isinstance(features, dict):
        return _Chains.from_rows([features])
    if isinstance(features, (list, tuple)) and (not features or isinstance(features[0], dict)):
        return _Chains.from_rows(list(features))
    arr = np.asarray(features, dtype=float)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != len(FEATURE_COLUMNS):
        raise NetcutError(f"expected features with {len(FEATURE_COLUMNS)} columns ({', '.join(FEATURE_COLUMNS[:3])}, "
                          f"...), got an array of shape {arr.shape}")
    n = arr.shape[0]
    return _Chains(X=arr, starts=np.zeros(n, dtype=int), block_index=np.arange(n))


def _bucket_of(block_index) -> "Any":
    import numpy as np

    idx = np.asarray(block_index, dtype=int)
    out = np.zeros(idx.shape, dtype=int)
    for b, (lo, hi) in enumerate(POSITION_BUCKETS):
        mask = (idx >= lo) if hi is None else ((idx >= lo) & (idx <= hi))
        out[mask] = b
    return out


def _prefix_features(data, s1_ms):
    """Stage-2 features for every block (a sorted frame or :class:`_Chains`) given stage-1 predictions."""
    import numpy as np

    ch = _as_chains(data)
    s1 = np.asarray(s1_ms, dtype=float)
    cum = ch.cumsum(s1)
    act = ch.col("in_bytes") + ch.col("out_bytes") + ch.col("intermediate_bytes")
    feats = {
        "block_index": ch.block_index.astype(float),
        "log_cum_pred_ms": np.log(cum),
        "log_block_pred_ms": np.log(s1),
        "first_block_share": s1[ch.starts] / cum,
        "last_block_share": s1 / cum,
        "log_cum_gflops": np.log1p(ch.cumsum(ch.col("flops")) / 1e9 * 1e3),
        "log_cum_param_bytes": np.log1p(ch.cumsum(ch.col("param_bytes"))),
        "log_cum_activation_bytes": np.log1p(ch.cumsum(act)),
        "log_input_bytes": np.log1p(ch.col("in_bytes")[ch.starts]),
        "log_out_bytes": np.log1p(ch.col("out_bytes")),
    }
    return np.stack([feats[n] for n in STAGE2_FEATURES], axis=1).astype(np.float32), cum


def _library_versions() -> dict[str, str]:
    from importlib import metadata

    from . import __version__

    out = {"netcut": __version__}
    for lib in _LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:  # pragma: no cover
            out[lib] = "absent"
    return out


def _device_record(df) -> dict:
    cols = ("device_kind", "device_name", "device_id", "cpu_count", "threads", "torch_version")
    rec: dict[str, Any] = {}
    for c in cols:
        if c in df.columns:
            vals = sorted({str(v) for v in df[c].dropna().unique()})
            if len(vals) == 1:
                v = vals[0]
                rec[c] = int(float(v)) if c in ("cpu_count", "threads") else v
            elif vals:
                rec[c] = vals
    return rec


def _jsonable(x):
    import numpy as np

    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else None
    return x


@dataclasses.dataclass(frozen=True)
class _TrainArrays:
    """What one booster is trained on: features, log-latency label, row weights, optional margin."""

    X: Any
    label: Any
    weight: Any
    feature_names: tuple[str, ...]
    base_margin: Any = None


def _train_booster(params: dict, dtrain_arrays: _TrainArrays, num_boost_round: int, xgb_model=None, client=None):
    """Train one XGBoost booster locally (``client=None``) or on the Dask cluster behind ``client``.

    The only place boosters are trained.  With a client the rows are split into one
    dask-array chunk per worker and trained with ``xgboost.dask.train`` (each worker
    uses its own thread count); the returned :class:`xgboost.Booster` is the same kind
    of object as a local one, set to ``params["nthread"]`` threads for prediction.
    Both paths use ``params`` unchanged otherwise (``tree_method="hist"``).
    """
    import xgboost as xgb

    a = dtrain_arrays
    if client is None:
        dtrain = xgb.DMatrix(a.X, label=a.label, weight=a.weight, base_margin=a.base_margin,
                             feature_names=list(a.feature_names), nthread=int(params["nthread"]))
        return xgb.train(params, dtrain, num_boost_round=int(num_boost_round), xgb_model=xgb_model,
                         verbose_eval=False)
    import dask.array as da
    from xgboost import dask as xgb_dask

    n = int(a.X.shape[0])
    n_parts = max(1, min(len(client.nthreads()), n))
    rows = -(-n // n_parts)

    def chunked(v):
        return None if v is None else da.from_array(v, chunks=(rows,) + tuple(v.shape[1:]))

    dtrain = xgb_dask.DaskDMatrix(client, chunked(a.X), chunked(a.label), weight=chunked(a.weight),
                                  base_margin=chunked(a.base_margin), feature_names=list(a.feature_names))
    remote = {k: v for k, v in params.items() if k != "nthread"}
    out = xgb_dask.train(client, remote, dtrain, num_boost_round=int(num_boost_round), xgb_model=xgb_model,
                         verbose_eval=False)
    booster = out["booster"]
    booster.set_param({"nthread": int(params["nthread"])})
    return booster


# =========================================================================== the estimator


class LatencyModel:
    """Two-stage XGBoost latency predictor (scikit-learn style).

    Hyperparameters (stored unchanged; see the module docstring for the model):

    * ``n_estimators``, ``max_depth``, ``learning_rate``, ``subsample``, ``colsample_bytree``,
      ``min_child_weight``, ``reg_lambda``: stage-1 XGBoost settings.
    * ``stage1_prior``: ``"none"`` (trees on the features), ``"roofline"`` (trees learn the log
      ratio to the roofline fit) or ``"blend"`` (both, geometric mean of their predictions).
    * ``stage1_target``: ``"incontext"`` (``incontext_ms``) or ``"prefix_increment"``
      (``prefix_ms[k] - prefix_ms[k-1]``, floored at 10 % of the in-context time).
    * ``stage2``: learn the prefix correction (``True``) or sum stage-1 blocks as they are.
    * ``stage2_reference``: what stage 2's ratio is learned against: ``"measured"`` (the
      table's summed in-context latencies: the pure prefix-alone vs in-context effect) or
      ``"oof"`` (summed out-of-fold stage-1 predictions: also absorbs stage-1 bias).
      At prediction time the ratio always multiplies the summed stage-1 predictions.
    * ``stage2_last_block``: the correction is learned and applied for prefixes ending at
      block ``0..stage2_last_block``; a longer prefix k adds its blocks' stage-1 latencies
      to the corrected prefix ``stage2_last_block`` (the cold-cache difference is a
      start-up cost).  ``None``: learn and apply it at every position.
    * ``stage2_estimators``, ``stage2_depth``: the correction model's size.
    * ``upper_quantile``: quantile of log residuals used for ``prefix_upper_ms``.
    * ``inner_folds``: grouped folds for the out-of-fold stage-1 predictions stage 2 learns from.
    * ``flagged_weight``: training weight of rows flagged as unreliable (0 drops them).
    * ``adapt_strategy``, ``adapt_rounds``: how ``fit(table, init_model=base)`` adapts a base
      predictor to a new device: ``"scale"`` (one global latency factor),
      ``"boost"`` (continue boosting the base trees on the new rows),
      ``"scale+boost"`` (both), ``"refit"`` (ignore the base).
    * ``random_state``, ``n_jobs``: XGBoost seed and threads.
    """

    def __init__(self, *, n_estimators: int = 800, max_depth: int = 3, learning_rate: float = 0.05,
                 subsample: float = 0.8, colsample_bytree: float = 0.8, min_child_weight: float = 3.0,
                 reg_lambda: float = 1.0, stage1_prior: str = "blend", stage1_target: str = "incontext",
                 stage2: bool = True, stage2_reference: str = "measured", stage2_last_block: int | None = 3,
                 stage2_estimators: int = 200, stage2_depth: int = 3, upper_quantile: float = 0.95,
                 inner_folds: int = 4, flagged_weight: float = 0.1, adapt_strategy: str = "boost",
                 adapt_rounds: int = 300, random_state: int = 0, n_jobs: int = 1):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.stage1_prior = stage1_prior
        self.stage1_target = stage1_target
        self.stage2 = stage2
        self.stage2_reference = stage2_reference
        self.stage2_last_block = stage2_last_block
        self.stage2_estimators = stage2_estimators
        self.stage2_depth = stage2_depth
        self.upper_quantile = upper_quantile
        self.inner_folds = inner_folds
        self.flagged_weight = flagged_weight
        self.adapt_strategy = adapt_strategy
        self.adapt_rounds = adapt_rounds
        self.random_state = random_state
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------ sklearn protocol

    def get_params(self, deep: bool = True) -> dict:
        return {name: getattr(self, name) for name in inspect.signature(type(self).__init__).parameters
                if name != "self"}

    def set_params(self, **params) -> "LatencyModel":
        valid = self.get_params()
        for k, v in params.items():
            if k not in valid:
                raise ValueError(f"unknown hyperparameter {k!r}; allowed: {', '.join(valid)}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        defaults = type(self)().get_params()
        changed = {k: v for k, v in self.get_params().items() if defaults.get(k) != v}
        return f"LatencyModel({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def _check_params(self) -> None:
        if self.stage1_prior not in ("roofline", "none", "blend"):
            raise ValueError(f"stage1_prior must be 'none', 'roofline' or 'blend', got {self.stage1_prior!r}")
        if self.stage1_target not in ("incontext", "prefix_increment"):
            raise ValueError(f"stage1_target must be 'incontext' or 'prefix_increment', got {self.stage1_target!r}")
        if self.stage2_reference not in ("measured", "oof"):
            raise ValueError(f"stage2_reference must be 'measured' or 'oof', got {self.stage2_reference!r}")
        if self.adapt_strategy not in ("scale", "boost", "scale+boost", "refit"):
            raise ValueError(f"adapt_strategy must be scale, boost, scale+boost or refit, got {self.adapt_strategy!r}")
        if self.stage2_last_block is not None and int(self.stage2_last_block) < 0:
            raise ValueError(f"stage2_last_block must be >= 0 or None, got {self.stage2_last_block!r}")
        if not 0.5 <= float(self.upper_quantile) < 1.0:
            raise ValueError(f"upper_quantile must be in [0.5, 1), got {self.upper_quantile!r}")
        if not 0.0 <= float(self.flagged_weight) <= 1.0:
            raise ValueError(f"flagged_weight must be in [0, 1], got {self.flagged_weight!r}")
        for name in ("n_estimators", "max_depth", "stage2_estimators", "stage2_depth", "n_jobs"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")

    def _xgb_params(self, *, depth=None, rate=None, subsample=None) -> dict:
        return {
            "objective": "reg:squarederror",
            "max_depth": int(depth or self.max_depth),
            "eta": float(rate or self.learning_rate),
            "subsample": float(subsample or self.subsample),
            "colsample_bytree": float(self.colsample_bytree),
            "min_child_weight": float(self.min_child_weight),
            "lambda": float(self.reg_lambda),
            "tree_method": "hist",
            "nthread": int(self.n_jobs),
            "seed": int(self.random_state),
            "verbosity": 0,
        }

    def _check_fitted(self) -> None:
        if not hasattr(self, "stage1_"):
            raise NotFittedError("this LatencyModel is not fitted yet; call fit(table) or LatencyModel.load(folder)")

    # ------------------------------------------------------------------ fitting

    @staticmethod
    def _validate_table(table):
        import numpy as np
        import pandas as pd

        if not isinstance(table, pd.DataFrame) or table.empty:
            raise TableError("expected a non-empty measurement table (pandas DataFrame from latmodel.table.read_table)")
        need = ("config_id", "family", "block_index", "incontext_ms", *FEATURE_COLUMNS)
        missing = [c for c in need if c not in table.columns]
        if missing:
            raise TableError(f"measurement table lacks column(s) {', '.join(missing[:6])}; "
                             "write it with 'latmodel profile'")
        y = pd.to_numeric(table["incontext_ms"], errors="coerce").to_numpy(dtype=float)
        if not (np.isfinite(y) & (y > 0)).all():
            raise TableError("measurement table has NaN or non-positive 'incontext_ms'; latencies must be > 0 ms")
        df = sort_blocks(table)
        if "flagged" not in df.columns:
            df["flagged"] = 0
        df["flagged"] = pd.to_numeric(df["flagged"], errors="coerce").fillna(0).astype(int)
        return df

    def _weights(self, df):
        import numpy as np

        return np.where(df["flagged"].to_numpy() == 1, float(self.flagged_weight), 1.0)

    def _stage1_kinds(self) -> list[str]:
        """Stage-1 boosters to fit: plain trees, trees on the roofline prior, or both (blend)."""
        return {"none": ["plain"], "roofline": ["roofline"], "blend": ["plain", "roofline"]}[self.stage1_prior]

    def _fit_stage1(self, df, weights, *, roofline, kinds, init=None, rounds=None, offset=0.0, client=None):
        """One booster per kind in ``kinds`` (``init``: boosters to continue, same kinds)."""
        import numpy as np

        keep = weights > 0
        X = df.loc[keep, list(FEATURE_COLUMNS)].to_numpy(dtype=np.float32)
        y = np.log(self._stage1_target_ms(df)[keep])
        boosters = []
        for i, kind in enumerate(kinds):
            margin = self._margin(df.loc[keep], roofline if kind == "roofline" else None, offset)
            arrays = _TrainArrays(X=X, label=y, weight=weights[keep], base_margin=margin,
                                  feature_names=tuple(FEATURE_COLUMNS))
            boosters.append(_train_booster(self._xgb_params(), arrays, int(rounds or self.n_estimators),
                                           xgb_model=init[i] if init is not None else None, client=client))
        return boosters

    def _stage1_target_ms(self, df):
        """What stage 1 learns, in ms, per row of the sorted frame ``df``."""
        import numpy as np

        incontext = df["incontext_ms"].to_numpy(dtype=float)
        if self.stage1_target == "incontext":
            return incontext
        if "prefix_ms" not in df.columns or df["prefix_ms"].isna().any():
            raise TableError("stage1_target='prefix_increment' needs 'prefix_ms' on every row")
        prefix = df["prefix_ms"].to_numpy(dtype=float)
        previous = df.groupby("config_id", sort=False)["prefix_ms"].shift(1).fillna(0.0).to_numpy(float)
        return np.maximum(prefix - previous, 0.1 * incontext)

    def _stage2_reference_ms(self, df, oof_s1):
        """Block latencies whose prefix sums stage 2's ratio is learned against (see ``stage2_reference``)."""
        if self.stage2_reference == "measured":
            return self._stage1_target_ms(df)
        return oof_s1

    def _margin(self, df, roofline, offset):
        import numpy as np

        if roofline is None:
            return np.full(len(df), float(offset))
        return np.log(_roofline_ms(df, roofline)) + float(offset)

    def _predict_stage1(self, boosters, kinds, data, roofline, offset):
        """Geometric mean of the stage-1 boosters' predictions (ms); one call per booster."""
        import numpy as np

        ch = _as_chains(data)
        X = ch.X.astype(np.float32)
        logs = [b.inplace_predict(X, base_margin=self._margin(ch, roofline if kind == "roofline" else None, offset),
                                  validate_features=False) for b, kind in zip(boosters, kinds)]
        return np.exp(np.mean(logs, axis=0))

    def _fit_stage2(self, df, s1_ms, weights, client=None):
        import numpy as np

        target_ok = df["prefix_ms"].notna().to_numpy() if "prefix_ms" in df.columns else None
        if target_ok is None or not target_ok.any():
            return None
        Z, cum = _prefix_features(df, s1_ms)
        keep = target_ok & (weights > 0)
        if self.stage2_last_block is not None:
            keep &= df["block_index"].to_numpy() <= int(self.stage2_last_block)
        if not keep.any():
            return None
        y = np.log(df["prefix_ms"].to_numpy(dtype=float)[keep] / cum[keep])
        arrays = _TrainArrays(X=Z[keep], label=y, weight=weights[keep], feature_names=tuple(STAGE2_FEATURES))
        params = self._xgb_params(depth=self.stage2_depth, rate=0.05)
        params["min_child_weight"] = max(5.0, float(self.min_child_weight))
        params["lambda"] = 5.0
        # the intercept XGBoost would estimate (weighted mean label), computed once here: a Dask fit
        # would reduce it across workers in another order and differ in the last bit
        params["base_score"] = float(np.average(y, weights=weights[keep]))
        return _train_booster(params, arrays, int(self.stage2_estimators), client=client)

    def _predict_prefix(self, data, s1_ms, stage2):
        """Prefix latency (ms) per block: cumulative stage 1 plus the stage-2 correction, non-decreasing."""
        import numpy as np

        ch = _as_chains(data)
        Z, cum = _prefix_features(ch, s1_ms)
        if stage2 is None:
            return cum
        delta = cum * (np.exp(stage2.inplace_predict(Z, validate_features=False)) - 1.0)
        if self.stage2_last_block is not None:
            last = int(self.stage2_last_block)
            late = ch.block_index > last
            delta = np.where(late, delta[np.minimum(ch.starts + last, len(ch) - 1)], delta)
        return ch.cummax(np.maximum(cum + delta, 0.5 * cum))

    def _oof_stage1(self, df, weights, *, offset=0.0, roofline_base=None, client=None):
        """Grouped out-of-fold stage-1 predictions (ms) for every row of ``df``."""
        import numpy as np
        from sklearn.model_selection import GroupKFold

        groups = df["family"].astype(str).to_numpy()
        n_groups = len(set(groups))
        if n_groups < 2:
            groups = df["config_id"].astype(str).to_numpy()
            n_groups = len(set(groups))
        if n_groups < 2:
            return None
        oof = np.zeros(len(df))
        for train_idx, test_idx in GroupKFold(n_splits=min(int(self.inner_folds), n_groups)).split(df, groups=groups):
            tr = df.iloc[train_idx]
            w = weights[train_idx]
            kinds = self._stage1_kinds()
            roof = roofline_base if roofline_base is not None else (
                _fit_roofline(tr, self._stage1_target_ms(tr), np.maximum(w, 1e-6)) if "roofline" in kinds else None)
            b = self._fit_stage1(tr, w, roofline=roof, kinds=kinds, offset=offset, client=client)
            oof[test_idx] = self._predict_stage1(b, kinds, df.iloc[test_idx], roof, offset)
        return oof

    @staticmethod
    def _adapt_offset(base: "LatencyModel", df, weights) -> float:
        """Global log factor between the new rows and the base predictor (weighted median)."""
        import numpy as np

        pred = base.predict_blocks(df)
        r = np.log(base._stage1_target_ms(df) / pred)
        keep = weights > 0
        if not keep.any():
            return base.stage1_offset_
        order = np.argsort(r[keep])
        cw = np.cumsum(weights[keep][order])
        return float(base.stage1_offset_ + r[keep][order][np.searchsorted(cw, cw[-1] / 2)])

    def fit(self, table, *, init_model: "LatencyModel | None" = None, client=None) -> "LatencyModel":
        """Fit on a measurement table (rows from ``latmodel profile``); returns self.

        ``init_model``: a fitted predictor for another device to adapt from
        (see ``adapt_strategy``); the table then holds the new device's (few) rows.
        ``client``: a ``distributed.Client``; every booster (stage 1, its inner folds,
        stage 2) is then trained on that Dask cluster (see :func:`_train_booster`).
        Not a hyperparameter: it is neither stored nor saved.
        """
        import numpy as np

        self._check_params()
        df = self._validate_table(table)
        if init_model is not None:
            init_model._check_fitted()
            if list(init_model.feature_names_) != list(FEATURE_COLUMNS):
                raise ArtifactError("the base predictor was trained on other features than this netcut computes; "
                                    "re-fit it with 'latmodel fit'")
        adapting = init_model is not None and self.adapt_strategy != "refit"
        weights = self._weights(df)
        if not (weights > 0).any():
            raise TableError("every row of the table is flagged and flagged_weight is 0; nothing to fit on")
        t0 = time.perf_counter()
        if adapting:
            roofline = dict(init_model.roofline_) if init_model.roofline_ is not None else None
            offset = self._adapt_offset(init_model, df, weights) if "scale" in self.adapt_strategy \
                else init_model.stage1_offset_
            boost = "boost" in self.adapt_strategy
            rounds = int(self.adapt_rounds)
            kinds = list(init_model.stage1_kinds_)
            if boost:
                stage1 = self._fit_stage1(df, weights, roofline=roofline, kinds=kinds, init=init_model.stage1_,
                                          rounds=rounds, offset=offset, client=client)
            else:
                stage1 = list(init_model.stage1_)
            stage2 = init_model.stage2_
            head_roofline = dict(init_model.head_roofline_)
            head_roofline = {k: v * math.exp(offset - init_model.stage1_offset_) for k, v in head_roofline.items()}
            # residuals: the base predictor's own quantiles (too few new rows to estimate them)
            residual_q = list(init_model.residual_quantiles_)
            residual_source = f"inherited from the base predictor (adapted with {self.adapt_strategy})"
            self.adapted_from_ = dict(init_model.device_)
        else:
            kinds = self._stage1_kinds()
            roofline = (_fit_roofline(df, self._stage1_target_ms(df), np.maximum(weights, 1e-6))
                        if "roofline" in kinds else None)
            offset = 0.0
            stage1 = self._fit_stage1(df, weights, roofline=roofline, kinds=kinds, client=client)
            head_roofline = _fit_roofline(df, df["incontext_ms"], np.maximum(weights, 1e-6))
            stage2 = None
            residual_q = None
            residual_source = ""
            self.adapted_from_ = None
        has_prefix = "prefix_ms" in df.columns and df["prefix_ms"].notna().any()
        oof_s1 = None
        if not adapting and (self.stage2 or has_prefix):
            oof_s1 = self._oof_stage1(df, weights, client=client)
        if not adapting and self.stage2 and has_prefix and oof_s1 is not None:
            stage2 = self._fit_stage2(df, self._stage2_reference_ms(df, oof_s1), weights, client=client)
        if not adapting:
            residual_q, residual_source = self._residual_quantiles(df, weights, oof_s1, has_prefix, client=client)

        self.stage1_ = stage1
        self.stage1_kinds_ = list(kinds)
        self.stage2_ = stage2
        self.roofline_ = roofline
        self.head_roofline_ = head_roofline
        self.stage1_offset_ = float(offset)
        self.feature_names_ = list(FEATURE_COLUMNS)
        self.stage2_feature_names_ = list(STAGE2_FEATURES)
        self.residual_quantiles_ = [float(q) for q in residual_q]
        self.residual_source_ = residual_source
        self.device_ = _device_record(df)
        self.n_rows_ = int(len(df))
        self.n_configs_ = int(df["config_id"].nunique())
        self.families_ = sorted({str(f) for f in df["family"]})
        self.resolutions_ = sorted({int(r) for r in df["resolution_px"]})
        self.n_flagged_ = int((df["flagged"] == 1).sum())
        self.baseline_flops_ = (FlopsLinearBaseline.fit(df).to_dict() if has_prefix else None)
        self.baseline_flops_loglog_ = (FlopsLogLogBaseline.fit(df).to_dict() if has_prefix else None)
        self.fit_seconds_ = time.perf_counter() - t0
        self.metrics_ = {}
        self._cache = {}
        return self

    def _residual_quantiles(self, df, weights, oof_s1, has_prefix, client=None):
        """``upper_quantile`` of grouped out-of-fold log(measured / predicted) prefix latency, per bucket."""
        import numpy as np

        q = float(self.upper_quantile)
        if oof_s1 is None or not has_prefix:
            return [0.1] * len(POSITION_BUCKETS), "default 10% (no out-of-fold prefix residuals available)"
        # stage 2 out of fold too: refit it per inner fold on the other folds' rows
        from sklearn.model_selection import GroupKFold

        groups = df["family"].astype(str).to_numpy()
        n_groups = len(set(groups))
        pred = np.zeros(len(df))
        if self.stage2 and n_groups >= 2:
            for tr, te in GroupKFold(n_splits=min(int(self.inner_folds), n_groups)).split(df, groups=groups):
                s2 = self._fit_stage2(df.iloc[tr], self._stage2_reference_ms(df.iloc[tr], oof_s1[tr]), weights[tr],
                                      client=client)
                pred[te] = self._predict_prefix(df.iloc[te], oof_s1[te], s2)
        else:
            pred = self._predict_prefix(df, oof_s1, None)
        meas = df["prefix_ms"].to_numpy(dtype=float)
        ok = np.isfinite(meas) & (weights == 1.0)
        r = np.log(meas[ok] / pred[ok])
        buckets = _bucket_of(df["block_index"].to_numpy()[ok])
        overall = float(np.quantile(r, q)) if r.size else 0.1
        out = []
        for b in range(len(POSITION_BUCKETS)):
            rb = r[buckets == b]
            out.append(float(np.quantile(rb, q)) if rb.size >= 20 else overall)
        return [max(v, 0.0) for v in out], f"grouped {min(int(self.inner_folds), n_groups)}-fold out-of-fold residuals"

    # ------------------------------------------------------------------ prediction

    def predict_blocks(self, features):
        """In-context latency (ms) of each block; ``features``: DataFrame, list of dicts or 2-D array."""
        self._check_fitted()
        return self._predict_stage1(self.stage1_, self.stage1_kinds_, _to_chains(features), self.roofline_,
                                    self.stage1_offset_)

    def predict_table(self, table):
        """(block ms, prefix ms, prefix upper ms) for every row of a sorted measurement table; one call per stage."""
        import numpy as np

        self._check_fitted()
        ch = _to_chains(table)
        s1 = self.predict_blocks(ch)
        prefix = self._predict_prefix(ch, s1, self.stage2_)
        upper = ch.cummax(prefix * np.exp(np.asarray(self.residual_quantiles_)[_bucket_of(ch.block_index)]))
        return s1, prefix, upper

    def predict_chain(self, block_feature_rows: list[dict], *, model_name: str = "network", resolution: int = 224,
                      width: float = 1.0) -> NetworkPrediction:
        """Predict every block and prefix of one chain from its per-block feature rows (in order)."""
        self._check_fitted()
        if not block_feature_rows:
            raise NetcutError(f"network {model_name!r} has no blocks to predict")
        s1, prefix, upper = self.predict_table(_Chains.from_rows(list(block_feature_rows)))
        names = [str(r.get("block_name", f"block{i}")) for i, r in enumerate(block_feature_rows)]
        return NetworkPrediction(
            model=str(model_name), resolution_px=int(resolution), width=float(width), block_names=tuple(names),
            block_latency_ms=tuple(float(v) for v in s1), prefix_latency_ms=tuple(float(v) for v in prefix),
            prefix_upper_ms=tuple(float(v) for v in upper), total_latency_ms=float(prefix[-1]),
        )

    def predict_network(self, model, resolution: int = 224, *, width: float = 1.0,
                        batch_size: int = 1) -> NetworkPrediction:
        """Predict a network given by name (registry, ``pkg.mod:factory``, ``random:SEED``, ``random2:SEED``) or as an nn.Module.

        Features come from :func:`latmodel.features.network_features` (cached per
        configuration); predictions for named networks are cached on this predictor.
        """
        self._check_fitted()
        if isinstance(model, str):
            key = (model, int(resolution), float(width), int(batch_size))
            if key in self._cache:
                return self._cache[key]
            from .features import network_features

            rows = network_features(model, resolution, width=width, batch_size=batch_size)
            pred = self.predict_chain(rows, model_name=model, resolution=resolution, width=width)
            self._cache[key] = pred
            return pred
        from .blocks import split_model
        from .features import chain_features

        name = type(model).__name__
        chain = split_model(model, resolution, name=name, batch_size=batch_size)
        return self.predict_chain(chain_features(chain), model_name=name, resolution=resolution, width=width)

    def head_latency_ms(self, in_channels: int, in_height_px: int, in_width_px: int, n_classes: int,
                        batch_size: int = 1) -> float:
        """Latency (ms) of a new head: global average pool + flatten + Linear(in_channels, n_classes).

        Priced with the roofline fit of this device (:data:`ROOFLINE_TERMS`, fitted by
        non-negative least squares on the table's in-context block latencies): a
        constant, ms per GFLOP of memory-bound ops (the pool) and of GEMMs (the
        Linear), ms per GB of activations and of parameters, and ms per layer (the
        pool and the Linear).  The trees are not used: no table block looks like a
        Linear head, and trees cannot extrapolate to one.
        """
        import numpy as np

        self._check_fitted()
        c, h, w, n, b = (int(in_channels), int(in_height_px), int(in_width_px), int(n_classes), int(batch_size))
        if min(c, h, w, n, b) <= 0:
            raise NetcutError(f"head dimensions must be positive, got channels={c}, height={h}, width={w}, "
                              f"classes={n}, batch={b}")
        row = np.zeros((1, len(FEATURE_COLUMNS)))
        for col, value in {
            "flops_pool": float(b * c * h * w), "flops_linear": float(b * c * n),
            "in_bytes": 4.0 * b * c * h * w, "out_bytes": 4.0 * b * n, "intermediate_bytes": 4.0 * b * (c + n),
            "param_bytes": 4.0 * (c * n + n), "n_pool": 1.0, "n_linear": 1.0, "n_ops": 3.0,
        }.items():
            row[0, _FEATURE_INDEX[col]] = value
        head = _Chains(X=row, starts=np.zeros(1, dtype=int), block_index=np.zeros(1, dtype=int))
        return float(_roofline_ms(head, self.head_roofline_)[0])

    # ------------------------------------------------------------------ persistence

    def manifest(self) -> dict:
        """The manifest describing this fitted predictor (without the file list)."""
        self._check_fitted()
        return _jsonable({
            "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "feature_names": self.feature_names_,
            "stage2_feature_names": self.stage2_feature_names_,
            "target_transform": {
                "stage1": "log(incontext_ms) - log(roofline prior ms) - offset",
                "stage2": ("log(prefix_ms / cumulative measured stage-1 target ms); applied to cumulative "
                           "stage-1 predictions" if self.stage2_reference == "measured"
                           else "log(prefix_ms / cumulative out-of-fold stage-1 ms)"),
            },
            "hyperparameters": self.get_params(),
            "stage1_boosters": [[kind, _STAGE1_FILES[kind]] for kind in self.stage1_kinds_],
            "roofline": self.roofline_,
            "head_roofline": self.head_roofline_,
            "stage1_offset": self.stage1_offset_,
            "has_stage2": self.stage2_ is not None,
            "residual_quantiles": {
                "upper_quantile": float(self.upper_quantile),
                "position_buckets": [list(b) for b in POSITION_BUCKETS],
                "log_ratio": self.residual_quantiles_,
                "source": self.residual_source_,
            },
            "device": self.device_,
            "adapted_from": self.adapted_from_,
            "libraries": _library_versions(),
            "training": {
                "rows": self.n_rows_,
                "configs": self.n_configs_,
                "families": self.families_,
                "resolutions_px": list(getattr(self, "resolutions_", [])),
                "flagged_rows": self.n_flagged_,
                "fit_seconds": round(self.fit_seconds_, 3),
                "tables": getattr(self, "tables_", []),
            },
            "baselines": {"flops_linear": self.baseline_flops_, "flops_loglog": self.baseline_flops_loglog_},
            "metrics": self.metrics_,
        })

    def save(self, path) -> Path:
        """Write the predictor folder ``path`` atomically (see :mod:`latmodel.artifact`)."""
        self._check_fitted()
        files = {_STAGE1_FILES[kind]: bytes(b.save_raw(raw_format="json"))
                 for kind, b in zip(self.stage1_kinds_, self.stage1_)}
        if self.stage2_ is not None:
            files[STAGE2_FILE] = bytes(self.stage2_.save_raw(raw_format="json"))
        return write_predictor_folder(Path(path), self.manifest(), files)

    @classmethod
    def load(cls, path) -> "LatencyModel":
        """Load a predictor folder; refuses (ArtifactError) anything that does not match this netcut."""
        import xgboost as xgb

        path = Path(path)
        manifest, files = read_predictor_folder(path)
        fix = f"re-fit it with 'latmodel fit TABLE.csv --out {path}'"
        names = manifest.get("feature_names")
        if names != list(FEATURE_COLUMNS):
            extra = sorted(set(names or []) - set(FEATURE_COLUMNS))
            lacking = sorted(set(FEATURE_COLUMNS) - set(names or []))
            raise ArtifactError(
                f"predictor {str(path)!r} was trained on other features than this netcut computes "
                f"(unknown: {', '.join(extra[:4]) or 'none'}; missing: {', '.join(lacking[:4]) or 'none'}"
                f"{'; same names in another order' if not extra and not lacking else ''}); {fix}")
        if manifest.get("stage2_feature_names") != list(STAGE2_FEATURES):
            raise ArtifactError(f"predictor {str(path)!r} has a prefix model with other features than this "
                                f"netcut computes; {fix}")
        stage1_list = manifest.get("stage1_boosters")
        if (not isinstance(stage1_list, list) or not stage1_list
                or any(not isinstance(e, list) or len(e) != 2 or _STAGE1_FILES.get(e[0]) != e[1] for e in stage1_list)):
            raise ArtifactError(f"manifest of predictor {str(path)!r} lists no valid stage-1 boosters "
                                f"(allowed: {', '.join(_STAGE1_FILES.values())}); {fix}")
        kinds = [e[0] for e in stage1_list]
        needed = [e[1] for e in stage1_list] + ([STAGE2_FILE] if manifest.get("has_stage2") else [])
        lacking_files = [f for f in needed if f not in files]
        if lacking_files:
            raise ArtifactError(f"predictor {str(path)!r} lacks {', '.join(lacking_files)}; {fix}")
        try:
            params = dict(manifest["hyperparameters"])
            self = cls(**params)
            self._check_params()
            roofline = manifest["roofline"]
            head = manifest["head_roofline"]
            for coef in (roofline, head):
                if coef is not None and (set(coef) != set(ROOFLINE_TERMS)
                                         or not all(isinstance(v, (int, float)) for v in coef.values())):
                    raise ValueError("roofline coefficients do not match this netcut's terms")
            rq = manifest["residual_quantiles"]
            if [list(b) for b in POSITION_BUCKETS] != rq["position_buckets"] or \
                    len(rq["log_ratio"]) != len(POSITION_BUCKETS):
                raise ValueError("residual quantile buckets differ")
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"manifest of predictor {str(path)!r} is malformed ({exc}); {fix}") from None
        boosters = {}
        for name, raw in files.items():
            booster = xgb.Booster()
            try:
                booster.load_model(bytearray(raw))
            except xgb.core.XGBoostError as exc:
                raise ArtifactError(f"model file {name!r} of {str(path)!r} cannot be loaded ({first_line(exc)}); {fix}") from None
            boosters[name] = booster
        s1 = [boosters[_STAGE1_FILES[kind]] for kind in kinds]
        for kind, b in zip(kinds, s1):
            if b.num_features() != len(FEATURE_COLUMNS) or (b.feature_names and list(b.feature_names) != names):
                raise ArtifactError(f"{_STAGE1_FILES[kind]} of {str(path)!r} expects {b.num_features()} features, "
                                    f"the manifest lists {len(names)}; {fix}")
        if "roofline" in kinds and roofline is None:
            raise ArtifactError(f"manifest of predictor {str(path)!r} has a roofline booster but no roofline; {fix}")
        s2 = boosters.get(STAGE2_FILE)
        if s2 is not None and s2.num_features() != len(STAGE2_FEATURES):
            raise ArtifactError(f"{STAGE2_FILE} of {str(path)!r} expects {s2.num_features()} features, not "
                                f"{len(STAGE2_FEATURES)}; {fix}")
        for b in boosters.values():
            b.set_param({"nthread": int(self.n_jobs)})
        training = manifest.get("training", {})
        self.stage1_ = s1
        self.stage1_kinds_ = kinds
        self.stage2_ = s2
        self.roofline_ = None if roofline is None else {k: float(v) for k, v in roofline.items()}
        self.head_roofline_ = {k: float(v) for k, v in head.items()}
        self.stage1_offset_ = float(manifest.get("stage1_offset", 0.0))
        self.feature_names_ = list(names)
        self.stage2_feature_names_ = list(STAGE2_FEATURES)
        self.residual_quantiles_ = [float(v) for v in rq["log_ratio"]]
        self.residual_source_ = str(rq.get("source", ""))
        self.device_ = dict(manifest.get("device") or {})
        self.adapted_from_ = manifest.get("adapted_from")
        self.n_rows_ = int(training.get("rows", 0))
        self.n_configs_ = int(training.get("configs", 0))
        self.families_ = list(training.get("families", []))
        self.resolutions_ = [int(v) for v in training.get("resolutions_px", [])]
        self.n_flagged_ = int(training.get("flagged_rows", 0))
        self.fit_seconds_ = float(training.get("fit_seconds", 0.0))
        self.tables_ = list(training.get("tables", []))
        self.baseline_flops_ = (manifest.get("baselines") or {}).get("flops_linear")
        self.baseline_flops_loglog_ = (manifest.get("baselines") or {}).get("flops_loglog")
        self.metrics_ = dict(manifest.get("metrics") or {})
        self.libraries_ = dict(manifest.get("libraries") or {})
        self._cache = {}
        return self


def load_predictor(path) -> LatencyModel:
    """Load the predictor folder ``path`` (see :meth:`LatencyModel.load`)."""
    return LatencyModel.load(path)


# =========================================================================== evaluation


def _levels_for(df, prefix_pred, block_pred=None) -> dict[str, ErrorMetrics]:
    """Block / prefix / network metrics on unflagged rows of the sorted frame ``df``."""
    import numpy as np

    ok = df["flagged"].to_numpy() != 1
    out = {}
    if block_pred is not None:
        out["block"] = error_metrics(np.asarray(block_pred)[ok], df["incontext_ms"].to_numpy(float)[ok])
    if "prefix_ms" in df.columns:
        meas = df["prefix_ms"].to_numpy(float)
        m = ok & np.isfinite(meas)
        out["prefix"] = error_metrics(np.asarray(prefix_pred)[m], meas[m])
    if "network_ms" in df.columns:
        last = (df["block_index"] == df.groupby("config_id", sort=False)["block_index"].transform("max")).to_numpy()
        unflagged_cfg = df.groupby("config_id", sort=False)["flagged"].transform("max").to_numpy() != 1
        meas = df["network_ms"].to_numpy(float)
        m = last & unflagged_cfg & np.isfinite(meas)
        out["network"] = error_metrics(np.asarray(prefix_pred)[m], meas[m])
    return out


def _by_family_within10(df, prefix_pred) -> dict[str, float]:
    import numpy as np

    out = {}
    if "prefix_ms" not in df.columns:
        return out
    meas = df["prefix_ms"].to_numpy(float)
    ok = (df["flagged"].to_numpy() != 1) & np.isfinite(meas)
    rel = np.abs(np.asarray(prefix_pred) / meas - 1.0)
    fam = df["family"].astype(str).to_numpy()
    for f in sorted(set(fam[ok])):
        m = ok & (fam == f)
        out[f] = float(np.mean(rel[m] <= 0.10) * 100.0)
    return out


@dataclasses.dataclass(frozen=True)
class _OOF:
    df: Any
    ours_block: Any
    ours_prefix: Any
    ours_upper: Any
    flops_linear: Any
    flops_loglog: Any = None


def cross_validate_predictions(table, params: dict | None = None, *, init_model: LatencyModel | None = None,
                               families: Sequence[str] | None = None, log_progress: bool = True,
                               client=None) -> _OOF:
    """Leave-one-family-out predictions for every non-``random`` row (ours and the FLOPs baseline).

    ``client``: train each fold's boosters on that Dask cluster (folds run one after another).
    """
    import numpy as np

    df = LatencyModel._validate_table(table)
    fams = sorted({str(f) for f in df["family"]} - {"random"}) if families is None else list(families)
    if not fams:
        raise TableError("cross-validation needs at least one family besides 'random'")
    parts = []
    for i, fam in enumerate(fams):
        test = df["family"].astype(str) == fam
        train, held = df[~test], df[test].reset_index(drop=True)
        if train.empty:
            raise TableError(f"cross-validation needs more than one family; the table has only {fam!r}")
        model = LatencyModel(**(params or {})).fit(train, init_model=init_model, client=client)
        s1, prefix, upper = model.predict_table(held)
        has_prefix = "prefix_ms" in train.columns and train["prefix_ms"].notna().any()
        nan = np.full(len(held), np.nan)
        flops = FlopsLinearBaseline.fit(sort_blocks(train)).predict_prefix_ms(held) if has_prefix else nan
        loglog = FlopsLogLogBaseline.fit(sort_blocks(train)).predict_prefix_ms(held) if has_prefix else nan
        parts.append((held, s1, prefix, upper, flops, loglog))
        if log_progress:
            logger.info("cross-validation fold %d/%d (held out %s) done", i + 1, len(fams), fam)
    import pandas as pd

    df_all = pd.concat([p[0] for p in parts], ignore_index=True)
    cat = [np.concatenate([p[k] for p in parts]) for k in range(1, 6)]
    return _OOF(df=df_all, ours_block=cat[0], ours_prefix=cat[1], ours_upper=cat[2], flops_linear=cat[3],
                flops_loglog=cat[4])


def _estimator_levels(oof: _OOF) -> dict[str, dict[str, ErrorMetrics]]:
    df = oof.df
    levels = {"ours": _levels_for(df, oof.ours_prefix, oof.ours_block)}
    if "prefix_ms" in df.columns:
        levels["linear in FLOPs"] = _levels_for(df, oof.flops_linear)
        levels["log-log in FLOPs"] = _levels_for(df, oof.flops_loglog)
    if "alone_ms" in df.columns and df["alone_ms"].notna().all():
        levels["lookup of blocks alone"] = _levels_for(df, alone_lookup_prefix_ms(df))
    levels["summed in-context (measured)"] = _levels_for(df, incontext_sum_prefix_ms(df))
    return levels


def cross_validate(table, params: dict | None = None, *, init_model: LatencyModel | None = None,
                   client=None) -> CrossValidation:
    """Leave-one-family-out cross-validation of ours against the simple estimators (see :mod:`baselines`)."""
    oof = cross_validate_predictions(table, params, init_model=init_model, client=client)
    return CrossValidation(
        held_out_families=tuple(sorted(set(oof.df["family"].astype(str)))),
        levels=_estimator_levels(oof),
        prefix_within_10_by_family=_by_family_within10(oof.df, oof.ours_prefix),
    )


def _table_records(paths) -> list[dict]:
    return [{"path": str(p), "sha256": sha256_file(p), "bytes": Path(p).stat().st_size} for p in paths]


def fit_tables(paths: Sequence, out, *, base=None, cv: bool = True, params: dict | None = None,
               scheduler: str | None = None) -> FitReport:
    """Fit a predictor on measurement tables and write it to folder ``out``.

    ``base``: an existing predictor folder to adapt (few rows of a new device).
    ``cv``: run leave-one-family-out cross-validation first and store its metrics.
    ``params``: :class:`LatencyModel` hyperparameters overriding the defaults (or the base's).
    ``scheduler``: ``tcp://HOST:PORT`` of a Dask scheduler: every booster (final fit and
    cross-validation folds, one fold after another) is trained there with
    ``xgboost.dask``, its rows split into one partition per worker.  The tables are
    still read here; the cheap parts (roofline least squares, baselines, prediction)
    stay local.  The saved predictor has the same form as a local fit's.
    """
    from .table import read_tables

    out = Path(out)
    paths = [Path(p) for p in paths]
    if out.exists() and not (out / MANIFEST_NAME).is_file():
        raise ArtifactError(f"refusing to overwrite {str(out)!r}: it exists and is not a netcut predictor folder; "
                            "choose another --out or remove it yourself")
    if not out.parent.is_dir():
        raise ArtifactError(f"output folder {str(out.parent)!r} does not exist; create it first (mkdir -p {out.parent})")
    table = read_tables(paths)
    init = load_predictor(base) if base is not None else None
    params = {**(init.get_params() if init is not None else {}), **(params or {})}
    with contextlib.ExitStack() as stack:
        client = None
        if scheduler:
            client = stack.enter_context(connect_scheduler(str(scheduler), need_xgboost=True))
            logger.info("fitting on the Dask cluster at %s (%d workers)", scheduler, len(client.nthreads()))
        t0 = time.perf_counter()
        cvres = None
        if cv:
            fams = sorted({str(f) for f in table["family"]} - {"random"})
            if len(fams) >= 2 or (len(fams) == 1 and "random" in set(table["family"].astype(str))):
                cvres = cross_validate(table, params, init_model=init, client=client)
            else:
                logger.warning("cross-validation skipped: the table has fewer than two families")
        model = LatencyModel(**params).fit(table, init_model=init, client=client)
    model.tables_ = _table_records(paths)
    if cvres is not None:
        model.metrics_ = {"leave_one_family_out": cvres.to_dict()}
    model.save(out)
    fw = float(model.flagged_weight)
    logger.info("%d flagged rows weighted %g", model.n_flagged_, fw)
    return FitReport(out=str(out), tables=tuple(str(p) for p in paths), n_rows=model.n_rows_,
                     n_configs=model.n_configs_, families=tuple(model.families_), n_flagged=model.n_flagged_,
                     flagged_weight=fw, fit_seconds=time.perf_counter() - t0, base=str(base) if base else None,
                     cross_validation=cvres)


def evaluate_tables(predictor_path, tables: Sequence, *, plot=None) -> EvaluationReport:
    """Score the predictor at ``predictor_path`` on ``tables`` (which it should never have seen)."""
    from .table import read_tables

    model = load_predictor(predictor_path)
    df = LatencyModel._validate_table(read_tables([Path(t) for t in tables]))
    s1, prefix, _ = model.predict_table(df)
    levels = {"ours": _levels_for(df, prefix, s1)}
    if model.baseline_flops_ is not None:
        levels["linear in FLOPs"] = _levels_for(df, FlopsLinearBaseline.from_dict(model.baseline_flops_)
                                                .predict_prefix_ms(df))
    if getattr(model, "baseline_flops_loglog_", None) is not None:
        levels["log-log in FLOPs"] = _levels_for(df, FlopsLogLogBaseline.from_dict(model.baseline_flops_loglog_)
                                                 .predict_prefix_ms(df))
    if "alone_ms" in df.columns and df["alone_ms"].notna().all():
        levels["lookup of blocks alone"] = _levels_for(df, alone_lookup_prefix_ms(df))
    levels["summed in-context (measured)"] = _levels_for(df, incontext_sum_prefix_ms(df))
    plot_path = None
    if plot is not None and "prefix_ms" in df.columns:
        plot_path = str(plot_predicted_vs_measured(df, prefix, plot))
    return EvaluationReport(
        predictor=str(predictor_path), tables=tuple(str(t) for t in tables), n_rows=int(len(df)),
        n_configs=int(df["config_id"].nunique()), n_flagged_left_out=int((df["flagged"] == 1).sum()),
        levels=levels, prefix_within_10_by_family=_by_family_within10(df, prefix), plot=plot_path,
    )


def plot_predicted_vs_measured(df, predicted_ms, path, *, title: str = "TRN prefix latency") -> Path:
    """Log-log scatter of predicted vs measured ``prefix_ms`` with y=x and a +-10% band, by family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    path = Path(path)
    meas = df["prefix_ms"].to_numpy(float)
    pred = np.asarray(predicted_ms, dtype=float)
    ok = np.isfinite(meas) & (meas > 0) & (pred > 0)
    fam = df["family"].astype(str).to_numpy()
    fig, ax = plt.subplots(figsize=(7, 6))
    lo, hi = float(min(meas[ok].min(), pred[ok].min())) * 0.8, float(max(meas[ok].max(), pred[ok].max())) * 1.25
    xs = np.geomspace(lo, hi, 50)
    ax.fill_between(xs, xs * 0.9, xs * 1.1, color="0.85", label="+-10%")
    ax.plot(xs, xs, "k-", lw=1, label="y = x")
    cmap = plt.get_cmap("tab20")
    for i, f in enumerate(sorted(set(fam[ok]))):
        m = ok & (fam == f)
        ax.scatter(meas[m], pred[m], s=10, color=cmap(i % 20), label=f, alpha=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("measured latency (ms)")
    ax.set_ylabel("predicted latency (ms)")
    within = float(np.mean(np.abs(pred[ok] / meas[ok] - 1) <= 0.1) * 100) if ok.any() else float("nan")
    ax.set_title(f"{title}: {within:.1f}% within +-10% (n={int(ok.sum())})")
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

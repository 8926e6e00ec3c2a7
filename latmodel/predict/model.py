"""XGBoost latency predictor: block features -> block latency -> TRN prefix latency.

Model (see docs in :class:`LatencyModel`):

* **stage 1** -- XGBoost on the block features (:data:`latmodel.graph.features.FEATURE_COLUMNS`)
  predicting ``log(incontext_ms)`` (latencies span three orders of magnitude;
  a log target makes the squared loss a relative one), on top of a roofline prior
  (``stage1_prior="roofline"``, as ``base_margin``: the trees learn the log ratio to it).
  The default size, 100 trees of depth 5, was chosen by leave-one-family-out accuracy and
  pricing speed on the four shipped tables (2026-12-04, stepping-1 Xeon): 58.1% of held-out
  prefixes within 10% on average (the former 2 x 800 trees of depth 3, plain and roofline
  blended: 56.7%; mean MAPE 12.6% both) at 1.8 instead of 9.9 us a block in bulk, and fits 4x
  faster (docs/RESULTS.md, "Query speed").
* **stage 2** -- a small XGBoost on prefix-level features
  (:data:`latmodel.predict.prefix_features.STAGE2_FEATURES`: block index, cumulative stage-1
  latency, cumulative bytes, ...) predicting ``log(prefix_ms / cumulative in-context
  latency)``: the correction for running the prefix alone (cold caches make the first
  blocks cost less alone than in context).  At prediction time the ratio multiplies
  the cumulative stage-1 prediction, so prefix sums stay additive up to a bounded
  factor; the result is made non-decreasing along the chain.
* **roofline** -- a non-negative least-squares fit of in-context block latency on
  per-kind FLOPs, bytes moved and layer count (:mod:`latmodel.predict.roofline`); it prices
  the new classification head (:meth:`LatencyModel.head_latency_ms`), which no
  measured block resembles.

Predicting all prefixes of a network is one batched ``inplace_predict`` per stage.
``prefix_upper_ms`` multiplies the prediction by ``exp(q)``, ``q`` the
``upper_quantile`` of out-of-fold log residuals in the prefix's position bucket.

Every booster is trained by :func:`latmodel.predict.boosting.train_booster` (locally or on a
Dask cluster).  The predictor is saved and loaded by :mod:`latmodel.predict.predictor_io`
(XGBoost JSON model files and a ``manifest.json``; nothing is pickled); cross
validation, ``fit_tables`` and ``evaluate_tables`` are in :mod:`latmodel.predict.evaluation`.  This module
fits; the prediction methods are :class:`latmodel.predict.prediction.PredictionMixin`'s.
"""
from __future__ import annotations

import inspect
import logging
import math
import time

from ..errors import ArtifactError, NetcutError, TableError
from ..graph.features import FEATURE_COLUMNS
from ..measure.device import library_versions, table_device_record
from ..measure.passes import require_one_pass
from ..measure.yardstick_scale import scale_to_yardstick
from .baselines import FlopsLinearBaseline, FlopsLogLogBaseline, sort_blocks
from .boosting import TrainArrays, train_booster
from .prediction import PredictionMixin
from .prefix_features import POSITION_BUCKETS, STAGE2_FEATURES, bucket_of, prefix_features
from .ranges import fitted_ranges, merge_ranges
from .roofline import fit_roofline
from .targets import (STAGE1_PRIORS, STAGE1_TARGETS, base_stage2_applies, resolve_stage1_prior, resolve_stage1_target,
                      stage1_target_ms)

__all__ = ["ADAPT_STRATEGIES", "LatencyModel", "NotFittedError"]

#: How ``fit(table, init_model=base)`` adapts a base predictor (``adapt_strategy``).
ADAPT_STRATEGIES: tuple[str, ...] = ("boost", "scale", "scale+boost", "correct", "refit")

logger = logging.getLogger(__name__)


class NotFittedError(NetcutError, ValueError):
    """The predictor was used before ``fit`` (or ``load``)."""



def _unseen_features(df, base) -> list[str]:
    """Feature columns zero in every row of ``df`` (and, adapting, unseen by the base predictor too)."""
    unseen = [c for c in FEATURE_COLUMNS if c in df.columns and bool((df[c] == 0).all())]
    if base is not None and base.unseen_features_ is not None:
        unseen = [c for c in unseen if c in base.unseen_features_]
    return unseen


class LatencyModel(PredictionMixin):
    """Two-stage XGBoost latency predictor (scikit-learn style).

    Hyperparameters (stored unchanged; see the module docstring for the model):

    * ``n_estimators``, ``max_depth``, ``learning_rate``, ``subsample``, ``colsample_bytree``,
      ``min_child_weight``, ``reg_lambda``: stage-1 XGBoost settings.
    * ``stage1_prior``: ``"none"`` (trees on the features), ``"roofline"`` (trees learn the log ratio to the
      roofline fit), ``"blend"`` (both, geometric mean) or ``"auto"`` (by the target: :mod:`~.targets`).
    * ``stage1_target``: ``"incontext"`` (``incontext_ms``), ``"prefix_increment"`` (``prefix_ms[k] -
      prefix_ms[k-1]``) or ``"auto"``: increments for exported-graph runtimes (:mod:`latmodel.predict.targets`).
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
      ``"scale+boost"`` (both), ``"correct"`` (the base's trees times a small per-device
      log-linear correction, :mod:`latmodel.predict.transfer`), ``"refit"`` (ignore the base).
    * ``adapt_alpha``: ridge penalty of the ``"correct"`` adaptation's slopes.
    * ``random_state``, ``n_jobs``: XGBoost seed and threads.
    """

    def __init__(self, *, n_estimators: int = 100, max_depth: int = 5, learning_rate: float = 0.2,
                 subsample: float = 0.8, colsample_bytree: float = 0.8, min_child_weight: float = 3.0,
                 reg_lambda: float = 1.0, stage1_prior: str = "auto", stage1_target: str = "auto",
                 stage2: bool = True, stage2_reference: str = "measured", stage2_last_block: int | None = 3,
                 stage2_estimators: int = 200, stage2_depth: int = 3, upper_quantile: float = 0.95,
                 inner_folds: int = 4, flagged_weight: float = 0.1, adapt_strategy: str = "boost",
                 adapt_rounds: int = 75, adapt_alpha: float = 3.0, random_state: int = 0, n_jobs: int = 1):
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
        self.adapt_alpha = adapt_alpha
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

    def check_params(self) -> None:
        """Raise ``ValueError`` naming the hyperparameter, its value and what is allowed (``fit`` calls it)."""
        if self.stage1_prior not in STAGE1_PRIORS:
            raise ValueError(f"stage1_prior must be one of {', '.join(STAGE1_PRIORS)}, got {self.stage1_prior!r}")
        if self.stage1_target not in STAGE1_TARGETS:
            raise ValueError(f"stage1_target must be one of {', '.join(STAGE1_TARGETS)}, got {self.stage1_target!r}")
        if self.stage2_reference not in ("measured", "oof"):
            raise ValueError(f"stage2_reference must be 'measured' or 'oof', got {self.stage2_reference!r}")
        if self.adapt_strategy not in ADAPT_STRATEGIES:
            raise ValueError(f"adapt_strategy must be one of {', '.join(ADAPT_STRATEGIES)}, "
                             f"got {self.adapt_strategy!r}")
        if not float(self.adapt_alpha) >= 0.0:
            raise ValueError(f"adapt_alpha must be >= 0, got {self.adapt_alpha!r}")
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

    def check_fitted(self) -> None:
        """Raise :class:`NotFittedError` unless the model is fitted (or loaded)."""
        if not hasattr(self, "stage1_"):
            raise NotFittedError("this LatencyModel is not fitted yet; call fit(table) or "
                                 "latmodel.predict.predictor_io.load_predictor(folder)")

    # ------------------------------------------------------------------ fitting

    @staticmethod
    def validate_table(table):
        """A measurement table as ``fit`` reads it (blocks sorted, ``flagged`` filled) or :class:`TableError`."""
        import numpy as np
        import pandas as pd

        if not isinstance(table, pd.DataFrame) or table.empty:
            raise TableError("expected a non-empty measurement table (pandas DataFrame from latmodel.measure.table.read_table)")
        need = ("config_id", "family", "block_index", "incontext_ms", *FEATURE_COLUMNS)
        missing = [c for c in need if c not in table.columns]
        if missing:
            raise TableError(f"measurement table lacks column(s) {', '.join(missing[:6])}; "
                             "write it with 'latmodel profile'")
        y = pd.to_numeric(table["incontext_ms"], errors="coerce").to_numpy(dtype=float)
        if not (np.isfinite(y) & (y > 0)).all():
            raise TableError("measurement table has NaN or non-positive 'incontext_ms'; latencies must be > 0 ms")
        require_one_pass(table)
        df = sort_blocks(table)
        if "flagged" not in df.columns:
            df["flagged"] = 0
        df["flagged"] = pd.to_numeric(df["flagged"], errors="coerce").fillna(0).astype(int)
        return df

    def sample_weights(self, df):
        """Row weights of a validated table: ``flagged_weight`` for rows measured under load, else 1."""
        import numpy as np

        return np.where(df["flagged"].to_numpy() == 1, float(self.flagged_weight), 1.0)

    def _stage1_kinds(self, df) -> list[str]:
        """Stage-1 boosters to fit on ``df``: plain trees, trees on the roofline prior, or both (blend)."""
        return list(STAGE1_PRIORS[resolve_stage1_prior(self.stage1_prior, self.stage1_target, df)])

    def _fit_stage1(self, df, weights, *, roofline, kinds, init=None, rounds=None, offset=0.0, client=None):
        """One booster per kind in ``kinds`` (``init``: boosters to continue, same kinds)."""
        import numpy as np

        keep = weights > 0
        X = df.loc[keep, list(FEATURE_COLUMNS)].to_numpy(dtype=np.float32)
        y = np.log(self.stage1_target_ms(df)[keep])
        boosters = []
        for i, kind in enumerate(kinds):
            margin = self._margin(df.loc[keep], roofline if kind == "roofline" else None, offset)
            arrays = TrainArrays(X=X, label=y, weight=weights[keep], base_margin=margin,
                                  feature_names=tuple(FEATURE_COLUMNS))
            boosters.append(train_booster(self._xgb_params(), arrays, int(rounds or self.n_estimators),
                                           xgb_model=init[i] if init is not None else None, client=client))
        return boosters

    def stage1_target_ms(self, df):
        """What stage 1 learns, in ms, per row of the sorted frame ``df`` (:mod:`latmodel.predict.targets`)."""
        return stage1_target_ms(self.stage1_target, df)

    def _stage2_reference_ms(self, df, oof_s1):
        """Block latencies whose prefix sums stage 2's ratio is learned against (see ``stage2_reference``)."""
        if self.stage2_reference == "measured":
            return self.stage1_target_ms(df)
        return oof_s1

    def _fit_stage2(self, df, s1_ms, weights, client=None):
        import numpy as np

        target_ok = df["prefix_ms"].notna().to_numpy() if "prefix_ms" in df.columns else None
        if target_ok is None or not target_ok.any():
            return None
        Z, cum = prefix_features(df, s1_ms)
        keep = target_ok & (weights > 0)
        if self.stage2_last_block is not None:
            keep &= df["block_index"].to_numpy() <= int(self.stage2_last_block)
        if not keep.any():
            return None
        y = np.log(df["prefix_ms"].to_numpy(dtype=float)[keep] / cum[keep])
        arrays = TrainArrays(X=Z[keep], label=y, weight=weights[keep], feature_names=tuple(STAGE2_FEATURES))
        params = self._xgb_params(depth=self.stage2_depth, rate=0.05)
        params["min_child_weight"] = max(5.0, float(self.min_child_weight))
        params["lambda"] = 5.0
        # the intercept XGBoost would estimate (weighted mean label), computed once here: a Dask fit
        # would reduce it across workers in another order and differ in the last bit
        params["base_score"] = float(np.average(y, weights=weights[keep]))
        return train_booster(params, arrays, int(self.stage2_estimators), client=client)

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
            kinds = self._stage1_kinds(df)
            roof = roofline_base if roofline_base is not None else (
                fit_roofline(tr, self.stage1_target_ms(tr), np.maximum(w, 1e-6)) if "roofline" in kinds else None)
            b = self._fit_stage1(tr, w, roofline=roof, kinds=kinds, offset=offset, client=client)
            oof[test_idx] = self._predict_stage1(b, kinds, df.iloc[test_idx], roof, offset)
        return oof

    def fit(self, table, *, init_model: "LatencyModel | None" = None, client=None,
            table_records=(), metrics: dict | None = None, base_record: dict | None = None) -> "LatencyModel":
        """Fit on a measurement table (rows from ``latmodel profile``); returns self.

        ``init_model``: a fitted predictor for another device to adapt from
        (see ``adapt_strategy``); the table then holds the new device's (few) rows.
        ``client``: a ``distributed.Client``; every booster (stage 1, its inner folds,
        stage 2) is then trained on that Dask cluster (see :func:`latmodel.predict.boosting.train_booster`).
        Not a hyperparameter: it is neither stored nor saved.
        ``table_records``, ``metrics``: where the table came from and how these
        hyperparameters scored on it; stored as ``tables_`` / ``metrics_`` (and saved).
        ``base_record``: where ``init_model`` came from (path, manifest sha256, created_at);
        stored in ``adapted_from_["base_predictor"]``.
        """
        self.check_params()
        # every window at the table's fastest window's speed (latmodel.measure.yardstick_scale; a no-op when done before)
        df, scale = scale_to_yardstick(self.validate_table(table))
        if init_model is not None:
            init_model.check_fitted()
            if list(init_model.feature_names_) != list(FEATURE_COLUMNS):
                raise ArtifactError("the base predictor was trained on other features than this netcut computes; "
                                    "re-fit it with 'latmodel fit'")
        weights = self.sample_weights(df)
        if not (weights > 0).any():
            raise TableError("every row of the table is flagged and flagged_weight is 0; nothing to fit on")
        t0 = time.perf_counter()
        has_prefix = "prefix_ms" in df.columns and df["prefix_ms"].notna().any()
        if not has_prefix and self.stage2 and (init_model is None or self.adapt_strategy == "refit"):
            # Refused rather than fitted without: stage 2 (what a prefix run alone costs) and the calibrated upper
            # bound both learn from prefix_ms; silently without them the bounds would be a flat 10%.
            raise TableError("the table has no prefix_ms (the latency of each prefix run alone): the prefix model "
                             "and the calibrated upper bound need it; measure with 'latmodel profile' (it writes "
                             "prefix_ms), or fit per-block latencies only with stage2=False (latmodel fit --no-stage2)")
        if init_model is not None and self.adapt_strategy != "refit":
            stages = self._adapt_stages(df, weights, init_model, client=client)
            stages["adapted_from"] = {**stages["adapted_from"], "method": self.adapt_strategy,
                                      "base_predictor": dict(base_record or {})}
        else:
            stages = self._fit_stages(df, weights, has_prefix, client=client)
        self.set_learned_state(
            **stages,
            device=table_device_record(df),
            stage1_target=resolve_stage1_target(self.stage1_target, df),
            n_rows=len(df),
            n_configs=df["config_id"].nunique(),
            families=sorted({str(f) for f in df["family"]}),
            resolutions=sorted({int(r) for r in df["resolution_px"]}),
            n_flagged=(df["flagged"] == 1).sum(),
            baseline_flops=FlopsLinearBaseline.fit(df).to_dict() if has_prefix else None,
            baseline_flops_loglog=FlopsLogLogBaseline.fit(df).to_dict() if has_prefix else None,
            fit_seconds=time.perf_counter() - t0,
            tables=table_records,
            metrics=metrics or {},
            libraries=library_versions(),
            unseen_features=_unseen_features(df, init_model if self.adapt_strategy != "refit" else None),
            yardstick=scale.to_dict() if scale.rows_scaled else None,
            ranges=merge_ranges(fitted_ranges(df, FEATURE_COLUMNS),
                                init_model.ranges_ if init_model is not None and self.adapt_strategy != "refit"
                                else None),
        )
        return self

    def _fit_stages(self, df, weights, has_prefix: bool, *, client=None) -> dict:
        """A fresh fit: roofline, stage 1, stage 2 on out-of-fold stage 1, out-of-fold residual quantiles."""
        import numpy as np

        kinds = self._stage1_kinds(df)
        roofline = (fit_roofline(df, self.stage1_target_ms(df), np.maximum(weights, 1e-6))
                    if "roofline" in kinds else None)
        stage1 = self._fit_stage1(df, weights, roofline=roofline, kinds=kinds, client=client)
        head_roofline = fit_roofline(df, df["incontext_ms"], np.maximum(weights, 1e-6))
        oof_s1 = self._oof_stage1(df, weights, client=client) if (self.stage2 or has_prefix) else None
        stage2 = None
        if self.stage2 and has_prefix and oof_s1 is not None:
            stage2 = self._fit_stage2(df, self._stage2_reference_ms(df, oof_s1), weights, client=client)
        residual_q, residual_source = self._residual_quantiles(df, weights, oof_s1, has_prefix, client=client)
        return dict(stage1=stage1, stage1_kinds=kinds, stage2=stage2, roofline=roofline, head_roofline=head_roofline,
                    stage1_offset=0.0, residual_quantiles=residual_q, residual_source=residual_source,
                    adapted_from=None, correction=None)

    def check_adaptation_rows(self, df, weights) -> None:
        """TableError when the new-device table has fewer rows than ``adapt_strategy`` needs."""
        if self.adapt_strategy == "correct":
            from .transfer import check_correction_rows

            check_correction_rows(df, weights)

    def _adapt_stages(self, df, weights, base: "LatencyModel", *, client=None) -> dict:
        """Adaptation of ``base`` to the rows of a new device (``adapt_strategy`` scale and/or boost, or correct).

        Stage 2 and the residual quantiles are the base's: too few new rows to estimate them.
        """
        self.check_adaptation_rows(df, weights)
        from .transfer import correct_stages, scale_offset

        if self.adapt_strategy == "correct":
            return correct_stages(self, df, weights, base)
        roofline = dict(base.roofline_) if base.roofline_ is not None else None
        offset = (scale_offset(base, df, weights, self.stage1_target_ms(df)) if "scale" in self.adapt_strategy
                  else base.stage1_offset_)
        kinds = list(base.stage1_kinds_)
        if "boost" in self.adapt_strategy:
            stage1 = self._fit_stage1(df, weights, roofline=roofline, kinds=kinds, init=base.stage1_,
                                      rounds=int(self.adapt_rounds), offset=offset, client=client)
        else:
            stage1 = list(base.stage1_)
        factor = math.exp(offset - base.stage1_offset_)
        stage2 = base.stage2_ if base_stage2_applies(self.stage1_target, df, base) else None
        return dict(stage1=stage1, stage1_kinds=kinds, stage2=stage2, roofline=roofline,
                    head_roofline={k: v * factor for k, v in base.head_roofline_.items()}, stage1_offset=offset,
                    residual_quantiles=list(base.residual_quantiles_),
                    residual_source=f"inherited from the base predictor (adapted with {self.adapt_strategy})",
                    adapted_from=dict(base.device_),
                    # continued boosting learns the whole new-device residual: a base correction would count twice
                    correction=None if "boost" in self.adapt_strategy else base.correction_)

    def set_learned_state(self, *, stage1, stage1_kinds, stage2, roofline, head_roofline, stage1_offset,
                          residual_quantiles, residual_source, device, adapted_from, n_rows, n_configs, families,
                          resolutions, n_flagged, fit_seconds, tables, baseline_flops, baseline_flops_loglog,
                          metrics, libraries, correction=None, unseen_features=None, ranges=None,
                          yardstick=None, stage1_target=None) -> None:
        """Set every learned attribute (``name_``): the one place, used by ``fit`` and by loading."""
        self.stage1_ = list(stage1)
        self.stage1_kinds_ = list(stage1_kinds)
        # what stage 1 learned (latmodel.predict.targets; None: a predictor from before 'auto', which learned the
        # in-context latency unless told otherwise)
        self.stage1_target_ = stage1_target or ("incontext" if self.stage1_target == "auto" else self.stage1_target)
        self.stage2_ = stage2
        self.roofline_ = None if roofline is None else {k: float(v) for k, v in roofline.items()}
        self.head_roofline_ = {k: float(v) for k, v in head_roofline.items()}
        self.stage1_offset_ = float(stage1_offset)
        self.feature_names_ = list(FEATURE_COLUMNS)
        self.stage2_feature_names_ = list(STAGE2_FEATURES)
        self.residual_quantiles_ = [float(q) for q in residual_quantiles]
        self.residual_source_ = str(residual_source)
        self.device_ = dict(device)
        self.adapted_from_ = adapted_from
        self.correction_ = correction  # latmodel.predict.transfer.DeviceCorrection or None
        self.n_rows_ = int(n_rows)
        self.n_configs_ = int(n_configs)
        self.families_ = list(families)
        self.resolutions_ = [int(r) for r in resolutions]
        self.n_flagged_ = int(n_flagged)
        self.fit_seconds_ = float(fit_seconds)
        self.tables_ = list(tables)
        self.baseline_flops_ = baseline_flops
        self.baseline_flops_loglog_ = baseline_flops_loglog
        self.metrics_ = dict(metrics)
        self.libraries_ = dict(libraries)
        # feature columns zero in every training row (None: not recorded, a predictor from before)
        self.unseen_features_ = None if unseen_features is None else list(unseen_features)
        # what the training table spans (latmodel.predict.ranges; None: not recorded, a predictor from before)
        self.ranges_ = None if ranges is None else dict(ranges)
        # the yardstick speed the latencies are at (latmodel.measure.yardstick_scale.YardstickScale as a dict; None: the
        # table's windows had none, or a predictor from before)
        self.yardstick_ = None if yardstick is None else dict(yardstick)
        self._cache = {}

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
        buckets = bucket_of(df["block_index"].to_numpy()[ok])
        overall = float(np.quantile(r, q)) if r.size else 0.1
        out = []
        for b in range(len(POSITION_BUCKETS)):
            rb = r[buckets == b]
            out.append(float(np.quantile(rb, q)) if rb.size >= 20 else overall)
        return [max(v, 0.0) for v in out], f"grouped {min(int(self.inner_folds), n_groups)}-fold out-of-fold residuals"

"""Transfer to a new device: the base predictor's per-block shape times a small per-device correction.

The ``"correct"`` adaptation (``LatencyModel(adapt_strategy="correct").fit(new, init_model=base)``)
keeps every booster of the base and learns, from the new device's in-context block
latencies, a log-linear factor per block::

    log(new-device block ms / base block ms) = intercept + sum_k coef_k * term_k(block)

with the few interpretable terms of :data:`TRANSFER_TERMS` (work per op, share of
dense, depthwise and memory-bound FLOPs).  It is a ridge regression (the intercept
unpenalized): the penalty pulls every slope toward 0, i.e. toward "the base's shape,
rescaled", so five configurations cannot overfit.  A prefix is the base's prefix
times the ratio of corrected to uncorrected cumulative block latency
(:func:`corrected_prefix_ms`): a device that is a constant scaling of the base comes
out as exactly that scaling.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from ..errors import TableError
from .chains import Chains, as_chains
from .targets import base_stage2_applies

__all__ = ["TRANSFER_TERMS", "DEFAULT_ALPHA", "MIN_ROWS", "DeviceCorrection", "transfer_design",
           "fit_correction", "check_correction_rows", "corrected_prefix_ms", "scale_offset", "correct_stages"]


def _flops(ch: Chains):
    import numpy as np

    # the sum of the kinds too: a hand-built row (the head's) may leave the total at 0
    kinds = sum(ch.col(c) for c in ("flops_conv", "flops_linear", "flops_norm", "flops_pool", "flops_elementwise",
                                    "flops_other"))
    return np.maximum(np.maximum(ch.col("flops"), kinds), 1.0)


def _mflops_per_op(ch: Chains):
    import numpy as np

    # threading and per-op dispatch costs depend on how much work each op has
    return np.log10(_flops(ch) / 1e6 / np.maximum(ch.col("n_ops"), 1.0) + 1e-3)


#: Correction terms: name -> per-block value from the block features.
TRANSFER_TERMS: dict[str, Callable[[Chains], object]] = {
    "log10_mflops_per_op": _mflops_per_op,
    "dense_conv_share": lambda ch: ch.col("flops_conv_dense") / _flops(ch),
    "depthwise_share": lambda ch: ch.col("flops_conv_depthwise") / _flops(ch),
    "memory_bound_share": lambda ch: (ch.col("flops_norm") + ch.col("flops_pool") + ch.col("flops_elementwise")
                                      + ch.col("flops_other")) / _flops(ch),
}
#: Ridge penalty on the slopes (scikit-learn ``alpha``); chosen on the 2-thread table
#: (benchmarks/bench_adaptation.py): 1-10 score alike, 30 underfits, 0.3 overfits 5 configurations.
DEFAULT_ALPHA = 3.0
#: Fewest usable new-device rows (blocks) the correction is fitted from: two per coefficient.
MIN_ROWS = 2 * (len(TRANSFER_TERMS) + 1)


@dataclasses.dataclass(frozen=True)
class DeviceCorrection:
    """A fitted per-device correction: ``log factor = intercept + coef . terms``."""

    terms: tuple[str, ...]
    intercept: float
    coef: tuple[float, ...]
    alpha: float
    n_rows: int
    n_configs: int

    def log_factor(self, chains: Chains):
        """Log multiplier of every block's base latency."""
        import numpy as np

        return self.intercept + transfer_design(chains, self.terms) @ np.asarray(self.coef, dtype=float)

    def then(self, other: "DeviceCorrection") -> "DeviceCorrection":
        """This correction followed by ``other`` (same terms): log factors add."""
        if other.terms != self.terms:
            raise ValueError("corrections with different terms cannot be composed")
        return dataclasses.replace(other, intercept=self.intercept + other.intercept,
                                   coef=tuple(a + b for a, b in zip(self.coef, other.coef)))

    def to_dict(self) -> dict:
        return {"terms": list(self.terms), "intercept": self.intercept, "coef": list(self.coef),
                "alpha": self.alpha, "n_rows": self.n_rows, "n_configs": self.n_configs}

    @classmethod
    def from_dict(cls, d: dict) -> "DeviceCorrection":
        """Raises ValueError for terms this netcut does not compute or a malformed record."""
        terms = tuple(str(t) for t in d["terms"])
        unknown = [t for t in terms if t not in TRANSFER_TERMS]
        if unknown or len(d["coef"]) != len(terms):
            raise ValueError(f"correction terms {', '.join(unknown) or 'and coefficients'} do not match this netcut")
        return cls(terms=terms, intercept=float(d["intercept"]), coef=tuple(float(c) for c in d["coef"]),
                   alpha=float(d["alpha"]), n_rows=int(d["n_rows"]), n_configs=int(d["n_configs"]))


def transfer_design(chains: Chains, terms=tuple(TRANSFER_TERMS)):
    """Matrix of the correction ``terms`` (columns) for every block of ``chains``."""
    import numpy as np

    return np.stack([np.asarray(TRANSFER_TERMS[t](chains), dtype=float) for t in terms], axis=1)


def check_correction_rows(df, weights) -> None:
    """TableError unless the new-device table has at least :data:`MIN_ROWS` usable rows."""
    usable = int((weights > 0).sum())
    if usable < MIN_ROWS:
        raise TableError(f"the new-device table has {usable} usable row(s); the 'correct' adaptation needs at "
                         f"least {MIN_ROWS} (one profiled network gives 5-20); measure more configurations "
                         "(latmodel profile --budget N)")


def fit_correction(chains: Chains, measured_ms, base_ms, weights, *, alpha: float = DEFAULT_ALPHA,
                   n_configs: int = 0) -> DeviceCorrection:
    """Ridge fit of ``log(measured_ms / base_ms)`` on the terms, rows weighted by ``weights`` (> 0 used)."""
    import numpy as np
    from sklearn.linear_model import Ridge

    keep = np.asarray(weights) > 0
    X = transfer_design(chains)[keep]
    y = np.log(np.asarray(measured_ms, dtype=float)[keep] / np.asarray(base_ms, dtype=float)[keep])
    ridge = Ridge(alpha=float(alpha), fit_intercept=True).fit(X, y, sample_weight=np.asarray(weights)[keep])
    return DeviceCorrection(terms=tuple(TRANSFER_TERMS), intercept=float(ridge.intercept_),
                            coef=tuple(float(c) for c in ridge.coef_), alpha=float(alpha), n_rows=int(keep.sum()),
                            n_configs=int(n_configs))


def corrected_prefix_ms(chains: Chains, base_prefix_ms, base_block_ms, corrected_block_ms):
    """Base prefix latency times corrected / uncorrected cumulative block latency, non-decreasing."""
    return chains.cummax(base_prefix_ms * chains.cumsum(corrected_block_ms) / chains.cumsum(base_block_ms))


def scale_offset(base, df, weights, target_ms) -> float:
    """Global log factor between the new rows' stage-1 targets ``target_ms`` (what the adapted model learns) and the
    base predictor (weighted median): adaptation by ``scale``."""
    import numpy as np

    pred = base.predict_blocks(df)
    r = np.log(np.asarray(target_ms, dtype=float) / pred)
    keep = weights > 0
    if not keep.any():
        return base.stage1_offset_
    order = np.argsort(r[keep])
    cw = np.cumsum(weights[keep][order])
    return float(base.stage1_offset_ + r[keep][order][np.searchsorted(cw, cw[-1] / 2)])


def correct_stages(model, df, weights, base) -> dict:
    """The learned state of adaptation by ``correct``: ``base``'s boosters as they are, times a per-device
    correction fitted on the new rows (``model``'s hyperparameters)."""
    ch = as_chains(df)
    correction = fit_correction(ch, model.stage1_target_ms(df), base.predict_blocks(ch), weights,
                                alpha=float(model.adapt_alpha), n_configs=df["config_id"].nunique())
    if base.correction_ is not None:  # adapting an adapted predictor: the log factors add
        correction = base.correction_.then(correction)
    stage2 = base.stage2_ if base_stage2_applies(model.stage1_target, df, base) else None
    return dict(stage1=list(base.stage1_), stage1_kinds=list(base.stage1_kinds_), stage2=stage2,
                roofline=dict(base.roofline_) if base.roofline_ is not None else None,
                head_roofline=dict(base.head_roofline_), stage1_offset=base.stage1_offset_,
                residual_quantiles=list(base.residual_quantiles_),
                residual_source="inherited from the base predictor (adapted with correct)",
                adapted_from=dict(base.device_), correction=correction)

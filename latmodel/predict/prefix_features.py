"""Stage-2 (prefix-level) features and the prefix position buckets of the residual quantiles."""
from __future__ import annotations

from .chains import as_chains

__all__ = ["STAGE2_FEATURES", "POSITION_BUCKETS", "bucket_of", "prefix_features"]

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


def bucket_of(block_index):
    """Index into :data:`POSITION_BUCKETS` of every block index."""
    import numpy as np

    idx = np.asarray(block_index, dtype=int)
    out = np.zeros(idx.shape, dtype=int)
    for b, (lo, hi) in enumerate(POSITION_BUCKETS):
        mask = (idx >= lo) if hi is None else ((idx >= lo) & (idx <= hi))
        out[mask] = b
    return out


def prefix_features(data, s1_ms):
    """Stage-2 features (float32, :data:`STAGE2_FEATURES` order) and cumulative stage-1 ms for every block.

    ``data``: a sorted frame or :class:`~latmodel.predict.chains.Chains`; ``s1_ms``: its stage-1 predictions.
    """
    import numpy as np

    ch = as_chains(data)
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

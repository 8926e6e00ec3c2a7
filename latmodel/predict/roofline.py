"""Roofline fit: in-context block latency ~ non-negative combination of per-kind FLOPs, bytes and layers.

It prices the new classification head (:meth:`latmodel.predict.model.LatencyModel.head_latency_ms`),
which no measured block resembles, and is the optional stage-1 prior.
"""
from __future__ import annotations

from .chains import as_chains

__all__ = ["ROOFLINE_TERMS", "roofline_design", "fit_roofline", "roofline_ms"]

#: Roofline terms: name -> (columns summed, a leading "-" subtracts one; scale).  Coefficients are ms per unit.
ROOFLINE_TERMS: dict[str, tuple[tuple[str, ...], float]] = {
    "const": ((), 1.0),
    "gflops_conv_dense": (("flops_conv_dense",), 1e-9),
    "gflops_gemm": (("flops_conv_pointwise", "flops_linear"), 1e-9),
    "gflops_conv_depthwise": (("flops_conv_depthwise",), 1e-9),
    "gflops_conv_grouped": (("flops_conv_grouped",), 1e-9),
    # Pooling by kind (Xeon 6/207/2, torch, 1 thread, 64 x 80 x 80 float32): a 3x3 max pool costs ~3.2 ns a flop,
    # a 3x3 / 2x2 average pool 1.0-1.9 ns, a global average pool or mean 0.04 ns, a ReLU ~1 ns an element.  In one
    # term the windowed pools priced like the rest left DenseNet's transition pools 3-5x over their prior and the
    # trees taught that to every low-intensity block (SqueezeNet's max pools priced 2.5x with it held out).
    "gflops_memory_bound": (("flops_norm", "flops_pool", "-flops_max_pool", "-flops_avg_pool", "flops_elementwise",
                             "flops_other"), 1e-9),
    "gflops_max_pool": (("flops_max_pool",), 1e-9),
    "gflops_avg_pool": (("flops_avg_pool",), 1e-9),
    "gbytes_activations": (("in_bytes", "out_bytes", "intermediate_bytes"), 1e-9),
    "gbytes_params": (("param_bytes",), 1e-9),
    "n_layers": (("n_conv_dense", "n_conv_pointwise", "n_conv_depthwise", "n_conv_grouped", "n_linear", "n_norm",
                  "n_pool", "n_act"), 1.0),
    # Subnormal floats (latmodel.graph.subnormals): each costs the CPU a slow path when made and when read, a
    # cost no FLOP count carries.  With these two terms the random4 chains price Swin's shifted-window blocks
    # with Swin held out (stepping-1 Xeon, torch: its held-out prefixes 2% -> 45% within 10%).
    "gflops_subnormal": (("flops_subnormal",), 1e-9),
    "mvalues_subnormal": (("subnormal_values",), 1e-6),
}


def roofline_design(data):
    """Design matrix of :data:`ROOFLINE_TERMS` for blocks (a sorted frame or :class:`~latmodel.predict.chains.Chains`)."""
    import numpy as np

    ch = as_chains(data)
    cols = []
    for name, (columns, scale) in ROOFLINE_TERMS.items():
        if not columns:
            cols.append(np.ones(len(ch)))
        else:
            cols.append(sum(-ch.col(c[1:]) if c.startswith("-") else ch.col(c) for c in columns) * scale)
    return np.stack(cols, axis=1)


def fit_roofline(df, y_ms, weights) -> dict[str, float]:
    """Non-negative least squares on relative error: ms ~ sum(coef * term)."""
    import numpy as np
    from scipy.optimize import nnls

    design = roofline_design(df)
    w = np.asarray(weights, dtype=float) / np.asarray(y_ms, dtype=float)
    scale = design.max(axis=0)
    scale[scale == 0] = 1.0
    coef, _ = nnls((design / scale) * w[:, None], np.asarray(y_ms, dtype=float) * w, maxiter=50 * design.shape[1])
    coef = coef / scale
    return {name: float(c) for name, c in zip(ROOFLINE_TERMS, coef)}


def roofline_ms(data, coef: dict[str, float]):
    """Roofline latency (ms, at least 1 us) of every block of ``data``."""
    import numpy as np

    design = roofline_design(data)
    c = np.array([coef[name] for name in ROOFLINE_TERMS])
    return np.maximum(design @ c, 1e-3)

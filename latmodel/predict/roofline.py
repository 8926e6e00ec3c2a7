"""Roofline fit: in-context block latency ~ non-negative combination of per-kind FLOPs, bytes and layers.

It prices the new classification head (:meth:`latmodel.predict.model.LatencyModel.head_latency_ms`),
which no measured block resembles, and is the optional stage-1 prior.
"""
from __future__ import annotations

from .chains import as_chains

__all__ = ["ROOFLINE_TERMS", "SPLIT_TERMS", "roofline_design", "fit_roofline", "roofline_ms", "upgrade_coefficients"]

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
                             "-flops_pad", "flops_other"), 1e-9),
    # Explicit padding (ZeroPad2d, F.pad: TensorFlow's 'same' padding) allocates, zero-fills and copies the whole
    # map, and the unpadded convolution after it runs slower: AMD EPYC, torch, 1 thread, a 96 x 112 x 112 depthwise
    # 3x3 / 2 convolution 0.37 ms, padded explicitly 0.76 ms (0.3 ns an element of the pad's output), while the
    # memory-bound term prices ~0.13 ns a flop (batch norms and activations, mostly).  Priced in that term,
    # EfficientNet-Lite's padded blocks were priced 10-27% low with the family held out, although the random2 chains
    # pad the same way; on its own the EPYC's torch tables price padding at 0.54 ns an element, ONNX Runtime's 0.21.
    "gflops_pad": (("flops_pad",), 1e-9),
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


#: Terms split out of another since predictors were first saved: new term -> the term that priced its columns
#: before.  :func:`upgrade_coefficients` gives an older predictor's coefficients the new term at the old term's
#: price, which reproduces its roofline exactly.
SPLIT_TERMS: dict[str, str] = {"gflops_pad": "gflops_memory_bound"}


def upgrade_coefficients(coef: dict[str, float]) -> dict[str, float]:
    """``coef`` with the terms of :data:`SPLIT_TERMS` it lacks priced like the term they were split from (a
    predictor saved before the split then prices every block as it did); other coefficients unchanged."""
    out = dict(coef)
    for new, old in SPLIT_TERMS.items():
        if new not in out and old in out:
            out[new] = out[old]
    return out


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

"""fvcore op handles: how each operator fvcore does not count (or counts wrongly) is counted, and which feature
column its flops go to (:data:`OP_KINDS`).  One entry in :data:`OP_HANDLES` adds an op (the model is fvcore's own
handle table; :func:`latmodel.graph.features.block_features` installs these with ``set_op_handle``)."""
from __future__ import annotations

import functools
import math
from typing import Any, Callable

__all__ = ["OP_KINDS", "OP_HANDLES", "ZERO_OPS", "ELEMENTWISE_NAMES", "TRANSCENDENTAL_OPS", "PAD_OPS", "LENGTH_HANDLES",
           "op_handles_for"]

OP_KINDS: dict[str, str] = {
    "conv": "flops_conv",
    "linear": "flops_linear", "addmm": "flops_linear", "matmul": "flops_linear", "bmm": "flops_linear",
    "einsum": "flops_linear", "scaled_dot_product_attention": "flops_linear",
    "batch_norm": "flops_norm", "group_norm": "flops_norm", "layer_norm": "flops_norm",
    "instance_norm": "flops_norm",
    "adaptive_avg_pool2d": "flops_pool", "adaptive_max_pool2d": "flops_pool", "max_pool2d": "flops_pool",
    "avg_pool2d": "flops_pool", "mean": "flops_pool",
}


def _numel(value) -> int:
    from fvcore.nn.jit_handles import get_shape

    shape = get_shape(value)
    return int(math.prod(shape)) if shape else 0


def _elementwise(inputs: list, outputs: list) -> int:
    """One flop per output element (add, mul, relu, hardswish, cat, pad, ...)."""
    return _numel(outputs[0])


def _input_elementwise(inputs: list, outputs: list) -> int:
    """One flop per input element (reductions such as mean)."""
    return _numel(inputs[0])


def _windowed_pool(inputs: list, outputs: list) -> int:
    """Kernel area flops per output element (max_pool2d / avg_pool2d)."""
    kernel = _constant_ints(inputs[1]) if len(inputs) > 1 else None
    if not kernel:
        area = 1
    elif len(kernel) == 1:
        area = kernel[0] * kernel[0]
    else:
        area = int(math.prod(kernel))
    return _numel(outputs[0]) * area


def _constant_ints(value) -> list[int] | None:
    """A constant int list argument of a traced op (a constant or a prim::ListConstruct of constants)."""
    ivalue = value.toIValue()
    if ivalue is not None:
        return [int(v) for v in ivalue] if isinstance(ivalue, (list, tuple)) else [int(ivalue)]
    node = value.node()
    if node.kind() == "prim::ListConstruct":
        items = [i.toIValue() for i in node.inputs()]
        if all(isinstance(i, int) for i in items):
            return items
    return None


def _attention_counts(batch: int, heads: int, q_len: int, kv_len: int, dim: int) -> dict[str, int]:
    """Multiply-adds of softmax(Q K^T) V over ``heads`` heads of ``dim / heads`` channels, and softmax elements."""
    return {"matmul": 2 * batch * q_len * kv_len * dim, "softmax": batch * heads * q_len * kv_len}


def _sdpa(inputs: list, outputs: list, lengths: list[int] | None = None):
    """aten::scaled_dot_product_attention: Q (..., L, d), K (..., S, d), V (..., S, dv)."""
    from collections import Counter

    from fvcore.nn.jit_handles import get_shape

    q, k, v = (get_shape(i) for i in inputs[:3])
    lead = int(math.prod(q[:-2]))
    if lengths is not None:
        lengths.append(int(k[-2]))
    return Counter({"scaled_dot_product_attention": lead * q[-2] * k[-2] * (q[-1] + v[-1]),
                    "softmax": lead * q[-2] * k[-2]})


def _attention_matmul(inputs: list, outputs: list, lengths: list[int] | None = None):
    """aten::matmul / bmm: fvcore's count, and the key length when both operands are activations (attention),
    appended to ``lengths`` (the count's own list: :func:`op_handles_for`)."""
    from fvcore.nn.jit_handles import bmm_flop_jit, get_shape, matmul_flop_jit

    shapes = [get_shape(v) for v in inputs[:2]]
    if lengths is not None and len(shapes[0]) >= 3 and len(shapes[1]) >= 3:
        lengths.append(int(max(shapes[0][-2], shapes[1][-1])))
    return (bmm_flop_jit if len(shapes[0]) == 3 and len(shapes[1]) == 3 else matmul_flop_jit)(inputs, outputs)


def _permute(inputs: list, outputs: list):
    """One per output element (the copy the next op makes); window partitioning when 5-D or more."""
    from collections import Counter

    from fvcore.nn.jit_handles import get_shape

    shape = get_shape(outputs[0]) or []
    return Counter({"window_permute" if len(shape) >= 5 else "permute": int(math.prod(shape)) if shape else 0})


def _reshape(inputs: list, outputs: list) -> int:
    """A reshape copies only a non-contiguous input: one per element then, else nothing."""
    value = inputs[0]
    if not value.isCompleteTensor():
        return 0
    sizes, strides = value.type().sizes(), value.type().strides()
    expected, contiguous = 1, True
    for size, stride in reversed(list(zip(sizes, strides))):
        if size != 1 and stride != expected:
            contiguous = False
        expected *= size
    return 0 if contiguous else int(math.prod(sizes))


def _tokens(shape) -> tuple[int, int, int]:
    """(batch, length, channels) of a batch-first (B, L, E) or unbatched (L, E) token tensor."""
    return (1, *shape) if len(shape) == 2 else tuple(shape)


def _fused_attention(inputs: list, outputs: list, lengths: list[int] | None = None):
    """aten::_native_multi_head_attention: nn.MultiheadAttention's eval-mode fast path as one operator.

    Counted as its parts: Q, K, V and output projections (``linear``), the two attention
    products (``matmul``) and the softmax.
    """
    from collections import Counter

    from fvcore.nn.jit_handles import get_shape

    b, q_len, dim = _tokens(get_shape(inputs[0]))
    _, kv_len, _ = _tokens(get_shape(inputs[1]))
    heads = int(inputs[4].toIValue())
    if lengths is not None:
        lengths.append(int(kv_len))
    return Counter({"linear": b * (2 * q_len + 2 * kv_len) * dim * dim, **_attention_counts(b, heads, q_len, kv_len, dim)})


def _fused_encoder_layer(inputs: list, outputs: list, lengths: list[int] | None = None):
    """aten::_transformer_encoder_layer_fwd: nn.TransformerEncoderLayer's eval-mode fast path as one operator.

    Counted as its parts, the way fvcore and our handles count the slow path: self-attention
    (see :func:`_fused_attention`), the two feed-forward linears, two layer norms (5 flops per
    element), the activation (one per hidden element) and the two residual adds.
    """
    from collections import Counter

    from fvcore.nn.jit_handles import get_shape

    b, length, dim = _tokens(get_shape(inputs[0]))
    heads = int(inputs[2].toIValue())
    hidden = get_shape(inputs[14])[0]  # ffn_weight_1: (hidden, dim)
    gelu = bool(inputs[7].toIValue())
    if lengths is not None:
        lengths.append(int(length))
    counts = Counter({"linear": b * length * (4 * dim * dim + 2 * dim * hidden),
                      **_attention_counts(b, heads, length, length, dim),
                      "layer_norm": 2 * 5 * b * length * dim, "add": 2 * b * length * dim})
    counts["gelu" if gelu else "relu"] += b * length * hidden
    return counts


_ELEMENTWISE_OPS = [
    "add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "relu", "relu_", "relu6", "relu6_", "hardtanh",
    "hardtanh_", "silu", "silu_", "hardswish", "hardswish_", "sigmoid", "sigmoid_", "hardsigmoid", "hardsigmoid_",
    "clamp", "clamp_", "clamp_min", "clamp_min_", "gelu", "tanh", "leaky_relu", "leaky_relu_", "elu",
    "cat", "constant_pad_nd", "pad", "contiguous", "clone", "gelu_", "tanh_", "elu_", "mish", "mish_", "softplus",
    "softmax", "roll",
]
#: Elementwise ops that evaluate an exponential (``flops_act_transcendental``).
TRANSCENDENTAL_OPS = ("silu", "silu_", "sigmoid", "sigmoid_", "gelu", "gelu_", "tanh", "tanh_", "elu", "elu_",
                       "mish", "mish_", "softplus", "softmax")
#: Explicit padding ops (``flops_pad``).
PAD_OPS = ("constant_pad_nd", "pad")
OP_HANDLES: dict[str, Callable[[list, list], Any]] = {
    **{f"aten::{op}": _elementwise for op in _ELEMENTWISE_OPS},
    "aten::max_pool2d": _windowed_pool,
    "aten::avg_pool2d": _windowed_pool,
    "aten::mean": _input_elementwise,
    "aten::scaled_dot_product_attention": _sdpa,
    "aten::_native_multi_head_attention": _fused_attention,
    "aten::_transformer_encoder_layer_fwd": _fused_encoder_layer,
    "aten::matmul": _attention_matmul,
    "aten::bmm": _attention_matmul,
    "aten::permute": _permute,
    "aten::reshape": _reshape,
}
#: Operator names (without ``aten::``) counted one flop per output element (``flops_elementwise``).
ELEMENTWISE_NAMES: frozenset[str] = frozenset(op.split("::")[1] for op, h in OP_HANDLES.items() if h is _elementwise)
#: Ops that move no data or are no-ops at inference; counted as zero, silently.
ZERO_OPS = [
    "aten::dropout", "aten::dropout_", "aten::feature_dropout", "aten::view", "aten::flatten",
    "aten::transpose", "aten::chunk", "aten::split", "aten::size", "aten::Int",
    "aten::unsqueeze", "aten::squeeze", "aten::expand", "aten::expand_as", "aten::detach", "aten::to",
    "aten::slice", "aten::select", "aten::narrow", "aten::t", "aten::numel", "aten::alias", "aten::unflatten",
]

#: The handles that also see an attention's sequence length (:func:`op_handles_for` binds them to one count).
LENGTH_HANDLES = ("aten::scaled_dot_product_attention", "aten::_native_multi_head_attention",
                   "aten::_transformer_encoder_layer_fwd", "aten::matmul", "aten::bmm")


def op_handles_for(lengths: list[int]) -> dict[str, Callable[[list, list], Any]]:
    """:data:`OP_HANDLES` for one count: the attention handles append the sequence lengths they see to
    ``lengths`` (a list owned by that count, so counts can run concurrently or nest)."""
    return {**OP_HANDLES, **{op: functools.partial(OP_HANDLES[op], lengths=lengths) for op in LENGTH_HANDLES}}

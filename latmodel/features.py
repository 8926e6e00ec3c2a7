"""Per-block features from fvcore plus structural descriptors.

Every column is documented once, in :data:`COLUMN_DOCS`; :data:`FEATURE_COLUMNS`
is the ordered list the predictor trains on.  Counting conventions follow
fvcore: one multiply-add is one flop.  fvcore ignores elementwise and pooling
ops by default; :data:`OP_HANDLES` adds them (one flop per output element, and
``kernel area`` flops per output element for windowed pooling), because on a
CPU memory-bound ops cost real time.  Add an op by adding one entry there.

Structural descriptors (convolution kinds, kernel sizes, channels, bytes moved)
come from forward hooks on the block's modules during one forward pass.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import math
import warnings
from typing import Any, Callable

__all__ = [
    "FEATURE_COLUMNS",
    "COLUMN_DOCS",
    "OP_HANDLES",
    "OP_KINDS",
    "block_features",
    "chain_features",
    "flops_by_module",
]

logger = logging.getLogger(__name__)

BYTES_PER_ELEMENT = 4  # float32 inference

COLUMN_DOCS: dict[str, str] = {
    "batch_size": "images per forward pass",
    "in_channels": "channels of the block's input tensor",
    "in_height_px": "height of the block's input feature map, pixels",
    "in_width_px": "width of the block's input feature map, pixels",
    "out_channels": "channels of the block's output tensor",
    "out_height_px": "height of the block's output feature map, pixels",
    "out_width_px": "width of the block's output feature map, pixels",
    "in_bytes": "bytes of the input tensor (float32)",
    "out_bytes": "bytes of the output tensor (float32)",
    "params": "number of parameters (fvcore parameter_count)",
    "param_bytes": "bytes of the parameters (float32)",
    "intermediate_bytes": "bytes written by all leaf modules inside the block (sum of their outputs)",
    "flops": "total multiply-adds, fvcore counting, including the elementwise/pooling handles below",
    "flops_conv": "multiply-adds in convolutions (fvcore 'conv')",
    "flops_linear": "multiply-adds in linear / matmul / addmm / einsum",
    "flops_norm": "flops in batch / group / layer / instance norm",
    "flops_pool": "flops in max / average / adaptive pooling and means",
    "flops_elementwise": "flops in elementwise ops (add, mul, activations), one per output element",
    "flops_other": "flops in any other counted op",
    "flops_conv_dense": "multiply-adds of dense convolutions (groups == 1, kernel > 1x1)",
    "flops_conv_pointwise": "multiply-adds of 1x1 convolutions with groups == 1",
    "flops_conv_depthwise": "multiply-adds of depthwise convolutions (groups == in_channels)",
    "flops_conv_grouped": "multiply-adds of other grouped convolutions",
    "n_conv_dense": "number of dense convolutions",
    "n_conv_pointwise": "number of pointwise (1x1) convolutions",
    "n_conv_depthwise": "number of depthwise convolutions",
    "n_conv_grouped": "number of grouped (not depthwise) convolutions",
    "n_linear": "number of linear layers",
    "n_norm": "number of normalisation layers",
    "n_pool": "number of pooling layers",
    "n_act": "number of activation layers (modules)",
    "n_ops": "number of graph nodes in the block (ops and module calls)",
    "activations": "output elements of conv/linear/matmul ops (fvcore ActivationCountAnalysis)",
    "max_kernel_size": "largest convolution kernel side in the block (0 if none)",
    "stride": "input height / output height (2 for a downsampling block)",
    "arithmetic_intensity": "flops / (in_bytes + out_bytes + param_bytes + intermediate_bytes)",
    "flops_conv_depthwise_large": "multiply-adds of depthwise convolutions with a kernel side of 5 or more",
    "flops_act_transcendental": ("output elements of activations that evaluate an exponential (SiLU, sigmoid, GELU, "
                                 "tanh, ELU, Mish, softplus): 3-4x a ReLU per element on the 1-thread CPU; "
                                 "hardswish and hardsigmoid are piecewise linear and cost like a ReLU"),
    "flops_cat": "output elements of concatenations (torch.cat: a full copy of the inputs)",
    "flops_max_pool": "flops in max pooling (kernel area per output element)",
    "n_ops_per_mflop": "n_ops / (flops / 1e6): how much fixed per-operator overhead the block carries",
    "flops_pad": ("output elements of explicit padding ops (ZeroPad2d, F.pad: 'same' padding as in TensorFlow "
                  "ports): a full copy of the input, and the convolution after it runs on an unpadded, odd-sized map"),
    "flops_layer_norm": "flops in layer norms (fvcore: 5 per element), also channels-last ones run after a permute",
    "flops_gelu": "output elements of GELU activations (module or functional; the fused encoder layer's too)",
    "flops_attention": ("multiply-adds of attention products Q K^T and A V (matmul / bmm between activations, "
                        "scaled_dot_product_attention, nn.MultiheadAttention's fused fast path)"),
    "attention_seq_len": "longest key sequence an attention product in the block runs over, tokens (0 if none)",
    "flops_softmax": "elements of softmax outputs (attention weights)",
    "flops_copy": ("elements moved by data-copying layout ops: permute, a reshape of a non-contiguous tensor "
                   "(it copies), roll, contiguous / clone"),
    "flops_window": ("elements moved by window partitioning: permutes of 5-D or larger tensors (window "
                     "partition and reverse) and roll (shifted windows)"),
    "flops_layer_scale": "output elements of multiplications by a learned per-channel parameter (layer scale)",
}
FEATURE_COLUMNS: tuple[str, ...] = tuple(COLUMN_DOCS)

# --------------------------------------------------------------------------- fvcore handles

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
    appended to ``lengths`` (the count's own list: :func:`_op_handles`)."""
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
    "add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "relu", "relu_", "hardtanh", "hardtanh_",
    "silu", "silu_", "hardswish", "hardswish_", "sigmoid", "sigmoid_", "hardsigmoid", "hardsigmoid_",
    "clamp", "clamp_", "clamp_min", "clamp_min_", "gelu", "tanh", "leaky_relu", "leaky_relu_", "elu",
    "cat", "constant_pad_nd", "pad", "contiguous", "clone", "gelu_", "tanh_", "elu_", "mish", "mish_", "softplus",
    "softmax", "roll",
]
#: Elementwise ops that evaluate an exponential (``flops_act_transcendental``).
_TRANSCENDENTAL_OPS = ("silu", "silu_", "sigmoid", "sigmoid_", "gelu", "gelu_", "tanh", "tanh_", "elu", "elu_",
                       "mish", "mish_", "softplus", "softmax")
#: Explicit padding ops (``flops_pad``).
_PAD_OPS = ("constant_pad_nd", "pad")
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
# Ops that move no data or are no-ops at inference; counted as zero, silently.
_ZERO_OPS = [
    "aten::dropout", "aten::dropout_", "aten::feature_dropout", "aten::view", "aten::flatten",
    "aten::transpose", "aten::chunk", "aten::split", "aten::size", "aten::Int",
    "aten::unsqueeze", "aten::squeeze", "aten::expand", "aten::expand_as", "aten::detach", "aten::to",
    "aten::slice", "aten::select", "aten::narrow", "aten::t", "aten::numel", "aten::alias", "aten::unflatten",
]

#: The handles that also see an attention's sequence length (:func:`_op_handles` binds them to one count).
_LENGTH_HANDLES = ("aten::scaled_dot_product_attention", "aten::_native_multi_head_attention",
                   "aten::_transformer_encoder_layer_fwd", "aten::matmul", "aten::bmm")


def _op_handles(lengths: list[int]) -> dict[str, Callable[[list, list], Any]]:
    """:data:`OP_HANDLES` for one count: the attention handles append the sequence lengths they see to
    ``lengths`` (a list owned by that count, so counts can run concurrently or nest)."""
    return {**OP_HANDLES, **{op: functools.partial(OP_HANDLES[op], lengths=lengths) for op in _LENGTH_HANDLES}}


_reported_unsupported: set[str] = set()


@contextlib.contextmanager
def _quiet_fvcore():
    """Silence fvcore's import-time FutureWarning and its per-op log lines (ours only)."""
    fv_logger = logging.getLogger("fvcore")
    old_level = fv_logger.level
    fv_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"fvcore.*")
            warnings.filterwarnings("ignore", category=UserWarning, message=r".*(?:tracer|TracerWarning).*")
            warnings.filterwarnings("ignore", message=r".*torch\.jit.*")
            try:
                from torch.jit import TracerWarning

                warnings.filterwarnings("ignore", category=TracerWarning)
            except ImportError:  # pragma: no cover
                pass
            yield
    finally:
        fv_logger.setLevel(old_level)


def _fvcore_counts(block, x) -> tuple[dict[str, int], int, int, int]:
    """(flops by operator, activation count, parameter count, longest attention sequence) for one block."""
    with _quiet_fvcore():
        from fvcore.nn import ActivationCountAnalysis, FlopCountAnalysis, parameter_count

        lengths: list[int] = []
        flops = FlopCountAnalysis(block, (x,))
        flops.set_op_handle(**_op_handles(lengths), **{op: None for op in _ZERO_OPS})
        flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        by_op = dict(flops.by_operator())
        attention_len = max(lengths, default=0)
        for op, count in flops.unsupported_ops().items():
            if op not in _reported_unsupported:
                _reported_unsupported.add(op)
                logger.warning("fvcore cannot count op %s (seen %d times); its cost is left out of the flops", op, count)
        acts = ActivationCountAnalysis(block, (x,))
        acts.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        activations = int(acts.total())
        params = int(parameter_count(block).get("", 0))
    return {k: int(v) for k, v in by_op.items()}, activations, params, attention_len


def flops_by_module(module, x) -> dict[str, int]:
    """fvcore flops (with :data:`OP_HANDLES`) of ``module`` run on ``x``, per module path ("" is the total)."""
    with _quiet_fvcore():
        from fvcore.nn import FlopCountAnalysis

        flops = FlopCountAnalysis(module, (x,))
        flops.set_op_handle(**OP_HANDLES, **{op: None for op in _ZERO_OPS})
        flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return {k: int(v) for k, v in flops.by_module().items()}


def _structure(block, x) -> tuple[dict[str, float], Any]:
    """Forward hooks on the block's modules: conv kinds, kernel sizes, bytes written."""
    import torch
    import torch.nn as nn

    stats = {
        "flops_conv_dense": 0, "flops_conv_pointwise": 0, "flops_conv_depthwise": 0, "flops_conv_grouped": 0,
        "n_conv_dense": 0, "n_conv_pointwise": 0, "n_conv_depthwise": 0, "n_conv_grouped": 0,
        "n_linear": 0, "n_norm": 0, "n_pool": 0, "n_act": 0, "intermediate_bytes": 0, "max_kernel_size": 0,
        "flops_conv_depthwise_large": 0, "flops_act_transcendental": 0,
    }
    # Measured on the 1-thread CPU (96x112x112 map): ReLU/ReLU6 0.10 ns per element, hardswish 0.14,
    # SiLU/sigmoid 0.42, GELU 0.46, tanh 2.5 -- only the exponential ones are counted here.
    transcendental = (nn.SiLU, nn.Sigmoid, nn.GELU, nn.Tanh, nn.ELU, nn.Mish, nn.Softplus)
    acts = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.Hardsigmoid, nn.SiLU, nn.Sigmoid, nn.GELU, nn.Tanh, nn.LeakyReLU,
            nn.ELU, nn.Hardtanh)
    norms = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)
    pools = (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd, nn.modules.pooling._AdaptiveAvgPoolNd,
             nn.modules.pooling._AdaptiveMaxPoolNd)

    def hook(module, inputs, output):
        if isinstance(output, torch.Tensor) and not list(module.children()):
            stats["intermediate_bytes"] += output.numel() * BYTES_PER_ELEMENT
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            cin, groups = module.in_channels, module.groups
            macs = output.numel() * (cin // groups) * kh * kw
            if groups == 1:
                kind = "pointwise" if kh * kw == 1 else "dense"
            elif groups == cin:
                kind = "depthwise"
            else:
                kind = "grouped"
            stats[f"flops_conv_{kind}"] += macs
            stats[f"n_conv_{kind}"] += 1
            if kind == "depthwise" and max(kh, kw) >= 5:
                stats["flops_conv_depthwise_large"] += macs
            stats["max_kernel_size"] = max(stats["max_kernel_size"], kh, kw)
        elif isinstance(module, nn.Linear):
            stats["n_linear"] += 1
        elif isinstance(module, norms):
            stats["n_norm"] += 1
        elif isinstance(module, pools):
            stats["n_pool"] += 1
        elif isinstance(module, acts):
            stats["n_act"] += 1
            if isinstance(module, transcendental) and isinstance(output, torch.Tensor):
                stats["flops_act_transcendental"] += output.numel()

    handles = [m.register_forward_hook(hook) for m in block.modules() if m is not block]
    try:
        with torch.no_grad():
            out = block(x)
    finally:
        for h in handles:
            h.remove()
    return stats, out


def _shape4(shape) -> tuple[int, int, int]:
    if len(shape) == 4:
        return int(shape[1]), int(shape[2]), int(shape[3])
    if len(shape) == 2:
        return int(shape[1]), 1, 1
    return int(math.prod(shape[1:])), 1, 1


def block_features(block, x) -> tuple[dict[str, float], Any]:
    """Features of one block run on input ``x``; returns (features, block output)."""
    by_op, activations, params, attention_len = _fvcore_counts(block, x)
    structure, out = _structure(block, x)
    kinds = {k: 0 for k in ("flops_conv", "flops_linear", "flops_norm", "flops_pool", "flops_elementwise", "flops_other")}
    elementwise_names = {op.split("::")[1] for op in OP_HANDLES if OP_HANDLES[op] is _elementwise}
    for op, count in by_op.items():
        if op in OP_KINDS:
            kinds[OP_KINDS[op]] += count
        elif op in elementwise_names:
            kinds["flops_elementwise"] += count
        else:
            kinds["flops_other"] += count
    cin, hin, win = _shape4(tuple(x.shape))
    cout, hout, wout = _shape4(tuple(out.shape))
    feats: dict[str, float] = {
        "batch_size": int(x.shape[0]),
        "in_channels": cin, "in_height_px": hin, "in_width_px": win,
        "out_channels": cout, "out_height_px": hout, "out_width_px": wout,
        "in_bytes": x.numel() * BYTES_PER_ELEMENT,
        "out_bytes": out.numel() * BYTES_PER_ELEMENT,
        "params": params,
        "param_bytes": params * BYTES_PER_ELEMENT,
        "intermediate_bytes": structure.pop("intermediate_bytes"),
        "flops": sum(by_op.values()),
        **kinds,
        **structure,
        "n_ops": sum(1 for n in getattr(block, "graph", None).nodes if n.op not in ("placeholder", "output"))
        if hasattr(block, "graph") else 0,
        "activations": activations,
        "stride": (hin / hout) if hout else 1.0,
    }
    moved = feats["in_bytes"] + feats["out_bytes"] + feats["param_bytes"] + feats["intermediate_bytes"]
    feats["arithmetic_intensity"] = feats["flops"] / moved if moved else 0.0
    # Functional activations (F.silu, torch.sigmoid in forward) have no module for the hook to see.
    functional = sum(by_op.get(op, 0) for op in _TRANSCENDENTAL_OPS)
    feats["flops_act_transcendental"] = max(feats["flops_act_transcendental"], functional)
    feats["flops_cat"] = by_op.get("cat", 0)
    feats["flops_max_pool"] = by_op.get("max_pool2d", 0) + by_op.get("adaptive_max_pool2d", 0)
    feats["n_ops_per_mflop"] = feats["n_ops"] / (feats["flops"] / 1e6) if feats["flops"] else 0.0
    feats["flops_pad"] = sum(by_op.get(op, 0) for op in _PAD_OPS)
    feats["flops_layer_norm"] = by_op.get("layer_norm", 0)
    feats["flops_gelu"] = by_op.get("gelu", 0) + by_op.get("gelu_", 0)
    feats["flops_attention"] = sum(by_op.get(op, 0) for op in ("matmul", "bmm", "scaled_dot_product_attention"))
    feats["attention_seq_len"] = attention_len
    feats["flops_softmax"] = by_op.get("softmax", 0)
    feats["flops_copy"] = sum(by_op.get(op, 0) for op in ("permute", "window_permute", "reshape", "roll",
                                                          "contiguous", "clone"))
    feats["flops_window"] = by_op.get("window_permute", 0) + by_op.get("roll", 0)
    feats["flops_layer_scale"] = _layer_scale_elements(block)
    return {k: feats[k] for k in FEATURE_COLUMNS}, out


def _layer_scale_elements(block) -> int:
    """Output elements of ``parameter * x`` products in a block's graph (shapes recorded when it was split)."""
    import torch
    from torch.fx.passes.shape_prop import TensorMetadata

    graph = getattr(block, "graph", None)
    if graph is None:
        return 0
    total = 0
    for node in graph.nodes:
        if node.op != "call_function" or getattr(node.target, "__name__", "") not in ("mul", "mul_"):
            continue
        params = [a for a in node.args if getattr(a, "op", None) == "get_attr"
                  and isinstance(getattr(block, str(a.target).split(".")[0], None) is not None
                                 and _get_attr(block, str(a.target)), torch.nn.Parameter)]
        meta = node.meta.get("tensor_meta")
        if params and isinstance(meta, TensorMetadata):
            total += int(math.prod(meta.shape))
    return total


def _get_attr(module, target: str):
    for part in target.split("."):
        module = getattr(module, part, None)
        if module is None:
            return None
    return module


def chain_features(chain, seed: int = 0) -> list[dict[str, Any]]:
    """One feature dict per block of ``chain`` (with ``block_index`` and ``block_name``)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(chain.input_shape, generator=gen)
    rows = []
    with torch.no_grad():
        for info, block in zip(chain.infos, chain.blocks):
            feats, x = block_features(block, x)
            rows.append({"block_index": info.index, "block_name": info.name, **feats})
    return rows

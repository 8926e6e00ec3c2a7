"""Per-block features from fvcore plus structural descriptors.

Every column is documented once, in :data:`COLUMN_DOCS`; :data:`FEATURE_COLUMNS`
is the ordered list the predictor trains on.  Counting conventions follow
fvcore: one multiply-add is one flop.  fvcore ignores elementwise and pooling
ops by default; :data:`latmodel.graph.op_handles.OP_HANDLES` adds them (one flop per output element, and
``kernel area`` flops per output element for windowed pooling), because on a
CPU memory-bound ops cost real time.  Add an op by adding one entry there.

Structural descriptors (convolution kinds, kernel sizes, channels, bytes moved)
come from forward hooks on the block's modules during one forward pass.
"""
from __future__ import annotations

import contextlib
import logging
import math
import warnings
from typing import Any

from .subnormals import count_subnormals
from .op_handles import (ELEMENTWISE_NAMES, OP_HANDLES, OP_KINDS, PAD_OPS, TRANSCENDENTAL_OPS, ZERO_OPS,
                         op_handles_for)

__all__ = [
    "BYTES_PER_ELEMENT",
    "FEATURE_COLUMNS",
    "COLUMN_DOCS",
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
    "subnormal_values": ("subnormal float elements the block's ops output in one forward pass of the seeded "
                         "input (Swin's masked attention: exp(-100)); a CPU computes with them ~100x slower "
                         "(latmodel.graph.subnormals)"),
    "flops_subnormal": ("operations with a subnormal operand in that pass: multiply-adds of matrix products "
                        "(a subnormal element counts once per column or row it meets), elementwise operations "
                        "on a subnormal input element"),
    "flops_avg_pool": ("flops in windowed average pooling (avg_pool2d: kernel area per output element); the "
                       "adaptive pools and means of flops_pool are reductions, 20-40x cheaper a flop on the 1-thread "
                       "CPU, and max pooling ~3x dearer (flops_max_pool)"),
}
FEATURE_COLUMNS: tuple[str, ...] = tuple(COLUMN_DOCS)

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
        flops.set_op_handle(**op_handles_for(lengths), **{op: None for op in ZERO_OPS})
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
        flops.set_op_handle(**OP_HANDLES, **{op: None for op in ZERO_OPS})
        flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return {k: int(v) for k, v in flops.by_module().items()}


def _structure(block, x) -> tuple[dict[str, float], Any]:
    """Forward hooks on the block's modules (conv kinds, kernel sizes, bytes written) and its subnormals."""
    import torch
    import torch.nn as nn

    stats = {
        "flops_conv_dense": 0, "flops_conv_pointwise": 0, "flops_conv_depthwise": 0, "flops_conv_grouped": 0,
        "n_conv_dense": 0, "n_conv_pointwise": 0, "n_conv_depthwise": 0, "n_conv_grouped": 0,
        "n_linear": 0, "n_norm": 0, "n_pool": 0, "n_act": 0, "intermediate_bytes": 0, "max_kernel_size": 0,
        "flops_conv_depthwise_large": 0, "flops_act_transcendental": 0,
        "subnormal_values": 0, "flops_subnormal": 0,
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
        with torch.no_grad(), count_subnormals() as subnormal:
            out = block(x)
    finally:
        for h in handles:
            h.remove()
    stats["subnormal_values"] = subnormal.count.values
    stats["flops_subnormal"] = subnormal.count.flops
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
    for op, count in by_op.items():
        if op in OP_KINDS:
            kinds[OP_KINDS[op]] += count
        elif op in ELEMENTWISE_NAMES:
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
    functional = sum(by_op.get(op, 0) for op in TRANSCENDENTAL_OPS)
    feats["flops_act_transcendental"] = max(feats["flops_act_transcendental"], functional)
    feats["flops_cat"] = by_op.get("cat", 0)
    feats["flops_max_pool"] = by_op.get("max_pool2d", 0) + by_op.get("adaptive_max_pool2d", 0)
    feats["flops_avg_pool"] = by_op.get("avg_pool2d", 0)
    feats["n_ops_per_mflop"] = feats["n_ops"] / (feats["flops"] / 1e6) if feats["flops"] else 0.0
    feats["flops_pad"] = sum(by_op.get(op, 0) for op in PAD_OPS)
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

    rows = []
    # Normal (no-grad) mode even inside a caller's inference mode (the profile measures in one): there the
    # dispatcher hands composite ops (matmul, linear, softmax, dropout) to the subnormal counter undecomposed, so a
    # matrix product's subnormal multiply-adds read as one per element (Swin-T 128 px, features.5.1: 128,880
    # against 13,068,420) and the tables disagreed with the features predictions are asked with.
    with torch.inference_mode(False), torch.no_grad():
        x = torch.randn(chain.input_shape, generator=torch.Generator().manual_seed(seed))
        for info, block in zip(chain.infos, chain.blocks):
            feats, x = block_features(block, x)
            rows.append({"block_index": info.index, "block_name": info.name, **feats})
    return rows

"""Subnormal floats a block produces and the work that reads them.

An x86 core computes with a subnormal float (|x| < 1.18e-38 in float32, not zero) through a microcode
assist that costs ~100 cycles, unless the thread flushes them to zero (``torch.set_flush_denormal``;
PyTorch and ONNX Runtime leave it off).  Swin's shifted-window attention adds -100 to masked attention
scores, so ``exp`` in its softmax returns ~3.7e-44 for every masked pair and the product with V reads them:
on the stepping-1 Xeon guest, 1 thread, ``swin_t`` at 128 px, block ``features.5.1`` runs in 37.5 ms
against 4.8 ms with subnormals flushed (its unshifted twin ``features.5.0``: 4.4 ms), and its feature
blocks take 2.5x as long as flushed (192 vs 76 ms).  No FLOP count sees this; the values do, so the features count them in one
forward pass of the block (:func:`latmodel.graph.features.block_features`).

Counted with a :class:`torch.utils._python_dispatch.TorchDispatchMode` rather than module hooks because
the ops that make and read subnormals (``_softmax``, ``bmm``) are functional calls inside a module's
``forward``, which hooks do not see.
"""
from __future__ import annotations

__all__ = ["MATMUL_OPS", "SubnormalCount", "count_subnormals"]

#: aten matrix products: each element of the left operand is used once per column of the right one, and each
#: element of the right once per row of the left.  ``matmul`` and ``linear`` decompose into these before the
#: dispatch mode sees them.  Name -> positions of (left, right) among the arguments.
MATMUL_OPS: dict[str, tuple[int, int]] = {"mm": (0, 1), "bmm": (0, 1), "addmm": (1, 2), "baddbmm": (1, 2),
                                          "addbmm": (1, 2)}


class SubnormalCount:
    """Running totals: subnormal output elements (``values``) and the multiply-adds or elementwise operations
    that take a subnormal operand (``flops``)."""

    def __init__(self) -> None:
        self.values = 0
        self.flops = 0


def _subnormal_elements(t) -> int:
    import torch

    if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.numel() == 0 or t.is_meta:
        return 0
    tiny = torch.finfo(t.dtype).tiny
    return int(torch.count_nonzero((t != 0) & (t.abs() < tiny)))


def _subnormal_operations(name: str, args, inputs) -> int:
    """Operations of one op that take a subnormal operand: for a matrix product each subnormal element of the
    left operand times the right's columns, plus each of the right's times the left's rows; for any other op
    each subnormal input element once.  Timed on the stepping-1 Xeon (1 thread): ~2.4 ns per multiply-add with
    a subnormal operand in ``bmm`` and ``addmm`` alike (30 -> 1,527 us for a 27 x 49 x 49 by 49 x 32 product
    whose left operand held 19,211 subnormals), ~20 ns per subnormal ``exp`` returns in ``softmax``."""
    if name in MATMUL_OPS:
        left, right = (args[i] for i in MATMUL_OPS[name])
        return _subnormal_elements(left) * int(right.shape[-1]) + _subnormal_elements(right) * int(left.shape[-2])
    return sum(_subnormal_elements(t) for t in inputs)


def count_subnormals():
    """A dispatch mode that adds every op's subnormal outputs and subnormal-reading work to ``mode.count``."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    class _Mode(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.count = SubnormalCount()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            if func.is_view:  # the same values under another shape: neither made nor read again
                return out
            inputs = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
            outputs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
            self.count.values += sum(_subnormal_elements(t) for t in outputs)
            self.count.flops += _subnormal_operations(func.overloadpacket.__name__, args, inputs)
            return out

    return _Mode()

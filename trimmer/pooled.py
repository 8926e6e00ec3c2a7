"""Pooled features of a network's blocks after several cuts, from one pass over the images: what head mode
trains on (every cut of a base network from one pass) and what the probe scores."""
from __future__ import annotations

import math
from typing import Any, Sequence

from latmodel.errors import NetcutError

from .compute import feature_autocast, progress as _progress, resolve_device
from .splits import batches, to_model_input

__all__ = ["FEATURE_BATCH_IMAGES", "channels_last", "extract_pooled_features", "fold_batch_norms"]

#: Images a feature pass runs at once, at most (whatever the training batch): the features do not depend on it,
#: and 32 instead of 64 keeps each feature map under glibc's mmap threshold (trimmer.compute.keep_freed_memory):
#: mobilenet_v2 at 160 px, 600 images, 3 cuts: 5.3 / 4.3 s against 7.1 / 5.7 s, 5x fewer page faults
#: (two alternating runs, 2-core Xeon guest, 2026-12-03).
FEATURE_BATCH_IMAGES = 32


def _batch_norm_types() -> tuple:
    import torch.nn as nn

    return (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _foldable(conv, bn) -> bool:
    """Whether batch norm ``bn`` right after ``conv`` folds into it (any ``nn.Conv*`` subclass, not transposed)."""
    import torch.nn as nn

    return (isinstance(conv, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) and not conv.transposed
            and isinstance(bn, _batch_norm_types()) and bn.track_running_stats)


def channels_last(h):
    """``h`` in channels-last memory when it is a 4-d image batch (oneDNN's convolutions run 1.5-1.9x faster on
    it here), else ``h``."""
    import torch

    return h.contiguous(memory_format=torch.channels_last) if h.dim() == 4 else h


def fold_batch_norms(block):
    """An eval-mode copy of ``block`` whose batch norms are folded into the convolutions before them: the same
    function up to float rounding, without a pass over every feature map per batch norm (forward passes
    1.08-1.77x faster at 128 px on the 2-core Xeon guest, 8 interleaved rounds, minimum, 2026-12-03).  ``block``
    itself when it has no batch norm or cannot be traced; the caller's module is never changed.

    torch.fx's ``fuse`` does the same but matches the convolution's exact type, so it left every batch norm of
    EfficientNet-Lite unfolded (its convolutions are ``Conv2dStaticSamePadding``, a subclass of ``nn.Conv2d``
    that pads in its forward); here any subclass folds (``fuse_conv_bn_eval`` deep-copies the convolution, so
    its padding stays).  A symmetric static padding is inlined into its convolution too
    (:func:`_inline_symmetric_padding`: EfficientNet-Lite's passes 7-14% faster, lite0 at 128 px and lite2 at
    96 px, six interleaved rounds, 2-core Xeon 6/207/2 guest, 2026-12-06; bitwise the same features)."""
    import copy

    import torch
    from torch.fx.experimental.optimization import replace_node_module
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if block.training or not any(isinstance(m, _batch_norm_types()) for m in block.modules()):
        return block
    try:
        gm = copy.deepcopy(block)  # every change below is to this copy
        if not isinstance(gm, torch.fx.GraphModule):
            gm = torch.fx.symbolic_trace(gm)
    except Exception:  # noqa: BLE001 - a block fx cannot trace runs unfused: the same result, only slower
        return block
    folded = _fold_in_sequentials(gm)
    _inline_symmetric_padding(gm)
    modules = dict(gm.named_modules())
    for node in list(gm.graph.nodes):
        conv = node.args[0] if node.op == "call_module" and node.args else None
        if (not isinstance(conv, torch.fx.Node) or conv.op != "call_module" or len(conv.users) > 1
                or not _foldable(modules.get(conv.target), modules.get(node.target))):
            continue
        replace_node_module(conv, modules, fuse_conv_bn_eval(modules[conv.target], modules[node.target]))
        node.replace_all_uses_with(conv)
        gm.graph.erase_node(node)
        folded += 1
    if not folded:
        return block
    gm.graph.lint()
    return torch.fx.GraphModule(gm, gm.graph).eval()


def _inline_symmetric_padding(root) -> None:
    """Give each convolution that zero-pads its input in a separate module before it (``static_padding``, as
    EfficientNet-Lite's ``Conv2dStaticSamePadding`` does, TensorFlow's 'SAME') that padding itself when it is the
    same on both sides, and drop the separate pad: the same function without a padded copy of every feature map
    (in place, on ``root``'s own modules).  Asymmetric pads (stride 2 on even sizes) stay."""
    import torch.nn as nn

    for m in root.modules():
        pad = getattr(m, "static_padding", None)
        if not (isinstance(m, nn.Conv2d) and isinstance(pad, nn.ZeroPad2d) and tuple(m.padding) == (0, 0)
                and m.padding_mode == "zeros"):
            continue
        left, right, top, bottom = pad.padding
        if left == right and top == bottom:
            m.padding, m.static_padding = (top, left), nn.Identity()


def _fold_in_sequentials(root) -> int:
    """Fold each (convolution, batch norm) pair of adjacent children of an ``nn.Sequential`` in ``root`` (in place;
    the batch norm becomes ``nn.Identity``): the pairs inside modules fx keeps whole, e.g. torchvision's
    ``Conv2dNormActivation``, which the graph pass cannot see.  Returns how many it folded."""
    import torch.nn as nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = 0
    for seq in [m for m in root.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = seq._modules[a], seq._modules[b]
            if _foldable(conv, bn):
                seq._modules[a], seq._modules[b] = fuse_conv_bn_eval(conv, bn), nn.Identity()
                folded += 1
    return folded


def extract_pooled_features(blocks: Sequence[Any], x_uint8, resolution: int, cut_indices: Sequence[int],
                            batch_size: int = 64, device: str = "cpu", progress: bool = True, *, amp: bool = True,
                            precision: str = "float32") -> dict:
    """Pooled features after each cut in ``cut_indices``, from ONE pass over ``x_uint8``.

    Runs ``blocks[0..max(cut_indices)]`` in eval mode without gradients (batch norms folded into the
    convolutions: :func:`fold_batch_norms`), one batch at a time (:func:`~trimmer.splits.to_model_input` at
    ``resolution``; at most :data:`FEATURE_BATCH_IMAGES` images at once), and records :func:`global_pool` of
    the output of each requested block.  Returns ``{k: float32 CPU tensor N x C_k}``.  The blocks are moved to
    ``device``; their train/eval flags are restored afterwards.  ``precision`` ``bfloat16`` runs a CPU pass under
    bfloat16 autocast (:func:`trimmer.compute.feature_autocast`; the probe's choice on CPUs that compute it
    natively); on CUDA ``amp`` decides.
    """
    import torch

    from .trn import global_pool

    cuts = sorted({int(k) for k in cut_indices})
    if not cuts:
        raise NetcutError("cut_indices is empty; give at least one block index to extract features after")
    if cuts[0] < 0 or cuts[-1] >= len(blocks):
        raise NetcutError(f"cut index {cuts[0] if cuts[0] < 0 else cuts[-1]} is out of range; the network has blocks 0..{len(blocks) - 1}")
    if batch_size < 1:
        raise NetcutError(f"batch_size must be >= 1, got {batch_size}")
    batch_size = min(batch_size, FEATURE_BATCH_IMAGES)
    dev = resolve_device(device) if isinstance(device, str) else torch.device(device)
    autocast = feature_autocast(dev, amp, precision)
    used = list(blocks[: cuts[-1] + 1])
    was_training = [b.training for b in used]
    wanted = set(cuts)
    out: dict[int, list] = {k: [] for k in cuts}
    xs = x_uint8 if len(x_uint8) else x_uint8.new_zeros((1, *x_uint8.shape[1:]))
    n_batches = math.ceil(len(xs) / batch_size)
    try:
        for b in used:
            b.to(dev).eval()
        run = [fold_batch_norms(b) for b in used]  # copies: the caller's blocks keep their batch norms
        with torch.no_grad():
            for xb, _ in _progress(batches(xs, None, batch_size), total=n_batches, desc="features", enabled=progress):
                h = channels_last(to_model_input(xb.to(dev), resolution))
                with autocast():
                    for i, block in enumerate(run):
                        h = block(h)
                        if i in wanted:
                            out[i].append(global_pool(h).float().cpu())
    finally:
        for b, t in zip(used, was_training):
            b.train(t)
    feats = {k: torch.cat(v) for k, v in out.items()}
    if not len(x_uint8):
        feats = {k: v[:0] for k, v in feats.items()}
    return feats

"""Zoo networks with their batch norms folded into the convolutions, as deployed (``bench_folded.py``).

``latmodel profile --models benchmarks.folded_nets:mobilenet_v2_folded`` builds them from the repository root.
Folding keeps every module's name (the batch norm becomes an ``nn.Identity``), so a folded network's blocks
line up with the unfolded one's.  :func:`torch.nn.utils.fusion.fuse_conv_bn_eval` does the arithmetic; the walk
over the module tree is ours because ``torch.fx.experimental.optimization.fuse`` returns a flat
``GraphModule`` whose blocks no longer carry the network's module paths.
"""
from __future__ import annotations

__all__ = ["FOLDED", "fold_batch_norms", "mobilenet_v2_folded", "resnet18_folded", "mnasnet1_0_folded"]

#: Factory name -> the zoo network it folds (one place to add one).
FOLDED: dict[str, str] = {
    "mobilenet_v2_folded": "mobilenet_v2",
    "resnet18_folded": "resnet18",
    "mnasnet1_0_folded": "mnasnet1_0",
}


def fold_batch_norms(model):
    """``model`` (in eval mode) with every ``Conv2d`` directly followed by a ``BatchNorm2d`` sibling folded."""
    import torch.nn as nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for parent in list(model.modules()):
        names = [n for n, _ in parent.named_children()]
        for first, second in zip(names, names[1:]):
            conv, bn = getattr(parent, first), getattr(parent, second)
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                fused = fuse_conv_bn_eval(conv.eval(), bn.eval())
                if isinstance(parent, nn.Sequential):
                    parent[int(first)], parent[int(second)] = fused, nn.Identity()
                else:
                    setattr(parent, first, fused)
                    setattr(parent, second, nn.Identity())
    return model


def _folded(name: str):
    from latmodel.graph.zoo import build_model

    return fold_batch_norms(build_model(name))


def mobilenet_v2_folded():
    return _folded(FOLDED["mobilenet_v2_folded"])


def resnet18_folded():
    return _folded(FOLDED["resnet18_folded"])


def mnasnet1_0_folded():
    return _folded(FOLDED["mnasnet1_0_folded"])

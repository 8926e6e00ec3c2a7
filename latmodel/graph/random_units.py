"""Sampler 8 (``random8:SEED``): the units that the other samplers draw too rarely, or in another form, for a
runtime that prices them its own way.

Three kinds, a third of the seeds each:

* **channel-shuffle units** -- ShuffleNetV2-style stages: a strided unit runs two branches (depthwise 3x3 / 2 then
  1x1; 1x1, depthwise 3x3 / 2, 1x1) and concatenates them, a unit of stride 1 splits the channels in half and runs
  the second half through the 1x1 / depthwise / 1x1 branch; each ends in a channel shuffle (view, transpose,
  ``contiguous``, view), which is a real copy in torch and a ``Transpose`` node under ONNX Runtime.  No other
  sampler splits or shuffles channels, and with ShuffleNet held out ONNX Runtime's predictor priced
  ShuffleNetV2 x1.0 29% under (AMD EPYC, 1 thread);
* **narrow grouped bottlenecks** -- RegNet-style blocks (1x1; 3x3 grouped with 4-16 channels a group; optional
  squeeze-excitation of a quarter of the block's input channels; 1x1; residual).  Sampler 6 draws 8-64 channels a
  group, mostly 16 or more; ONNX Runtime runs a grouped convolution of 8 channels a group at ~0.056 ns a
  multiply-add against ~0.02 ns at 16 or more (AMD EPYC, 1 thread, 192 channels at 28 x 28), and with RegNet held
  out its predictor priced RegNetY-400MF (8 a group) 33% under;
* **small squeeze-excitation inverted residuals** -- MobileNetV3-Small-style chains at 16-96 channels: 1x1
  expansion, depthwise 3x3 or 5x5, squeeze-excitation as modules (average pool, 1x1, ReLU, 1x1, hard sigmoid,
  multiply), 1x1 projection, ReLU or hard swish.  The other samplers' squeeze-excitation is written with
  functional calls and sits mostly on wider blocks; with MobileNetV3 held out, torch's predictor priced
  MobileNetV3-Small 10-21% over (AMD EPYC), its squeeze-excitations costing ~8 us a layer where the prior
  priced ~20.

Written here, not taken from torchvision, so that leaving the ``shufflenet``, ``regnet`` or ``mobilenet_v3``
family out of a cross-validation leaves its code out too.  The sampler is frozen once tables hold its networks.
"""
from __future__ import annotations

import random

from .random_nets import activation

__all__ = ["UNIT_KINDS", "random_unit_config", "RandomUnitNet"]

#: The kinds of network sampler 8 draws (a third of the seeds each, in this order by ``seed % 3``).
UNIT_KINDS: tuple[str, ...] = ("shuffle", "grouped", "se_small")


def random_unit_config(seed: int, width: float = 1.0) -> dict:
    """Sample a sampler-8 configuration (deterministic per ``seed``; see the module docstring)."""
    rng = random.Random(f"sampler8:{seed}")
    kind = UNIT_KINDS[seed % 3]
    n_stages = rng.randint(2, 4)
    if kind == "shuffle":
        first = max(16, int(rng.choice([48, 64, 96, 116, 176, 244]) * width) // 4 * 4)
        return {"kind": kind, "stem": max(8, int(24 * width)),
                "widths": [min(first * 2 ** i, 1024) for i in range(n_stages)],
                "depths": [rng.randint(1, 4) for _ in range(n_stages)],
                "last": rng.choice([0, 0, 512, 1024])}
    if kind == "grouped":
        # channels a group by seed, not drawn, so that 8 (RegNetY's) is half of them: 4, 8, 8, 16 in turn
        group = (4, 8, 8, 16)[(seed // 3) % 4]
        first = max(group, int(rng.choice([24, 32, 48, 64]) * width) // group * group)
        return {"kind": kind, "stem": max(8, int(32 * width)), "group": group,
                "widths": [min(int(first * 2.2 ** i) // group * group, 1024 // group * group)
                           for i in range(n_stages)],
                "depths": [rng.randint(1, 4) for _ in range(n_stages)], "se": rng.random() < 0.67}
    # the first block's growth is taken from this draw while the stem stays at 16 channels (so a first block drawn
    # from 24 grows to 40-48 from a 16-channel input): frozen as measured
    channels = max(8, int(rng.choice([16, 16, 24]) * width))
    blocks = []
    n_blocks = rng.randint(6, 11)
    # four strided blocks after the strided stem, as MobileNetV3-Small has: 4-7 px maps at the end, where a block's
    # dozen small ops cost more than its multiply-adds (a first version strided twice and its blocks carried 10-30x
    # MobileNetV3-Small's multiply-adds, which taught the predictor nothing about such blocks)
    down_at = {0, *rng.sample(range(1, n_blocks), 3)}
    for i in range(n_blocks):
        stride = 2 if i in down_at else 1
        grow = rng.choice([1.5, 2.0]) if stride == 2 else rng.choice([1.0, 1.0, 1.25])
        out = min(96, max(8, int(round(channels * grow / 8.0)) * 8))
        blocks.append({"out": out, "expand": rng.choice([3.0, 4.0, 4.5, 6.0]), "k": rng.choice([3, 5]),
                       "stride": stride, "se": rng.random() < 0.7, "act": rng.choice(["relu", "hswish", "hswish"])})
        channels = out
    return {"kind": kind, "stem": max(8, int(16 * width)), "blocks": blocks, "last": rng.choice([0, 288, 576])}


def RandomUnitNet(seed: int, width: float = 1.0, num_classes: int = 1000):
    """A randomly sampled network of sampler 8 (see the module docstring), random weights."""
    return _build(random_unit_config(seed, width), num_classes)


def _build(cfg: dict, num_classes: int):
    """The network of a sampler-8 configuration."""
    import torch
    import torch.nn as nn

    def conv_bn(cin, cout, k=1, stride=1, groups=1, act=None):
        layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        if act is not None:
            layers.append(activation(act))
        return layers

    def shuffle(x):
        b, c, h, w = x.shape
        x = x.view(b, 2, c // 2, h, w)
        return torch.transpose(x, 1, 2).contiguous().view(b, c, h, w)

    class _ShuffleUnit(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            half = cout // 2
            # a unit of stride 1 passes its first half through untouched
            self.branch1 = (nn.Sequential(*conv_bn(cin, cin, 3, stride, groups=cin), *conv_bn(cin, half, act="relu"))
                            if stride > 1 else None)
            mid_in = cin if stride > 1 else half
            self.branch2 = nn.Sequential(*conv_bn(mid_in, half, act="relu"), *conv_bn(half, half, 3, stride, groups=half),
                                         *conv_bn(half, half, act="relu"))

        def forward(self, x):
            if self.branch1 is None:
                x1, x2 = x.chunk(2, dim=1)
                out = torch.cat((x1, self.branch2(x2)), dim=1)
            else:
                out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
            return shuffle(out)

    class _SE(nn.Module):
        """Squeeze-excitation as modules, with a hard sigmoid."""

        def __init__(self, c: int, squeeze: int):
            super().__init__()
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc1, self.relu, self.fc2 = nn.Conv2d(c, squeeze, 1), nn.ReLU(), nn.Conv2d(squeeze, c, 1)
            self.gate = nn.Hardsigmoid()

        def forward(self, x):
            return x * self.gate(self.fc2(self.relu(self.fc1(self.avgpool(x)))))

    class _Bottleneck(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            g = cfg["group"]
            self.a = nn.Sequential(*conv_bn(cin, cout, act="relu"))
            self.b = nn.Sequential(*conv_bn(cout, cout, 3, stride, groups=cout // g, act="relu"))
            self.se = _SE(cout, max(4, cin // 4)) if cfg["se"] else nn.Identity()
            self.c = nn.Sequential(*conv_bn(cout, cout))
            self.proj = nn.Sequential(*conv_bn(cin, cout, 1, stride)) if stride != 1 or cin != cout else None
            self.act = nn.ReLU(inplace=True)

        def forward(self, x):
            short = x if self.proj is None else self.proj(x)
            return self.act(short + self.c(self.se(self.b(self.a(x)))))

    class _InvertedResidual(nn.Module):
        def __init__(self, cin: int, b: dict):
            super().__init__()
            mid = max(8, int(round(cin * b["expand"] / 8.0)) * 8)
            layers = [] if mid == cin else conv_bn(cin, mid, act=b["act"])
            layers += conv_bn(mid, mid, b["k"], b["stride"], groups=mid, act=b["act"])
            if b["se"]:
                layers.append(_SE(mid, max(8, mid // 4 // 8 * 8)))
            layers += conv_bn(mid, b["out"])
            self.block = nn.Sequential(*layers)
            self.residual = b["stride"] == 1 and cin == b["out"]

        def forward(self, x):
            out = self.block(x)
            return x + out if self.residual else out

    class _Net(nn.Module):
        def __init__(self):
            super().__init__()
            c = cfg["stem"]
            kind = cfg["kind"]
            act = "hswish" if kind == "se_small" else "relu"
            stem = conv_bn(3, c, 3, 2, act=act)
            if kind == "shuffle":
                stem.append(nn.MaxPool2d(3, 2, 1))
            self.stem = nn.Sequential(*stem)
            blocks = []
            if kind == "se_small":
                for b in cfg["blocks"]:
                    blocks.append(_InvertedResidual(c, b))
                    c = b["out"]
            else:
                unit = _ShuffleUnit if kind == "shuffle" else _Bottleneck
                for w, depth in zip(cfg["widths"], cfg["depths"]):
                    for j in range(depth):
                        blocks.append(unit(c, w, 2 if j == 0 else 1))
                        c = w
            if cfg.get("last"):
                blocks.append(nn.Sequential(*conv_bn(c, cfg["last"], act=act)))
                c = cfg["last"]
            self.trunk = nn.Sequential(*blocks)
            self.head = nn.Linear(c, num_classes)

        def forward(self, x):
            return self.head(self.trunk(self.stem(x)).mean((2, 3)))

    return _Net()

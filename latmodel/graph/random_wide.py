"""Samplers 6 and 7 (``random6:SEED``, ``random7:SEED``): wide and heavy networks, the regimes the other samplers
leave out.

Two kinds, half of the seeds each:

* **wide ViT-like encoders** -- 256-768 channels, 4-12 heads, patch 16 or 32, a learned embedding added to
  every token, half of them with a class token (ViT's token counts are one more than a square: 17 tokens
  cost a layer 10% more than 16 on the Xeon 6/207/2, the matrix products' rows no longer a multiple of 8): at
  96-160 px 9 to 101 tokens, so a layer's matrix products stream 3-28 MB of weights through
  the caches for little work each.  Half of them are ``nn.TransformerEncoderLayer`` (in inference one fused
  op), half the same layer written out in modules (LayerNorm, ``nn.MultiheadAttention``, Linear-GELU-Linear,
  as torchvision's ViT is: 13 ops a layer, and ~25% slower than the fused layer of the same size).  Sampler
  3's encoders are all fused and of 64-192 channels, and held-out ViT-B came out 30% under its measured
  latency (Xeon 6/207/2, torch, 1 thread: its encoder layers measured 4.6-4.9 ms, predicted 3.6 ms);
* **grouped-convolution bottlenecks** -- RegNet/ResNeXt-style blocks (1x1, 3x3 grouped with 8-64 channels
  a group, optional squeeze-excitation, 1x1, residual): no other sampler draws a grouped convolution that
  is not depthwise, so with RegNet held out the predictor had never seen one (its prefixes came out
  7-20% under).

Sampler 7 draws **heavy ViT-like encoders** of the first kind, 640-1024 channels and 6-12 layers with 4 to 26 tokens
(patch 32 or 48 at 96-160 px): 80-600 MB of weights, where sampler 6 stops at 123 MB.  What a layer costs then
depends on what ran before it: on the Xeon 6/207/2 (300 MiB of L3 cache) held-out ViT-B (340 MB) came out 7% under
its measured latency after three encoder layers and 22% under after twelve, once the weights no longer stay in the
cache between inferences (leave-one-family-out, merged passes; no sampled network had more than 123 MB).

Written here, not taken from torchvision, so that leaving the ``vit`` or ``regnet`` family out of a
cross-validation leaves its code out too.  The samplers are frozen once tables hold their networks.
"""
from __future__ import annotations

import random

__all__ = ["WIDE_KINDS", "random_wide_config", "random_heavy_config", "RandomWideNet", "RandomHeavyNet"]

#: The kinds of network sampler 6 draws (half of the seeds each).
WIDE_KINDS: tuple[str, ...] = ("vit", "grouped")


def random_wide_config(seed: int, width: float = 1.0) -> dict:
    """Sample a wide ViT-like or a grouped-bottleneck configuration (deterministic per ``seed``)."""
    rng = random.Random(f"sampler6:{seed}")
    kind = WIDE_KINDS[seed % 2]
    if kind == "vit":
        dim = max(64, int(rng.choice([256, 384, 512, 768]) * width) // 64 * 64)
        return {"kind": kind, "dim": dim, "heads": dim // 64, "depth": rng.randint(2, 4), "mlp": rng.choice([2, 3, 4]),
                "patch": rng.choice([16, 16, 32]), "act": rng.choice(["gelu", "gelu", "relu"]),
                "norm_first": rng.random() < 0.8, "fused": (seed // 2) % 2 == 0, "class_token": (seed // 4) % 2 == 0}
    group = rng.choice([8, 16, 24, 32, 48, 64])
    first = max(group, int(rng.choice([32, 48, 64, 96]) * width) // group * group)
    n_stages = rng.randint(3, 4)
    return {"kind": kind, "stem": max(8, int(32 * width)), "group": group,
            "widths": [min(first * 2 ** i, 1024 // group * group) for i in range(n_stages)],
            "depths": [rng.randint(1, 3) for _ in range(n_stages)],
            "bottleneck": rng.choice([1.0, 1.0, 0.5]), "se": rng.random() < 0.5}


def random_heavy_config(seed: int, width: float = 1.0) -> dict:
    """Sample a heavy ViT-like configuration of sampler 7 (deterministic per ``seed``): 80-600 MB of weights."""
    rng = random.Random(f"sampler7:{seed}")
    dim = max(64, int(rng.choice([640, 768, 896, 1024]) * width) // 64 * 64)
    return {"kind": "vit", "dim": dim, "heads": dim // 64, "depth": rng.randint(6, 12), "mlp": rng.choice([2, 3, 4]),
            "patch": rng.choice([32, 32, 48]), "act": rng.choice(["gelu", "gelu", "relu"]),
            "norm_first": rng.random() < 0.8, "fused": seed % 2 == 0, "class_token": (seed // 2) % 2 == 0}


def RandomWideNet(seed: int, width: float = 1.0, num_classes: int = 1000):
    """A randomly sampled wide network of sampler 6 (see the module docstring), random weights."""
    return _build(random_wide_config(seed, width), num_classes)


def RandomHeavyNet(seed: int, width: float = 1.0, num_classes: int = 1000):
    """A randomly sampled heavy ViT-like network of sampler 7 (see the module docstring), random weights."""
    return _build(random_heavy_config(seed, width), num_classes)


def _build(cfg: dict, num_classes: int):
    """The network of a sampler-6 or sampler-7 configuration."""
    import torch
    import torch.nn as nn

    class _SE(nn.Module):
        def __init__(self, c: int, r: int):
            super().__init__()
            self.fc1, self.fc2 = nn.Conv2d(c, r, 1), nn.Conv2d(r, c, 1)

        def forward(self, x):
            s = torch.nn.functional.adaptive_avg_pool2d(x, 1)
            return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))

    class _Bottleneck(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            g = cfg["group"]
            mid = max(g, int(round(cout * cfg["bottleneck"] / g)) * g)
            self.a = nn.Sequential(nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True))
            self.b = nn.Sequential(nn.Conv2d(mid, mid, 3, stride, 1, groups=mid // g, bias=False), nn.BatchNorm2d(mid),
                                   nn.ReLU(inplace=True))
            self.se = _SE(mid, max(8, cin // 4)) if cfg["se"] else nn.Identity()
            self.c = nn.Sequential(nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout))
            self.proj = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                         if stride != 1 or cin != cout else None)
            self.act = nn.ReLU(inplace=True)

        def forward(self, x):
            short = x if self.proj is None else self.proj(x)
            return self.act(short + self.c(self.se(self.b(self.a(x)))))

    class _EncoderLayer(nn.Module):
        """A transformer encoder layer in separate modules (not the fused inference op)."""

        def __init__(self, d: int, heads: int, hidden: int, act: str, norm_first: bool):
            super().__init__()
            self.norm_first = norm_first
            self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.attention = nn.MultiheadAttention(d, heads, batch_first=True)
            self.fc1, self.act, self.fc2 = nn.Linear(d, hidden), nn.GELU() if act == "gelu" else nn.ReLU(), nn.Linear(hidden, d)

        def _mlp(self, x):
            return self.fc2(self.act(self.fc1(x)))

        def _attend(self, x):
            return self.attention(x, x, x, need_weights=False)[0]

        def forward(self, x):
            if self.norm_first:
                x = x + self._attend(self.ln_1(x))
                return x + self._mlp(self.ln_2(x))
            x = self.ln_1(x + self._attend(x))
            return self.ln_2(x + self._mlp(x))

    class _Encoder(nn.Module):
        def __init__(self, layers):
            super().__init__()
            self.layers = nn.Sequential(*layers)

        def forward(self, x):
            return self.layers(x)

    class _Net(nn.Module):
        def __init__(self):
            super().__init__()
            if cfg["kind"] == "vit":
                d = cfg["dim"]
                self.stem = nn.Conv2d(3, d, cfg["patch"], cfg["patch"])
                self.pos = nn.Parameter(torch.zeros(1, 1, d))
                self.class_token = nn.Parameter(torch.zeros(1, 1, d)) if cfg["class_token"] else None
                if cfg["fused"]:
                    layer = nn.TransformerEncoderLayer(d, cfg["heads"], cfg["mlp"] * d, dropout=0.0,
                                                       activation=cfg["act"], batch_first=True,
                                                       norm_first=cfg["norm_first"])
                    self.encoder = nn.TransformerEncoder(layer, cfg["depth"], enable_nested_tensor=False)
                else:
                    self.encoder = _Encoder([_EncoderLayer(d, cfg["heads"], cfg["mlp"] * d, cfg["act"], cfg["norm_first"])
                                             for _ in range(cfg["depth"])])
                last = d
            else:
                c = cfg["stem"]
                self.stem = nn.Sequential(nn.Conv2d(3, c, 3, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True))
                blocks = []
                for w, depth in zip(cfg["widths"], cfg["depths"]):
                    for j in range(depth):
                        blocks.append(_Bottleneck(c, w, 2 if j == 0 else 1))
                        c = w
                self.trunk = nn.Sequential(*blocks)
                last = c
            self.norm = nn.LayerNorm(last)
            self.head = nn.Linear(last, num_classes)

        def forward(self, x):
            if cfg["kind"] == "vit":
                x = self.stem(x).flatten(2).transpose(1, 2)
                if self.class_token is not None:
                    x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
                x = self.encoder(x + self.pos).mean(1)
            else:
                x = self.trunk(self.stem(x)).mean((2, 3))
            return self.head(self.norm(x))

    return _Net()

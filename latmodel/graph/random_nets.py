"""Randomly sampled networks that widen the calibration corpus (``random:SEED``, ``random2:SEED``,
``random3:SEED``, ``random4:SEED``, ``random5:SEED`` in :func:`latmodel.graph.zoo.resolve_spec`; sampler 6,
``random6:SEED`` and 7, ``random7:SEED``, are :mod:`latmodel.graph.random_wide`, sampler 8, ``random8:SEED``,
:mod:`latmodel.graph.random_units`): chains of
CNN blocks in the spirit of nn-Meter's sampling, transformer-like or ConvNeXt-like networks, Swin-like
window-attention networks, and CNN chains with SqueezeNet-style fire modules and Inception-style branches,
half of them without normalization layers (batch norms folded into the convolutions, as deployed).  A sampler
version never changes once tables hold its networks."""
from __future__ import annotations

import random

from ..errors import NetcutError

__all__ = ["CHAIN_SAMPLERS", "SAMPLERS", "RandomChainNet", "activation", "RandomTransformerNet", "RandomWindowNet",
           "random_chain_layers", "random_transformer_config", "random_window_config"]

#: Sampler name (the part before ``:SEED``) -> sampler version of :func:`RandomChainNet`.
#: Each version is frozen once tables hold its networks: a new sampler gets a new name.
SAMPLERS: dict[str, int] = {"random": 1, "random2": 2, "random3": 3, "random4": 4, "random5": 5, "random6": 6,
                           "random7": 7, "random8": 8}
#: Samplers of :func:`random_chain_layers` (CNN chains built by :func:`RandomChainNet`).
CHAIN_SAMPLERS: tuple[int, ...] = (1, 2, 5)


def random_chain_layers(seed: int, width: float = 1.0, sampler: int = 1):
    """Sample a list of layer configurations, in the spirit of nn-Meter's sampling.

    Each block is one of: dense conv (k in 1/3/5/7), depthwise-separable conv,
    inverted residual (expansion 1-6, k 3/5/7, optional SE), residual basic block,
    or a max-pool; channels and strides vary so that spatial sizes and channel
    counts cover what real CNNs use.

    ``sampler=2`` draws, after everything sampler 1 draws (so the layer kinds,
    kernels and channels of a seed are the same in both), from a second random
    stream: the activation (also GELU and sigmoid, SiLU twice as often), explicit
    "same" padding (``pad``, 40% of blocks) and SiLU in squeeze-excitation.
    Sampler 1 is frozen: the shipped tables hold its networks.

    ``sampler=5`` takes sampler 2's layers and, from a third stream, builds half the networks without
    normalization layers (each convolution has a bias: a network whose batch norms were folded
    for deployment, or one designed without them such as SqueezeNet) and turns about a third of the
    blocks into fire modules (squeeze 1x1, then 1x1 and 3x3 expands concatenated) or Inception
    branches (1x1; 1x1 then 3x3; 1x1 then 3x3 or 5x5; a stride-1 3x3 max-pool then 1x1;
    concatenated); a strided one of those two starts with a 3x3 / 2 max-pool, as both networks
    downsample.  Without these, every convolution the predictor had seen came with a batch norm and
    every max-pool was a block of its own, so it read "no normalization" or "a max-pool inside" as
    "a pooling block": held-out SqueezeNet and GoogLeNet came out 1.5-2x too slow and a BN-folded
    MobileNetV2 a third too fast (stepping-1 Xeon, torch).
    """
    if sampler not in CHAIN_SAMPLERS:
        raise NetcutError(f"unknown random-chain sampler {sampler!r}; allowed: {list(CHAIN_SAMPLERS)}")
    if sampler == 5:
        layers = random_chain_layers(seed, width, 2)
        rng5 = random.Random(f"sampler5:{seed}")
        # half the networks keep their batch norms (drawn from a stream of its own): with the branches only in
        # norm-free networks, "no batch norm" stood for "fire / Inception blocks" to the ONNX Runtime predictor,
        # which then priced batch-norm-folded networks 20-25% above their unfolded twins (ONNX Runtime folds
        # batch norms itself: they cost the same)
        norm = random.Random(f"sampler5-norm:{seed}").random() < 0.5
        out = [(*layers[0][:5], {**layers[0][5], "norm": norm})]
        for kind, cin, cout, k, stride, extra in layers[1:]:
            if kind != "pool":
                kind = rng5.choices([kind, "fire", "inception"], weights=[4, 1, 1])[0]
                if kind == "inception" and cout < 32:
                    kind = "fire"  # four branches of at least 8 channels each
            out.append((kind, cin, cout, k, stride, {**extra, "norm": norm, "k3": rng5.choice([3, 5])}))
        return out
    rng = random.Random(seed)
    layers = []
    channels = int(rng.choice([16, 24, 32, 48]) * width) or 8
    layers.append(("stem", 3, channels, rng.choice([3, 5, 7]), 2, None))
    n_blocks = rng.randint(5, 14)
    downsamples = rng.randint(2, 4)
    down_at = set(rng.sample(range(n_blocks), downsamples))
    for i in range(n_blocks):
        kind = rng.choices(["dense", "dwsep", "mbconv", "basic", "pool"], weights=[3, 3, 5, 3, 1])[0]
        stride = 2 if i in down_at else 1
        grow = rng.choice([1.0, 1.0, 1.5, 2.0]) if stride == 2 else rng.choice([1.0, 1.0, 1.0, 1.25])
        out = max(8, int(round(channels * grow / 8.0)) * 8)
        out = min(out, 1024)
        k = rng.choice([1, 3, 3, 5, 7]) if kind == "dense" else rng.choice([3, 3, 5, 7])
        extra = {"expand": rng.choice([1, 3, 4, 6]), "se": rng.random() < 0.3, "act": rng.choice(["relu", "relu6", "hswish", "silu"])}
        if kind == "pool":
            out = channels
        layers.append((kind, channels, out, k, stride, extra))
        channels = out
    if sampler == 2:
        rng2 = random.Random(f"sampler2:{seed}")
        acts = ["relu", "relu6", "hswish", "silu", "silu", "gelu", "sigmoid"]
        layers[0] = (*layers[0][:5], {"act": rng2.choice(acts), "pad": rng2.random() < 0.4})
        for i in range(1, len(layers)):
            extra = dict(layers[i][5])
            extra.update(act=rng2.choice(acts), pad=rng2.random() < 0.4, se_act=rng2.choice(["relu", "silu"]))
            layers[i] = (*layers[i][:5], extra)
    return layers


def activation(name: str):
    """The activation module the samplers call ``name`` (in place where torch offers it)."""
    import torch.nn as nn

    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "gelu":
        return nn.GELU()
    return {"relu": nn.ReLU, "relu6": nn.ReLU6, "hswish": nn.Hardswish, "silu": nn.SiLU}[name](inplace=True)


def _same_padding(k: int, stride: int) -> tuple[int, int, int, int]:
    """TensorFlow-style 'same' padding (left, right, top, bottom) for an even-sized input."""
    total = max(k - stride, 0)
    before = total // 2
    return (before, total - before, before, total - before)


def RandomChainNet(seed: int, width: float = 1.0, num_classes: int = 1000, sampler: int = 1):
    """A randomly sampled CNN (deterministic per ``seed`` and ``sampler``) with a standard head."""
    import torch
    import torch.nn as nn

    class _SE(nn.Module):
        def __init__(self, c: int, act: str = "relu"):
            super().__init__()
            r = max(8, c // 4)
            self.fc1 = nn.Conv2d(c, r, 1)
            self.fc2 = nn.Conv2d(r, c, 1)
            # sampler 1's SE calls torch.relu (no module): kept so that its networks' features do not change
            self.act = None if act == "relu" else activation(act)

        def forward(self, x):
            s = self.fc1(torch.nn.functional.adaptive_avg_pool2d(x, 1))
            s = torch.relu(s) if self.act is None else self.act(s)
            return x * torch.sigmoid(self.fc2(s))

    def conv(cin, cout, k, stride, extra, groups=1):
        """A k x k convolution; with ``extra['pad']`` an explicit ZeroPad2d before an unpadded one.

        Without normalization (``extra['norm']`` False, sampler 5) it has a bias, as a folded one has."""
        bias = not extra.get("norm", True)
        if k > 1 and extra.get("pad"):
            return [nn.ZeroPad2d(_same_padding(k, stride)), nn.Conv2d(cin, cout, k, stride, 0, groups=groups, bias=bias)]
        return [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=bias)]

    def bn(c, extra):
        """The batch norm after a convolution, or nothing in a network without normalization."""
        return [nn.BatchNorm2d(c)] if extra.get("norm", True) else []

    class _Branches(nn.Module):
        """Parallel branches whose outputs are concatenated along channels (fire modules, Inception)."""

        def __init__(self, head, branches):
            super().__init__()
            self.head = nn.Sequential(*head)
            self.branches = nn.ModuleList(nn.Sequential(*b) for b in branches)

        def forward(self, x):
            x = self.head(x)
            return torch.cat([b(x) for b in self.branches], 1)

    def branched(kind, cin, cout, k, stride, extra):
        """A fire module or an Inception block (sampler 5) from ``cin`` to ``cout`` channels."""
        act = extra["act"]

        def unit(ci, co, kk):
            return [*conv(ci, co, kk, 1, extra), *bn(co, extra), activation(act)]

        head = [nn.MaxPool2d(3, 2, ceil_mode=True)] if stride == 2 else []
        if kind == "fire":
            squeeze = max(8, cout // 64 * 8)
            head += unit(cin, squeeze, 1)
            return _Branches(head, [unit(squeeze, cout // 2, 1), unit(squeeze, cout - cout // 2, 3)])
        quarter = max(8, cout // 32 * 8)
        c1, c3, c4 = quarter, quarter, quarter
        c2 = cout - c1 - c3 - c4
        reduce = max(8, cin // 16 * 8)
        return _Branches(head, [unit(cin, c1, 1), unit(cin, reduce, 1) + unit(reduce, c2, 3),
                                unit(cin, reduce, 1) + unit(reduce, c3, extra["k3"]),
                                [nn.MaxPool2d(3, 1, 1), *unit(cin, c4, 1)]])

    class _Block(nn.Module):
        def __init__(self, kind, cin, cout, k, stride, extra):
            super().__init__()
            act = extra["act"]
            self.residual = kind in ("mbconv", "basic") and stride == 1 and cin == cout
            if kind == "dense":
                body = [*conv(cin, cout, k, stride, extra), *bn(cout, extra), activation(act)]
            elif kind == "dwsep":
                body = [
                    *conv(cin, cin, k, stride, extra, groups=cin), *bn(cin, extra), activation(act),
                    *conv(cin, cout, 1, 1, extra), *bn(cout, extra), activation(act),
                ]
            elif kind == "mbconv":
                mid = cin * extra["expand"]
                body = []
                if mid != cin:
                    body += [*conv(cin, mid, 1, 1, extra), *bn(mid, extra), activation(act)]
                body += [*conv(mid, mid, k, stride, extra, groups=mid), *bn(mid, extra), activation(act)]
                if extra["se"]:
                    body.append(_SE(mid, extra.get("se_act", "relu")))
                body += [*conv(mid, cout, 1, 1, extra), *bn(cout, extra)]
            elif kind == "basic":
                body = [
                    *conv(cin, cout, 3, stride, extra), *bn(cout, extra), activation(act),
                    *conv(cout, cout, 3, 1, extra), *bn(cout, extra),
                ]
            elif kind in ("fire", "inception"):
                body = [branched(kind, cin, cout, k, stride, extra)]
            else:  # pool
                body = [nn.MaxPool2d(3, stride, 1)]
            self.body = nn.Sequential(*body)

        def forward(self, x):
            y = self.body(x)
            return y + x if self.residual else y

    layers = random_chain_layers(seed, width, sampler)
    modules = []
    for kind, cin, cout, k, stride, extra in layers:
        if kind == "stem":
            extra = extra or {"act": "relu"}
            modules.append(nn.Sequential(*conv(cin, cout, k, stride, extra), *bn(cout, extra), activation(extra["act"])))
        else:
            modules.append(_Block(kind, cin, cout, k, stride, extra))
    last = layers[-1][2]

    class _RandomChain(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*modules)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(last, num_classes)

        def forward(self, x):
            x = self.avgpool(self.features(x))
            return self.classifier(torch.flatten(x, 1))

    return _RandomChain()


def random_transformer_config(seed: int, width: float = 1.0) -> dict:
    """Sample a transformer-like (``vit``) or ConvNeXt-like (``convnext``) network configuration."""
    rng = random.Random(f"sampler3:{seed}")
    kind = rng.choice(["vit", "convnext"])
    if kind == "vit":
        dim = max(16, int(rng.choice([64, 96, 128, 192]) * width) // 16 * 16)
        return {"kind": kind, "dim": dim, "heads": rng.choice([2, 4]), "depth": rng.randint(2, 6),
                "mlp": rng.choice([2, 3, 4]), "patch": rng.choice([8, 16]), "act": rng.choice(["gelu", "relu"]),
                "norm_first": rng.random() < 0.7}
    c = max(8, int(rng.choice([24, 32, 48, 64]) * width) // 8 * 8)
    n_stages = rng.randint(2, 3)
    return {"kind": kind, "channels": [c * 2 ** i for i in range(n_stages)],
            "depths": [rng.randint(1, 3) for _ in range(n_stages)], "kernel": rng.choice([3, 5, 7]),
            "mlp": rng.choice([2, 3, 4]), "stem": rng.choice([2, 4])}


def RandomTransformerNet(seed: int, width: float = 1.0, num_classes: int = 1000):
    """A randomly sampled transformer-like or ConvNeXt-like network (deterministic per ``seed``), sampler 3."""
    import torch
    import torch.nn as nn

    cfg = random_transformer_config(seed, width)

    class _CNBlock(nn.Module):
        def __init__(self, c: int, k: int, mlp: int):
            super().__init__()
            self.dw = nn.Conv2d(c, c, k, padding=k // 2, groups=c)
            self.norm = nn.LayerNorm(c)
            self.fc1, self.act, self.fc2 = nn.Linear(c, mlp * c), nn.GELU(), nn.Linear(mlp * c, c)
            self.gamma = nn.Parameter(torch.full((c,), 1e-6))

        def forward(self, x):
            y = self.fc2(self.act(self.fc1(self.norm(self.dw(x).permute(0, 2, 3, 1)))))
            return x + (self.gamma * y).permute(0, 3, 1, 2)

    class _Down(nn.Module):
        def __init__(self, cin: int, cout: int):
            super().__init__()
            self.norm = nn.LayerNorm(cin)
            self.conv = nn.Conv2d(cin, cout, 2, 2)

        def forward(self, x):
            return self.conv(self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))

    class _Net(nn.Module):
        def __init__(self):
            super().__init__()
            if cfg["kind"] == "vit":
                d = cfg["dim"]
                self.stem = nn.Conv2d(3, d, cfg["patch"], cfg["patch"])
                layer = nn.TransformerEncoderLayer(d, cfg["heads"], cfg["mlp"] * d, dropout=0.0, activation=cfg["act"],
                                                   batch_first=True, norm_first=cfg["norm_first"])
                self.encoder = nn.TransformerEncoder(layer, cfg["depth"], enable_nested_tensor=False)
                last = d
            else:
                chans = cfg["channels"]
                self.stem = nn.Conv2d(3, chans[0], cfg["stem"], cfg["stem"])
                stages = []
                for i, (c, depth) in enumerate(zip(chans, cfg["depths"])):
                    if i:
                        stages.append(_Down(chans[i - 1], c))
                    stages.append(nn.Sequential(*[_CNBlock(c, cfg["kernel"], cfg["mlp"]) for _ in range(depth)]))
                self.stages = nn.Sequential(*stages)
                last = chans[-1]
            self.norm = nn.LayerNorm(last)
            self.head = nn.Linear(last, num_classes)

        def forward(self, x):
            if cfg["kind"] == "vit":
                x = self.encoder(self.stem(x).flatten(2).transpose(1, 2)).mean(1)
            else:
                x = self.stages(self.stem(x)).mean((2, 3))
            return self.head(self.norm(x))

    return _Net()


def random_window_config(seed: int, width: float = 1.0) -> dict:
    """Sample a window-attention network configuration (Swin-like: shifted windows, patch merging), sampler 4."""
    rng = random.Random(f"sampler4:{seed}")
    heads = rng.choice([1, 2, 4])
    dim = max(16 * heads, int(rng.choice([32, 48, 64, 96]) * width) // (16 * heads) * (16 * heads))
    n_stages = rng.randint(2, 3)
    return {"dim": dim, "heads": heads, "window": rng.choice([4, 7, 8]), "patch": rng.choice([2, 4]),
            "depths": [rng.choice([1, 2, 2, 3]) for _ in range(n_stages)], "mlp": rng.choice([2, 3, 4]),
            # Swin adds -100 to masked scores (exp -> ~3.7e-44: subnormal); a larger mask underflows to zero
            "mask_value": rng.choice([-100.0, -100.0, -1e4])}


def RandomWindowNet(seed: int, width: float = 1.0, resolution: int = 64, num_classes: int = 1000):
    """A randomly sampled Swin-like network for ``resolution`` px (deterministic per ``seed``), sampler 4.

    Written here, not taken from torchvision's Swin, so that leaving the ``swin`` family out of a
    cross-validation leaves its code out too.  Window sizes and the shift are fixed at build time from the
    resolution (the traced graph has no shape-dependent branches); every odd block of a stage shifts its
    windows and adds the mask to the scores of pairs that were not neighbours, as Swin does.
    """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    cfg = random_window_config(seed, width)
    win, head_dim = cfg["window"], cfg["dim"] // cfg["heads"]  # heads double with the channels, as in Swin

    class _WindowBlock(nn.Module):
        def __init__(self, c: int, side: int, shifted: bool):
            super().__init__()
            self.heads, self.side = c // head_dim, side
            self.padded = -(-side // win) * win
            self.shift = win // 2 if shifted and self.padded > win else 0
            self.norm1, self.norm2 = nn.LayerNorm(c), nn.LayerNorm(c)
            self.qkv, self.proj = nn.Linear(c, 3 * c), nn.Linear(c, c)
            self.fc1, self.act, self.fc2 = nn.Linear(c, cfg["mlp"] * c), nn.GELU(), nn.Linear(cfg["mlp"] * c, c)
            self.scale = (c // self.heads) ** -0.5
            mask = torch.zeros(1, 1, 1, 1)
            if self.shift:
                region = torch.zeros(self.padded, self.padded)
                cuts = (slice(0, -win), slice(-win, -self.shift), slice(-self.shift, None))
                for i, (h, w) in enumerate((h, w) for h in cuts for w in cuts):
                    region[h, w] = i
                n = self.padded // win
                region = region.view(n, win, n, win).permute(0, 2, 1, 3).reshape(n * n, win * win)
                mask = (region[:, None, :] != region[:, :, None]).float() * cfg["mask_value"]
                mask = mask[None, :, None]  # (1, windows, 1, tokens, tokens)
            self.register_buffer("mask", mask)

        def _attention(self, x):
            b, p, c = x.shape[0], self.padded, x.shape[-1]
            n, t, hd = p // win, win * win, c // self.heads
            x = F.pad(x, (0, 0, 0, p - self.side, 0, p - self.side))
            if self.shift:
                x = torch.roll(x, (-self.shift, -self.shift), (1, 2))
            x = x.view(b, n, win, n, win, c).permute(0, 1, 3, 2, 4, 5).reshape(b, n * n, t, c)
            q, k, v = self.qkv(x).view(b, n * n, t, 3, self.heads, hd).permute(3, 0, 1, 4, 2, 5)
            scores = (q * self.scale) @ k.transpose(-2, -1)
            if self.shift:
                scores = scores + self.mask
            x = (scores.softmax(-1) @ v).permute(0, 1, 3, 2, 4).reshape(b, n, n, win, win, c)
            x = self.proj(x.permute(0, 1, 3, 2, 4, 5).reshape(b, p, p, c))
            if self.shift:
                x = torch.roll(x, (self.shift, self.shift), (1, 2))
            return x[:, :self.side, :self.side]

        def forward(self, x):
            x = x.permute(0, 2, 3, 1)
            x = x + self._attention(self.norm1(x))
            x = x + self.fc2(self.act(self.fc1(self.norm2(x))))
            return x.permute(0, 3, 1, 2)

    class _Merge(nn.Module):
        def __init__(self, cin: int):
            super().__init__()
            self.norm, self.conv = nn.LayerNorm(cin), nn.Conv2d(cin, 2 * cin, 2, 2)

        def forward(self, x):
            return self.conv(self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))

    class _Net(nn.Module):
        def __init__(self):
            super().__init__()
            c, side = cfg["dim"], resolution // cfg["patch"]
            self.stem = nn.Conv2d(3, c, cfg["patch"], cfg["patch"])
            stages = []
            for i, depth in enumerate(cfg["depths"]):
                if i:
                    stages.append(_Merge(c))
                    c, side = 2 * c, side // 2
                stages.append(nn.Sequential(*[_WindowBlock(c, side, j % 2 == 1) for j in range(depth)]))
            self.stages = nn.Sequential(*stages)
            self.norm = nn.LayerNorm(c)
            self.head = nn.Linear(c, num_classes)

        def forward(self, x):
            return self.head(self.norm(self.stages(self.stem(x)).mean((2, 3))))

    if resolution // cfg["patch"] < 2 ** len(cfg["depths"]):
        raise NetcutError(f"random4:{seed} needs at least {cfg['patch'] * 2 ** len(cfg['depths'])} px, "
                          f"got {resolution} px")
    return _Net()

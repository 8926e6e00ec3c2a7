"""Name -> network factory.

One registry (:data:`MODELS`) maps a model name to a :class:`ModelSpec`: how to
build the network (random weights; pretrained weights are ``trimmer``'s job), its
architecture family (used for leave-one-family-out validation), the widths it can
be built at, and per-network overrides for the block splitter.

Besides registered names, :func:`build_model` accepts

* ``package.module:factory`` -- any importable callable returning an ``nn.Module``;
* ``random:SEED`` -- a randomly sampled chain of CNN blocks (nn-Meter-style
  sampling of layer configurations), used to widen the calibration corpus;
* ``random3:SEED`` -- a randomly sampled transformer-like or ConvNeXt-like network
  (:func:`RandomTransformerNet`): patch embedding and ``nn.TransformerEncoder``
  layers, or channels-last depthwise / LayerNorm / Linear-GELU-Linear blocks with
  layer scale;
* ``random2:SEED`` -- the same with the second sampler (:data:`SAMPLERS`), which
  also draws what ports of TensorFlow networks do: explicit "same" padding ops
  before convolutions, SiLU / GELU / sigmoid activations, SiLU in
  squeeze-excitation and in the stem.  ``random:SEED`` networks never change.

To add a network, add one entry to :data:`MODELS`.
"""
from __future__ import annotations

import dataclasses
import difflib
import importlib
import logging
import random
import re
from typing import Any, Callable

from .errors import NetcutError, UnknownModelError

__all__ = [
    "ModelSpec",
    "MODELS",
    "build_model",
    "family_of",
    "resolve_spec",
    "native_resolution",
    "RandomChainNet",
    "RandomTransformerNet",
    "SAMPLERS",
]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """How to build one network.

    ``builder(width, resolution)`` returns an ``nn.Module`` in eval mode.
    ``widths`` lists the width multipliers the builder accepts (``(1.0,)`` when it
    takes none).  ``head_start`` names the first module of the classification head
    where the generic rule in :mod:`latmodel.blocks` would keep a head layer in the
    feature chain (SqueezeNet's final 1x1 convolution, for example).
    """

    name: str
    family: str
    builder: Callable[[float, int], Any]
    widths: tuple[float, ...] = (1.0,)
    head_start: str | None = None
    resolution_px: int = 224
    #: the smallest input it takes: an ImageNet network downsamples by 32, so below 32 px its last stages
    #: would run on less than one pixel (user factories and the random test networks: any size)
    min_resolution_px: int = 1

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "family": self.family,
            "widths": list(self.widths),
            "head_start": self.head_start,
            "resolution_px": self.resolution_px,
            "min_resolution_px": self.min_resolution_px,
        }


def _tv(name: str, width_kw: str | None = None, **fixed: Any) -> Callable[[float, int], Any]:
    def build(width: float, resolution: int):
        from torchvision import models

        kwargs: dict[str, Any] = dict(fixed)
        if width_kw is not None and width != 1.0:
            kwargs[width_kw] = width
        return models.get_model(name, weights=None, **kwargs)

    return build


def _lite(index: int) -> Callable[[float, int], Any]:
    def build(width: float, resolution: int):
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise NetcutError(
                f"efficientnet_lite{index} needs the package 'efficientnet-lite-pytorch'; "
                "install it with: pip install --no-deps efficientnet-lite-pytorch"
            ) from exc
        import torch

        class EfficientNetLite(EfficientNet):
            # The package's forward reads ``inputs.size(0)`` at the start and keeps it
            # live until the classifier, so no point in the network has a single live
            # value and nothing could be cut.  Same modules and weights, same math,
            # with ``flatten`` in place of ``view(bs, -1)``.
            def forward(self, inputs):
                x = self._avg_pooling(self.extract_features(inputs))
                return self._fc(self._dropout(torch.flatten(x, 1)))

        # The package pads with a static 'same' padding computed from image_size,
        # so the network must be built for the resolution it will run at.
        model = EfficientNet.from_name(f"efficientnet-lite{index}", image_size=resolution)
        model.__class__ = EfficientNetLite
        return model

    return build


def _sized(name: str, size_kw: str, pair: bool = False) -> Callable[[float, int], Any]:
    """A torchvision network whose constructor takes the input size (ViT ``image_size``, MaxViT ``input_size``)."""
    def build(width: float, resolution: int):
        from torchvision import models

        size = (resolution, resolution) if pair else resolution
        try:
            return models.get_model(name, weights=None, **{size_kw: size})
        except (ValueError, AssertionError) as exc:  # the constructor checks the size (MaxViT: ValueError, ViT: assert)
            raise NetcutError(
                f"model {name!r} cannot be built for {resolution} px: {str(exc).splitlines()[0]} "
                "Use a resolution its patches / partitions divide (MaxViT: a multiple of 224; ViT: of the patch size)"
            ) from None

    return build


#: The smallest input of a registered (ImageNet, stride-32) network.
IMAGENET_MIN_RESOLUTION_PX = 32


def _spec(name: str, family: str, builder=None, **kw) -> ModelSpec:
    kw.setdefault("min_resolution_px", IMAGENET_MIN_RESOLUTION_PX)
    return ModelSpec(name=name, family=family, builder=builder or _tv(name), **kw)


MODELS: dict[str, ModelSpec] = {
    s.name: s
    for s in [
        _spec("mobilenet_v2", "mobilenet_v2", _tv("mobilenet_v2", "width_mult"), widths=(0.5, 0.75, 1.0, 1.4)),
        _spec("mobilenet_v3_small", "mobilenet_v3", _tv("mobilenet_v3_small", "width_mult"), widths=(0.75, 1.0)),
        _spec("mobilenet_v3_large", "mobilenet_v3", _tv("mobilenet_v3_large", "width_mult"), widths=(0.75, 1.0)),
        _spec("resnet18", "resnet"),
        _spec("resnet34", "resnet"),
        _spec("resnet50", "resnet"),
        _spec("efficientnet_b0", "efficientnet"),
        _spec("efficientnet_b1", "efficientnet", resolution_px=240),
        _spec("mnasnet0_5", "mnasnet"),
        _spec("mnasnet1_0", "mnasnet"),
        _spec("shufflenet_v2_x0_5", "shufflenet"),
        _spec("shufflenet_v2_x1_0", "shufflenet"),
        _spec("squeezenet1_1", "squeezenet", head_start="classifier"),
        _spec("densenet121", "densenet"),
        _spec("regnet_x_400mf", "regnet"),
        _spec("regnet_y_400mf", "regnet"),
        _spec("googlenet", "googlenet", _tv("googlenet", init_weights=False)),
        _spec("efficientnet_lite0", "efficientnet_lite", _lite(0), resolution_px=224),
        _spec("efficientnet_lite1", "efficientnet_lite", _lite(1), resolution_px=240),
        _spec("efficientnet_lite2", "efficientnet_lite", _lite(2), resolution_px=260),
        # Transformer-style networks: Linear layers inside every block, channels-last LayerNorm, attention.
        _spec("convnext_tiny", "convnext"),
        _spec("swin_t", "swin"),
        _spec("swin_v2_t", "swin", resolution_px=256),
        _spec("maxvit_t", "maxvit", _sized("maxvit_t", "input_size", pair=True)),
        _spec("vit_b_32", "vit", _sized("vit_b_32", "image_size")),
        _spec("vit_b_16", "vit", _sized("vit_b_16", "image_size")),
    ]
}

_FACTORY_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_RANDOM_RE = re.compile(r"^(random[23]?):(\d{1,9})$")
#: Sampler name (the part before ``:SEED``) -> sampler version of :func:`RandomChainNet`.
#: Each version is frozen once tables hold its networks: a new sampler gets a new name.
SAMPLERS: dict[str, int] = {"random": 1, "random2": 2, "random3": 3}


def resolve_spec(name: str) -> ModelSpec:
    """Return the :class:`ModelSpec` for ``name`` (registered, factory path, ``random:SEED`` or ``random2:SEED``)."""
    if not isinstance(name, str) or not name.strip():
        raise UnknownModelError(f"model name must be a non-empty string, got {name!r}")
    name = name.strip()
    if name in MODELS:
        return MODELS[name]
    m = _RANDOM_RE.match(name)
    if m:
        seed, version = int(m.group(2)), SAMPLERS[m.group(1)]
        if version == 3:
            return ModelSpec(name=name, family="random", builder=lambda w, r, s=seed: RandomTransformerNet(s, width=w))
        return ModelSpec(name=name, family="random",
                         builder=lambda w, r, s=seed, v=version: RandomChainNet(s, width=w, sampler=v))
    if ":" in name:
        if not _FACTORY_RE.match(name):
            raise UnknownModelError(
                f"model {name!r} is not a valid factory path; expected 'package.module:factory' "
                "(a module importable from the current directory and a callable returning an nn.Module)"
            )
        module_name, _, attr = name.partition(":")
        return ModelSpec(name=name, family=f"custom:{module_name}", builder=_factory_builder(module_name, attr))
    close = difflib.get_close_matches(name, list(MODELS), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownModelError(
        f"unknown model {name!r}{hint} Known models: {', '.join(sorted(MODELS))}; "
        "or give 'package.module:factory' for your own network"
    )


def _factory_builder(module_name: str, attr: str) -> Callable[[float, int], Any]:
    def build(width: float, resolution: int):
        import sys
        import os

        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise UnknownModelError(
                f"cannot import module {module_name!r} for model '{module_name}:{attr}': {exc}; "
                "make sure it is on PYTHONPATH or in the current directory"
            ) from exc
        factory = getattr(module, attr, None)
        if factory is None or not callable(factory):
            raise UnknownModelError(
                f"module {module_name!r} has no callable {attr!r}; expected 'package.module:factory' "
                "where factory() returns an nn.Module"
            )
        return factory()

    return build


def build_model(name: str, *, width: float = 1.0, resolution: int = 224):
    """Build network ``name`` with random weights, in eval mode.

    Raises :class:`NetcutError` for an unknown name, an unsupported width or a
    factory that does not return an ``nn.Module``.
    """
    import torch.nn as nn

    spec = resolve_spec(name)
    if spec.name in MODELS and width not in spec.widths:
        raise NetcutError(
            f"model {spec.name!r} cannot be built at width {width}; allowed widths: "
            f"{', '.join(str(w) for w in spec.widths)}"
        )
    if not isinstance(resolution, int) or resolution <= 0:
        raise NetcutError(f"resolution must be a positive integer number of pixels, got {resolution!r}")
    if resolution < spec.min_resolution_px:
        raise NetcutError(f"model {spec.name!r} takes inputs of at least {spec.min_resolution_px} px (it downsamples "
                          f"by {spec.min_resolution_px}), got {resolution} px; use a larger resolution")
    model = spec.builder(width, resolution)
    if not isinstance(model, nn.Module):
        raise NetcutError(
            f"factory for model {name!r} returned {type(model).__name__}, not a torch.nn.Module; "
            "make the factory return the network itself"
        )
    return model.eval()


def family_of(name: str) -> str:
    """The architecture family of ``name`` (for leave-one-family-out validation)."""
    return resolve_spec(name).family


def native_resolution(name: str) -> int:
    """The input resolution the network was designed for (224 unless registered otherwise)."""
    return resolve_spec(name).resolution_px


# --------------------------------------------------------------------------- random chains


def _random_chain_layers(seed: int, width: float = 1.0, sampler: int = 1):
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
    """
    if sampler not in (1, 2):
        raise NetcutError(f"unknown random-chain sampler {sampler!r}; allowed: {sorted(set(SAMPLERS.values()))}")
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


def _act(name: str):
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
            self.act = None if act == "relu" else _act(act)

        def forward(self, x):
            s = self.fc1(torch.nn.functional.adaptive_avg_pool2d(x, 1))
            s = torch.relu(s) if self.act is None else self.act(s)
            return x * torch.sigmoid(self.fc2(s))

    def conv(cin, cout, k, stride, extra, groups=1):
        """A k x k convolution; with ``extra['pad']`` an explicit ZeroPad2d before an unpadded one."""
        if k > 1 and extra.get("pad"):
            return [nn.ZeroPad2d(_same_padding(k, stride)), nn.Conv2d(cin, cout, k, stride, 0, groups=groups, bias=False)]
        return [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)]

    class _Block(nn.Module):
        def __init__(self, kind, cin, cout, k, stride, extra):
            super().__init__()
            act = extra["act"]
            self.residual = kind in ("mbconv", "basic") and stride == 1 and cin == cout
            if kind == "dense":
                body = [*conv(cin, cout, k, stride, extra), nn.BatchNorm2d(cout), _act(act)]
            elif kind == "dwsep":
                body = [
                    *conv(cin, cin, k, stride, extra, groups=cin), nn.BatchNorm2d(cin), _act(act),
                    nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), _act(act),
                ]
            elif kind == "mbconv":
                mid = cin * extra["expand"]
                body = []
                if mid != cin:
                    body += [nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), _act(act)]
                body += [*conv(mid, mid, k, stride, extra, groups=mid), nn.BatchNorm2d(mid), _act(act)]
                if extra["se"]:
                    body.append(_SE(mid, extra.get("se_act", "relu")))
                body += [nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
            elif kind == "basic":
                body = [
                    *conv(cin, cout, 3, stride, extra), nn.BatchNorm2d(cout), _act(act),
                    *conv(cout, cout, 3, 1, extra), nn.BatchNorm2d(cout),
                ]
            else:  # pool
                body = [nn.MaxPool2d(3, stride, 1)]
            self.body = nn.Sequential(*body)

        def forward(self, x):
            y = self.body(x)
            return y + x if self.residual else y

    layers = _random_chain_layers(seed, width, sampler)
    modules = []
    for kind, cin, cout, k, stride, extra in layers:
        if kind == "stem":
            extra = extra or {"act": "relu"}
            modules.append(nn.Sequential(*conv(cin, cout, k, stride, extra), nn.BatchNorm2d(cout), _act(extra["act"])))
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


def _random_transformer_config(seed: int, width: float = 1.0) -> dict:
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

    cfg = _random_transformer_config(seed, width)

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

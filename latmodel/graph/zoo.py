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
  (:func:`latmodel.graph.random_nets.RandomTransformerNet`): patch embedding and ``nn.TransformerEncoder``
  layers, or channels-last depthwise / LayerNorm / Linear-GELU-Linear blocks with
  layer scale;
* ``random4:SEED`` -- a randomly sampled Swin-like network (:func:`latmodel.graph.random_nets.RandomWindowNet`):
  window attention, shifted windows with an additive mask, patch merging;
* ``random2:SEED`` -- the same with the second sampler (:data:`latmodel.graph.random_nets.SAMPLERS`), which
  also draws what ports of TensorFlow networks do: explicit "same" padding ops
  before convolutions, SiLU / GELU / sigmoid activations, SiLU in
  squeeze-excitation and in the stem.  ``random:SEED`` networks never change;
* ``random5:SEED`` -- sampler 2's chain, a third of its blocks fire modules or Inception branches, half
  of these networks without normalization layers (biased convolutions, as a network with folded batch norms);
* ``random6:SEED`` -- a wide network (:func:`latmodel.graph.random_wide.RandomWideNet`): a ViT-like encoder of
  256-768 channels, or a chain of grouped-convolution bottlenecks;
* ``random7:SEED`` -- a heavy ViT-like encoder (:func:`latmodel.graph.random_wide.RandomHeavyNet`): 640-1024
  channels, 6-12 layers, 80-600 MB of weights;
* ``random8:SEED`` -- a chain of ShuffleNetV2-style channel-shuffle units, of RegNet-style bottlenecks with 4-16
  channels a group, or of small MobileNetV3-style inverted residuals with squeeze-excitation modules
  (:func:`latmodel.graph.random_units.RandomUnitNet`).

To add a network, add one entry to :data:`MODELS`.
"""
from __future__ import annotations

import dataclasses
import difflib
import importlib
import logging
import re
from typing import Any, Callable

from ..errors import NetcutError, UnknownModelError
from .random_nets import SAMPLERS, RandomChainNet, RandomTransformerNet, RandomWindowNet
from .random_units import RandomUnitNet
from .random_wide import RandomHeavyNet, RandomWideNet

__all__ = [
    "ModelSpec",
    "MODELS",
    "build_model",
    "family_of",
    "resolve_spec",
    "native_resolution",
]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """How to build one network.

    ``builder(width, resolution)`` returns an ``nn.Module`` in eval mode.
    ``widths`` lists the width multipliers the builder accepts (``(1.0,)`` when it
    takes none).  ``head_start`` names the first module of the classification head
    where the generic rule in :mod:`latmodel.graph.blocks` would keep a head layer in the
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
_RANDOM_RE = re.compile(r"^(random[2-8]?):(\d{1,9})$")


def resolve_spec(name: str) -> ModelSpec:
    """Return the :class:`ModelSpec` for ``name`` (registered, factory path or ``randomN:SEED``)."""
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
        if version == 4:
            return ModelSpec(name=name, family="random",
                             builder=lambda w, r, s=seed: RandomWindowNet(s, width=w, resolution=r))
        if version == 6:
            return ModelSpec(name=name, family="random", builder=lambda w, r, s=seed: RandomWideNet(s, width=w))
        if version == 7:
            return ModelSpec(name=name, family="random", builder=lambda w, r, s=seed: RandomHeavyNet(s, width=w))
        if version == 8:
            return ModelSpec(name=name, family="random", builder=lambda w, r, s=seed: RandomUnitNet(s, width=w))
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
    """Build network ``name`` with random weights (seeded: the same weights every time), in eval mode.

    The seed makes value-dependent features repeat (the subnormals a block produces,
    :mod:`latmodel.graph.subnormals`); the caller's random state is left as it was.

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
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
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

"""What ``latmodel profile`` measures by default: the calibration corpus.

A predictor learns latency from per-block features, so the corpus must cover
what the candidates will contain: every kind of block (dense, pointwise,
depthwise, grouped, squeeze-excite, dense concatenation, inception branches),
at the spatial sizes and channel counts they run at.  Three sources:

* **the zoo** -- every :data:`latmodel.graph.zoo.MODELS` entry at its native resolution
  (224, or 240 / 260 for EfficientNet-B1 and -Lite1/2) and at 160 px, MobileNetV2
  at all four widths; a few networks also at 192 px (the MobileNets, ResNet-18,
  EfficientNet-B0) or 128 px (the smallest networks, and the bases trimmer's
  default search cuts at 128 px: MobileNetV2 and EfficientNet-Lite0/1/2), so the
  resolution-dependence of each block kind is seen more than twice;
* **sampled networks** -- ``random:SEED`` chains (nn-Meter-style sampling of
  layer kinds, kernels, expansions, strides and channel growth, see
  :func:`latmodel.graph.random_nets.RandomChainNet`), which fill in block configurations no zoo
  network has, and ``random2:SEED`` chains, which also draw explicit "same"
  padding ops and exponential activations (SiLU, GELU, sigmoid) as TensorFlow
  ports such as EfficientNet-Lite have them.  Some keep large feature maps for
  many blocks and are expensive at 224 px, so they run at 96-160 px;
* nothing else: the networks candidates are cut from are all in the zoo.

:func:`default_corpus` (211 configurations: 58 from the zoo, 64 + 32 sampled, 41 in transformer
style: 13 of ConvNeXt-T, Swin-T, Swin-V2-T, ViT-B/32, ViT-B/16 and MaxViT-T at 64-128 px (MaxViT 224),
12 `random3:SEED` transformer-like and ConvNeXt-like chains and 16 `random4:SEED` Swin-like ones at
64-128 px; and 16 `random5:SEED` CNN chains with fire modules and Inception branches, half of them
without normalization layers, at 96-160 px) measures in about 54 minutes at one thread on the 2-core
development machine with the window method (``latmodel profile`` prints its estimate first).  The sampled networks are most of the
corpus on purpose: the predictor is judged on architecture families it has never
seen, and going from 24 to 64 sampled networks took held-out MnasNet prefixes from
37% to 70% within +-10% (measured on different passes, so partly the measurement;
EfficientNet stayed about 10% under-predicted until SiLU was priced apart from
hardswish and the sampled networks had explicit padding, see ``latmodel.graph.features``);
:func:`small_corpus` (13 configurations, about 6 minutes at 2 threads) is what the 2-thread
table and quick checks of a new device use.  :func:`wide_corpus` (24 ``random6:SEED`` networks, about 6 minutes at one
thread) adds what the default corpus leaves out, wide ViT-like encoders (fused and written out in modules) and
grouped-convolution bottlenecks: profile it into a second table of the same device and fit on both;
:func:`heavy_corpus` likewise adds heavy ViT-like encoders (up to 600 MB of weights) and CNN chains at 224-288 px;
:func:`units_corpus` (24 ``random8:SEED`` networks, about 6 minutes; 9-12 on a noisy night, when the spread rule
measures most of them again) channel-shuffle units, grouped bottlenecks of 4-16
channels a group and small squeeze-excitation inverted residuals at 128-224 px.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from ..errors import NetcutError

__all__ = ["ProfileConfig", "default_corpus", "small_corpus", "repeat_corpus", "CORPORA", "get_corpus", "RANDOM_SEEDS", "RANDOM2_SEEDS",
           "RANDOM3_SEEDS", "RANDOM4_SEEDS", "RANDOM5_SEEDS", "RANDOM6_SEEDS", "RANDOM7_SEEDS",
           "RANDOM8_SEEDS", "LARGE_RANDOM2_SEEDS", "TRANSFORMER_CONFIGS", "wide_corpus", "heavy_corpus", "units_corpus",
           "zoo_corpus"]


@dataclasses.dataclass(frozen=True)
class ProfileConfig:
    """One network at one input resolution and width multiplier."""

    model: str
    resolution_px: int
    width: float = 1.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ProfileConfig":
        return cls(model=str(d["model"]), resolution_px=int(d["resolution_px"]), width=float(d.get("width", 1.0)))


#: Extra resolutions beyond (native, 160) for some networks.
_EXTRA_RESOLUTIONS: dict[str, tuple[int, ...]] = {
    # trimmer's default search runs these bases at 128 px
    "mobilenet_v2": (192, 128),
    "efficientnet_lite0": (128,),
    "efficientnet_lite1": (128,),
    "efficientnet_lite2": (128,),
    "mobilenet_v3_large": (192,),
    "resnet18": (192,),
    "efficientnet_b0": (192,),
    "mobilenet_v3_small": (128,),
    "mnasnet0_5": (128,),
    "shufflenet_v2_x0_5": (128,),
    "squeezenet1_1": (128,),
}
#: Seeds of the sampled networks and the resolutions they cycle through:
#: ``random:SEED`` (sampler 1) and ``random2:SEED`` (sampler 2: explicit padding, exponential activations).
RANDOM_SEEDS: tuple[int, ...] = tuple(range(1, 65))
RANDOM2_SEEDS: tuple[int, ...] = tuple(range(65, 97))
_RANDOM_RESOLUTIONS: tuple[int, ...] = (96, 128, 160)
#: ``random3:SEED`` (transformer-like and ConvNeXt-like chains) and the resolutions they cycle through.
RANDOM3_SEEDS: tuple[int, ...] = tuple(range(97, 109))
_RANDOM3_RESOLUTIONS: tuple[int, ...] = (64, 96, 128)
#: ``random4:SEED`` (Swin-like window attention: shifted windows whose masked scores make subnormal floats,
#: :mod:`latmodel.graph.subnormals`), cycling through the same resolutions.
RANDOM4_SEEDS: tuple[int, ...] = tuple(range(109, 125))
#: ``random5:SEED`` (CNN chains with fire modules and Inception branches, half without normalization layers),
#: cycling through the CNN chains' resolutions.
RANDOM5_SEEDS: tuple[int, ...] = tuple(range(125, 141))
#: ``random6:SEED`` (wide networks: ViT-like encoders of 256-768 channels and grouped-convolution bottlenecks,
#: :mod:`latmodel.graph.random_wide`), cycling through the CNN chains' resolutions: the ``wide`` corpus.
RANDOM6_SEEDS: tuple[int, ...] = tuple(range(141, 165))
#: ``random7:SEED`` (heavy ViT-like encoders, these 12 with 130-620 MB of weights, :mod:`latmodel.graph.random_wide`)
#: at the CNN chains' resolutions, and ``random2:SEED`` chains at large resolutions: the ``heavy`` corpus.
RANDOM7_SEEDS: tuple[int, ...] = tuple(range(165, 177))
LARGE_RANDOM2_SEEDS: tuple[int, ...] = tuple(range(177, 189))
#: ``random8:SEED`` (channel-shuffle units, narrow grouped bottlenecks, small squeeze-excitation inverted residuals,
#: :mod:`latmodel.graph.random_units`): the ``units`` corpus, at the resolutions of the zoo networks that have these
#: units (four resolutions against three kinds, so that every kind runs at every resolution).
RANDOM8_SEEDS: tuple[int, ...] = tuple(range(189, 213))
_UNIT_RESOLUTIONS: tuple[int, ...] = (128, 160, 192, 224)
#: Resolutions of the ``heavy`` corpus's CNN chains: EfficientNet-Lite runs at 224-260 px, where every sampled
#: chain stopped at 160 (held-out Lite prefixes at 224-260 px came out 11-14% under, from the stem on).
_LARGE_RESOLUTIONS: tuple[int, ...] = (224, 256, 288)
#: Samplers that joined the corpus after tables and their second passes existed, in the order they joined:
#: :func:`repeat_corpus` draws each after the earlier ones.
_LATER_SAMPLERS: tuple[str, ...] = ("random4", "random5")
#: Zoo networks in transformer style, at small resolutions only (a few seconds each at one thread):
#: not at (native, 160) like the CNNs.  MaxViT's fixed 7 x 7 partitions need a multiple of 224.
TRANSFORMER_CONFIGS: tuple[tuple[str, int], ...] = (
    ("convnext_tiny", 64), ("convnext_tiny", 96), ("convnext_tiny", 128),
    ("swin_t", 64), ("swin_t", 96), ("swin_t", 128),
    ("swin_v2_t", 64), ("swin_v2_t", 128),
    ("vit_b_32", 96), ("vit_b_32", 128), ("vit_b_16", 64), ("vit_b_16", 96),
    ("maxvit_t", 224),
)


def _zoo_configs() -> list[ProfileConfig]:
    from ..graph.zoo import MODELS

    configs = []
    small = {name for name, _ in TRANSFORMER_CONFIGS}
    for name, spec in MODELS.items():
        if name in small:
            continue
        resolutions = sorted({spec.resolution_px, 160, *_EXTRA_RESOLUTIONS.get(name, ())}, reverse=True)
        widths = spec.widths if name == "mobilenet_v2" else (1.0,)
        for width in widths:
            for res in resolutions:
                if width != 1.0 and res not in (spec.resolution_px, 160):
                    continue  # other widths at the two main resolutions only
                configs.append(ProfileConfig(name, res, float(width)))
    return configs


def _transformer_zoo() -> list[ProfileConfig]:
    return [ProfileConfig(name, res) for name, res in TRANSFORMER_CONFIGS]


def _sampled(samplers: tuple[tuple[str, tuple[int, ...]], ...], resolutions: tuple[int, ...]) -> list[ProfileConfig]:
    """``sampler:SEED`` for every sampler's seeds, each sampler's seeds cycling through ``resolutions``."""
    return [ProfileConfig(f"{sampler}:{seed}", resolutions[i % len(resolutions)])
            for sampler, seeds in samplers for i, seed in enumerate(seeds)]


def default_corpus() -> list[ProfileConfig]:
    """The zoo at several resolutions plus the sampled networks (the 1-thread calibration table)."""
    return (_zoo_configs()
            + _sampled((("random", RANDOM_SEEDS), ("random2", RANDOM2_SEEDS)), _RANDOM_RESOLUTIONS)
            + _transformer_zoo()
            + _sampled((("random3", RANDOM3_SEEDS), ("random4", RANDOM4_SEEDS)), _RANDOM3_RESOLUTIONS)
            + _sampled((("random5", RANDOM5_SEEDS),), _RANDOM_RESOLUTIONS))


def zoo_corpus() -> list[ProfileConfig]:
    """The default corpus's registered networks only (71 configurations, about 20 minutes at one thread): a further
    pass of the configurations that leave-one-family-out judges a predictor on, to merge with a whole pass
    (:mod:`latmodel.measure.passes`)."""
    return _zoo_configs() + _transformer_zoo()


def wide_corpus() -> list[ProfileConfig]:
    """The 24 ``random6:SEED`` wide networks (half ViT-like, half grouped bottlenecks) at 96-160 px: a table that
    extends one of the default corpus on the same device (``latmodel fit`` takes both)."""
    return _sampled((("random6", RANDOM6_SEEDS),), _RANDOM_RESOLUTIONS)


def heavy_corpus() -> list[ProfileConfig]:
    """The 12 ``random7:SEED`` heavy encoders at 96-160 px and 12 ``random2:SEED`` chains at 224-288 px: weights
    past a large cache and feature maps past every other sampled network's (about 10 minutes at one thread), a
    table that extends one of the default corpus on the same device (``latmodel fit`` takes both)."""
    return (_sampled((("random7", RANDOM7_SEEDS),), _RANDOM_RESOLUTIONS)
            + _sampled((("random2", LARGE_RANDOM2_SEEDS),), _LARGE_RESOLUTIONS))


def units_corpus() -> list[ProfileConfig]:
    """The 24 ``random8:SEED`` networks (a third each channel-shuffle units, narrow grouped bottlenecks, small
    squeeze-excitation inverted residuals) at 128-224 px: a table that extends one of the default corpus on the
    same device (``latmodel fit`` takes both)."""
    return _sampled((("random8", RANDOM8_SEEDS),), _UNIT_RESOLUTIONS)


def small_corpus() -> list[ProfileConfig]:
    """13 configurations covering every block kind once: for 2 threads, a new device, quick checks."""
    return [
        ProfileConfig("mobilenet_v2", 224),
        ProfileConfig("mobilenet_v2", 160, 0.5),
        ProfileConfig("mobilenet_v3_small", 224),
        ProfileConfig("mobilenet_v3_large", 160),
        ProfileConfig("resnet18", 224),
        ProfileConfig("resnet50", 160),
        ProfileConfig("efficientnet_b0", 224),
        ProfileConfig("mnasnet1_0", 160),
        ProfileConfig("shufflenet_v2_x1_0", 224),
        ProfileConfig("regnet_y_400mf", 224),
        ProfileConfig("googlenet", 160),
        ProfileConfig("efficientnet_lite0", 224),
        ProfileConfig("random:1", 96),
    ]


def repeat_corpus(per_family: int = 2) -> list[ProfileConfig]:
    """A second pass's corpus: ``per_family`` configurations of every family of :func:`default_corpus`
    (of each sampler for the sampled networks), drawn in a fixed pseudo-random order: 39 configurations,
    what a table's repeatability is stated on (data/calibration/README.md)."""
    import random

    from ..graph.zoo import family_of

    # samplers that joined the corpus later are drawn after the others, each in turn, so the
    # configurations that earlier tables' second passes measured stay the same
    def sampler_of(c: ProfileConfig) -> str:
        return c.model.split(":")[0]

    corpus = default_corpus()
    configs = [c for c in corpus if sampler_of(c) not in _LATER_SAMPLERS]
    random.Random(0).shuffle(configs)
    for sampler in _LATER_SAMPLERS:
        later = [c for c in corpus if sampler_of(c) == sampler]
        random.Random(0).shuffle(later)
        configs += later
    taken: dict[str, int] = {}
    out = []
    for c in configs:
        key = c.model.split(":")[0] if ":" in c.model else family_of(c.model)
        if taken.get(key, 0) < per_family:
            taken[key] = taken.get(key, 0) + 1
            out.append(c)
    return out


#: Corpus name -> factory (``latmodel profile --corpus NAME``).
CORPORA: dict[str, Callable[[], list[ProfileConfig]]] = {
    "default": default_corpus,
    "small": small_corpus,
    "repeat": repeat_corpus,
    "wide": wide_corpus,
    "heavy": heavy_corpus,
    "units": units_corpus,
    "zoo": zoo_corpus,
}


def get_corpus(name: str | None = None) -> list[ProfileConfig]:
    """The corpus called ``name`` (None: ``"default"``)."""
    name = "default" if name is None else name
    if name not in CORPORA:
        raise NetcutError(f"unknown corpus {name!r}; choose one of: {', '.join(CORPORA)}")
    return CORPORA[name]()

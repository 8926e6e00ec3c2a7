"""The device record: what a table was measured on (CPU or GPU, threads, torch, runtime, backend) and config ids."""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import platform
from typing import Any

from ..errors import NetcutError, TableError
from ..records import Record
from ..versions import installed_versions

__all__ = ["DEVICE_KINDS", "ISA_LEVELS", "check_device_kind", "CpuIdentity", "cpu_identity", "cpu_flags",
           "DeviceRecord", "device_record", "make_config_id", "library_versions", "table_device_record",
           "describe_device", "is_legacy"]

#: Libraries whose versions a predictor records (besides netcut itself).
_LIBRARIES = ("xgboost", "scikit-learn", "torch", "numpy", "pandas")

#: Devices a configuration can be measured on.
DEVICE_KINDS: tuple[str, ...] = ("cpu", "cuda")


#: The widest vector ISA a CPU has, widest first: (name, /proc/cpuinfo flags that must all be present).
#: ``lscpu``'s model name does not tell two machines apart ("AMD EPYC" names an AVX-512 Zen 4 and an
#: AVX2-only part alike), the ISA and the family / model / stepping do.
ISA_LEVELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("avx512", ("avx512f",)),
    ("avx2", ("avx2",)),
    ("avx", ("avx",)),
    ("sse4", ("sse4_2",)),
    ("sve", ("sve",)),
    ("neon", ("asimd",)),
)


def check_device_kind(device: str) -> None:
    """:class:`NetcutError` unless ``device`` is one of :data:`DEVICE_KINDS`."""
    if device not in DEVICE_KINDS:
        raise NetcutError(f"device must be {' or '.join(repr(d) for d in DEVICE_KINDS)}, got {device!r}")


def is_legacy(device: dict) -> bool:
    """Whether a device record (a :class:`DeviceRecord` as a dict, or a predictor manifest's ``device``, which may
    omit fields) is legacy: a CPU without a recorded ISA (:attr:`DeviceRecord.legacy`)."""
    return str(device.get("device_kind") or "cpu") == "cpu" and not _text(device.get("cpu_isa"))


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
    cpu_vendor: str = ""
    cpu_model_id: str = ""
    cpu_isa: str = ""

    @property
    def legacy(self) -> bool:
        """A record written before the CPU's vendor, family/model/stepping and ISA were part of it
        (schema 3 tables, predictors fitted before 2026-12-02): its id cannot tell two CPUs with one
        model name apart, so it never matches this machine automatically."""
        return is_legacy(dataclasses.asdict(self))

    @property
    def device_id(self) -> str:
        """Short sha256 of kind, name, cores, threads, torch version and backend (not the batch size,
        which is part of the workload and has its own place in ``config_id``), of the runtime and its
        version unless it is eager torch, and of the CPU's vendor, family/model/stepping and widest ISA.
        A legacy record (no ISA) keeps the id it was written with."""
        parts = [self.device_kind, self.device_name, self.cpu_count, self.threads, self.torch_version, self.backend]
        if self.runtime != "torch":
            parts += [self.runtime, self.runtime_version]
        if not self.legacy:
            parts += [self.cpu_vendor, self.cpu_model_id, self.cpu_isa]
        key = "|".join(str(v) for v in parts)
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]

    @property
    def slug(self) -> str:
        """A short name for folders: ``epyc-avx512``, ``xeon-avx2``, ``cuda-h200`` (``cpu-legacy`` without an ISA)."""
        if self.device_kind != "cpu":
            return f"{self.device_kind}-{_short_name(self.device_name)}"
        return f"{_short_name(self.device_name)}-{self.cpu_isa or 'legacy'}"

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "device_id": self.device_id}

    @classmethod
    def from_dict(cls, d: dict) -> "DeviceRecord":
        return cls(device_kind=str(d["device_kind"]), device_name=str(d["device_name"]),
                   cpu_count=int(d["cpu_count"]), threads=int(d["threads"]),
                   torch_version=str(d["torch_version"]), backend=str(d["backend"]),
                   batch_size=int(d["batch_size"]), runtime=str(d.get("runtime") or "torch"),
                   runtime_version=str(d.get("runtime_version") or ""),
                   cpu_vendor=_text(d.get("cpu_vendor")), cpu_model_id=_text(d.get("cpu_model_id")),
                   cpu_isa=_text(d.get("cpu_isa")))


def _text(value) -> str:
    """A record's optional text field: '' for missing, None or NaN (a CSV cell that was empty)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def _short_name(name: str) -> str:
    """``AMD EPYC 9R14 96-Core Processor`` -> ``epyc``; ``Intel(R) Xeon(R) Processor`` -> ``xeon``; a GPU's last word."""
    low = name.lower()
    for key in ("epyc", "xeon", "ryzen", "core", "graviton", "neoverse", "cortex", "apple"):
        if key in low:
            return key
    words = [w for w in "".join(c if c.isalnum() else " " for c in low).split() if w not in ("nvidia", "amd", "intel")]
    return words[-1] if words else "cpu"


def describe_device(record: "DeviceRecord | dict") -> str:
    """One line naming a device: ``Intel(R) Xeon(R) Processor (GenuineIntel 6/143/8, avx512), 2 cores, 1 thread,
    onnxruntime 1.32.0 [id 0123456789]``; a legacy record says that its ISA is unknown."""
    rec = record if isinstance(record, DeviceRecord) else DeviceRecord.from_dict(record)
    cpu = (f" ({rec.cpu_vendor} {rec.cpu_model_id}, {rec.cpu_isa})" if not rec.legacy else
           " (ISA not recorded: a legacy record)") if rec.device_kind == "cpu" else ""
    threads = f"{rec.threads} thread{'s' if rec.threads != 1 else ''}"
    return (f"{rec.device_name}{cpu}, {rec.cpu_count} cores, {threads}, {rec.runtime} {rec.runtime_version} "
            f"[id {rec.device_id}]")


@dataclasses.dataclass(frozen=True)
class CpuIdentity(Record):
    """What tells two CPUs apart: model name, vendor, family/model/stepping and the widest vector ISA."""

    name: str
    vendor: str
    model_id: str
    isa: str


def _first_processor(cpuinfo: str | None) -> dict[str, str]:
    """The fields of the first processor of ``/proc/cpuinfo`` (or of the text ``cpuinfo``); {} when unreadable."""
    if cpuinfo is None:
        cpuinfo = ""
        with contextlib.suppress(OSError):
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
                cpuinfo = fh.read()
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip() and fields:
            break  # the first processor is enough: every core of a machine is the same here
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def _flags_of(fields: dict[str, str]) -> frozenset[str]:
    return frozenset((fields.get("flags") or fields.get("Features") or "").split())


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """This CPU's feature flags (x86 ``flags``, Arm ``Features``) from ``/proc/cpuinfo`` or the text ``cpuinfo``;
    empty when the file cannot be read."""
    return _flags_of(_first_processor(cpuinfo))


def cpu_identity(cpuinfo: str | None = None) -> CpuIdentity:
    """This CPU's identity from ``/proc/cpuinfo`` (or the text ``cpuinfo``, for tests and other systems).

    The ISA is the first of :data:`ISA_LEVELS` whose flags the first processor lists (x86 ``flags``,
    Arm ``Features``); ``"unknown"`` when none is found or the file cannot be read.
    """
    fields = _first_processor(cpuinfo)
    name = next((fields[k] for k in ("model name", "Model", "Hardware") if fields.get(k)), "") or \
        platform.processor() or platform.machine() or "unknown cpu"
    vendor = fields.get("vendor_id") or fields.get("CPU implementer") or "unknown"
    if "cpu family" in fields:
        model_id = f"{fields.get('cpu family', '?')}/{fields.get('model', '?')}/{fields.get('stepping', '?')}"
    else:
        model_id = f"{fields.get('CPU architecture', '?')}/{fields.get('CPU part', '?')}/{fields.get('CPU variant', '?')}"
    flags = _flags_of(fields)
    isa = next((level for level, need in ISA_LEVELS if all(f in flags for f in need)), "unknown")
    return CpuIdentity(name=name, vendor=vendor, model_id=model_id, isa=isa)


def device_record(device: str = "cpu", *, threads: int = 1, batch_size: int = 1,
                  runtime: str = "torch") -> DeviceRecord:
    """The record of this machine: CPU model from /proc/cpuinfo, GPU name from torch.cuda, the runtime's
    version and configuration (:mod:`latmodel.measure.runtimes`; :class:`NetcutError` if it is not installed)."""
    import torch

    from .runtimes import require_runtime, runtime_version

    check_device_kind(device)
    rt = require_runtime(runtime, device)
    cpu = cpu_identity()
    if device == "cuda":
        if not torch.cuda.is_available():
            raise NetcutError("device 'cuda' was requested but torch sees no CUDA GPU; use --device cpu")
        name = torch.cuda.get_device_name(0)
        backend = f"cuda{torch.version.cuda}/cudnn{torch.backends.cudnn.version()}"
    else:
        name = cpu.name
        backend = rt.backend(threads)
    return DeviceRecord(device_kind=device, device_name=name, cpu_count=os.cpu_count() or 1, threads=threads,
                        torch_version=torch.__version__, backend=backend, batch_size=batch_size,
                        runtime=rt.name, runtime_version=runtime_version(rt.name),
                        cpu_vendor=cpu.vendor, cpu_model_id=cpu.model_id, cpu_isa=cpu.isa)


def make_config_id(model: str, resolution: int, width: float, batch_size: int, threads: int, device_id: str) -> str:
    return f"{model}@{resolution}px@w{float(width)}@b{batch_size}@t{threads}@{device_id}"


def library_versions() -> dict[str, str]:
    """Versions of netcut and of the libraries a predictor depends on, as installed now."""
    from .. import __version__

    return {"netcut": __version__, **installed_versions(_LIBRARIES)}


def table_device_record(df) -> dict:
    """Device columns of the training rows: the value where all rows agree, else the sorted values."""
    cols = ("device_kind", "device_name", "device_id", "cpu_count", "threads", "torch_version", "runtime",
            "runtime_version", "cpu_vendor", "cpu_model_id", "cpu_isa")
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

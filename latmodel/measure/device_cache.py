"""This machine's device record cached on disk, so a prediction from the shell need not import torch.

:func:`latmodel.measure.device.device_record` imports torch (its version and the CPU backend it dispatches to):
2-4 s of a `latmodel predict` that otherwise reads a cached feature file and a predictor.  The record
changes only with the CPU, the installed torch / runtime, netcut's device code and the settings asked
for, so :func:`cached_device_record` keys a JSON file on exactly those: the CPU's identity and core
count (read from ``/proc/cpuinfo`` without torch), the installed versions of torch and the runtime's
packages (``importlib.metadata``), the sources of ``device.py`` and ``runtimes.py``, and the device
kind, threads, batch size and runtime.  CUDA records are never cached (the GPU may change under the
same key).  The file sits in ``device`` of netcut's cache folder (:func:`latmodel.fileio.cache_root`);
an unreadable one is recomputed.  Profiling and measuring never use it: they compute the record anew.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from ..versions import installed_versions
from .device import DeviceRecord, cpu_identity, device_record

__all__ = ["cached_device_record"]

logger = logging.getLogger(__name__)

_SOURCES = ("device.py", "runtimes.py", "device_cache.py")


def _key(device: str, threads: int, batch_size: int, runtime: str) -> str:
    from .. import __version__
    from .runtimes import get_runtime

    versions = installed_versions(("torch", *get_runtime(runtime).packages))
    h = hashlib.sha256(json.dumps({"device": device, "threads": threads, "batch_size": batch_size,
                                   "runtime": runtime, "cpu": cpu_identity().to_dict(), "cores": os.cpu_count(),
                                   "versions": versions, "netcut": __version__}, sort_keys=True).encode())
    here = Path(__file__).resolve().parent
    for name in _SOURCES:
        h.update((here / name).read_bytes())
    return h.hexdigest()[:32]


def cached_device_record(device: str = "cpu", *, threads: int = 1, batch_size: int = 1,
                         runtime: str = "torch") -> DeviceRecord:
    """:func:`latmodel.measure.device.device_record`, read from the disk cache when this machine's was stored."""
    if device != "cpu":
        return device_record(device, threads=threads, batch_size=batch_size, runtime=runtime)
    from ..fileio import atomic_write_text, cache_root

    try:
        path = cache_root() / "device" / f"{_key(device, threads, batch_size, runtime)}.json"
    except Exception:  # an unknown runtime or an odd install: the real record says what is wrong
        return device_record(device, threads=threads, batch_size=batch_size, runtime=runtime)
    if path.is_file():
        try:
            return DeviceRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, KeyError):
            logger.debug("device cache entry %s is unreadable; recomputing", path)
    record = device_record(device, threads=threads, batch_size=batch_size, runtime=runtime)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(record.to_dict()))
    except OSError as exc:
        logger.debug("could not write the device cache %s (%s)", path, exc)
    return record

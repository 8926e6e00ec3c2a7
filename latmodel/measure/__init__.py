"""Measuring latency on this machine: the device record (``device``, cached: ``device_cache``), the runtimes
(``runtimes``), the window method (warm bursts round-robin over configurations: ``bursts``; timing primitives:
``timing``, ``stats``, ``round_model``, ``noise``), rows of a measurement table (``rows``, ``table``), measuring
many in child processes (``profiling``), what is measured by default (``corpus``) and the yardstick that puts
windows on one scale (``yardstick_scale``).  Imports ``graph``, never ``predict``.  Names below import their
module on first use."""
from __future__ import annotations

from ..lazy import lazy_getattr

_EXPORTS = {
    "DeviceRecord": "device", "device_record": "device", "describe_device": "device",
    "RUNTIMES": "runtimes", "time_module": "runtimes",
    "BurstPolicy": "bursts", "time_window": "bursts",
    "measure_window": "rows", "measure_config": "rows",
    "profile": "profiling",
    "read_table": "table", "append_rows": "table",
    "get_corpus": "corpus",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)

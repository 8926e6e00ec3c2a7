"""Where and how trimmer computes: device resolution, mixed precision, torch CPU threads, memory reuse, progress bars.

One helper each, shared by training (:mod:`trimmer.train`) and the search
(:mod:`trimmer.search`).
"""
from __future__ import annotations

import contextlib
import functools
import logging
import re

from latmodel.errors import NetcutError
from latmodel.measure.timing import torch_threads

__all__ = ["DEVICE_PATTERN", "WORK_BAR_FORMAT", "FEATURE_PRECISIONS", "NATIVE_BF16_FLAGS", "resolve_device",
           "amp_setup", "check_feature_precision", "feature_autocast", "native_bf16", "resolve_feature_precision",
           "torch_threads", "progress", "progress_bar", "keep_freed_memory"]

logger = logging.getLogger(__name__)

#: Devices trimmer trains on.
DEVICE_PATTERN = re.compile(r"^(cpu|cuda(:\d+)?)$")


#: glibc ``mallopt`` parameters (malloc.h): the size above which an allocation gets its own mapping, and the
#: free memory at the top of the heap above which it is given back.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: Never give freed heap memory back (the largest value mallopt's int takes: 2 GiB).
_NEVER_TRIM_BYTES = 2**31 - 1


@functools.lru_cache(maxsize=None)  # process-wide settings: once per process
def keep_freed_memory() -> bool:
    """Let this process reuse freed memory instead of faulting in fresh pages for every batch: allocations up
    to the measuring children's mmap threshold (:data:`latmodel.measure.profiling.CHILD_ENV`) come from the
    heap, and the heap is never trimmed.  On the 2-core guest ``make demo`` spent 40% of its CPU time in the
    kernel without it; its probe pass took 119 s with it against 154-158 s without (one run each, 2026-12-03,
    nothing else running).  Set once per process; False where the C library has no ``mallopt`` (not glibc), which changes nothing else."""
    import ctypes

    from latmodel.measure.profiling import CHILD_ENV

    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    mmap_ok = mallopt(_M_MMAP_THRESHOLD, int(CHILD_ENV["MALLOC_MMAP_THRESHOLD_"])) == 1
    return mmap_ok and mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM_BYTES) == 1


def resolve_device(device: str):
    """``torch.device`` for ``'cpu'``, ``'cuda'`` or ``'cuda:N'``; a clear error when CUDA is missing."""
    import torch

    if not isinstance(device, str) or not DEVICE_PATTERN.match(device):
        raise NetcutError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise NetcutError(f"device {device!r} requested but CUDA is not available; use device 'cpu'")
    return torch.device(device)


def amp_setup(device, amp: bool):
    """(autocast context factory, GradScaler or None) for ``device``: bfloat16 where supported, else float16."""
    import torch

    if device.type != "cuda" or not amp:
        return contextlib.nullcontext, None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return (lambda: torch.autocast("cuda", dtype=dtype)), scaler


#: Precisions of a feature pass without gradients (the probe's), the first the default.  ``auto``: bfloat16 on a
#: CPU that computes it natively (:func:`native_bf16`), else float32 (:func:`resolve_feature_precision`).  There the
#: probe takes 0.67-0.75 of the float32 time and ranks as well: over six exhaustive searches (benchmarks/bench_probe.py,
#: 100 images a class; results/probe*.json) its Spearman correlation with the fine-tuned accuracies was within 0.006
#: of float32's or higher, and the test points its first choice gave up differed from float32's by -0.95 to +1.4
#: (mean +0.07) over 25 deadlines each: no difference beyond the noise of the validation splits.
FEATURE_PRECISIONS: tuple[str, ...] = ("auto", "float32", "bfloat16")
#: /proc/cpuinfo flags of CPUs with bfloat16 arithmetic in hardware (Intel AMX, AVX-512 BF16 on Zen 4 and Xeons);
#: without them oneDNN emulates bfloat16, slower than float32.
NATIVE_BF16_FLAGS: tuple[str, ...] = ("amx_bf16", "avx512_bf16")


def native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU (or the ``/proc/cpuinfo`` text ``cpuinfo``) computes bfloat16 in hardware."""
    from latmodel.measure.device import cpu_flags

    return bool(cpu_flags(cpuinfo) & set(NATIVE_BF16_FLAGS))


def resolve_feature_precision(precision: str, device: str = "cpu", cpuinfo: str | None = None) -> str:
    """``float32`` or ``bfloat16``: what a feature pass in ``precision`` runs on ``device`` (``auto``: bfloat16 on a
    CPU with :func:`native_bf16` (or the ``/proc/cpuinfo`` text ``cpuinfo``), else float32)."""
    check_feature_precision(precision)
    if precision != "auto":
        return precision
    return "bfloat16" if str(device).startswith("cpu") and native_bf16(cpuinfo) else "float32"


def check_feature_precision(precision: str) -> None:
    """:class:`NetcutError` unless ``precision`` is one of :data:`FEATURE_PRECISIONS`."""
    if precision not in FEATURE_PRECISIONS:
        raise NetcutError(f"--probe-precision must be one of {', '.join(FEATURE_PRECISIONS)}, got {precision!r}")


def feature_autocast(device, amp: bool, precision: str = "float32"):
    """The autocast context factory of a feature pass: ``amp``'s on CUDA; on the CPU bfloat16 autocast when
    ``precision`` is ``bfloat16`` (emulated, and slower than float32, where the CPU lacks :func:`native_bf16`:
    a warning says so), else none."""
    import torch

    precision = resolve_feature_precision(precision, device.type)
    if device.type == "cpu" and precision == "bfloat16":
        if not native_bf16():
            logger.warning("this CPU has no bfloat16 arithmetic (%s): the bfloat16 feature pass is emulated and "
                           "slower than float32", " or ".join(NATIVE_BF16_FLAGS))
        return lambda: torch.autocast("cpu", dtype=torch.bfloat16)
    return amp_setup(device, amp)[0]


def progress(iterable, *, total: int | None, desc: str, enabled: bool):
    """A transient progress bar over ``iterable`` (off when ``enabled`` is false or stderr is no terminal)."""
    from tqdm.auto import tqdm

    # disable=None: tqdm turns itself off when stderr is not a terminal.
    return tqdm(iterable, total=total, desc=desc, leave=False, disable=None if enabled else True)


#: For bars whose total is estimated work, not a count: percentage and ETA only.
WORK_BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]"


@contextlib.contextmanager
def progress_bar(total: float, enabled: bool, *, desc: str, unit: str, bar_format: str | None = None):
    """A manually updated progress bar, closed on exit; off when disabled or ``total`` is 0."""
    from tqdm.auto import tqdm

    # smoothing=0: the rate is all work done over all time elapsed.  Work arrives in bursts (a head-mode job
    # returns every cut of a base at once), and tqdm's default moving average then took the first result of a
    # burst over the whole wait for the rate: a 12-minute search showed an ETA of 3 h 52 min.
    bar = tqdm(total=total, desc=desc, unit=unit, disable=not enabled or total == 0, bar_format=bar_format,
               smoothing=0)
    try:
        yield bar
    finally:
        bar.close()

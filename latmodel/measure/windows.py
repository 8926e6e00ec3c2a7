"""How :func:`latmodel.measure.profiling.profile` cuts configurations into measuring windows: by count, by the
window's length, and by the memory a window holds.

A window (one child process) holds every one of its configurations' networks at once, in
``BurstPolicy.placements`` copies.  Eager torch shares one set of weights between a chain's blocks and
prefixes; an ONNX runtime builds one session per block and one per prefix, and each session owns its
weights, so a chain of ``n`` blocks holds block ``j``'s weights ``n - j + 1`` times.  ViT-B/16 at 64 px alone
peaked at 12 GB in an ONNX Runtime window (2026-12-05, stepping-1 Xeon), and a window of 18 configurations
of the repeat corpus was killed by the out-of-memory killer on the 24 GB machine.  So for ONNX runtimes the
windows are also cut so that their estimated peak fits in a share of the memory available when profiling
starts (:func:`plan_windows`).
"""
from __future__ import annotations

import dataclasses
import logging
import math
from typing import Callable, Sequence

from ..records import Record
from .bursts import BurstPolicy
from .timing import require_positive_int

__all__ = ["WINDOW_CONFIGS", "MEMORY_SHARE", "MEMORY_MODELS", "memory_model", "Footprint", "MemoryModel", "WindowPlan",
           "available_memory_bytes", "estimate_seconds", "footprint_of", "group_windows", "plan_windows", "prepare_seconds",
           "round_seconds", "window_seconds", "window_seconds_from_rounds"]

logger = logging.getLogger(__name__)

#: Configurations timed round-robin in one window (one child process) by default, and the window's length:
#: 20 s a configuration, 60-300 s (the default corpus of 179: 8 windows of 22-23, 300 s each).  A window must
#: span the host's phases: on the 2-core VMs they last seconds to minutes, and 7 configurations over 90 s
#: repeated worse than 14 over 300 s (benchmarks/bench_repeatability.py, 2026-12-02).
WINDOW_CONFIGS = 24
_WINDOW_S_PER_CONFIG = 20.0
_WINDOW_S_BOUNDS = (60.0, BurstPolicy.window_s)
#: What the time estimate adds to the windows themselves (2026-12-05, stepping-1 Xeon, 11 networks from a sampled
#: chain to ViT-B/32): building, splitting and tracing a configuration in the child (0.1-1.9 s), starting a child
#: (imports, a window), and for runtimes with a session per block and prefix, compiling each session (~10 ms) and
#: its weights (ONNX Runtime 1.32: 3-7 s a GB; ViT-B/32 at 128 px, 2 x 2.7 GB held, 33 s).  The last default,
#: for a configuration whose footprint is unknown, was the flat estimate before (10 s).
_BUILD_S_PER_CONFIG = 1.5
_CHILD_START_S = 5.0
_SESSION_S = 0.01
_SESSION_S_PER_GB = 5.0
_COMPILE_S_UNKNOWN = 10.0
#: One round of a window, from what the parent knows before any child starts (each network timed once as it is
#: validated): a configuration of ``n`` blocks whose whole chain runs in ``L`` seconds costs ``_ROUND_S_PER_WORK x L x
#: ((n + 1) / 2 + 2)`` (its prefixes, about half the chain each, its blocks alone and the chain in context, in warm
#: bursts of both placements) plus ``_ROUND_S_PER_BURST`` for each of its ``2 (2n + 1)`` bursts.  Least squares on
#: the 14 windows of the Xeon 6/207/2's torch tables (2026-12-06, 1 thread; sampled chains to ViT-B and encoders of
#: 600 MB): every window's measured round within 7% from the tables' own latencies (factor 12.2); the parent's
#: single timings run ~10% above the tables' minima, hence 11.0.  A window whose 6 rounds take longer than its
#: ``window_s`` lasts those rounds: 6 rounds of 23-24 zoo networks took 8-10 minutes there, against the 300 s
#: window the estimate assumed before (a zoo pass estimated at 17 minutes took 29).
_ROUND_S_PER_WORK = 11.0
_ROUND_S_PER_BURST = 0.010
#: The share of the memory available when profiling starts that a window's estimated peak may take: the
#: estimate is within about 20% of the measured peak (:data:`MEMORY_MODELS`), and the parent and other
#: processes keep what they hold.
MEMORY_SHARE = 0.7


def window_seconds(n_configs: int) -> float:
    """The default length of a window of ``n_configs`` configurations, seconds."""
    lo, hi = _WINDOW_S_BOUNDS
    return min(hi, max(lo, _WINDOW_S_PER_CONFIG * n_configs))


@dataclasses.dataclass(frozen=True)
class Footprint(Record):
    """What one configuration's chain holds while it is measured: each block's weight bytes (parameters and
    buffers) and activation bytes (its input plus its output, float32)."""

    config_id: str
    block_weight_bytes: tuple[int, ...]
    block_activation_bytes: tuple[int, ...]

    def held_weight_bytes(self, per_session: bool, block_sessions: bool = True) -> int:
        """Weight bytes one copy of the chain holds: once (eager torch: prefixes share the blocks' modules) or
        once per session that contains the block (its own session, unless blocks are not compiled, and the
        prefixes ``j..n-1``)."""
        w, n = self.block_weight_bytes, len(self.block_weight_bytes)
        own = 1 if block_sessions else 0
        return sum(b * (n - j + own) for j, b in enumerate(w)) if per_session else sum(w)

    def held_activation_bytes(self, per_session: bool, block_sessions: bool = True) -> int:
        """Activation bytes one copy's sessions plan for: each block's own (if compiled), plus each prefix's
        largest."""
        a = self.block_activation_bytes
        if not per_session:
            return max(a, default=0)
        return (sum(a) if block_sessions else 0) + sum(max(a[: k + 1]) for k in range(len(a)))


@dataclasses.dataclass(frozen=True)
class MemoryModel(Record):
    """A window's peak resident memory: ``base_bytes`` (the child's libraries) plus, for each configuration
    and placement, ``weight_factor`` x its held weights + ``activation_factor`` x its held activations +
    ``session_bytes`` per compiled session (2 per block when each block and prefix is its own session, 1
    when ``block_sessions`` is false: a runtime whose block costs come from its node profiler compiles the
    prefixes only, :mod:`latmodel.measure.graph_profile`)."""

    per_session: bool
    base_bytes: float
    weight_factor: float
    activation_factor: float
    session_bytes: float
    block_sessions: bool = True

    def config_bytes(self, fp: Footprint, placements: int) -> float:
        """What one configuration adds to its window's peak."""
        per_block = (2 if self.block_sessions else 1) if self.per_session else 0
        one = (self.weight_factor * fp.held_weight_bytes(self.per_session, self.block_sessions)
               + self.activation_factor * fp.held_activation_bytes(self.per_session, self.block_sessions)
               + self.session_bytes * per_block * len(fp.block_weight_bytes))
        return placements * one

    def window_bytes(self, footprints: Sequence[Footprint], placements: int) -> float:
        """The estimated peak of a window measuring ``footprints`` together."""
        return self.base_bytes + sum(self.config_bytes(fp, placements) for fp in footprints)


#: Peak memory of a measuring child, by runtime.  ONNX Runtime: non-negative least squares on the peak RSS
#: of 10 one-configuration windows (2 placements; MobileNetV2, MnasNet, ResNet-50, DenseNet-121,
#: EfficientNet-B1, ConvNeXt-T, Swin-T, MaxViT-T, ViT-B/16 and a sampled chain; 0.85-12.1 GB), every
#: estimate within 20% of its peak (2026-12-05, torch 2.14.1, onnxruntime 1.32, glibc with the profile's
#: malloc thresholds).  OpenVINO also builds a compiled model per block and prefix: ONNX Runtime's figures,
#: not measured apart.  Eager torch (ViT-B/16 at 64 px: 1.56 GB, a sampled chain 1.27 GB) never binds.
MEMORY_MODELS: dict[str, MemoryModel] = {
    "torch": MemoryModel(per_session=False, base_bytes=1.3e9, weight_factor=1.0, activation_factor=4.0,
                         session_bytes=0.0),
    "onnxruntime": MemoryModel(per_session=True, base_bytes=1.1e9, weight_factor=2.3, activation_factor=3.8,
                               session_bytes=1.2 * 2**20),
}
MEMORY_MODELS["openvino"] = MEMORY_MODELS["onnxruntime"]
# bfloat16 copies beside the float32 blocks: at most 1.5x their weights, activations half; torch's figures bound it
MEMORY_MODELS["torch-bf16"] = dataclasses.replace(MEMORY_MODELS["torch"], weight_factor=1.5)


def memory_model(runtime: str) -> MemoryModel | None:
    """``runtime``'s :data:`MEMORY_MODELS` entry, without the blocks' own sessions where the runtime has a node
    profiler (:attr:`latmodel.measure.runtimes.Runtime.block_profiler`: it compiles the prefixes only; the
    factors were fitted with block sessions and are kept; every profile logs its peak beside the estimate)."""
    from .runtimes import RUNTIMES

    model = MEMORY_MODELS.get(runtime)
    rt = RUNTIMES.get(runtime)
    if model is not None and rt is not None and rt.block_profiler is not None:
        model = dataclasses.replace(model, block_sessions=False)
    return model


def footprint_of(config_id: str, chain) -> Footprint:
    """``chain``'s :class:`Footprint` (one forward pass of zeros at its input shape, no gradients)."""
    import torch

    weights, acts = [], []
    with torch.inference_mode():
        h = torch.zeros(chain.input_shape)
        for block in chain.blocks:
            out = block(h)
            weights.append(sum(t.numel() * t.element_size() for t in (*block.parameters(), *block.buffers())))
            acts.append(4 * (h.numel() + out.numel()))
            h = out
    return Footprint(config_id, tuple(weights), tuple(acts))


def available_memory_bytes() -> int | None:
    """Memory the kernel can give new work now (``MemAvailable``), or None where it cannot be read."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except (ImportError, OSError, AttributeError):  # pragma: no cover - psutil is a dependency
        return None


def group_windows(items: Sequence, per_window: int) -> list[list]:
    """``items`` cut into consecutive windows of at most ``per_window``, sizes as equal as they can be
    (17 by 8: 6, 6, 5), so no window is left with one configuration to interleave."""
    require_positive_int("configurations per window", per_window)
    n = len(items)
    if n == 0:
        return []
    k = math.ceil(n / per_window)
    sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    out, i = [], 0
    for size in sizes:
        out.append(list(items[i:i + size]))
        i += size
    return out


@dataclasses.dataclass(frozen=True)
class WindowPlan:
    """Windows of items, with each window's estimated peak memory (None: not estimated)."""

    windows: tuple[tuple, ...]
    peak_bytes: tuple[float | None, ...]
    over_budget: tuple[int, ...] = ()  # windows of one configuration that alone exceed the budget


def _balanced(sizes: Sequence[float], k: int) -> list[list[int]]:
    """Indices of ``sizes`` dealt into ``k`` windows of equal counts (within one) and as equal memory as a
    greedy deal gives: largest first, each to the lightest window with room; each window keeps the given order."""
    cap = math.ceil(len(sizes) / k)
    groups: list[list[int]] = [[] for _ in range(k)]
    totals = [0.0] * k
    for i in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        j = min((j for j in range(k) if len(groups[j]) < cap), key=lambda j: (totals[j], j))
        groups[j].append(i)
        totals[j] += sizes[i]
    return sorted((sorted(g) for g in groups if g), key=lambda g: g[0])


def plan_windows(items: Sequence, per_window: int, *, size_of: Callable[[object], float] | None = None,
                 base_bytes: float = 0.0, budget_bytes: float | None = None) -> WindowPlan:
    """``items`` cut into windows of at most ``per_window``, each window's estimated peak (``base_bytes`` + the
    ``size_of`` its items) within ``budget_bytes``, in as few windows as that allows (long windows repeat best).

    Without sizes: :func:`group_windows` (consecutive, equal counts).  With them: the fewest windows that fit,
    items dealt largest first to the lightest window (so two ViTs do not share one), the given order kept
    within each window.  An item that alone passes the budget gets a window of its own, listed in
    ``over_budget``: it may still fit (the estimate is within about 20%), the caller says so."""
    if size_of is None or budget_bytes is None:
        windows = group_windows(items, per_window)
        return WindowPlan(tuple(map(tuple, windows)), tuple(None for _ in windows))
    require_positive_int("configurations per window", per_window)
    sizes = [float(size_of(it)) for it in items]
    room = budget_bytes - base_bytes
    alone = [i for i, s in enumerate(sizes) if s > room]
    rest = [i for i, s in enumerate(sizes) if s <= room]
    groups: list[list[int]] = [[i] for i in alone]
    if rest:
        k = max(math.ceil(len(rest) / per_window), math.ceil(sum(sizes[i] for i in rest) / room) if room > 0 else 1)
        while True:
            dealt = [[rest[i] for i in g] for g in _balanced([sizes[i] for i in rest], k)]
            if k >= len(rest) or all(sum(sizes[i] for i in g) <= room for g in dealt):
                break
            k += 1
        groups += dealt
    groups.sort(key=lambda g: g[0])
    windows = tuple(tuple(items[i] for i in g) for g in groups)
    peaks = tuple(base_bytes + sum(sizes[i] for i in g) for g in groups)
    over = tuple(w for w, g in enumerate(groups) if g[0] in alone)
    return WindowPlan(windows, peaks, over)


def prepare_seconds(runtime: str, footprint: Footprint | None = None,
                    placements: int = BurstPolicy.placements) -> float:
    """Seconds the measuring child spends on one configuration before its rounds (see :data:`_BUILD_S_PER_CONFIG`)."""
    model = memory_model(runtime)
    if model is None or not model.per_session:
        return _BUILD_S_PER_CONFIG
    if footprint is None:
        return _BUILD_S_PER_CONFIG + _COMPILE_S_UNKNOWN
    # a runtime with a node profiler compiles the prefixes only (memory_model), not each block as well
    sessions = (2 if model.block_sessions else 1) * len(footprint.block_weight_bytes)
    held = footprint.held_weight_bytes(True, model.block_sessions)
    return _BUILD_S_PER_CONFIG + placements * (_SESSION_S * sessions + _SESSION_S_PER_GB * held / 1e9)


def round_seconds(works: Sequence[tuple[float, int]], runtime: str = "torch") -> float:
    """Estimated seconds of one round of a window measuring configurations whose whole chains run in ``L`` seconds
    with ``n`` blocks, ``works`` = ``[(L, n), ...]`` (:data:`_ROUND_S_PER_WORK`), in ``runtime``.

    A runtime that takes its blocks' costs from its node profiler (:func:`memory_model`'s ``block_sessions``
    false) times the ``n`` prefixes only, in ``2 n`` bursts: no blocks alone and no chain in context.  Priced with those as well, the ONNX Runtime estimates of the Xeon 6/207/2 (2026-12-07) read
    3,788 s for a whole-corpus pass that took 2,845 s and 1,337 s for a repeat pass of 1,183 s; without them (and
    :func:`prepare_seconds` compiling the prefixes only) 3,105 s and 1,184 s."""
    model = memory_model(runtime)
    graph_only = model is not None and not model.block_sessions

    def one(lat_s: float, n: int) -> float:
        if graph_only:
            return _ROUND_S_PER_WORK * lat_s * (n + 1) / 2 + _ROUND_S_PER_BURST * 2 * n
        return _ROUND_S_PER_WORK * lat_s * ((n + 1) / 2 + 2) + _ROUND_S_PER_BURST * 2 * (2 * n + 1)

    return math.fsum(one(float(lat_s), int(n)) for lat_s, n in works)


def window_seconds_from_rounds(rounds: int, seconds: float, *, window_s: float, min_rounds: int,
                               before_s: float = 0.0) -> float:
    """How long a window will run in all, from ``rounds`` rounds done in ``seconds``: rounds go on until the window
    has lasted ``window_s`` and ``min_rounds`` ran (:func:`latmodel.measure.bursts.time_window`), each about as long
    as those so far; ``before_s``: what the child spent before its first round (building, tracing)."""
    if rounds < 1 or seconds <= 0:
        return float(before_s) + float(window_s)
    round_s = float(seconds) / int(rounds)
    n = max(int(min_rounds), math.ceil(float(window_s) / round_s - 1e-9))
    return float(before_s) + n * round_s


def estimate_seconds(window_sizes: Sequence[int] | int, *, method: str, runtime: str,
                     per_window: int = WINDOW_CONFIGS, window_s: float | None = None,
                     prepare_s: float | None = None, round_s: float | None = None,
                     min_rounds: int = BurstPolicy.min_rounds) -> float:
    """How long :func:`~latmodel.measure.profiling.profile` will take (before it starts).

    ``window_sizes``: the configurations of each planned window (or a count of configurations, then cut by
    ``per_window``); ``prepare_s``: the configurations' :func:`prepare_seconds` summed (default: each at
    ``prepare_seconds(runtime)``).  Windowed: every window lasts its ``window_s``, or ``min_rounds`` rounds of
    ``round_s`` (:func:`round_seconds`; for one window: a list of windows all get the same) where those are
    longer, plus starting its child and preparing its networks.  Per configuration (round model): ~6 s of rounds
    each plus starting a child."""
    from .rows import WINDOW_METHOD

    sizes = ([len(w) for w in group_windows(range(window_sizes), per_window)] if isinstance(window_sizes, int)
             else [int(s) for s in window_sizes])
    n_configs = sum(sizes)
    prepare = n_configs * prepare_seconds(runtime) if prepare_s is None else float(prepare_s)
    if method == WINDOW_METHOD:
        lengths = [window_seconds(s) if window_s is None else window_s for s in sizes]
        if round_s is not None and round_s > 0:
            lengths = [window_seconds_from_rounds(1, round_s, window_s=w, min_rounds=min_rounds) for w in lengths]
        windows = math.fsum(lengths)
        return windows + _CHILD_START_S * len(sizes) + prepare
    return n_configs * 10.0 + prepare

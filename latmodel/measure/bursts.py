"""Warm bursts interleaved across configurations: the measuring method whose latencies repeat.

On a shared host (the 2-core KVM guests this project runs on, a desk machine with other
work) every workload on a core slows down together in phases that last seconds to
minutes.  A statistic taken inside one configuration's few seconds inherits whichever
phase it fell into: two passes of the per-configuration method agreed within +-10% on 46%
of prefixes (shared/reference/measurement.md).  This module times *several
configurations round-robin in one window* (:func:`time_window`):

* one **round** visits every configuration of the window once (the visiting order rotates
  and alternates between rounds); a visit times each of the configuration's quantities --
  the whole chain (plain passes and timestamped passes: in-context block latencies), every
  prefix, every block alone on its cached input -- as a **warm burst**: ``untimed`` passes
  that bring its weights back into the caches (the previous quantity evicted them), and more
  untimed passes while the quantity still *settles* (each pass faster than every earlier one;
  :class:`BurstPolicy`), then ``timed`` passes, each a sample;
* rounds go on until the window has lasted ``window_s`` (and at least ``min_rounds``), so
  every configuration's samples are spread over the same long stretch of the host's phases;
* the **statistic** is a low quantile (``quantile_pct``: one of :data:`STATISTICS`, default the minimum) of all of a
  quantity's samples: the warm latency in the machine's fast state, which is what a dedicated
  device delivers.  Interference only ever adds time.  Medians stay beside it.  Why the minimum:
  on the 2-core Xeon guest of 2026-12-02 two passes of 14 configurations (300 s windows) agreed
  on 92% of ONNX Runtime prefixes within +-5% by the minimum, 74% by the 5th and 17% by the 10th
  percentile (benchmarks/bench_repeatability.py, README): the host's slow phases there covered most
  of each window, so only the lowest samples saw the fast state in both passes.  (An independent
  run then agreed on 44% / 69% within +-5% / +-10%: better than the per-configuration method's
  21% / 30%, not yet the +-5% this project wants; see docs/RESULTS.md.)

Each configuration is timed in ``placements`` independent copies (weights, inputs and, for ONNX
Runtime, sessions allocated anew), visited like separate configurations; its statistic is taken over
all copies' samples.  Why: on the 2-core Xeon guest of 2026-12-03 the same network's copies in one
window, interleaved over the same 60 s, had minima up to 25% apart (efficientnet_b0 16.9 vs 21.2 ms):
where a network's memory lands is a lottery a single copy cannot average out.  In that experiment three
copies cut the spread of 6 networks' minima over 4 processes from 7-13% to 5-12% (the default is 2, for
time); the yardstick did the rest.

A fixed **yardstick** workload (:func:`yardstick`: MobileNetV2 and ResNet-18 at 64 px, random
weights, in ``placements`` copies too) is timed in every round; its statistic, recorded with each
table row, measures the machine's speed in that window.  The host's slow phases last long enough
to cover whole windows (a 60 s window ran 30-45% slow throughout): dividing a window's latencies by
its yardstick (:mod:`latmodel.measure.yardstick_scale`) put the same 6 networks' minima (three copies) within 1-6%
over 4 processes (a small GEMM, the yardstick before, stayed flat while networks slowed: it sits in the
core's own caches).

Why not ``torch.utils.benchmark.Timer``: it times one statement in isolation; here many
quantities of many networks are timed round-robin with every sample kept, timestamps
between blocks of one pass, and a clock a test can replace (see also
:mod:`latmodel.measure.timing`, the per-configuration rounds this replaces as the default).
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Sequence

from ..errors import NetcutError
from ..records import Record
from .stats import TimingStats, stats_from_samples
from .timing import (Clock, gc_paused, require_positive_int, stamped_pass, timed_call,
                     timed_plain_pass)

__all__ = [
    "BurstPolicy",
    "WindowUnit",
    "WindowTimings",
    "QUANTITIES",
    "warm_quantile_ms",
    "statistic_name",
    "STATISTICS",
    "statistic_of_method",
    "DEFAULT_STATISTIC",
    "shorth_ms",
    "time_window",
    "time_bursts",
    "yardstick",
    "YARDSTICK_NAME",
    "YARDSTICK_RUNTIME",
    "LEGACY_YARDSTICK",
    "merge_placements",
]

_NS_PER_MS = 1_000_000.0
#: The table statistics a profile can take (``latmodel profile --statistic``): name -> percentile of all of a
#: quantity's warm samples in its window.  Which repeats best depends on the host (bench_repeatability,
#: docs/RESULTS.md): where slow phases cover most of a window only the minimum sees the fast state in both
#: passes; where rare fast samples come and go between passes the lower quartile is steadier.
STATISTICS: dict[str, float] = {"min": 0.0, "p10": 10.0, "p25": 25.0}
DEFAULT_STATISTIC = "min"
#: The quantities of one configuration, in the order a visit times them.
QUANTITIES: tuple[str, ...] = ("network", "incontext", "prefix", "alone")


@dataclasses.dataclass(frozen=True)
class BurstPolicy(Record):
    """How a window is timed (see the module docstring).

    ``untimed`` / ``timed``: passes per burst; ``quantile_pct``: the statistic (a percentile
    of all samples of a quantity, 0 the minimum); ``window_s``: rounds continue until the window lasted this
    long; ``min_rounds`` / ``max_rounds`` bound the rounds whatever the window; ``placements``: independent
    copies of each configuration (and of the yardstick) timed in the window, the statistic taken over all.

    **Settling** (``settle_*``, ``max_untimed``): after its ``untimed`` passes a burst runs more untimed passes
    while the quantity is still getting faster -- until ``settle_patience`` passes in a row ran no more than
    ``settle_pct`` % faster than the fastest earlier pass of the burst, or the burst's untimed passes took
    ``settle_ms`` in all, or ``max_untimed`` ran (``settle_ms=0``: exactly ``untimed`` passes, the method before
    2026-12-05).  Why: on the stepping-1 Xeon guest of 2026-12-05 ONNX Runtime's small networks were still
    warming at a burst's 4th timed pass (MobileNetV2 at 128 px, one session run back to back after 0.2 s of
    other work: 6.3, 4.3, 3.9, 3.4, 3.2, 3.0, 2.9 ... 2.8 ms; the same after another session's 50 ms of
    work: per-session memory, not the core), so a minimum taken after one untimed pass read how far warming
    got, which did not repeat (two passes: 45% of prefixes within +-5%).  Eager torch settles within a pass or
    two (its passes are longer); a pass of ``settle_ms`` or more needs no settling at all.
    """

    untimed: int = 1
    timed: int = 4
    quantile_pct: float = STATISTICS[DEFAULT_STATISTIC]
    window_s: float = 300.0
    min_rounds: int = 6
    max_rounds: int = 400
    placements: int = 2
    settle_pct: float = 2.0
    settle_patience: int = 2
    settle_ms: float = 40.0
    max_untimed: int = 16

    def __post_init__(self):
        require_positive_int("timed passes per burst", self.timed)
        require_positive_int("placements", self.placements)
        require_positive_int("min_rounds", self.min_rounds)
        require_positive_int("max_rounds", self.max_rounds)
        if not isinstance(self.untimed, int) or isinstance(self.untimed, bool) or self.untimed < 0:
            raise NetcutError(f"untimed passes per burst must be an integer >= 0, got {self.untimed!r}")
        if not (0.0 <= float(self.quantile_pct) <= 50.0):
            raise NetcutError(f"quantile_pct must be between 0 and 50 (a low quantile), got {self.quantile_pct!r}")
        if not float(self.window_s) >= 0.0:
            raise NetcutError(f"window_s must be >= 0 seconds, got {self.window_s!r}")
        if self.max_rounds < self.min_rounds:
            raise NetcutError(f"max_rounds ({self.max_rounds}) is below min_rounds ({self.min_rounds})")
        require_positive_int("settle_patience", self.settle_patience)
        if not (0.0 <= float(self.settle_pct) < 100.0):
            raise NetcutError(f"settle_pct must be between 0 and 100 (a relative speed-up), got {self.settle_pct!r}")
        if not float(self.settle_ms) >= 0.0:
            raise NetcutError(f"settle_ms must be >= 0 ms (0: no settling), got {self.settle_ms!r}")
        if not isinstance(self.max_untimed, int) or isinstance(self.max_untimed, bool) \
                or self.max_untimed < self.untimed:
            raise NetcutError(f"max_untimed must be an integer >= untimed ({self.untimed}), got {self.max_untimed!r}")

    @property
    def settles(self) -> bool:
        """Whether bursts settle (run untimed passes until the quantity stops getting faster)."""
        return self.settle_ms > 0

    @property
    def warm_burst_passes(self) -> int:
        """Passes a burst makes of a quantity that is already warm: its untimed passes, the settling passes that
        find it no faster, its timed passes."""
        return self.untimed + (self.settle_patience if self.settles else 0) + self.timed


@dataclasses.dataclass(frozen=True)
class WindowUnit:
    """One configuration ready to time: ``blocks[k]`` runs block k, ``prefixes[k]`` blocks ``0..k`` as one
    network, ``x`` is the chain's input (in the runtime's format).

    ``blocks`` empty: a graph-only unit (a runtime whose block costs come from its own node profiler,
    :mod:`latmodel.measure.graph_profile`): only its prefixes are timed, and its whole network is its
    last prefix; its in-context and alone quantities stay empty."""

    blocks: tuple
    prefixes: tuple
    x: Any


@dataclasses.dataclass(frozen=True)
class WindowTimings:
    """Every sample of one window.

    ``samples[u]`` holds unit ``u``'s samples (ms) by quantity: ``"network"`` and ``"stamped"``
    (sum of a timestamped pass's intervals) as one list, ``"incontext"``, ``"prefix"``,
    ``"alone"`` as one list per block.  ``yardstick``: the yardstick's samples (empty without
    one).  ``seconds``: how long the window lasted (by its clock).
    """

    samples: tuple
    yardstick: tuple
    rounds: int
    seconds: float
    policy: BurstPolicy

    def stat(self, unit: int, quantity: str, k: int = 0) -> float:
        """The window's statistic (:func:`warm_quantile_ms`) of one quantity."""
        values = self.samples[unit][quantity]
        return warm_quantile_ms(values if quantity in ("network", "stamped") else values[k],
                                self.policy.quantile_pct)

    def stats(self, unit: int, quantity: str, k: int = 0) -> TimingStats:
        values = self.samples[unit][quantity]
        return stats_from_samples(values if quantity in ("network", "stamped") else values[k])

    @property
    def statistic(self) -> str:
        """The statistic's name: ``min`` or ``p<quantile>``."""
        return statistic_name(self.policy.quantile_pct)

    def yardstick_ms(self) -> float:
        return warm_quantile_ms(self.yardstick, self.policy.quantile_pct) if self.yardstick else float("nan")


def statistic_name(quantile_pct: float) -> str:
    """``min`` for the 0th percentile, else ``p<q>`` (``p10``)."""
    return "min" if float(quantile_pct) == 0.0 else f"p{float(quantile_pct):g}"


def statistic_of_method(method: str) -> str:
    """The statistic a table's ``method`` value names: ``window-settled-p25`` -> ``p25``; a method that is not the
    window method's (``round-model``) is its own name."""
    method = str(method)
    return method.rsplit("-", 1)[1] if method.startswith("window-") else method


def warm_quantile_ms(samples: Sequence[float], quantile_pct: float = 10.0) -> float:
    """The ``quantile_pct`` percentile of ``samples`` (linear interpolation, numpy's default)."""
    ordered = sorted(float(v) for v in samples)
    if not ordered:
        raise ValueError("warm_quantile_ms needs at least one sample")
    pos = (len(ordered) - 1) * float(quantile_pct) / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def shorth_ms(samples: Sequence[float], fraction: float = 0.5) -> float:
    """Mean of the shortest interval that holds ``fraction`` of the samples (the *shorth*): the latency of the
    state the machine spent most of the window in, whichever tail (slow phases, rare fast bursts) the others
    fell into."""
    ordered = sorted(float(v) for v in samples)
    if not ordered:
        raise ValueError("shorth_ms needs at least one sample")
    h = max(1, int(round(len(ordered) * fraction)))
    i = min(range(len(ordered) - h + 1), key=lambda j: (ordered[j + h - 1] - ordered[j], j))
    window = ordered[i:i + h]
    return sum(window) / len(window)


#: What :func:`yardstick` times, recorded with every table row (``yardstick`` column); tables of schema 4 timed
#: :data:`LEGACY_YARDSTICK` instead.
YARDSTICK_NAME = "mobilenet_v2+resnet18@64px"
LEGACY_YARDSTICK = "gemm192x4"
#: What runs the yardstick, whatever the window measures: eager torch (:mod:`latmodel.measure.yardstick_scale`
#: scales only rows measured in it).
YARDSTICK_RUNTIME = "torch"
_YARDSTICK_PX = 64


def yardstick(placements: int = 1) -> list[Callable[[], Any]]:
    """The yardstick workload in ``placements`` independent copies: each call runs MobileNetV2 then ResNet-18
    (torchvision, random weights of a fixed seed) on one 64 px image, ~18 ms on one Xeon core.

    Two networks of the kinds a table holds (depthwise and dense convolutions), so a slow phase that hits
    memory-bound layers harder shows in it too; a small GEMM did not (it runs from the core's own caches).
    """
    import copy

    import torch
    import torchvision

    require_positive_int("placements", placements)
    with torch.random.fork_rng():  # fixed weights without touching the caller's random state
        torch.manual_seed(0)
        nets = [torchvision.models.mobilenet_v2().eval(), torchvision.models.resnet18().eval()]
    x = torch.randn(1, 3, _YARDSTICK_PX, _YARDSTICK_PX, generator=torch.Generator().manual_seed(0))
    out = []
    for k in range(placements):
        copies = [copy.deepcopy(n) for n in nets] if k else nets
        xk = x.clone()

        def run(copies=copies, xk=xk):
            with torch.inference_mode():
                for net in copies:
                    net(xk)

        out.append(run)
    return out


def merge_placements(w: "WindowTimings", groups: Sequence[Sequence[int]]) -> "WindowTimings":
    """One unit per group: the samples of the units of ``groups[i]`` (copies of one configuration) joined."""
    merged = []
    for group in groups:
        first = w.samples[group[0]]
        joined = {q: ([] if q in ("network", "stamped") else [[] for _ in first[q]]) for q in first}
        for u in group:
            for q, values in w.samples[u].items():
                if q in ("network", "stamped"):
                    joined[q].extend(values)
                else:
                    for k, v in enumerate(values):
                        joined[q][k].extend(v)
        merged.append(joined)
    return dataclasses.replace(w, samples=tuple(merged))


def _new_samples(n: int) -> dict:
    return {"network": [], "stamped": [], "incontext": [[] for _ in range(n)], "prefix": [[] for _ in range(n)],
            "alone": [[] for _ in range(n)]}


def _block_inputs(unit: WindowUnit) -> list:
    inputs, x = [], unit.x
    for block in unit.blocks:
        inputs.append(x)
        x = block(x)
    return inputs


class _Visitor:
    """Times bursts with one clock and sync; keeps the timestamp buffer of each unit."""

    def __init__(self, policy: BurstPolicy, clock: Clock, sync):
        self.policy, self.clock, self.sync = policy, clock, sync

    def _timed(self, fn) -> float:
        return timed_call(fn, self.clock, self.sync)

    def settle(self, run: Callable[[], float]) -> None:
        """A burst's untimed passes (:class:`BurstPolicy`: ``untimed``, then more while the quantity settles);
        ``run()`` makes one pass and returns its time, ms."""
        p = self.policy
        best, spent, stale, done = float("inf"), 0.0, 0, 0
        while done < p.max_untimed:
            if done >= p.untimed and (stale >= p.settle_patience or spent >= p.settle_ms):
                break
            t = run()
            done += 1
            spent += t
            stale = 0 if t < best * (1.0 - p.settle_pct / 100.0) else stale + 1
            best = min(best, t)

    def burst(self, fn, out: list) -> None:
        self.settle(lambda: self._timed(fn))
        for _ in range(self.policy.timed):
            out.append(self._timed(fn))

    def visit(self, unit: WindowUnit, inputs: list, samples: dict, stamps: list, forward: bool) -> None:
        blocks, x, p = list(unit.blocks), unit.x, self.policy
        n = len(blocks)
        if not blocks:  # a graph-only unit (:class:`WindowUnit`): its prefixes are all there is to time
            order = range(len(unit.prefixes)) if forward else range(len(unit.prefixes) - 1, -1, -1)
            for k in order:
                self.burst(lambda f=unit.prefixes[k]: f(x), samples["prefix"][k])
            return
        self.settle(lambda: timed_plain_pass(blocks, x, self.clock, self.sync))
        for i in range(p.timed):
            # Alternate which kind of pass comes first, so neither always follows the other.
            kinds = ("plain", "stamped") if i % 2 == 0 else ("stamped", "plain")
            for kind in kinds:
                if kind == "plain":
                    samples["network"].append(timed_plain_pass(blocks, x, self.clock, self.sync))
                else:
                    for k, interval in enumerate(stamped_pass(blocks, x, self.clock, self.sync, stamps)):
                        samples["incontext"][k].append(interval)
                    samples["stamped"].append((stamps[n] - stamps[0]) / _NS_PER_MS)
        order = range(n) if forward else range(n - 1, -1, -1)
        for k in order:
            self.burst(lambda f=unit.prefixes[k]: f(x), samples["prefix"][k])
        for k in order:
            self.burst(lambda b=blocks[k], i=inputs[k]: b(i), samples["alone"][k])


def time_window(units: Sequence[WindowUnit], *, policy: BurstPolicy = BurstPolicy(),
                clock: Clock = time.perf_counter_ns, sync: Callable[[], Any] | None = None,
                yardstick_fn: Callable[[], Any] | Sequence[Callable[[], Any]] | None = None,
                on_round: Callable[[int, float], None] | None = None) -> WindowTimings:
    """Time every quantity of every unit in warm bursts, round-robin, over one window.

    Round ``r`` visits the units starting at ``r mod len(units)``, forwards in even rounds and
    backwards in odd ones (prefixes and blocks likewise), so no quantity always follows the same
    other one.  Rounds continue until ``policy.window_s`` seconds have passed by ``clock`` and at
    least ``policy.min_rounds`` rounds ran (at most ``policy.max_rounds``).  ``yardstick_fn`` (one
    callable or several: copies, their samples joined) is timed in a burst at the start of every round.  ``on_round(rounds_done, seconds)`` is called
    after each round (progress).
    """
    if not units:
        raise NetcutError("time_window needs at least one configuration")
    for u in units:
        if not u.prefixes or (u.blocks and len(u.prefixes) != len(u.blocks)):
            raise NetcutError("every configuration needs at least one prefix, and one block per prefix or none")
    visitor = _Visitor(policy, clock, sync)
    inputs = [_block_inputs(u) for u in units]
    samples = [_new_samples(len(u.prefixes)) for u in units]
    stamps = [[0] * (len(u.prefixes) + 1) for u in units]
    yard: list[float] = []
    yard_fns = ([] if yardstick_fn is None else [yardstick_fn] if callable(yardstick_fn) else list(yardstick_fn))
    m = len(units)
    start = clock()
    rounds = 0
    with gc_paused():
        while rounds < policy.max_rounds:
            if rounds >= policy.min_rounds and (clock() - start) / 1e9 >= policy.window_s:
                break
            forward = rounds % 2 == 0
            for fn in yard_fns:
                visitor.burst(fn, yard)
            first = rounds % m
            order = [(first + j) % m for j in range(m)]
            if not forward:
                order = order[:1] + order[1:][::-1]
            for u in order:
                visitor.visit(units[u], inputs[u], samples[u], stamps[u], forward)
            rounds += 1
            if on_round is not None:
                on_round(rounds, (clock() - start) / 1e9)
    for u, unit in zip(samples, units):
        if not unit.blocks:  # a graph-only unit's whole network is its last prefix
            u["network"] = list(u["prefix"][-1])
    return WindowTimings(samples=tuple(samples), yardstick=tuple(yard), rounds=rounds,
                         seconds=(clock() - start) / 1e9, policy=policy)


def time_bursts(fn: Callable[[], Any], *, bursts: int, policy: BurstPolicy = BurstPolicy(),
                clock: Clock = time.perf_counter_ns, sync: Callable[[], Any] | None = None) -> list[float]:
    """``bursts`` warm bursts of one callable (``policy.untimed`` untimed calls, then ``policy.timed``
    timed ones); every sample, ms.  For one network timed alone (``--verify``, a borderline candidate):
    its statistic, :func:`warm_quantile_ms` of these, is comparable with a table's ``prefix_ms``."""
    require_positive_int("bursts", bursts)
    visitor = _Visitor(policy, clock, sync)
    out: list[float] = []
    with gc_paused():
        for _ in range(bursts):
            visitor.burst(fn, out)
    return out

"""Timing harness, device record and the ``profile`` runner.

Three quantities are measured per configuration (one network at one resolution,
width, batch size and thread count), all in the same process:

* **in context** -- every block's latency inside a forward pass of the whole
  chain: timestamps taken between blocks (after a device sync on GPU);
* **prefix** -- blocks ``0..k`` run alone as an ``nn.Sequential``, for every k:
  what a TRN cut after block k costs (the ground truth the predictor is judged on);
* **alone** -- each block run on its own cached input (a lookup-table entry).

All of them are timed in the same **interleaved rounds** (:func:`time_interleaved`):
each round times every quantity once, so slow phases of a shared machine hit all
quantities alike.  The table's reference columns hold each quantity's latency from
a model of the rounds (:func:`fit_round_model`; why: :func:`measure_config`),
medians beside them.  The whole chain (``network_ms``) is timed by plain passes
without timestamps in the same rounds; the sum of the in-context block latencies is
checked against it (``ProfileSummary.to_text``).

Why not ``torch.utils.benchmark.Timer`` for everything: we need every single
sample (round model, percentiles, pooling more rounds in), a clock we can replace with
a fake one in tests, timestamps *between* blocks of one forward pass, and many
quantities timed round-robin, none of which ``Timer`` exposes.  We follow the same
practice (untimed warm-up runs, a fixed thread count set before anything runs,
``torch.inference_mode``, garbage collection off while timing, a sync before each
timestamp on GPU) with a loop of our own.

Noise is flagged, never hidden: a quantity whose spread the round model cannot
explain, an in-context sum far from the whole chain, or a run during which other
processes used the cores we measure on (or, when pinned, the neighbouring ones)
gets half as many rounds again (pooled); if it is still unreliable its rows are
written with ``flagged=1`` and a ``flag_reason``.

:func:`profile` runs each configuration in a fresh child process
(``python -m latmodel.measure --worker JOB --result OUT``) whose environment fixes
the glibc malloc thresholds (without them page faults make latency drift up to
1.4x on this machine) and the OpenMP / MKL thread counts before torch starts.
The parent appends each finished configuration to the table atomically, so an
interrupted run resumes where it stopped.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as _dt
import gc
import hashlib
import json
import logging
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .errors import NetcutError, TableError

__all__ = [
    "TimingStats",
    "stats_from_samples",
    "time_callable",
    "time_chain",
    "time_prefixes",
    "time_blocks_alone",
    "time_interleaved",
    "InterleavedTimings",
    "RoundModel",
    "fit_round_model",
    "FLOOR_TOLERANCE",
    "NoisePolicy",
    "noise_reasons",
    "consistency_reason",
    "LoadMonitor",
    "wait_for_quiet",
    "DeviceRecord",
    "device_record",
    "make_config_id",
    "measure_config",
    "ConfigOutcome",
    "ProfileSummary",
    "profile",
    "PROFILE_ORDERS",
    "CHILD_ENV",
]

logger = logging.getLogger(__name__)

#: Environment of every measuring child (besides the thread counts).  The malloc
#: thresholds keep freed activations mapped, so repeats do not page-fault anew.
CHILD_ENV: dict[str, str] = {
    "MALLOC_MMAP_THRESHOLD_": "33554432",
    "MALLOC_TRIM_THRESHOLD_": "4294967296",
    "PYTHONHASHSEED": "0",
}
_DEFAULT_TIMEOUT_S = 900.0
_NS_PER_MS = 1_000_000.0
#: A round within this fraction of the anchor round's speed counts as a fast round (:class:`RoundModel`).
FLOOR_TOLERANCE = 0.05

Clock = Callable[[], int]


# --------------------------------------------------------------------------- statistics


@dataclasses.dataclass(frozen=True)
class TimingStats:
    """Summary of ``n`` latency samples, milliseconds.

    ``cv`` is std / mean (population std).  ``drift`` is the median of the last
    third of the samples divided by the median of the first third, minus one
    (0.0 with fewer than 3 samples): positive when the device slowed down.
    ``min_ms`` is the smallest sample.
    """

    median_ms: float
    p10_ms: float
    p90_ms: float
    cv: float
    n: int
    drift: float = 0.0
    min_ms: float = math.nan

    @property
    def robust_cv(self) -> float:
        """(p90 - p10) / (2.563 * median): equals the cv for normal noise, but stays
        (nearly) unchanged when fewer than one repeat in ten is preempted."""
        return (self.p90_ms - self.p10_ms) / (2.5631 * self.median_ms) if self.median_ms > 0 else 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TimingStats":
        return cls(median_ms=float(d["median_ms"]), p10_ms=float(d["p10_ms"]), p90_ms=float(d["p90_ms"]),
                   cv=float(d["cv"]), n=int(d["n"]), drift=float(d.get("drift", 0.0)),
                   min_ms=float(d.get("min_ms", math.nan)))


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default method)."""
    if len(sorted_values) == 1:
        return float(sorted_values[0])
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo))


def stats_from_samples(samples_ms: Sequence[float]) -> TimingStats:
    """Median, 10th / 90th percentile (linear interpolation), cv and drift of ``samples_ms``."""
    values = [float(v) for v in samples_ms]
    if not values:
        raise ValueError("stats_from_samples needs at least one sample")
    ordered = sorted(values)
    mean = statistics.fmean(values)
    cv = statistics.pstdev(values) / mean if len(values) > 1 and mean > 0 else 0.0
    drift = 0.0
    third = len(values) // 3
    if third >= 1:
        first = statistics.median(values[:third])
        last = statistics.median(values[-third:])
        drift = last / first - 1.0 if first > 0 else 0.0
    floor = ordered[0]
    return TimingStats(median_ms=_percentile(ordered, 50), p10_ms=_percentile(ordered, 10),
                       p90_ms=_percentile(ordered, 90), cv=cv, n=len(values), drift=drift, min_ms=floor)


@contextlib.contextmanager
def _gc_paused():
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _check_counts(warmup: int, repeats: int) -> None:
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise NetcutError(f"repeats must be a positive integer, got {repeats!r}")
    if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0:
        raise NetcutError(f"warmup must be a non-negative integer, got {warmup!r}")


def _sample_callable(fn: Callable[[], Any], warmup: int, repeats: int, clock: Clock, sync) -> list[float]:
    for _ in range(warmup):
        fn()
    if sync is not None:
        sync()
    samples = []
    with _gc_paused():
        for _ in range(repeats):
            t0 = clock()
            fn()
            if sync is not None:
                sync()
            samples.append((clock() - t0) / _NS_PER_MS)
    return samples


def time_callable(fn: Callable[[], Any], *, warmup: int, repeats: int, clock: Clock = time.perf_counter_ns,
                  sync: Callable[[], Any] | None = None) -> TimingStats:
    """Run ``fn`` ``warmup`` times untimed, then time ``repeats`` calls one by one.

    ``clock`` returns nanoseconds (``time.perf_counter_ns``; tests pass a fake one);
    ``sync`` (e.g. ``torch.cuda.synchronize``) runs before each timestamp.
    """
    _check_counts(warmup, repeats)
    return stats_from_samples(_sample_callable(fn, warmup, repeats, clock, sync))


def _plain_pass(blocks: Sequence, x):
    for block in blocks:
        x = block(x)
    return x


def _block_inputs(blocks: Sequence, x) -> list:
    """The input each block sees in a forward pass of the chain (for timing blocks alone)."""
    inputs = []
    for block in blocks:
        inputs.append(x)
        x = block(x)
    return inputs


def _stamped_pass(blocks: Sequence, x, clock: Clock, sync, stamps: list) -> list[float]:
    """One forward pass with a timestamp (after a sync) between blocks; the block intervals, ms."""
    if sync is not None:
        sync()
    y = x
    stamps[0] = clock()
    for i, block in enumerate(blocks):
        y = block(y)
        if sync is not None:
            sync()
        stamps[i + 1] = clock()
    del y
    return [(stamps[i + 1] - stamps[i]) / _NS_PER_MS for i in range(len(blocks))]


def _timed_plain_pass(blocks: Sequence, x, clock: Clock, sync) -> float:
    """One forward pass timed as a whole, ms."""
    if sync is not None:
        sync()
    t0 = clock()
    _plain_pass(blocks, x)
    if sync is not None:
        sync()
    return (clock() - t0) / _NS_PER_MS


def _chain_samples(blocks: Sequence, x, *, warmup: int, repeats: int, clock: Clock, sync
                   ) -> tuple[list[list[float]], list[float]]:
    """Per-block in-context samples and whole-chain samples, interleaved pass by pass."""
    n = len(blocks)
    for _ in range(warmup):
        _plain_pass(blocks, x)
    per_block: list[list[float]] = [[] for _ in range(n)]
    whole: list[float] = []
    stamps = [0] * (n + 1)

    def timestamped():
        for i, interval in enumerate(_stamped_pass(blocks, x, clock, sync, stamps)):
            per_block[i].append(interval)

    def plain():
        whole.append(_timed_plain_pass(blocks, x, clock, sync))

    with _gc_paused():
        for r in range(repeats):
            # Alternate the order so neither kind of pass always runs right after the other.
            if r % 2 == 0:
                timestamped()
                plain()
            else:
                plain()
                timestamped()
    return per_block, whole


def time_chain(blocks: Sequence, x, *, warmup: int, repeats: int, clock: Clock = time.perf_counter_ns,
               sync: Callable[[], Any] | None = None) -> tuple[list[TimingStats], TimingStats]:
    """In-context latency of every block, and the whole chain's latency, in one run.

    Each repeat runs one forward pass with a timestamp between blocks and one plain
    pass without (order alternating), so both see the same drift.  Returns
    ``(per-block stats, whole-chain stats)``.
    """
    _check_counts(warmup, repeats)
    if not blocks:
        raise NetcutError("time_chain needs at least one block")
    per_block, whole = _chain_samples(blocks, x, warmup=warmup, repeats=repeats, clock=clock, sync=sync)
    return [stats_from_samples(s) for s in per_block], stats_from_samples(whole)


def time_prefixes(blocks: Sequence, x, *, warmup: int | Sequence[int], repeats: int | Sequence[int],
                  clock: Clock = time.perf_counter_ns, sync: Callable[[], Any] | None = None,
                  only: Iterable[int] | None = None) -> dict[int, TimingStats]:
    """For each k (or each k in ``only``), ``nn.Sequential(blocks[:k+1])`` run alone on ``x``.

    ``warmup`` / ``repeats`` are one count for all prefixes or one per prefix.
    Each prefix runs back to back, as a deployed TRN would.
    """
    import torch.nn as nn

    n = len(blocks)
    ks = sorted(set(range(n) if only is None else only))
    warm = [warmup] * n if isinstance(warmup, int) else list(warmup)
    reps = [repeats] * n if isinstance(repeats, int) else list(repeats)
    out = {}
    for k in ks:
        prefix = nn.Sequential(*blocks[: k + 1])
        out[k] = time_callable(lambda p=prefix: p(x), warmup=warm[k], repeats=reps[k], clock=clock, sync=sync)
    return out


def time_blocks_alone(blocks: Sequence, x, *, warmup: int | Sequence[int], repeats: int | Sequence[int],
                      clock: Clock = time.perf_counter_ns, sync: Callable[[], Any] | None = None) -> list[TimingStats]:
    """Each block run on its own (cached) input, back to back: warm-cache lookup-table entries."""
    n = len(blocks)
    warm = [warmup] * n if isinstance(warmup, int) else list(warmup)
    reps = [repeats] * n if isinstance(repeats, int) else list(repeats)
    inputs = _block_inputs(blocks, x)
    return [time_callable(lambda b=block, i=inp: b(i), warmup=warm[k], repeats=reps[k], clock=clock, sync=sync)
            for k, (block, inp) in enumerate(zip(blocks, inputs))]


@dataclasses.dataclass(frozen=True)
class InterleavedTimings:
    """Every quantity of one configuration, from the same interleaved rounds.

    ``incontext``/``alone``/``prefix``: one :class:`TimingStats` per block (prefix k is
    blocks ``0..k`` run alone); ``network``: plain passes of the whole chain;
    ``stamped``: per timestamped pass, the sum of its intervals (vs ``network``: what
    the timestamps cost).  ``samples`` holds the raw samples (ms) by the same keys,
    so more rounds can be pooled in.  ``reference``: the round model fitted to all of
    them (:func:`fit_round_model`), whose fast-state latencies the table records.
    """

    incontext: tuple
    alone: tuple
    prefix: tuple
    network: TimingStats
    stamped: TimingStats
    rounds: int
    samples: dict
    reference: "RoundModel | None" = None


def _interleaved_rounds(blocks: Sequence, x, prefixes: Sequence, inputs: Sequence, rounds: int, clock: Clock,
                        sync, samples: dict) -> None:
    n = len(blocks)
    stamps = [0] * (n + 1)

    def timed(fn) -> float:
        fn()  # untimed: brings this quantity's weights and buffers back into the caches
        if sync is not None:
            sync()
        t0 = clock()
        fn()
        if sync is not None:
            sync()
        return (clock() - t0) / _NS_PER_MS

    def timestamped():
        for i, interval in enumerate(_stamped_pass(blocks, x, clock, sync, stamps)):
            samples["incontext"][i].append(interval)
        samples["stamped"].append((stamps[n] - stamps[0]) / _NS_PER_MS)

    def plain():
        samples["network"].append(_timed_plain_pass(blocks, x, clock, sync))

    done = len(samples["network"])
    with _gc_paused():
        for r in range(done, done + rounds):
            # Alternate orders so that no quantity always runs right after the same other one.
            for fn in ((timestamped, plain) if r % 2 == 0 else (plain, timestamped)):
                fn()
            order = range(n) if r % 2 == 0 else range(n - 1, -1, -1)
            for k in order:
                samples["prefix"][k].append(timed(lambda p=prefixes[k]: p(x)))
            for k in order:
                samples["alone"][k].append(timed(lambda b=blocks[k], i=inputs[k]: b(i)))


@dataclasses.dataclass(frozen=True)
class RoundModel:
    """Interleaved rounds explained as machine speed x quantity latency.

    Fitted by :func:`fit_round_model`.  ``latency_ms`` maps ``"incontext"``,
    ``"alone"``, ``"prefix"`` (tuples, one per block) and ``"network"`` (a 1-tuple) to
    each quantity's latency at the fastest machine speed seen; ``spread`` holds, by
    the same keys, the robust spread of what the model leaves unexplained (about a
    cv); ``round_slowdown`` is each round's speed relative to the anchor round (1.0;
    the few faster rounds are below 1); ``fast_rounds`` counts rounds within
    :data:`FLOOR_TOLERANCE` of the anchor.
    """

    latency_ms: dict
    spread: dict
    round_slowdown: tuple
    fast_rounds: int


def fit_round_model(samples: dict, anchor_rank: int = 3) -> RoundModel:
    """Fit ``log t[r, q] = speed[r] + level[q] + e`` to interleaved samples by median polish.

    ``samples`` is :attr:`InterleavedTimings.samples` (lists of per-round samples
    keyed ``incontext``/``alone``/``prefix`` (one list per block) and ``network``).

    Why: on a shared host other tenants slow the whole machine down in phases of
    seconds, and how much of a run falls into them varies from run to run (on the
    development VM the median of one network varied by up to 40% between runs).  One
    round times every quantity within a fraction of a second, so a round's samples
    share one machine speed.  Median polish (Tukey; two sweeps of row and column
    medians, robust to the odd preempted sample) separates that speed from each
    quantity's own level.  Each quantity's latency is then reported at the fastest
    round speed seen: interference only adds time, so the fastest speed is the
    device's own; and because the speed is estimated from every quantity of a round
    at once, one quantity need not itself have been timed in its luckiest moment (a
    plain per-quantity minimum needs that, and is noisier).  scipy/statsmodels have
    no median polish, and this is ten lines of numpy.
    """
    import numpy as np

    keys = [("incontext", i) for i in range(len(samples["incontext"]))]
    keys += [("alone", i) for i in range(len(samples["alone"]))]
    keys += [("prefix", i) for i in range(len(samples["prefix"]))]
    columns = [samples[k][i] for k, i in keys] + [samples["network"]]
    keys.append(("network", 0))
    rounds = len(samples["network"])
    if rounds == 0 or any(len(c) != rounds for c in columns):
        raise ValueError("fit_round_model needs the same number of rounds for every quantity")
    logs = np.log(np.maximum(np.asarray(columns, dtype=float).T, 1e-9))  # rounds x quantities
    speed = np.zeros(rounds)
    level = np.median(logs, axis=0)
    for _ in range(2):
        speed = np.median(logs - level[None, :], axis=1)
        level = np.median(logs - speed[:, None], axis=0)
    # The anchor is the anchor_rank-th fastest round, not the fastest: with short rounds a
    # single round can fall into a brief burst of speed that the next run never sees.
    fastest = float(np.sort(speed)[min(anchor_rank, rounds) - 1])
    residual = logs - speed[:, None] - level[None, :]
    p10, p90 = np.percentile(residual, [10, 90], axis=0)
    spread = (p90 - p10) / 2.5631
    latency = np.exp(level + fastest)
    out_latency: dict = {k: [] for k in ("incontext", "alone", "prefix", "network")}
    out_spread: dict = {k: [] for k in out_latency}
    for (kind, _), lat, spr in zip(keys, latency, spread):
        out_latency[kind].append(float(lat))
        out_spread[kind].append(float(spr))
    slowdown = np.exp(speed - fastest)
    return RoundModel(latency_ms={k: tuple(v) for k, v in out_latency.items()},
                      spread={k: tuple(v) for k, v in out_spread.items()},
                      round_slowdown=tuple(float(v) for v in slowdown),
                      fast_rounds=int((slowdown <= 1.0 + FLOOR_TOLERANCE).sum()))


def time_interleaved(blocks: Sequence, x, *, rounds: int, warmup: int = 2, clock: Clock = time.perf_counter_ns,
                     sync: Callable[[], Any] | None = None, previous: InterleavedTimings | None = None,
                     anchor_rank: int = 3) -> InterleavedTimings:
    """Time a chain's blocks in context, its whole chain, every prefix and every block alone, round-robin.

    One *round* times every quantity once: a timestamped pass and a plain pass of the
    whole chain (in-context block latencies, whole-chain latency), then each prefix
    ``blocks[:k+1]`` run alone, then each block alone on its cached input.  Each prefix
    and block runs once untimed right before its timed call, so it is timed in a
    steady state, as a deployed TRN runs.  Timing quantities in rounds rather than
    one after the other means slow phases of the machine (other tenants of a
    shared host, frequency changes) hit all of them alike, instead of inflating
    whichever prefix happened to be timed then.  ``previous`` pools more rounds into
    an earlier result.  ``warmup`` plain passes run untimed first.
    """
    import torch.nn as nn

    _check_counts(warmup, rounds)
    if not blocks:
        raise NetcutError("time_interleaved needs at least one block")
    n = len(blocks)
    prefixes = [nn.Sequential(*blocks[: k + 1]) for k in range(n)]
    inputs = _block_inputs(blocks, x)
    if previous is None:
        samples = {"incontext": [[] for _ in range(n)], "alone": [[] for _ in range(n)],
                   "prefix": [[] for _ in range(n)], "network": [], "stamped": []}
        for _ in range(warmup):
            _plain_pass(blocks, x)
    else:
        samples = {k: ([list(v) for v in vals] if k in ("incontext", "alone", "prefix") else list(vals))
                   for k, vals in previous.samples.items()}
    _interleaved_rounds(blocks, x, prefixes, inputs, rounds, clock, sync, samples)
    return InterleavedTimings(
        incontext=tuple(stats_from_samples(v) for v in samples["incontext"]),
        alone=tuple(stats_from_samples(v) for v in samples["alone"]),
        prefix=tuple(stats_from_samples(v) for v in samples["prefix"]),
        network=stats_from_samples(samples["network"]),
        stamped=stats_from_samples(samples["stamped"]),
        rounds=len(samples["network"]),
        samples=samples,
        reference=fit_round_model(samples, anchor_rank),
    )


# --------------------------------------------------------------------------- noise


@dataclasses.dataclass(frozen=True)
class NoisePolicy:
    """When a measurement is flagged.

    The table's reference latencies come from a model of the interleaved rounds
    (:func:`fit_round_model`: machine speed per round x latency per quantity, reported
    at the fastest speed seen).  A quantity is flagged when what that model leaves
    unexplained spreads more than ``spread_threshold`` (about a cv).  ``floor_min_count``
    is the round model's anchor rank (:func:`fit_round_model`).
    ``consistency_threshold`` bounds |sum of in-context block latencies / whole-chain
    latency - 1|: both come from the same rounds, so a large gap says the cores were
    time-shared.
    ``load_tolerance_cores``: other processes may use this many cores more than
    the cores left free (``measured cores - threads``) before the run is flagged.
    ``neighbour_tolerance_cores``: when pinned, how many of the other cores may be
    busy on average (they share the last-level cache and memory bandwidth: on the
    development VM a test suite on the other core slowed a whole configuration's
    run by up to 1.5x, which no round reaches past).
    A flagged configuration is measured for ``remeasure_factor - 1`` times as many
    rounds again (after waiting up to ``quiet_wait_s`` for the cores to quieten) and
    the samples are pooled.
    """

    spread_threshold: float = 0.15
    floor_min_count: int = 3
    consistency_threshold: float = 0.10
    check_load: bool = True
    load_tolerance_cores: float = 0.25
    neighbour_tolerance_cores: float = 0.5
    remeasure: bool = True
    remeasure_factor: float = 1.5
    quiet_wait_s: float = 5.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "NoisePolicy":
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})


def noise_reasons(spread: float, what: str, policy: NoisePolicy = NoisePolicy()) -> list[str]:
    """Why a quantity whose round-model residual spread is ``spread`` looks unreliable ([] if it does not)."""
    if spread > policy.spread_threshold:
        return [f"{what} spread: {spread:.2f} > {policy.spread_threshold:.2f} beyond the machine's "
                "round-to-round speed"]
    return []


def consistency_reason(model: RoundModel, policy: NoisePolicy = NoisePolicy()) -> str:
    """Why the in-context block latencies and the whole-chain latency disagree ('' if they agree)."""
    network = model.latency_ms["network"][0]
    if not network > 0:
        return ""
    gap = sum(model.latency_ms["incontext"]) / network - 1.0
    if abs(gap) <= policy.consistency_threshold:
        return ""
    return (f"in-context sum {gap * 100:+.0f}% vs whole chain (> {policy.consistency_threshold * 100:.0f}%): "
            "cores time-shared")


def _proc_stat_busy_s(cpus: set[int] | None) -> float | None:
    """Busy CPU seconds since boot (user+nice+system+irq+softirq+steal) of ``cpus`` (all if None)."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy = 0
    for line in lines:
        name, _, rest = line.partition(" ")
        if cpus is None:
            if name != "cpu":
                continue
        elif not (name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus):
            continue
        v = [int(t) for t in rest.split()]
        busy += v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
    return busy / tick


class LoadMonitor:
    """CPU time other processes used on the cores we measure on, between ``start`` and ``stop``.

    The cores are this process's affinity set when it is pinned, else all cores.
    The run had competing load when the others used more than
    ``cores - threads + tolerance`` cores on average.  Linux reads ``/proc/stat``;
    elsewhere the 1-minute load average at start stands in.
    """

    def __init__(self, threads: int, tolerance_cores: float = 0.25, neighbour_tolerance_cores: float = math.inf):
        self.threads = threads
        self.tolerance_cores = tolerance_cores
        self.neighbour_tolerance_cores = neighbour_tolerance_cores
        total = os.cpu_count() or 1
        try:
            mine = set(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            mine = set(range(total))
        self.cpus = mine if len(mine) < total else None
        self.n_cores = len(mine)
        # Pinned: the other cores share caches and memory bandwidth with ours.
        self.neighbours = set(range(total)) - mine if self.cpus is not None else set()
        self._start: tuple[float, float, float] | None = None
        self._neighbour_start: float | None = None
        self._loadavg: float | None = None

    def start(self) -> "LoadMonitor":
        busy = _proc_stat_busy_s(self.cpus)
        if busy is None:
            with contextlib.suppress(OSError, AttributeError):
                self._loadavg = os.getloadavg()[0]
        self._neighbour_start = _proc_stat_busy_s(self.neighbours) if self.neighbours else None
        self._start = (time.monotonic(), busy if busy is not None else math.nan, time.process_time())
        return self

    def neighbour_cores(self) -> float | None:
        """Average number of the *other* (unpinned) cores kept busy since ``start`` (None if not pinned)."""
        if self._start is None or self._neighbour_start is None:
            return None
        wall = time.monotonic() - self._start[0]
        if wall < 0.25:
            return None
        return max(0.0, ((_proc_stat_busy_s(self.neighbours) or 0.0) - self._neighbour_start) / wall)

    def others_cores(self) -> float | None:
        """Average number of cores other processes kept busy since ``start`` (None if unknown)."""
        if self._start is None:
            return None
        wall0, busy0, own0 = self._start
        wall = time.monotonic() - wall0
        if math.isnan(busy0):
            return None if self._loadavg is None else max(0.0, self._loadavg - self.threads)
        if wall < 0.25:  # /proc/stat ticks every 10 ms: too coarse for shorter windows
            return None
        busy = (_proc_stat_busy_s(self.cpus) or 0.0) - busy0
        own = time.process_time() - own0
        return max(0.0, (busy - own) / wall)

    def reason(self) -> str:
        others = self.others_cores()
        free = self.n_cores - self.threads
        reasons = []
        if others is not None and others > free + self.tolerance_cores:
            where = f"the {self.n_cores} pinned core(s)" if self.cpus is not None else f"the {self.n_cores} core(s)"
            reasons.append(f"competing load: other processes used {others:.2f} cores of {where} "
                           f"({free} free beside {self.threads} measuring thread(s))")
        neighbours = self.neighbour_cores()
        if neighbours is not None and neighbours > self.neighbour_tolerance_cores:
            reasons.append(f"neighbouring load: other processes kept {neighbours:.2f} of the {len(self.neighbours)} "
                           "unpinned core(s) busy (they share caches and memory bandwidth with the measured one)")
        return "; ".join(reasons)


def wait_for_quiet(threads: int, tolerance_cores: float = 0.25, max_wait_s: float = 20.0,
                   window_s: float = 0.5, neighbour_tolerance_cores: float = math.inf) -> bool:
    """Wait until other processes leave our cores (and, when pinned, the neighbouring ones, up to
    ``neighbour_tolerance_cores``) alone for ``window_s`` (at most ``max_wait_s``).

    Returns True if the cores were quiet, False if we gave up (or cannot tell).
    """
    deadline = time.monotonic() + max_wait_s
    while True:
        monitor = LoadMonitor(threads, tolerance_cores, neighbour_tolerance_cores).start()
        time.sleep(window_s)
        others = monitor.others_cores()
        if others is None:
            return False
        neighbours = monitor.neighbour_cores() or 0.0
        if others <= monitor.n_cores - threads + tolerance_cores and neighbours <= neighbour_tolerance_cores:
            return True
        if time.monotonic() >= deadline:
            logger.info("cores still busy after %.0f s (others use %.2f cores); measuring anyway", max_wait_s, others)
            return False


# --------------------------------------------------------------------------- device record


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

    @property
    def device_id(self) -> str:
        """Short sha256 of kind, name, cores, threads, torch version and backend (not the batch size,
        which is part of the workload and has its own place in ``config_id``)."""
        key = "|".join(str(v) for v in (self.device_kind, self.device_name, self.cpu_count, self.threads,
                                         self.torch_version, self.backend))
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "device_id": self.device_id}

    @classmethod
    def from_dict(cls, d: dict) -> "DeviceRecord":
        return cls(device_kind=str(d["device_kind"]), device_name=str(d["device_name"]),
                   cpu_count=int(d["cpu_count"]), threads=int(d["threads"]),
                   torch_version=str(d["torch_version"]), backend=str(d["backend"]),
                   batch_size=int(d["batch_size"]))


def _cpu_model_name() -> str:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                    return value.strip()
    return platform.processor() or platform.machine() or "unknown cpu"


def device_record(device: str = "cpu", *, threads: int = 1, batch_size: int = 1) -> DeviceRecord:
    """The record of this machine: CPU model from /proc/cpuinfo, GPU name from torch.cuda."""
    import torch

    if device == "cuda":
        if not torch.cuda.is_available():
            raise NetcutError("device 'cuda' was requested but torch sees no CUDA GPU; use --device cpu")
        name = torch.cuda.get_device_name(0)
        backend = f"cuda{torch.version.cuda}/cudnn{torch.backends.cudnn.version()}"
    elif device == "cpu":
        name = _cpu_model_name()
        capability = torch.backends.cpu.get_cpu_capability()
        onednn = "onednn" if torch.backends.mkldnn.is_available() else "native"
        backend = f"{onednn}/{capability}"
    else:
        raise NetcutError(f"device must be 'cpu' or 'cuda', got {device!r}")
    return DeviceRecord(device_kind=device, device_name=name, cpu_count=os.cpu_count() or 1, threads=threads,
                        torch_version=torch.__version__, backend=backend, batch_size=batch_size)


def make_config_id(model: str, resolution: int, width: float, batch_size: int, threads: int, device_id: str) -> str:
    return f"{model}@{resolution}px@w{float(width)}@b{batch_size}@t{threads}@{device_id}"


# --------------------------------------------------------------------------- one configuration

#: Automatic round budget: seconds of timed work per configuration, and its bounds.
_CONFIG_TARGET_S = 6.0
_MIN_ROUNDS, _MAX_ROUNDS = 7, 60


def _auto_rounds(round_ms: float) -> int:
    if round_ms <= 0:
        return _MAX_ROUNDS
    return max(_MIN_ROUNDS, min(_MAX_ROUNDS, math.ceil(_CONFIG_TARGET_S * 1000.0 / round_ms)))


@dataclasses.dataclass
class _Measurement:
    timings: InterleavedTimings
    config_reasons: list
    row_reasons: dict


def _judge(t: InterleavedTimings, monitor, noise: NoisePolicy) -> _Measurement:
    ref = t.reference
    load = monitor.reason() if monitor is not None else ""
    reasons = [consistency_reason(ref, noise), load]
    config_reasons = noise_reasons(ref.spread["network"][0], "whole chain", noise) + [r for r in reasons if r]
    row_reasons = {k: noise_reasons(ref.spread["prefix"][k], "prefix", noise) for k in range(len(t.prefix))}
    return _Measurement(t, config_reasons, row_reasons)


def _measure_chain_all(blocks, x, *, rounds, warmup, clock, sync, noise: NoisePolicy, threads: int) -> _Measurement:
    # Pilot: two untimed passes (allocations, oneDNN primitives), three timestamped ones
    # give the block latencies from which one round's cost is estimated.
    for _ in range(2):
        _plain_pass(blocks, x)
    pilot = _chain_samples(blocks, x, warmup=0, repeats=3, clock=clock, sync=sync)[0]
    block_ms = [statistics.median(v) for v in pilot]
    prefix_sum = sum(sum(block_ms[: k + 1]) for k in range(len(blocks)))
    round_ms = 2 * sum(block_ms) + 2 * prefix_sum + 2 * sum(block_ms)
    n_rounds = rounds if rounds is not None else _auto_rounds(round_ms)
    chain_warm = warmup if warmup is not None else 2

    monitor = (LoadMonitor(threads, noise.load_tolerance_cores, noise.neighbour_tolerance_cores).start()
               if noise.check_load else None)
    m = _judge(time_interleaved(blocks, x, rounds=n_rounds, warmup=chain_warm, clock=clock, sync=sync,
                                anchor_rank=noise.floor_min_count),
               monitor, noise)
    if noise.remeasure and (m.config_reasons or any(m.row_reasons.values())):
        # Once: more rounds, pooled with the first ones, after waiting (boundedly) for the
        # cores to quieten.  Pooling suits the round model: more rounds, more chances of the fast state.
        if noise.check_load:
            wait_for_quiet(threads, noise.load_tolerance_cores, noise.quiet_wait_s,
                           neighbour_tolerance_cores=noise.neighbour_tolerance_cores)
        flagged = sum(bool(r) for r in m.row_reasons.values())
        logger.info("measuring %d more rounds (%d flagged prefix(es)%s)", n_rounds, flagged,
                    "; " + "; ".join(m.config_reasons) if m.config_reasons else "")
        extra = max(1, round(n_rounds * (noise.remeasure_factor - 1.0)))
        monitor = (LoadMonitor(threads, noise.load_tolerance_cores, noise.neighbour_tolerance_cores).start()
                   if noise.check_load else None)
        m = _judge(time_interleaved(blocks, x, rounds=extra, warmup=0, clock=clock, sync=sync, previous=m.timings,
                                    anchor_rank=noise.floor_min_count),
                   monitor, noise)
    return m


def _as_chain(model, resolution: int, width: float, batch_size: int, name: str | None):
    from .blocks import BlockChain, load_chain, split_model

    if isinstance(model, BlockChain):
        return model, name or model.model_name
    if isinstance(model, str):
        return load_chain(model, resolution, width=width, batch_size=batch_size), model
    import torch.nn as nn

    if isinstance(model, nn.Module):
        label = name or type(model).__name__
        return split_model(model, resolution, name=label, batch_size=batch_size), label
    raise NetcutError(f"model must be a name, an nn.Module or a BlockChain, got {type(model).__name__}")


def _r(value: float) -> float:
    return float(f"{value:.6g}")


def measure_config(model, resolution: int = 224, width: float = 1.0, *, threads: int = 1, batch_size: int = 1,
                   repeats: int | None = None, warmup: int | None = None, device: str = "cpu",
                   clock: Clock = time.perf_counter_ns, noise: NoisePolicy = NoisePolicy(),
                   record: DeviceRecord | None = None, name: str | None = None, family: str | None = None,
                   seed: int = 0, diagnostics: dict | None = None) -> list[dict]:
    """Measure one configuration in this process; one row per block with every ``TABLE_COLUMNS`` key.

    ``model`` is a model name (see :func:`latmodel.zoo.build_model`), an ``nn.Module``
    (labelled ``name``) or a :class:`~latmodel.blocks.BlockChain`.  All quantities are
    timed in interleaved rounds (:func:`time_interleaved`); ``repeats`` is the number
    of rounds (each quantity is timed once per round), None: chosen from a pilot run
    so the configuration gets about 6 s of timed work (7 to 60 rounds).  ``warmup``:
    untimed whole-chain passes first (default 2).

    The reference columns (``incontext_ms``, ``alone_ms``, ``prefix_ms``,
    ``network_ms``) hold each quantity's latency from the round model
    (:func:`fit_round_model`: one machine speed per round, one latency per quantity,
    reported at the fast machine state); medians are kept beside them.  Why: on a
    shared host (a cloud VM, a machine where other work runs) other tenants slow the
    whole machine down in phases lasting seconds, and how much of a run falls into
    such phases varies from run to run: on the development VM the median of the same
    network varied by up to 40% between runs, while two passes of the whole corpus
    gave round-model prefix latencies a median 3.6% apart.  Interference only ever
    adds time, so the fast state is the device's own, the quantity a predictor can
    learn and that a dedicated embedded device shows.  The median and the 90th
    percentile stay in the table for safety margins.

    Sets torch's thread count for the duration and restores it.  A ``diagnostics``
    dict, if given, receives ``timestamped_total_median_ms`` / ``_min_ms``: the sum of
    the intervals of the timestamped passes (vs the plain passes: what the
    timestamps cost).
    """
    import torch

    from .features import chain_features
    from .table import TABLE_COLUMNS, TABLE_SCHEMA_VERSION

    for label, value in (("threads", threads), ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise NetcutError(f"{label} must be a positive integer, got {value!r}")
    if repeats is not None:
        _check_counts(0, repeats)  # rounds
    if warmup is not None:
        _check_counts(warmup, 1)
    chain, label = _as_chain(model, resolution, width, batch_size, name)
    if family is None:
        from .zoo import family_of

        family = family_of(label) if isinstance(model, str) else "custom"
    record = record or device_record(device, threads=threads, batch_size=batch_size)
    features = chain_features(chain, seed=seed)
    sync = torch.cuda.synchronize if device == "cuda" else None
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            x = torch.randn(chain.input_shape, generator=torch.Generator().manual_seed(seed))
            blocks = list(chain.blocks)
            if device == "cuda":
                x = x.cuda()
                blocks = [b.cuda() for b in blocks]
            m = _measure_chain_all(blocks, x, rounds=repeats, warmup=warmup, clock=clock, sync=sync,
                                   noise=noise, threads=threads)
    finally:
        torch.set_num_threads(old_threads)

    t = m.timings
    if diagnostics is not None:
        diagnostics["timestamped_total_median_ms"] = t.stamped.median_ms
        diagnostics["timestamped_total_min_ms"] = t.stamped.min_ms
    n = len(chain)
    config = {
        "schema_version": TABLE_SCHEMA_VERSION,
        "config_id": make_config_id(label, chain.resolution, width, batch_size, threads, record.device_id),
        "model": label,
        "family": family,
        "resolution_px": chain.resolution,
        "width": float(width),
        "threads": threads,
        "device_kind": record.device_kind,
        "device_name": record.device_name,
        "device_id": record.device_id,
        "cpu_count": record.cpu_count,
        "torch_version": record.torch_version,
        "measured_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
    }
    rows = []
    for k, (info, feats) in enumerate(zip(chain.infos, features)):
        ic, pf, al = t.incontext[k], t.prefix[k], t.alone[k]
        lat = t.reference.latency_ms
        reasons = m.config_reasons + m.row_reasons[k]
        row = {
            **config,
            "block_index": info.index,
            "n_blocks": n,
            "block_name": info.name,
            **{c: v for c, v in feats.items() if c not in ("block_index", "block_name")},
            "incontext_ms": _r(lat["incontext"][k]),
            "incontext_median_ms": _r(ic.median_ms),
            "incontext_cv": _r(ic.cv),
            "alone_ms": _r(lat["alone"][k]),
            "alone_median_ms": _r(al.median_ms),
            "prefix_ms": _r(lat["prefix"][k]),
            "prefix_median_ms": _r(pf.median_ms),
            "prefix_p90_ms": _r(pf.p90_ms),
            "prefix_cv": _r(pf.cv),
            "network_ms": _r(lat["network"][0]),
            "network_median_ms": _r(t.network.median_ms),
            "network_cv": _r(t.network.cv),
            "rounds": t.rounds,
            "flagged": int(bool(reasons)),
            "flag_reason": "; ".join(reasons),
        }
        rows.append({c: row[c] for c in TABLE_COLUMNS})
    return rows


# --------------------------------------------------------------------------- profile (parent side)


@dataclasses.dataclass(frozen=True)
class ConfigOutcome:
    """What happened to one configuration in :func:`profile`."""

    config_id: str
    status: str  # "measured" | "skipped" | "failed"
    rows: int = 0
    seconds: float = 0.0
    n_blocks: int = 0
    network_ms: float = math.nan
    incontext_sum_ms: float = math.nan
    flagged_rows: int = 0
    reason: str = ""
    timestamped_total_ms: float = math.nan

    @property
    def incontext_vs_network(self) -> float:
        """Sum of in-context block latencies / whole-chain latency - 1 (round model)."""
        return self.incontext_sum_ms / self.network_ms - 1.0 if self.network_ms > 0 else math.nan

    @property
    def timestamp_overhead(self) -> float:
        """Fastest timestamped pass / fastest plain pass - 1: what the timestamps cost."""
        return self.timestamped_total_ms / self.network_ms - 1.0 if self.network_ms > 0 else math.nan

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ConfigOutcome":
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})


@dataclasses.dataclass(frozen=True)
class ProfileSummary:
    """Result of :func:`profile`."""

    out_path: str
    outcomes: tuple[ConfigOutcome, ...]
    seconds: float

    def _count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def measured(self) -> int:
        return self._count("measured")

    @property
    def skipped(self) -> int:
        return self._count("skipped")

    @property
    def failed(self) -> int:
        return self._count("failed")

    @property
    def flagged(self) -> int:
        """Measured configurations with at least one flagged row."""
        return sum(o.status == "measured" and o.flagged_rows > 0 for o in self.outcomes)

    @property
    def rows_written(self) -> int:
        return sum(o.rows for o in self.outcomes if o.status == "measured")

    def to_dict(self) -> dict:
        return {"out_path": self.out_path, "seconds": self.seconds, "outcomes": [o.to_dict() for o in self.outcomes]}

    @classmethod
    def from_dict(cls, d: dict) -> "ProfileSummary":
        return cls(out_path=str(d["out_path"]), seconds=float(d["seconds"]),
                   outcomes=tuple(ConfigOutcome.from_dict(o) for o in d["outcomes"]))

    def to_text(self) -> str:
        lines = [
            f"profile: {self.measured} configuration(s) measured, {self.skipped} skipped (already in the table), "
            f"{self.failed} failed, {self.flagged} flagged; {self.rows_written} rows written in "
            f"{self.seconds:.1f} s to {self.out_path}"
        ]
        measured = [o for o in self.outcomes if o.status == "measured"]
        if measured:
            lines.append("sum of in-context block latencies vs whole chain (same rounds); in brackets the "
                         "fastest timestamped pass vs the fastest plain pass (timestamp cost):")
            for o in measured:
                flag = f"  [flagged rows: {o.flagged_rows}]" if o.flagged_rows else ""
                stamp = f" ({o.timestamp_overhead * 100:+.1f}%)" if not math.isnan(o.timestamped_total_ms) else ""
                lines.append(f"  {o.config_id}: {o.n_blocks} blocks, network {o.network_ms:.3f} ms, "
                             f"in-context sum {o.incontext_vs_network * 100:+.1f}%{stamp}, {o.seconds:.0f} s{flag}")
        for o in self.outcomes:
            if o.status == "failed":
                lines.append(f"  FAILED {o.config_id}: {o.reason}")
        return "\n".join(lines)


def _pinned_cpus(pin_cpu, threads: int) -> tuple[int, ...] | None:
    if pin_cpu is None:
        return None
    cpus = (pin_cpu,) if isinstance(pin_cpu, int) else tuple(pin_cpu)
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        raise NetcutError("--pin-cpu needs Linux (os.sched_setaffinity); leave it out on this system") from None
    if not cpus or any(not isinstance(c, int) or isinstance(c, bool) or c not in allowed for c in cpus):
        raise NetcutError(f"cannot pin to CPU(s) {list(cpus)}: allowed CPUs are {allowed}")
    if len(set(cpus)) < threads:
        raise NetcutError(
            f"pinning {threads} threads to {len(set(cpus))} core(s) {sorted(set(cpus))} would make them share a core; "
            f"pin at least {threads} cores or use --threads {len(set(cpus))}"
        )
    return tuple(sorted(set(cpus)))


def _positive(name: str, value, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise NetcutError(f"{name} must be a positive integer, got {value!r}")


def _configs(models, resolutions, widths, corpus) -> list:
    from .corpus import ProfileConfig, get_corpus

    if resolutions is not None:
        for r in resolutions:
            if not isinstance(r, int) or isinstance(r, bool) or r <= 0:
                raise NetcutError(f"resolution must be a positive integer number of pixels, got {r!r}")
    if widths is not None:
        for w in widths:
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not (0 < w < math.inf):
                raise NetcutError(f"width must be a positive number, got {w!r}")
    if models is None:
        configs = list(get_corpus(corpus)) if corpus is None or isinstance(corpus, str) else list(corpus)
        if resolutions is not None:
            configs = [c for c in configs if c.resolution_px in set(resolutions)]
        if widths is not None:
            configs = [c for c in configs if float(c.width) in {float(w) for w in widths}]
        if not configs:
            raise NetcutError("the corpus has no configuration at the given --resolutions / --widths; "
                              "drop those options or pick values the corpus uses")
        return configs
    if isinstance(models, str):
        models = [models]
    if corpus is not None:
        raise NetcutError("give either models or a corpus, not both")
    if not models:
        raise NetcutError("no model given; pass model names or leave them out to profile the default corpus")
    return [ProfileConfig(m, r, float(w)) for m in models for r in (resolutions or [224]) for w in (widths or [1.0])]


def _check_names(configs) -> None:
    """Names and widths (cheap: nothing is built)."""
    from .zoo import MODELS, resolve_spec

    for c in configs:
        spec = resolve_spec(c.model)
        if spec.name in MODELS and float(c.width) not in spec.widths:
            raise NetcutError(f"model {c.model!r} cannot be built at width {c.width}; allowed widths: "
                              f"{', '.join(str(w) for w in spec.widths)}")


def _validate_configs(configs) -> None:
    """Fail fast, before any child starts: every network builds, is a module and traces.

    Each (model, width) is built once, at the smallest resolution it will be measured at.
    """
    from .blocks import split_model
    from .zoo import build_model, resolve_spec

    smallest: dict[tuple[str, float], int] = {}
    for c in configs:
        key = (c.model, float(c.width))
        smallest[key] = min(smallest.get(key, c.resolution_px), c.resolution_px)
    for (name, width), res in smallest.items():
        model = build_model(name, width=width, resolution=res)
        split_model(model, res, name=name, head_start=resolve_spec(name).head_start)


def _last_line(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(CHILD_ENV)
    env["OMP_NUM_THREADS"] = str(threads)
    env["MKL_NUM_THREADS"] = str(threads)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _run_child(job: dict, workdir: Path, timeout_s: float) -> tuple[dict | None, str]:
    job_path = workdir / "job.json"
    result_path = workdir / "rows.json"
    err_path = workdir / "stderr.txt"
    with contextlib.suppress(FileNotFoundError):
        result_path.unlink()
    job_path.write_text(json.dumps(job), encoding="utf-8")
    cmd = [sys.executable, "-m", "latmodel.measure", "--worker", str(job_path), "--result", str(result_path)]
    with open(err_path, "w", encoding="utf-8") as err:
        try:
            proc = subprocess.run(cmd, env=_child_env(job["threads"]), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=err, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            return None, f"timed out after {timeout_s:.0f} s (raise timeout_s or lower --repeats)"
    if proc.returncode != 0:
        last = _last_line(err_path) or "(no message)"
        return None, f"child exited with status {proc.returncode}: {last}"
    try:
        result = json.loads(result_path.read_text(encoding="utf-8"))
        result["rows"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"child wrote no readable result: {exc}"
    return result, ""


#: Orders ``profile`` can measure configurations in (see its docstring).
PROFILE_ORDERS: tuple[str, ...] = ("shuffled", "given")


def profile(models: Sequence[str] | None, out: str | os.PathLike, *,
            resolutions: Sequence[int] | None = None, widths: Sequence[float] | None = None, threads: int = 1,
            batch_size: int = 1, repeats: int | None = None, warmup: int | None = None, pin_cpu=None,
            device: str = "cpu", progress: bool = True, corpus=None,
            timeout_s: float = _DEFAULT_TIMEOUT_S, order: str = "shuffled") -> ProfileSummary:
    """Measure configurations, each in a fresh child process, appending rows to ``out``.

    ``models`` None: the corpus ``corpus`` (a name from :data:`latmodel.corpus.CORPORA`,
    default ``"default"``, or a list of :class:`~latmodel.corpus.ProfileConfig`),
    restricted to ``resolutions`` / ``widths`` when given.  Otherwise every model x
    resolution (default 224) x width (default 1.0).  Configurations already in
    ``out`` are skipped, so re-running an interrupted command resumes it.

    ``order``: ``"shuffled"`` (default) measures the configurations in a fixed
    pseudo-random order (the same every run: a resumed run continues it),
    ``"given"`` in the order listed.  Why shuffled: a shared machine's speed drifts over
    minutes, beyond what a configuration's rounds can see; measured family after family,
    a slow spell shifts a whole architecture family (two passes of the 154-configuration
    corpus on 2026-11-28 differed by a median +5% for DenseNet, GoogLeNet, MobileNetV3
    and EfficientNet-Lite, about 0% for the rest), which is the error leave-one-family-out
    validation is most sensitive to.  Shuffled, the drift becomes per-configuration noise.

    Everything the user gave is validated before the first child starts
    (:class:`NetcutError`); a child that crashes or times out is reported in the
    summary and the others continue.
    """
    from .table import TABLE_SCHEMA_VERSION, append_rows, read_table

    started = time.monotonic()
    out = Path(out)
    if not out.parent.exists():
        raise NetcutError(f"output folder {str(out.parent)!r} does not exist; create it first (mkdir -p {out.parent})")
    if out.is_dir():
        raise NetcutError(f"--out {str(out)!r} is a folder; give a CSV file path such as {out / 'table.csv'}")
    _positive("threads", threads)
    _positive("batch size", batch_size)
    _positive("repeats", repeats, allow_none=True)
    _positive("warmup", warmup, allow_none=True)
    if device not in ("cpu", "cuda"):
        raise NetcutError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if not (isinstance(timeout_s, (int, float)) and timeout_s > 0):
        raise NetcutError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
    if order not in PROFILE_ORDERS:
        raise NetcutError(f"order must be one of {', '.join(PROFILE_ORDERS)}, got {order!r}")
    cpus = _pinned_cpus(pin_cpu, threads)
    configs = _configs(models, resolutions, widths, corpus)
    _check_names(configs)
    record = device_record(device, threads=threads, batch_size=batch_size)
    ids = [make_config_id(c.model, c.resolution_px, c.width, batch_size, threads, record.device_id) for c in configs]
    done, versions = set(), set()
    if out.exists() and out.stat().st_size > 0:
        try:  # one read gives both what is measured already and the schema it was written with
            existing = read_table(out, required=("config_id",))
        except TableError as exc:
            raise TableError(f"cannot resume into {str(out)!r}: {exc}") from None
        done = set(existing["config_id"].astype(str))
        if "schema_version" in existing.columns:
            versions = {int(v) for v in existing["schema_version"].dropna().unique()}
    if versions - {TABLE_SCHEMA_VERSION}:
        raise TableError(f"cannot resume into {str(out)!r}: it holds schema {sorted(versions)} rows and this netcut "
                         f"writes schema {TABLE_SCHEMA_VERSION}; measure into a new file with --out")
    todo = list(zip(configs, ids))
    if order == "shuffled":
        random.Random(0).shuffle(todo)  # the whole list, then what is done is dropped: resuming keeps the order
    todo = [(c, i) for c, i in todo if i not in done]
    _validate_configs([c for c, _ in todo])

    outcomes = [ConfigOutcome(i, "skipped") for c, i in zip(configs, ids) if i in done]
    from tqdm import tqdm

    bar = tqdm(total=len(todo), unit="config", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    try:
        with tempfile.TemporaryDirectory(prefix="latmodel-profile-") as tmp:
            for config, cid in todo:
                bar.set_postfix_str(cid.rsplit("@", 1)[0], refresh=True)
                job = {"model": config.model, "resolution_px": config.resolution_px, "width": config.width,
                       "threads": threads, "batch_size": batch_size, "repeats": repeats, "warmup": warmup,
                       "device": device, "pin_cpu": list(cpus) if cpus else None, "record": record.to_dict()}
                t0 = time.monotonic()
                result, why = _run_child(job, Path(tmp), timeout_s)
                seconds = time.monotonic() - t0
                if result is None:
                    logger.warning("configuration %s failed: %s", cid, why)
                    outcomes.append(ConfigOutcome(cid, "failed", seconds=seconds, reason=why))
                else:
                    rows = result["rows"]
                    if rows and rows[0]["config_id"] != cid:
                        raise RuntimeError(f"child measured {rows[0]['config_id']!r}, expected {cid!r}")
                    append_rows(out, rows)
                    outcomes.append(ConfigOutcome(
                        cid, "measured", rows=len(rows), seconds=seconds, n_blocks=len(rows),
                        network_ms=float(rows[0]["network_ms"]),
                        incontext_sum_ms=float(sum(r["incontext_ms"] for r in rows)),
                        flagged_rows=sum(int(r["flagged"]) for r in rows),
                        timestamped_total_ms=float(result.get("diagnostics", {}).get("timestamped_total_min_ms",
                                                                                      math.nan)),
                    ))
                bar.update(1)
    finally:
        bar.close()
    return ProfileSummary(out_path=str(out), outcomes=tuple(outcomes), seconds=time.monotonic() - started)


# --------------------------------------------------------------------------- child side


def _worker(job_path: str, result_path: str) -> int:
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    if job.get("pin_cpu"):
        os.sched_setaffinity(0, set(job["pin_cpu"]))  # before torch starts its thread pool
    import torch

    threads = int(job["threads"])
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
    record = DeviceRecord.from_dict(job["record"])
    mine = device_record(job["device"], threads=threads, batch_size=int(job["batch_size"]))
    if mine.device_id != record.device_id:
        logger.warning("child device record %s differs from the parent's %s", mine.to_dict(), record.to_dict())
    diagnostics: dict = {}
    rows = measure_config(job["model"], int(job["resolution_px"]), float(job["width"]), threads=threads,
                          batch_size=int(job["batch_size"]), repeats=job.get("repeats"), warmup=job.get("warmup"),
                          device=job["device"], record=record, diagnostics=diagnostics)
    from .fileio import atomic_write_text

    atomic_write_text(Path(result_path), json.dumps({"rows": rows, "diagnostics": diagnostics}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Child entry point: ``python -m latmodel.measure --worker JOB.json --result ROWS.json``."""
    parser = argparse.ArgumentParser(prog="python -m latmodel.measure",
                                     description="measure one configuration (used by 'latmodel profile')")
    parser.add_argument("--worker", required=True, help="job JSON written by profile()")
    parser.add_argument("--result", required=True, help="where to write the rows (JSON)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _worker(args.worker, args.result)
    except NetcutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

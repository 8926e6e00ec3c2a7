"""Noise: when a measurement is flagged, and the load other processes put on the measured cores.

Noise is flagged, never hidden: a quantity whose spread the round model cannot
explain, an in-context sum far from the whole chain, or a run during which other
processes used the cores we measure on (or, when pinned, the neighbouring ones)
gets half as many rounds again (pooled); if it is still unreliable its rows are
written with ``flagged=1`` and a ``flag_reason`` (:func:`latmodel.measure.rows.measure_config`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import time
from typing import Callable

from .round_model import ANCHOR_RANK, RoundModel

__all__ = [
    "LOAD_TOLERANCE_CORES",
    "NoisePolicy",
    "noise_reasons",
    "consistency_reason",
    "LoadMonitor",
    "wait_for_quiet",
]

logger = logging.getLogger(__name__)

#: Cores other processes may use beyond the free ones before a run counts as loaded.
LOAD_TOLERANCE_CORES = 0.25
#: /proc/stat ticks every 10 ms: load over shorter windows is too coarse to judge.
_MIN_WINDOW_S = 0.25

#: Reads busy CPU seconds of a set of cores (None: all of them); None when it cannot tell.
BusyReader = Callable[["set[int] | None"], "float | None"]


@dataclasses.dataclass(frozen=True)
class NoisePolicy:
    """When a measurement is flagged.

    The table's reference latencies come from a model of the interleaved rounds
    (:func:`~latmodel.measure.round_model.fit_round_model`: machine speed per round x latency per quantity, reported
    at the fastest speed seen).  A quantity is flagged when what that model leaves
    unexplained spreads more than ``spread_threshold`` (about a cv).  ``floor_min_count``
    is the round model's anchor rank (:func:`~latmodel.measure.round_model.fit_round_model`).
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
    floor_min_count: int = ANCHOR_RANK
    consistency_threshold: float = 0.10
    check_load: bool = True
    load_tolerance_cores: float = LOAD_TOLERANCE_CORES
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


def _proc_stat_busy_s(cpus: set[int] | None, path: str = "/proc/stat") -> float | None:
    """Busy CPU seconds since boot (user+nice+system+irq+softirq+steal) of ``cpus`` (all if None)."""
    try:
        with open(path, encoding="ascii") as fh:
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

    ``clock`` (wall seconds), ``cpu_clock`` (this process's CPU seconds) and
    ``read_busy_s`` (busy CPU seconds of a core set) default to the real ones; tests
    pass fakes.
    """

    def __init__(self, threads: int, tolerance_cores: float = LOAD_TOLERANCE_CORES,
                 neighbour_tolerance_cores: float = math.inf, *, clock: Callable[[], float] = time.monotonic,
                 cpu_clock: Callable[[], float] = time.process_time, read_busy_s: BusyReader = _proc_stat_busy_s):
        self.threads = threads
        self.tolerance_cores = tolerance_cores
        self.neighbour_tolerance_cores = neighbour_tolerance_cores
        self._clock, self._cpu_clock, self._read_busy_s = clock, cpu_clock, read_busy_s
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
        busy = self._read_busy_s(self.cpus)
        if busy is None:
            with contextlib.suppress(OSError, AttributeError):
                self._loadavg = os.getloadavg()[0]
        self._neighbour_start = self._read_busy_s(self.neighbours) if self.neighbours else None
        self._start = (self._clock(), busy if busy is not None else math.nan, self._cpu_clock())
        return self

    def neighbour_cores(self) -> float | None:
        """Average number of the *other* (unpinned) cores kept busy since ``start`` (None if not pinned)."""
        if self._start is None or self._neighbour_start is None:
            return None
        wall = self._clock() - self._start[0]
        if wall < _MIN_WINDOW_S:
            return None
        return max(0.0, ((self._read_busy_s(self.neighbours) or 0.0) - self._neighbour_start) / wall)

    def others_cores(self) -> float | None:
        """Average number of cores other processes kept busy since ``start`` (None if unknown)."""
        if self._start is None:
            return None
        wall0, busy0, own0 = self._start
        wall = self._clock() - wall0
        if math.isnan(busy0):
            return None if self._loadavg is None else max(0.0, self._loadavg - self.threads)
        if wall < _MIN_WINDOW_S:
            return None
        busy = (self._read_busy_s(self.cpus) or 0.0) - busy0
        own = self._cpu_clock() - own0
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


def wait_for_quiet(threads: int, tolerance_cores: float = LOAD_TOLERANCE_CORES, max_wait_s: float = 20.0,
                   window_s: float = 0.5, neighbour_tolerance_cores: float = math.inf, *,
                   clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], object] = time.sleep,
                   cpu_clock: Callable[[], float] = time.process_time,
                   read_busy_s: BusyReader = _proc_stat_busy_s) -> bool:
    """Wait until other processes leave our cores (and, when pinned, the neighbouring ones, up to
    ``neighbour_tolerance_cores``) alone for ``window_s`` (at most ``max_wait_s``).

    Returns True if the cores were quiet, False if we gave up (or cannot tell).  The
    clocks, ``sleep`` and the reader are those of :class:`LoadMonitor`; tests pass fakes.
    """
    deadline = clock() + max_wait_s
    while True:
        monitor = LoadMonitor(threads, tolerance_cores, neighbour_tolerance_cores, clock=clock, cpu_clock=cpu_clock,
                              read_busy_s=read_busy_s).start()
        sleep(window_s)
        others = monitor.others_cores()
        if others is None:
            return False
        neighbours = monitor.neighbour_cores() or 0.0
        if others <= monitor.n_cores - threads + tolerance_cores and neighbours <= neighbour_tolerance_cores:
            return True
        if clock() >= deadline:
            logger.info("cores still busy after %.0f s (others use %.2f cores); measuring anyway", max_wait_s, others)
            return False

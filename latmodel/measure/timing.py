"""Timing harness: time callables, chains of blocks, prefixes and blocks alone, in interleaved rounds.

Three quantities are measured per configuration (one network at one resolution,
width, batch size and thread count), all in the same process:

* **in context** -- every block's latency inside a forward pass of the whole
  chain: timestamps taken between blocks (after a device sync on GPU);
* **prefix** -- blocks ``0..k`` run alone as an ``nn.Sequential``, for every k:
  what a TRN cut after block k costs (the ground truth the predictor is judged on);
* **alone** -- each block run on its own cached input (a lookup-table entry).

All of them are timed in the same **interleaved rounds** (:func:`time_interleaved`):
each round times every quantity once, so slow phases of a shared machine hit all
quantities alike.  The whole chain (``network_ms``) is timed by plain passes
without timestamps in the same rounds.

Why not ``torch.utils.benchmark.Timer`` for everything: we need every single
sample (round model, percentiles, pooling more rounds in), a clock we can replace with
a fake one in tests, timestamps *between* blocks of one forward pass, and many
quantities timed round-robin, none of which ``Timer`` exposes.  We follow the same
practice (untimed warm-up runs, a fixed thread count set before anything runs,
``torch.inference_mode``, garbage collection off while timing, a sync before each
timestamp on GPU) with a loop of our own.
"""
from __future__ import annotations

import contextlib
import dataclasses
import gc
import statistics
import time
from typing import Any, Callable, Iterable, Sequence

from ..errors import NetcutError
from .round_model import ANCHOR_RANK, RoundModel, fit_round_model
from .stats import TimingStats, stats_from_samples

__all__ = [
    "Clock",
    "WARMUP_PASSES",
    "gc_paused",
    "setting",
    "torch_threads",
    "plain_pass",
    "stamped_pass",
    "timed_plain_pass",
    "timed_call",
    "require_positive_int",
    "check_counts",
    "time_callable",
    "time_chain",
    "time_prefixes",
    "time_blocks_alone",
    "pilot_block_ms",
    "InterleavedTimings",
    "time_interleaved",
]

Clock = Callable[[], int]

_NS_PER_MS = 1_000_000.0
#: Untimed whole-chain passes before the first interleaved round, by default.
WARMUP_PASSES = 2


@contextlib.contextmanager
def gc_paused():
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def setting(get: Callable[[], Any], set_: Callable[[Any], Any], value: Any):
    """Run with a process-wide setting at ``value`` (``set_(value)``), the value ``get()`` gave restored after."""
    before = get()
    set_(value)
    try:
        yield
    finally:
        set_(before)


def torch_threads(n: int | None):
    """A context that runs with ``n`` torch CPU threads, restored afterwards; ``None`` leaves the count unchanged."""
    if n is None:
        return contextlib.nullcontext()
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise NetcutError(f"torch thread count must be an integer >= 1 (or None to leave it), got {n!r}")
    import torch

    return setting(torch.get_num_threads, torch.set_num_threads, n)


def require_positive_int(name: str, value) -> None:
    """:class:`NetcutError` unless ``value`` is an int >= 1 (not a bool)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise NetcutError(f"{name} must be a positive integer, got {value!r}")


def check_counts(warmup: int, repeats: int) -> None:
    """:class:`NetcutError` unless ``repeats`` >= 1 and ``warmup`` >= 0 are ints."""
    require_positive_int("repeats", repeats)
    if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0:
        raise NetcutError(f"warmup must be a non-negative integer, got {warmup!r}")


def _sample_callable(fn: Callable[[], Any], warmup: int, repeats: int, clock: Clock, sync) -> list[float]:
    for _ in range(warmup):
        fn()
    if sync is not None:
        sync()
    samples = []
    with gc_paused():
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
    check_counts(warmup, repeats)
    return stats_from_samples(_sample_callable(fn, warmup, repeats, clock, sync))


def plain_pass(blocks: Sequence, x):
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


def stamped_pass(blocks: Sequence, x, clock: Clock, sync, stamps: list) -> list[float]:
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


def timed_call(fn: Callable[[], Any], clock: Clock, sync) -> float:
    """One call of ``fn`` timed (a sync before each timestamp when ``sync`` is given), ms."""
    if sync is not None:
        sync()
    t0 = clock()
    fn()
    if sync is not None:
        sync()
    return (clock() - t0) / _NS_PER_MS


def timed_plain_pass(blocks: Sequence, x, clock: Clock, sync) -> float:
    """One forward pass timed as a whole, ms."""
    if sync is not None:
        sync()
    t0 = clock()
    plain_pass(blocks, x)
    if sync is not None:
        sync()
    return (clock() - t0) / _NS_PER_MS


def _chain_samples(blocks: Sequence, x, *, warmup: int, repeats: int, clock: Clock, sync
                   ) -> tuple[list[list[float]], list[float]]:
    """Per-block in-context samples and whole-chain samples, interleaved pass by pass."""
    n = len(blocks)
    for _ in range(warmup):
        plain_pass(blocks, x)
    per_block: list[list[float]] = [[] for _ in range(n)]
    whole: list[float] = []
    stamps = [0] * (n + 1)

    def timestamped():
        for i, interval in enumerate(stamped_pass(blocks, x, clock, sync, stamps)):
            per_block[i].append(interval)

    def plain():
        whole.append(timed_plain_pass(blocks, x, clock, sync))

    with gc_paused():
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
    check_counts(warmup, repeats)
    if not blocks:
        raise NetcutError("time_chain needs at least one block")
    per_block, whole = _chain_samples(blocks, x, warmup=warmup, repeats=repeats, clock=clock, sync=sync)
    return [stats_from_samples(s) for s in per_block], stats_from_samples(whole)


def _per_block(count: int | Sequence[int], n: int) -> list[int]:
    """One count for all ``n`` blocks, or one per block."""
    return [count] * n if isinstance(count, int) else list(count)


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
    warm, reps = _per_block(warmup, n), _per_block(repeats, n)
    out = {}
    for k in ks:
        prefix = nn.Sequential(*blocks[: k + 1])
        out[k] = time_callable(lambda p=prefix: p(x), warmup=warm[k], repeats=reps[k], clock=clock, sync=sync)
    return out


def time_blocks_alone(blocks: Sequence, x, *, warmup: int | Sequence[int], repeats: int | Sequence[int],
                      clock: Clock = time.perf_counter_ns, sync: Callable[[], Any] | None = None) -> list[TimingStats]:
    """Each block run on its own (cached) input, back to back: warm-cache lookup-table entries."""
    n = len(blocks)
    warm, reps = _per_block(warmup, n), _per_block(repeats, n)
    inputs = _block_inputs(blocks, x)
    return [time_callable(lambda b=block, i=inp: b(i), warmup=warm[k], repeats=reps[k], clock=clock, sync=sync)
            for k, (block, inp) in enumerate(zip(blocks, inputs))]


def pilot_block_ms(blocks: Sequence, x, *, clock: Clock = time.perf_counter_ns,
                   sync: Callable[[], Any] | None = None) -> list[float]:
    """Each block's median in-context latency (ms) over a short pilot: two untimed passes
    (allocations, oneDNN primitives), then three timestamped ones."""
    for _ in range(2):
        plain_pass(blocks, x)
    pilot = _chain_samples(blocks, x, warmup=0, repeats=3, clock=clock, sync=sync)[0]
    return [statistics.median(v) for v in pilot]


@dataclasses.dataclass(frozen=True)
class InterleavedTimings:
    """Every quantity of one configuration, from the same interleaved rounds.

    ``incontext``/``alone``/``prefix``: one :class:`TimingStats` per block (prefix k is
    blocks ``0..k`` run alone); ``network``: plain passes of the whole chain;
    ``stamped``: per timestamped pass, the sum of its intervals (vs ``network``: what
    the timestamps cost).  ``samples`` holds the raw samples (ms) by the same keys,
    so more rounds can be pooled in.  ``reference``: the round model fitted to all of
    them (:func:`latmodel.measure.round_model.fit_round_model`), whose fast-state latencies the table records.
    """

    incontext: tuple
    alone: tuple
    prefix: tuple
    network: TimingStats
    stamped: TimingStats
    rounds: int
    samples: dict
    reference: RoundModel | None = None


def _interleaved_rounds(blocks: Sequence, x, prefixes: Sequence, inputs: Sequence, rounds: int, clock: Clock,
                        sync, samples: dict) -> None:
    n = len(blocks)
    stamps = [0] * (n + 1)

    def timed(fn) -> float:
        fn()  # untimed: brings this quantity's weights and buffers back into the caches
        return timed_call(fn, clock, sync)

    def timestamped():
        for i, interval in enumerate(stamped_pass(blocks, x, clock, sync, stamps)):
            samples["incontext"][i].append(interval)
        samples["stamped"].append((stamps[n] - stamps[0]) / _NS_PER_MS)

    def plain():
        samples["network"].append(timed_plain_pass(blocks, x, clock, sync))

    done = len(samples["network"])
    with gc_paused():
        for r in range(done, done + rounds):
            # Alternate orders so that no quantity always runs right after the same other one.
            for fn in ((timestamped, plain) if r % 2 == 0 else (plain, timestamped)):
                fn()
            order = range(n) if r % 2 == 0 else range(n - 1, -1, -1)
            for k in order:
                samples["prefix"][k].append(timed(lambda p=prefixes[k]: p(x)))
            for k in order:
                samples["alone"][k].append(timed(lambda b=blocks[k], i=inputs[k]: b(i)))


def time_interleaved(blocks: Sequence, x, *, rounds: int, warmup: int = WARMUP_PASSES,
                     clock: Clock = time.perf_counter_ns, sync: Callable[[], Any] | None = None,
                     previous: InterleavedTimings | None = None, anchor_rank: int = ANCHOR_RANK,
                     prefixes: Sequence[Callable] | None = None) -> InterleavedTimings:
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

    ``blocks`` are callables (nn.Modules or a runtime's compiled blocks, :mod:`latmodel.measure.runtimes`);
    ``prefixes[k]`` runs blocks ``0..k`` as one network (default ``nn.Sequential(*blocks[:k+1])``).
    """
    import torch.nn as nn

    check_counts(warmup, rounds)
    if not blocks:
        raise NetcutError("time_interleaved needs at least one block")
    n = len(blocks)
    if prefixes is None:
        prefixes = [nn.Sequential(*blocks[: k + 1]) for k in range(n)]
    elif len(prefixes) != n:
        raise NetcutError(f"time_interleaved needs one prefix per block, got {len(prefixes)} for {n} blocks")
    inputs = _block_inputs(blocks, x)
    if previous is None:
        samples = {"incontext": [[] for _ in range(n)], "alone": [[] for _ in range(n)],
                   "prefix": [[] for _ in range(n)], "network": [], "stamped": []}
        for _ in range(warmup):
            plain_pass(blocks, x)
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

"""Measure one configuration in this process: every quantity in interleaved rounds, judged, as table rows.

One configuration is one network at one resolution, width, batch size and thread
count.  :func:`measure_config` times its blocks in context, its prefixes and its
blocks alone in interleaved rounds (:mod:`latmodel.measure.timing`), takes the reference
latencies from the round model (:mod:`latmodel.measure.round_model`), flags noise
(:mod:`latmodel.measure.noise`: pooled extra rounds first) and returns one row per block.
The sum of the in-context block latencies is checked against the whole chain
(``network_ms``).  :mod:`latmodel.measure.profiling` runs it in a fresh child process per
configuration.

``runtime`` (:mod:`latmodel.measure.runtimes`) says what runs the blocks: eager PyTorch, or the
blocks and prefixes exported to ONNX and compiled by that runtime.  The quantities are
the same in every runtime: in context, block k is the k-th compiled block run on the
previous one's output in a forward pass of the chained blocks (timestamps between
them); the whole chain is that pass without timestamps; prefix k is blocks ``0..k``
compiled as one graph (what a TRN cut there costs once deployed: the runtime fuses
it as a whole, and the predictor's stage 2 learns that ratio to the in-context sum).
A runtime with a node profiler (ONNX Runtime) is measured by the window method with its
prefixes only: block k's in-context latency is its share of the whole graph's profile
(:mod:`latmodel.measure.graph_profile`) times the whole graph's latency, which is the last prefix.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import math
import time

from ..errors import NetcutError
from .bursts import YARDSTICK_NAME
from .device import DeviceRecord, device_record, make_config_id
from .noise import LoadMonitor, NoisePolicy, consistency_reason, noise_reasons, wait_for_quiet
from .runtimes import get_runtime, prepare_chain
from .timing import (WARMUP_PASSES, Clock, InterleavedTimings, check_counts, pilot_block_ms, require_positive_int,
                     time_interleaved, torch_threads)

__all__ = ["ROUND_MODEL_METHOD", "WINDOW_METHOD", "MEASURE_METHODS", "measure_config", "measure_window"]

logger = logging.getLogger(__name__)

#: The measuring methods: warm bursts interleaved across the configurations of a window, a low quantile
#: (:mod:`latmodel.measure.bursts`, the default; the table's ``method`` column names the statistic too, e.g.
#: ``window-min``), or the per-configuration rounds and round model of schema 1-3 tables (kept to compare with).
WINDOW_METHOD = "window"
ROUND_MODEL_METHOD = "round-model"
MEASURE_METHODS: tuple[str, ...] = (WINDOW_METHOD, ROUND_MODEL_METHOD)

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


def _measure_chain_all(blocks, x, *, rounds, warmup, clock, sync, noise: NoisePolicy, threads: int,
                       prefixes=None) -> _Measurement:
    # The pilot's block latencies estimate one round's cost.
    block_ms = pilot_block_ms(blocks, x, clock=clock, sync=sync)
    prefix_sum = sum(sum(block_ms[: k + 1]) for k in range(len(blocks)))
    round_ms = 2 * sum(block_ms) + 2 * prefix_sum + 2 * sum(block_ms)
    n_rounds = rounds if rounds is not None else _auto_rounds(round_ms)
    chain_warm = warmup if warmup is not None else WARMUP_PASSES

    monitor = (LoadMonitor(threads, noise.load_tolerance_cores, noise.neighbour_tolerance_cores).start()
               if noise.check_load else None)
    m = _judge(time_interleaved(blocks, x, rounds=n_rounds, warmup=chain_warm, clock=clock, sync=sync,
                                anchor_rank=noise.floor_min_count, prefixes=prefixes),
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
                                    anchor_rank=noise.floor_min_count, prefixes=prefixes),
                   monitor, noise)
    return m


def _as_chain(model, resolution: int, width: float, batch_size: int, name: str | None):
    from ..graph.blocks import BlockChain, load_chain, split_model

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


def _config_rows(chain, label: str, family: str, width: float, batch_size: int, threads: int, record: DeviceRecord,
                 features: list, timings: list[dict], reasons: list[list[str]]) -> list[dict]:
    """One table row per block of a measured configuration (``timings[k]``: block k's timing columns)."""
    from .table import TABLE_COLUMNS, TABLE_SCHEMA_VERSION

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
        "runtime": record.runtime,
        "runtime_version": record.runtime_version,
        "measured_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "cpu_vendor": record.cpu_vendor,
        "cpu_model_id": record.cpu_model_id,
        "cpu_isa": record.cpu_isa,
    }
    rows = []
    for k, (info, feats) in enumerate(zip(chain.infos, features)):
        row = {
            **config,
            "block_index": info.index,
            "n_blocks": len(chain),
            "block_name": info.name,
            **{c: v for c, v in feats.items() if c not in ("block_index", "block_name")},
            **{c: (_r(v) if isinstance(v, float) and not math.isnan(v) else v) for c, v in timings[k].items()},
            "flagged": int(bool(reasons[k])),
            "flag_reason": "; ".join(reasons[k]),
        }
        rows.append({c: row[c] for c in TABLE_COLUMNS})
    return rows


def measure_config(model, resolution: int = 224, width: float = 1.0, *, threads: int = 1, batch_size: int = 1,
                   repeats: int | None = None, warmup: int | None = None, device: str = "cpu",
                   clock: Clock = time.perf_counter_ns, noise: NoisePolicy = NoisePolicy(),
                   record: DeviceRecord | None = None, name: str | None = None, family: str | None = None,
                   seed: int = 0, diagnostics: dict | None = None, runtime: str = "torch",
                   onnx_cache=None) -> list[dict]:
    """Measure one configuration in this process; one row per block with every ``TABLE_COLUMNS`` key.

    ``model`` is a model name (see :func:`latmodel.graph.zoo.build_model`), an ``nn.Module``
    (labelled ``name``) or a :class:`~latmodel.graph.blocks.BlockChain`.  All quantities are
    timed in interleaved rounds (:func:`time_interleaved`); ``repeats`` is the number
    of rounds (each quantity is timed once per round), None: chosen from a pilot run
    so the configuration gets about 6 s of timed work (7 to 60 rounds).  ``warmup``:
    untimed whole-chain passes first (default :data:`~latmodel.measure.timing.WARMUP_PASSES`).

    The reference columns (``incontext_ms``, ``alone_ms``, ``prefix_ms``,
    ``network_ms``) hold each quantity's latency from the round model
    (:func:`~latmodel.measure.round_model.fit_round_model`: one machine speed per round, one latency per quantity,
    reported at the fast machine state); medians are kept beside them.  Why: on a
    shared host (a cloud VM, a machine where other work runs) other tenants slow the
    whole machine down in phases lasting seconds, and how much of a run falls into
    such phases varies from run to run: on the development VM the median of the same
    network varied by up to 40% between runs, while two passes of the whole corpus
    gave round-model prefix latencies a median 3.6% apart.  Interference only ever
    adds time, so the fast state is the device's own, the quantity a predictor can
    learn and that a dedicated embedded device shows.  The median and the 90th
    percentile stay in the table for safety margins.

    ``runtime``: a name from :data:`latmodel.measure.runtimes.RUNTIMES`; ONNX runtimes export the
    chain once into ``onnx_cache`` (default :func:`latmodel.measure.runtimes.onnx_cache_dir`).

    Sets torch's thread count for the duration and restores it.  A ``diagnostics``
    dict, if given, receives ``timestamped_total_median_ms`` / ``_min_ms``: the sum of
    the intervals of the timestamped passes (vs the plain passes: what the
    timestamps cost).
    """
    import torch

    from ..graph.features import chain_features

    for label, value in (("threads", threads), ("batch_size", batch_size)):
        require_positive_int(label, value)
    if repeats is not None:
        check_counts(0, repeats)  # rounds
    if warmup is not None:
        check_counts(warmup, 1)
    chain, label = _as_chain(model, resolution, width, batch_size, name)
    if family is None:
        from ..graph.zoo import family_of

        family = family_of(label) if isinstance(model, str) else "custom"
    record = record or device_record(device, threads=threads, batch_size=batch_size, runtime=runtime)
    if record.runtime != runtime:
        raise NetcutError(f"the device record is for runtime {record.runtime!r}, the measurement for {runtime!r}")
    features = chain_features(chain, seed=seed)
    sync = torch.cuda.synchronize if device == "cuda" else None
    with torch_threads(threads):
        with torch.inference_mode():
            x = torch.randn(chain.input_shape, generator=torch.Generator().manual_seed(seed))
            blocks = list(chain.blocks)
            if device == "cuda":
                x = x.cuda()
                blocks = [b.cuda() for b in blocks]
            ready = prepare_chain(runtime, blocks, x, threads=threads, name=label, cache_dir=onnx_cache)
            m = _measure_chain_all(list(ready.blocks), ready.x, rounds=repeats, warmup=warmup, clock=clock,
                                   sync=sync, noise=noise, threads=threads, prefixes=list(ready.prefixes))

    t = m.timings
    if diagnostics is not None:
        diagnostics["timestamped_total_median_ms"] = t.stamped.median_ms
        diagnostics["timestamped_total_min_ms"] = t.stamped.min_ms
    lat = t.reference.latency_ms
    n = len(chain)
    timings = [{
        "incontext_ms": lat["incontext"][k], "incontext_median_ms": t.incontext[k].median_ms,
        "incontext_cv": t.incontext[k].cv, "alone_ms": lat["alone"][k], "alone_median_ms": t.alone[k].median_ms,
        "prefix_ms": lat["prefix"][k], "prefix_median_ms": t.prefix[k].median_ms, "prefix_p90_ms": t.prefix[k].p90_ms,
        "prefix_cv": t.prefix[k].cv, "network_ms": lat["network"][0], "network_median_ms": t.network.median_ms,
        "network_cv": t.network.cv, "rounds": t.rounds, "samples": t.rounds, "method": ROUND_MODEL_METHOD,
        "window_s": math.nan, "window_configs": 1, "placements": 1, "yardstick": "", "yardstick_ms": math.nan,
        "yardstick_tracks": math.nan,
    } for k in range(n)]
    reasons = [m.config_reasons + m.row_reasons[k] for k in range(n)]
    return _config_rows(chain, label, family, width, batch_size, threads, record, features, timings, reasons)


def _window_method(w) -> str:
    """The table's ``method`` of a window's timings: ``window-settled-<statistic>``, or ``window-<statistic>`` for
    bursts that do not settle (the method before 2026-12-05)."""
    return f"{WINDOW_METHOD}-{'settled-' if w.policy.settles else ''}{w.statistic}"


def _window_timing_columns(w, u: int, k: int, yard_ms: float, n_configs: int, share: float | None = None) -> dict:
    """Block k of unit u's timing columns from a window (:class:`latmodel.measure.bursts.WindowTimings`).

    ``share``: block k's share of the deployed graph's profiled node time (a graph-only unit, whose
    in-context latency is that share of the whole graph's and whose blocks were not timed alone)."""
    pf, net, n = w.stats(u, "prefix", k), w.stats(u, "network"), len(w.samples[u]["prefix"])
    if share is None:
        ic, al = w.stats(u, "incontext", k), w.stats(u, "alone", k)
        context = {"incontext_ms": w.stat(u, "incontext", k), "incontext_median_ms": ic.median_ms,
                   "incontext_cv": ic.cv, "alone_ms": w.stat(u, "alone", k), "alone_median_ms": al.median_ms}
    else:
        whole = w.stats(u, "prefix", n - 1)
        context = {"incontext_ms": share * w.stat(u, "prefix", n - 1), "incontext_median_ms": share * whole.median_ms,
                   "incontext_cv": math.nan, "alone_ms": math.nan, "alone_median_ms": math.nan}
    return {
        **context,
        "prefix_ms": w.stat(u, "prefix", k), "prefix_median_ms": pf.median_ms, "prefix_p90_ms": pf.p90_ms,
        "prefix_cv": pf.cv, "network_ms": w.stat(u, "network"), "network_median_ms": net.median_ms,
        "network_cv": net.cv, "rounds": w.rounds, "samples": pf.n, "method": _window_method(w),
        "window_s": round(w.seconds, 1), "window_configs": n_configs, "placements": w.policy.placements,
        "yardstick": YARDSTICK_NAME if yard_ms == yard_ms else "", "yardstick_ms": yard_ms,
        "yardstick_tracks": math.nan,  # unknown until two passes are compared (scripts/calibration_stability.py)
    }


def measure_window(configs, *, threads: int = 1, batch_size: int = 1, device: str = "cpu",
                   policy=None, clock: Clock = time.perf_counter_ns, noise: NoisePolicy = NoisePolicy(),
                   record: DeviceRecord | None = None, seed: int = 0, runtime: str = "torch", onnx_cache=None,
                   use_yardstick: bool = True, on_round=None, samples: dict | None = None) -> list[list[dict]]:
    """Measure several configurations together in one window of warm bursts (:func:`latmodel.measure.bursts.time_window`).

    ``configs``: :class:`~latmodel.measure.corpus.ProfileConfig` records (or ``(model, resolution, width)``
    tuples; ``model`` may also be an ``nn.Module`` or a :class:`~latmodel.graph.blocks.BlockChain`).
    Returns one list of table rows per configuration, in the order given.  Each configuration is prepared
    ``policy.placements`` times (independent copies, timed as separate units of the window); the reference
    columns are the minimum (``policy.quantile_pct``) of each quantity's warm samples over all copies;
    medians, the prefix's 90th percentile and the sample count stay beside them.

    ``samples``, if given, receives every raw sample (ms) by ``config_id`` and quantity (and the yardstick's
    under ``"yardstick"``), for studies of the statistic (``benchmarks/bench_repeatability.py``).

    Flags: a window during which other processes used the measured (or, pinned, the neighbouring)
    cores flags every row; a configuration whose in-context sum is far from its whole chain
    (``noise.consistency_threshold``) has its rows flagged.
    """
    import torch

    import copy

    from .bursts import BurstPolicy, WindowUnit, merge_placements, time_window, yardstick
    from ..graph.features import chain_features
    from ..graph.zoo import family_of

    for label, value in (("threads", threads), ("batch_size", batch_size)):
        require_positive_int(label, value)
    policy = policy or BurstPolicy()
    if not configs:
        raise NetcutError("measure_window needs at least one configuration")
    record = record or device_record(device, threads=threads, batch_size=batch_size, runtime=runtime)
    if record.runtime != runtime:
        raise NetcutError(f"the device record is for runtime {record.runtime!r}, the measurement for {runtime!r}")
    sync = torch.cuda.synchronize if device == "cuda" else None
    rt = get_runtime(runtime)
    # A runtime with its own node profiler: only prefixes are timed; block costs come from the deployed graph.
    profiler = rt.block_profiler if device == "cpu" else None
    prepared, groups = [], []
    with torch_threads(threads):
        with torch.inference_mode():
            units = []
            for c in configs:
                model, res, width = ((c.model, c.resolution_px, c.width) if hasattr(c, "resolution_px") else c)
                chain, label = _as_chain(model, res, width, batch_size, None)
                family = family_of(label) if isinstance(model, str) else "custom"
                x = torch.randn(chain.input_shape, generator=torch.Generator().manual_seed(seed))
                blocks = list(chain.blocks)
                if device == "cuda":
                    x, blocks = x.cuda(), [b.cuda() for b in blocks]
                groups.append([])
                for k in range(policy.placements):  # copies land elsewhere in memory (bursts module docstring)
                    # torch: the modules copied (a converting runtime, torch-bf16, copies them itself); ONNX
                    # runtimes: new sessions of the one cached export
                    own = copy.deepcopy(blocks) if k and rt.graph == "torch" and rt.convert is None else blocks
                    ready = prepare_chain(runtime, own, x.clone(), threads=threads, name=label, cache_dir=onnx_cache,
                                          compile_blocks=profiler is None)
                    groups[-1].append(len(units))
                    units.append(WindowUnit(tuple(ready.blocks), tuple(ready.prefixes), ready.x))
                prepared.append((chain, label, family, float(width), chain_features(chain, seed=seed),
                                 (ready.graph, ready.x)))
            monitor = (LoadMonitor(threads, noise.load_tolerance_cores, noise.neighbour_tolerance_cores).start()
                       if noise.check_load else None)
            w = time_window(units, policy=policy, clock=clock, sync=sync,
                            yardstick_fn=yardstick(policy.placements) if use_yardstick else None, on_round=on_round)
            w = merge_placements(w, groups)
            load = monitor.reason() if monitor is not None else ""

    yard_ms = w.yardstick_ms()
    out = []
    for u, (chain, label, family, width, features, (graph, graph_x)) in enumerate(prepared):
        n = len(chain)
        # Profiled after the window (never beside a timed burst); only the shares are kept (graph_profile).
        shares = (profiler(graph, graph_x, n, threads=threads).shares if profiler is not None else [None] * n)
        timings = [_window_timing_columns(w, u, k, yard_ms, len(configs), shares[k]) for k in range(n)]
        # Medians, not the reference minima: each block's minimum comes from a different pass, and a sum of
        # per-block minima falls below the fastest whole pass by construction (on the Xeon guest 15-17% for
        # 2 placements x 6+ rounds, which flagged 252 good rows as time-shared); the medians of the same
        # rounds agree within a few percent when nothing else runs.
        network = timings[0]["network_median_ms"]
        gap = sum(t["incontext_median_ms"] for t in timings) / network - 1.0 if network > 0 else 0.0
        config_reasons = [load] if load else []
        if abs(gap) > noise.consistency_threshold:
            config_reasons.append(f"in-context sum {gap * 100:+.0f}% vs whole chain "
                                  f"(> {noise.consistency_threshold * 100:.0f}%): cores time-shared")
        rows = _config_rows(chain, label, family, width, batch_size, threads, record, features, timings,
                            [list(config_reasons)] * n)
        if samples is not None:
            samples[rows[0]["config_id"]] = w.samples[u]
        out.append(rows)
    if samples is not None:
        from .samples_file import YARDSTICK_KEY

        samples[YARDSTICK_KEY] = list(w.yardstick)
    return out

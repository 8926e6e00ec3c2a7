"""The ``profile`` runner: every configuration measured in a fresh child process, rows appended to a table.

:func:`profile` runs each configuration in a fresh child process
(``python -m latmodel.measure.worker --worker JOB --result OUT``, :mod:`latmodel.measure.worker`) whose environment fixes
the glibc malloc thresholds (without them page faults make latency drift up to
1.4x on this machine) and the OpenMP / MKL thread counts before torch starts.
The parent appends each finished configuration to the table atomically, so an
interrupted run resumes where it stopped.  The child
(:mod:`latmodel.measure.worker`) measures with :func:`latmodel.measure.rows.measure_window`.

With an ONNX runtime (``--runtime onnxruntime``, :mod:`latmodel.measure.runtimes`) the parent
exports every configuration still to measure before the first child starts, into the
ONNX cache the children read: a network the exporter cannot convert is refused with one
line before anything is written, and no child spends its time budget exporting.
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

from ..errors import NetcutError, TableError
from .bursts import STATISTICS, BurstPolicy
from .child import CHILD_ENV, exit_reason, run_child as _run_child
from .device import check_device_kind, device_record, make_config_id
from .outcomes import ConfigOutcome, ProfileSummary, config_outcome
from .progress import WindowProgress
from .samples_file import YARDSTICK_KEY, SamplesFile
from .spread import MAX_WINDOW_SPREAD, WINDOW_RERUNS, check_spread_rule, window_spread
from .rows import MEASURE_METHODS, WINDOW_METHOD
from .timing import require_positive_int
from .windows import MEMORY_SHARE, memory_model, WINDOW_CONFIGS, available_memory_bytes, estimate_seconds, \
    footprint_of, group_windows, plan_windows, prepare_seconds, round_seconds, window_seconds

__all__ = ["CHILD_ENV", "PROFILE_ORDERS", "WINDOW_CONFIGS", "exit_reason", "window_seconds", "ConfigOutcome",
           "ProfileSummary", "estimate_seconds", "group_windows", "profile"]

logger = logging.getLogger(__name__)

_DEFAULT_TIMEOUT_S = 900.0


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
    require_positive_int(name, value)


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
    from ..graph.zoo import MODELS, resolve_spec

    for c in configs:
        spec = resolve_spec(c.model)
        if spec.name in MODELS and float(c.width) not in spec.widths:
            raise NetcutError(f"model {c.model!r} cannot be built at width {c.width}; allowed widths: "
                              f"{', '.join(str(w) for w in spec.widths)}")


def _export_configs(todo, runtime: str, batch_size: int, cache_dir, progress: bool) -> dict:
    """Export each ``(configuration, config_id)``'s chain to the ONNX cache (the children then only read it);
    the :class:`~latmodel.measure.windows.Footprint` of each by ``config_id`` (empty for eager torch)."""
    from tqdm import tqdm

    from ..graph.blocks import load_chain
    from .runtimes import export_chain_onnx, get_runtime

    if get_runtime(runtime).graph != "onnx" or not todo:
        return {}
    import torch

    footprints = {}
    for c, cid in tqdm(todo, desc="ONNX export", unit="config", disable=not progress, file=sys.stderr):
        chain = load_chain(c.model, c.resolution_px, width=c.width, batch_size=batch_size)
        x = torch.zeros(chain.input_shape)
        export_chain_onnx(list(chain.blocks), x, name=f"{c.model} at {c.resolution_px} px", cache_dir=cache_dir)
        footprints[cid] = footprint_of(cid, chain)
    return footprints


def _plan(todo, footprints: dict, runtime: str, per_window: int, method: str):
    """The measuring windows: by count, and for runtimes whose sessions own their weights, by memory too."""
    model = memory_model(runtime)
    available = available_memory_bytes() if footprints and model is not None else None
    if method != WINDOW_METHOD or available is None:
        return plan_windows(todo, per_window if method == WINDOW_METHOD else 1)
    plan = plan_windows(todo, per_window, base_bytes=model.base_bytes, budget_bytes=MEMORY_SHARE * available,
                        size_of=lambda item: model.config_bytes(footprints[item[1]], BurstPolicy.placements))
    for i in plan.over_budget:
        logger.warning("%s alone needs about %.1f GiB to measure, %.0f%% of the %.1f GiB available now: it may be "
                       "killed for memory; close other programs or measure it on a machine with more memory",
                       plan.windows[i][0][1], plan.peak_bytes[i] / 2**30, 100 * MEMORY_SHARE, available / 2**30)
    return plan


def _validate_configs(configs, threads: int = 1, time_chains: bool = False) -> dict:
    """Fail fast, before any child starts: every network builds, is a module and traces.

    Each (model, width) is built once, at the smallest resolution it will be measured at.  With ``time_chains``,
    its chain also runs twice there at ``threads`` threads and the second run is timed: what each configuration's
    ``(seconds, blocks)`` is for :func:`latmodel.measure.windows.round_seconds` (scaled with the pixel count to
    the configuration's resolution), by configuration; ``{}`` without.
    """
    from ..graph.blocks import split_model
    from ..graph.zoo import build_model, resolve_spec

    by_network: dict[tuple[str, float], list] = {}
    for c in configs:
        by_network.setdefault((c.model, float(c.width)), []).append(c)
    works: dict = {}
    for (name, width), same in by_network.items():
        resolutions = sorted({int(c.resolution_px) for c in same})
        model = build_model(name, width=width, resolution=resolutions[0])  # the smallest
        chain = split_model(model, resolutions[0], name=name, head_start=resolve_spec(name).head_start)
        seconds = _time_chain_once(chain, threads, resolutions) if time_chains else {}
        if seconds:
            works.update({c: (seconds[int(c.resolution_px)], len(chain)) for c in same})
    return works


def _time_chain_once(chain, threads: int, resolutions) -> dict[int, float]:
    """Seconds of one run of ``chain``'s blocks after one untimed run, at ``threads`` threads (restored after), at
    each of ``resolutions`` (the chain's first is its own; one it cannot run at is priced from the last it ran
    at by the pixel count): a rough price for the estimate, not a measurement."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    out: dict[int, float] = {}
    try:
        with torch.inference_mode():
            for r in resolutions:
                x = torch.zeros(*chain.input_shape[:-2], r, r)
                try:
                    chain.forward_features(x)
                    t0 = time.perf_counter()
                    chain.forward_features(x)
                    out[r] = time.perf_counter() - t0
                except Exception:  # noqa: BLE001 - a network of fixed input size (ViT): priced by its pixels
                    if not out:  # not even at its own size: no price (the estimate then assumes the window's length)
                        return {}
                    last = max(out)
                    out[r] = out[last] * (r / last) ** 2
    finally:
        torch.set_num_threads(before)
    return out


#: Orders ``profile`` can measure configurations in (see its docstring).
PROFILE_ORDERS: tuple[str, ...] = ("shuffled", "given")


def profile(models: Sequence[str] | None, out: str | os.PathLike, *,
            resolutions: Sequence[int] | None = None, widths: Sequence[float] | None = None, threads: int = 1,
            batch_size: int = 1, repeats: int | None = None, warmup: int | None = None, pin_cpu=None,
            device: str = "cpu", progress: bool = True, corpus=None,
            timeout_s: float | None = None, order: str = "shuffled", runtime: str = "torch",
            onnx_cache=None, method: str = WINDOW_METHOD, per_window: int = WINDOW_CONFIGS,
            window_s: float | None = None, min_rounds: int | None = None, estimate=None,
            samples_out=None, child_env: dict[str, str] | None = None,
            settle_ms: float | None = None, statistic: str | None = None,
            max_spread: float = MAX_WINDOW_SPREAD, reruns: int = WINDOW_RERUNS) -> ProfileSummary:
    """Measure configurations, each in a fresh child process, appending rows to ``out``.

    ``models`` None: the corpus ``corpus`` (a name from :data:`latmodel.measure.corpus.CORPORA`,
    default ``"default"``, or a list of :class:`~latmodel.measure.corpus.ProfileConfig`),
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

    ``runtime``: what runs the networks (:data:`latmodel.measure.runtimes.RUNTIMES`); ONNX runtimes
    export every configuration to ``onnx_cache`` first (default
    :func:`latmodel.measure.runtimes.onnx_cache_dir`).

    ``method`` (:data:`latmodel.measure.rows.MEASURE_METHODS`): ``"window"`` (default) measures
    ``per_window`` configurations at a time in one child, round-robin in warm bursts over a
    window of ``window_s`` seconds and at least ``min_rounds`` rounds (default
    :attr:`latmodel.measure.bursts.BurstPolicy.min_rounds`) (:func:`latmodel.measure.rows.measure_window`), the minimum of each
    quantity's warm samples as the reference; ``"round-model"`` measures one configuration per child in its own rounds
    (schema 1-3's method, kept to compare with: its latencies repeat far worse on a shared host).
    ``estimate(seconds, n_configs, n_windows)`` is called once before the first child starts.
    ``samples_out``: a JSON file that receives every raw sample of the windows measured now, by
    ``config_id`` (window method only; for studies of the statistic).  ``child_env``: environment
    variables the measuring children get on top of :data:`CHILD_ENV` (for studies of the method, e.g.
    ``GLIBC_TUNABLES`` in benchmarks/bench_repeatability.py; the table does not record them).  ``settle_ms``:
    :attr:`~latmodel.measure.bursts.BurstPolicy.settle_ms` of the windows (default the policy's; 0: no settling).
    ``statistic``: the window method's reference statistic, a name from
    :data:`latmodel.measure.bursts.STATISTICS` (default the policy's, the minimum); the table's ``method``
    column names it (``window-settled-p25``).

    ``max_spread``, ``reruns`` (window method): a configuration whose spread in its window
    (:func:`latmodel.measure.spread.window_spread`: its typical warm sample over its fastest) exceeds ``max_spread``
    was measured while the host was noisy; it is measured again after the other windows (the noisy configurations
    of the pass together), up to ``reruns`` more times, and its run with the least spread is written (one still
    noisy after its re-runs is written too, and the summary says so).

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
    check_device_kind(device)
    from .runtimes import require_runtime

    require_runtime(runtime, device)
    if timeout_s is None:
        timeout_s = max(_DEFAULT_TIMEOUT_S, 6.0 * (window_s or BurstPolicy.window_s))
    if not (isinstance(timeout_s, (int, float)) and timeout_s > 0):
        raise NetcutError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
    if order not in PROFILE_ORDERS:
        raise NetcutError(f"order must be one of {', '.join(PROFILE_ORDERS)}, got {order!r}")
    if method not in MEASURE_METHODS:
        raise NetcutError(f"method must be one of {', '.join(MEASURE_METHODS)}, got {method!r}")
    _positive("configurations per window", per_window)
    if window_s is not None and not (isinstance(window_s, (int, float)) and 0 <= window_s < math.inf):
        raise NetcutError(f"window must be a number of seconds >= 0, got {window_s!r}")
    _positive("min_rounds", min_rounds, allow_none=True)
    if statistic is not None and statistic not in STATISTICS:
        raise NetcutError(f"statistic must be one of {', '.join(STATISTICS)}, got {statistic!r}")
    if statistic is not None and method != WINDOW_METHOD:
        raise NetcutError(f"--statistic chooses the window method's statistic; the {method} method has its own: "
                          "drop --statistic or use --method window")
    if child_env is not None and not (isinstance(child_env, dict)
                                      and all(isinstance(k, str) and isinstance(v, str) for k, v in child_env.items())):
        raise NetcutError(f"child_env must map variable names to string values, got {child_env!r}")
    check_spread_rule(max_spread, reruns)
    if method == WINDOW_METHOD and (repeats is not None or warmup is not None):
        raise NetcutError("--repeats / --warmup set the round-model method's rounds; windows run until --window-s "
                          "has passed: drop them or add --method round-model")
    cpus = _pinned_cpus(pin_cpu, threads)
    configs = _configs(models, resolutions, widths, corpus)
    _check_names(configs)
    record = device_record(device, threads=threads, batch_size=batch_size, runtime=runtime)
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
    samples = SamplesFile(samples_out, table=out, resuming=bool(done)) if samples_out is not None else None
    todo = list(zip(configs, ids))
    if order == "shuffled":
        random.Random(0).shuffle(todo)  # the whole list, then what is done is dropped: resuming keeps the order
    todo = [(c, i) for c, i in todo if i not in done]
    # each network timed once on the way (CPU, windows): each window's rounds priced before its child starts
    works = _validate_configs([c for c, _ in todo], threads, time_chains=method == WINDOW_METHOD and device == "cpu")
    footprints = _export_configs(todo, runtime, batch_size, onnx_cache, progress)

    outcomes = [ConfigOutcome(i, "skipped") for c, i in zip(configs, ids) if i in done]
    plan = _plan(todo, footprints, runtime, per_window, method)
    windows = plan.windows
    # each window's estimate once: the progress bar's shares, and their sum the estimate printed before the start
    rounds_at_least = int(min_rounds if min_rounds is not None else BurstPolicy.min_rounds)

    def estimate_of(w) -> float:
        return estimate_seconds([len(w)], method=method, runtime=runtime, window_s=window_s,
                                prepare_s=sum(prepare_seconds(runtime, footprints.get(cid)) for _, cid in w),
                                round_s=(round_seconds([works[c] for c, _ in w], runtime)
                                         if all(c in works for c, _ in w) else None),
                                min_rounds=rounds_at_least)

    window_estimates = [estimate_of(w) for w in windows]
    if estimate is not None and todo:
        estimate(math.fsum(window_estimates), len(todo), len(windows))
    base_job = {"threads": threads, "batch_size": batch_size, "repeats": repeats, "warmup": warmup, "device": device,
                "pin_cpu": list(cpus) if cpus else None, "record": record.to_dict(), "runtime": runtime,
                "onnx_cache": str(onnx_cache) if onnx_cache is not None else None, "method": method,
                "window_s": window_s, "keep_samples": samples_out is not None,
                "min_rounds": rounds_at_least,
                "child_env": dict(child_env or {}),
                "settle_ms": float(BurstPolicy.settle_ms if settle_ms is None else settle_ms),
                "quantile_pct": float(BurstPolicy.quantile_pct if statistic is None else STATISTICS[statistic])}
    bar = WindowProgress(window_estimates, len(todo), enabled=progress)
    gate = method == WINDOW_METHOD and reruns > 0
    noisy: dict[str, _ConfigRun] = {}  # configuration -> its least noisy run so far, not written yet
    children = itertools.count()  # which child measured a run: the runs of one child are written together

    def write(runs: list["_ConfigRun"]) -> None:
        """Rows and outcomes of configurations one child measured; their samples as one window of the file."""
        for run in runs:
            append_rows(out, run.rows)
            outcomes.append(config_outcome(run.config_id, run.rows, run.seconds, run.diagnostics,
                                           run.estimate_bytes, spread=run.spread, runs=run.runs))
        if samples is not None and any(run.samples for run in runs):
            samples.add({k: v for run in runs for k, v in run.samples.items()})

    def measure(window, estimate_bytes, tmp: Path, label: str, runs: int) -> list["_ConfigRun"]:
        bar.start_window(label + window[0][1].rsplit("@", 1)[0] + (f" +{len(window) - 1}" if len(window) > 1 else ""))
        job = {**base_job, "configs": [c.to_dict() for c, _ in window],
               "window_s": window_s if window_s is not None else window_seconds(len(window))}
        t0 = time.monotonic()
        result, why = _run_child(job, tmp, timeout_s, tick=bar.tick, reprice=bar.reprice)
        seconds = time.monotonic() - t0
        child = next(children)
        if result is None:
            logger.warning("window of %d configuration(s) failed: %s", len(window), why)
            if runs == 1:
                outcomes.extend(ConfigOutcome(cid, "failed", seconds=seconds, reason=why) for _, cid in window)
            return []
        got = []
        raw, diagnostics = result.get("samples") or {}, result.get("diagnostics", {})
        for (_, cid), rows in zip(window, result["rows"]):
            if rows and rows[0]["config_id"] != cid:
                raise RuntimeError(f"child measured {rows[0]['config_id']!r}, expected {cid!r}")
            got.append(_ConfigRun(cid, rows, seconds / len(window), diagnostics, estimate_bytes, window_spread(rows),
                                  runs, child,
                                  {k: raw[k] for k in (cid, YARDSTICK_KEY) if k in raw} if cid in raw else {}))
        return got

    try:
        with tempfile.TemporaryDirectory(prefix="latmodel-profile-") as tmp:
            for window, estimate_bytes in zip(windows, plan.peak_bytes):
                quiet = []
                for run in measure(window, estimate_bytes, Path(tmp), "", 1):
                    if gate and run.spread > max_spread:
                        noisy[run.config_id] = run
                    else:
                        quiet.append(run)
                write(quiet)
                bar.end_window(len(window))
            for attempt in range(2, reruns + 2):
                again = [(c, cid) for c, cid in todo if cid in noisy and noisy[cid].spread > max_spread]
                if not again:
                    break
                logger.info("%d configuration(s) measured while this machine was noisy (spread over x%.2f): "
                            "measuring them again", len(again), max_spread)
                replan = _plan(again, footprints, runtime, per_window, method)
                for window, estimate_bytes in zip(replan.windows, replan.peak_bytes):
                    bar.add_window(estimate_of(window))
                    fresh = {run.config_id: run for run in measure(window, estimate_bytes, Path(tmp), "again: ",
                                                                   attempt)}
                    for _, cid in window:
                        run = fresh.get(cid)
                        better = run is not None and run.spread < noisy[cid].spread
                        noisy[cid] = run if better else dataclasses.replace(noisy[cid], runs=attempt)
                    bar.end_window(0)
    finally:
        bar.close()
        # the least noisy run of each, grouped by the child that measured it (also when interrupted: nothing
        # measured is lost)
        for child in sorted({run.child for run in noisy.values()}):
            write([run for run in noisy.values() if run.child == child])
        noisy.clear()
    return ProfileSummary(out_path=str(out), outcomes=tuple(outcomes), seconds=time.monotonic() - started,
                          max_spread=float(max_spread))


@dataclasses.dataclass(frozen=True)
class _ConfigRun:
    """One configuration as one run of a measuring window measured it: its rows, its share of the window's wall
    time, the window's diagnostics and memory estimate, its spread, which run it was (1: the first), which child
    of the profile measured it, and its raw samples with the window's yardstick (when kept)."""

    config_id: str
    rows: list
    seconds: float
    diagnostics: dict
    estimate_bytes: float | None
    spread: float
    runs: int
    child: int
    samples: dict

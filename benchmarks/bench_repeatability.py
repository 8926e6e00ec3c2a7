"""Do two independent profile passes agree?  The per-configuration round model against warm windows, side by side.

    MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 \\
        python benchmarks/bench_repeatability.py [--runtimes torch,onnxruntime] [--pin-cpu 1]

For each runtime, the same configurations (CNNs and transformer-style networks, two or more
resolutions: :data:`CONFIGS`) are profiled four times with ``latmodel.measure.profiling.profile``, each
pass in its own child processes: round model, window, round model, window (the methods alternate so
both see the same stretch of the host's phases).  Each method's two passes are compared prefix by
prefix (``prefix_ms``, what a TRN costs: the predictor's ground truth) and whole network by whole
network: the share within +-5% and +-10% and the median |difference|.  Prefixes under
:data:`TINY_MS` are counted apart (a timer's resolution and a call's fixed cost weigh more there).
``--methods window,window-thp`` compares the window method with and without transparent huge pages
for the measuring children's heap (:data:`VARIANTS`; ``--out benchmarks/results/repeatability_thp.json``);
``--methods window,window-no-rerun --old-from OLD.json`` the window method with and without measuring again the
configurations measured while the host was noisy (``latmodel.measure.spread``).
Writes ``benchmarks/results/repeatability.json`` (``runtimes.<runtime>.<method>.prefix.within_5_pct``
...), with the CPU the passes ran on and how long each pass took.  Measure alone: anything else on
the machine slows the measured core.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: 14 configurations: 9 CNNs (6 networks, 96-160 px) and 5 transformer-style (ConvNeXt, Swin, ViT, a
#: sampled transformer-like chain) at 64-128 px: cheap enough that 8 passes of both runtimes fit in ~40 min.
CONFIGS: tuple[tuple[str, int], ...] = (
    ("mobilenet_v2", 96), ("mobilenet_v2", 128), ("resnet18", 96), ("efficientnet_b0", 96),
    ("mnasnet1_0", 128), ("squeezenet1_1", 128), ("shufflenet_v2_x1_0", 160), ("mobilenet_v3_small", 160),
    ("regnet_x_400mf", 128), ("convnext_tiny", 64), ("swin_t", 64), ("vit_b_32", 96), ("random3:97", 64),
    ("random3:98", 96),
)
#: Prefixes faster than this are reported apart.
TINY_MS = 0.2
METHODS = ("round-model", "window")
#: Method variants of the window method (studies, ``--methods window,window-thp``), as the extra arguments of
#: latmodel.measure.profiling.profile they measure with (also recorded with their results): "window-thp" gives the
#: measuring children glibc's malloc asking for transparent huge pages for its heap; "window-unsettled" is the
#: burst before 2026-12-05 (exactly one untimed pass, latmodel.measure.bursts.BurstPolicy's settling off);
#: "window-no-rerun" writes every configuration as first measured (latmodel.measure.spread's rule off, the window
#: method before 2026-12-07).
VARIANTS: dict[str, dict] = {"window-thp": {"child_env": {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}},
                             "window-unsettled": {"settle_ms": 0.0},
                             "window-no-rerun": {"reruns": 0}}


def agreement(a, b, tiny_ms: float = TINY_MS) -> dict:
    """Two passes' latencies ``a`` and ``b`` (same order): shares within +-5% / +-10% and the median
    |a / b - 1| (percent), over the pairs whose mean is at least ``tiny_ms`` and, apart, those below."""
    import numpy as np

    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = np.abs(a / b - 1.0) * 100.0
    tiny = (a + b) / 2.0 < tiny_ms

    def block(d):
        if d.size == 0:
            return {"n": 0}
        return {"n": int(d.size), "within_5_pct": round(float((d <= 5).mean() * 100), 1),
                "within_10_pct": round(float((d <= 10).mean() * 100), 1),
                "median_abs_pct": round(float(np.median(d)), 2), "max_abs_pct": round(float(d.max()), 1)}

    return {**block(diff[~tiny]), "under_tiny_ms": block(diff[tiny])}


#: Statistics of a quantity's raw samples compared between the passes (the table's is the policy's quantile):
#: percentiles of all samples, and percentiles of the visit medians (each visit's timed passes share a phase).
STATISTICS = ("min", "p2", "p5", "p10", "p25", "p50", "visit_median_p10", "visit_median_p25", "lower_half_mean",
              "shorth")


def statistic(values, name: str, per_visit: int) -> float:
    import numpy as np

    v = np.asarray(values, float)
    if name == "min":
        return float(v.min())
    if name.startswith("visit_median_"):
        visits = np.median(v[: len(v) // per_visit * per_visit].reshape(-1, per_visit), axis=1)
        return float(np.percentile(visits, float(name.rsplit("_p", 1)[1])))
    if name == "lower_half_mean":
        return float(v[v <= np.median(v)].mean())
    if name == "shorth":  # mean of the shortest interval holding half the samples: the densest state
        from latmodel.measure.bursts import shorth_ms

        return shorth_ms(v)
    return float(np.percentile(v, float(name[1:])))


def _flat(raw: dict) -> dict:
    return {cid: q for window in raw.values() for cid, q in window.items() if cid != "yardstick"}


def _yardsticks(raw: dict, name: str, per_visit: int) -> dict:
    """``config_id -> the yardstick's statistic in its window`` (NaN where the window timed none)."""
    out = {}
    for window in raw.values():
        y = window.get("yardstick") or []
        y_ms = statistic(y, name, per_visit) if y else float("nan")
        out.update({cid: y_ms for cid in window if cid != "yardstick"})
    return out


#: How the two passes' latencies are put on a scale before comparing them: as measured; each window's
#: latencies times (reference / its yardstick) with the pass's own fastest window as the reference; with one
#: reference for both passes (a device's, as a predictor carries it: the fastest window of either).
SCALINGS = ("raw", "yardstick_own", "yardstick_device")


def compare_statistics(samples_a: dict, samples_b: dict, per_visit: int) -> dict:
    """Prefix agreement of the two passes' raw samples under each of :data:`STATISTICS`."""
    a, b = _flat(samples_a), _flat(samples_b)
    res = {}
    for name in STATISTICS:
        xs, ys = [], []
        for cid in sorted(set(a) & set(b)):
            for va, vb in zip(a[cid]["prefix"], b[cid]["prefix"]):
                xs.append(statistic(va, name, per_visit))
                ys.append(statistic(vb, name, per_visit))
        res[name] = agreement(xs, ys)
    return res


def compare_raw(samples_a: dict, samples_b: dict, name: str, per_visit: int, scaling: str = "raw") -> dict:
    """Prefix and whole-network agreement of two windowed passes under the statistic ``name``, from raw samples,
    scaled as :data:`SCALINGS` says."""
    import math

    a, b = _flat(samples_a), _flat(samples_b)
    ya, yb = _yardsticks(samples_a, name, per_visit), _yardsticks(samples_b, name, per_visit)
    common = sorted(set(a) & set(b))
    fa = fb = {cid: 1.0 for cid in common}
    if scaling != "raw":
        own_a, own_b = min(ya.values()), min(yb.values())
        ref_a, ref_b = (own_a, own_b) if scaling == "yardstick_own" else (min(own_a, own_b),) * 2
        fa = {cid: ref_a / ya[cid] for cid in common}
        fb = {cid: ref_b / yb[cid] for cid in common}
        if not all(math.isfinite(v) for v in (*fa.values(), *fb.values())):
            return {"scaling": scaling, "skipped": "a window timed no yardstick"}
    xs, ys, na, nb = [], [], [], []
    for cid in common:
        for va, vb in zip(a[cid]["prefix"], b[cid]["prefix"]):
            xs.append(statistic(va, name, per_visit) * fa[cid])
            ys.append(statistic(vb, name, per_visit) * fb[cid])
        na.append(statistic(a[cid]["network"], name, per_visit) * fa[cid])
        nb.append(statistic(b[cid]["network"], name, per_visit) * fb[cid])
    return {"prefix": agreement(xs, ys), "network": agreement(na, nb), "configs": len(common), "statistic": name,
            "scaling": scaling}


def window_drift(samples_a: dict, samples_b: dict, name: str, per_visit: int) -> list[dict]:
    """Per window of pass A: its yardstick's ratio A / B and the median ratio A / B of its configurations' whole
    networks, under the statistic ``name``.  What the device-reference scaling divides out (the yardstick's ratio)
    beside what the window's networks did: when they differ, that row of the results falls below "as measured".
    From the raw samples, like every other figure here (scripts/pass_drift.py gives the same per-window ratios from
    two tables, where no samples were kept)."""
    import math

    import numpy as np

    ya, yb = _yardsticks(samples_a, name, per_visit), _yardsticks(samples_b, name, per_visit)
    b = _flat(samples_b)
    out = []
    for label, window in samples_a.items():
        cids = [cid for cid in window if cid != "yardstick" and cid in b]
        if not cids:
            continue
        nets = [statistic(window[cid]["network"], name, per_visit) / statistic(b[cid]["network"], name, per_visit)
                for cid in cids]
        yard = ya[cids[0]] / yb[cids[0]]
        out.append({"window": label, "configs": len(cids),
                    "yardstick_ratio": round(yard, 4) if math.isfinite(yard) else None,
                    "network_ratio_median": round(float(np.median(nets)), 4)})
    return out


def compare(table_a, table_b) -> dict:
    """Prefix and whole-network agreement of two tables of the same configurations (flagged rows included)."""
    from latmodel.measure.table import read_table

    a = read_table(table_a, required=("config_id", "block_index", "prefix_ms", "network_ms"))
    b = read_table(table_b, required=("config_id", "block_index", "prefix_ms", "network_ms"))
    m = a.merge(b, on=["config_id", "block_index"], suffixes=("_a", "_b"))
    last = m[m["block_index"] == m.groupby("config_id")["block_index"].transform("max")]
    return {"prefix": agreement(m["prefix_ms_a"], m["prefix_ms_b"]),
            "network": agreement(last["network_ms_a"], last["network_ms_b"]),
            "configs": int(m["config_id"].nunique()),
            "flagged_rows": int((m["flagged_a"] == 1).sum() + (m["flagged_b"] == 1).sum())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runtimes", default="torch,onnxruntime")
    ap.add_argument("--pin-cpu", type=int, default=1)
    ap.add_argument("--window-s", type=float, default=None, help="window length (default: the profiler's)")
    ap.add_argument("--window-configs", type=int, default=None, help="configurations per window (default: the "
                                                                       "profiler's)")
    ap.add_argument("--methods", default=",".join(METHODS), help="methods to compare (default: both)")
    ap.add_argument("--keep", default=None, help="keep the pass tables in this folder")
    ap.add_argument("--note", default="", help="a sentence recorded with the results")
    ap.add_argument("--evaluate-only", action="store_true",
                    help="no measuring: compare the pass tables (and raw samples) already in --keep")
    ap.add_argument("--old-from", default=None,
                    help="a results file of an earlier run whose round-model figures are shown beside this run's "
                         "(when --methods leaves round-model out; they are marked with that run's date)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "repeatability.json"))
    args = ap.parse_args(argv)

    from latmodel.measure.bursts import YARDSTICK_NAME, BurstPolicy, statistic_name
    from latmodel.measure.device import describe_device, device_record
    from latmodel.measure.profiling import WINDOW_CONFIGS, profile

    from latmodel.measure.device import cpu_identity

    models = sorted({m for m, _ in CONFIGS})
    cpu = cpu_identity()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    methods = [m for m in args.methods.split(",") if m]
    per_window = args.window_configs or WINDOW_CONFIGS
    out: dict = {"created_at": now.isoformat(), "date": now.date().isoformat(),
                 "machine": f"{cpu.name} ({cpu.vendor} {cpu.model_id}, {cpu.isa}), pinned to core {args.pin_cpu}",
                 "command": "python benchmarks/bench_repeatability.py " + " ".join(argv if argv is not None
                                                                                   else sys.argv[1:]),
                 "configs": [f"{m}@{r}" for m, r in CONFIGS], "tiny_ms": TINY_MS, "pin_cpu": args.pin_cpu,
                 "window": {**BurstPolicy().to_dict(), "window_configs": per_window, "yardstick": YARDSTICK_NAME,
                            **({"window_s": args.window_s} if args.window_s else {})},
                 "note": args.note, "runtimes": {}}
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-repeatability-"))
    folder.mkdir(parents=True, exist_ok=True)
    from latmodel.measure.corpus import ProfileConfig

    corpus = [ProfileConfig(m, r) for m, r in CONFIGS]
    assert len(models) >= 6
    for runtime in [r for r in args.runtimes.split(",") if r]:
        rec = device_record("cpu", threads=1, runtime=runtime)
        res: dict = {"device": describe_device(rec), "device_record": rec.to_dict(), "seconds": {}}
        tables = {m: [] for m in methods}
        for pass_no in (1, 2):
            for method in methods:
                path = folder / f"{runtime}-{method}-{pass_no}.csv"
                tables[method].append(path)
                if args.evaluate_only:
                    continue
                path.unlink(missing_ok=True)
                windowed = method == "window" or method in VARIANTS
                raw = path.with_suffix(".samples.json") if windowed else None
                t0 = time.monotonic()
                summary = profile(None, path, corpus=corpus, pin_cpu=args.pin_cpu, runtime=runtime,
                                  method="window" if windowed else method, window_s=args.window_s,
                                  per_window=per_window, progress=False, samples_out=raw, **VARIANTS.get(method, {}))
                res["seconds"][f"{method}-{pass_no}"] = round(time.monotonic() - t0, 1)
                if windowed:  # how noisy the host was as each configuration was measured, and how many runs it took
                    res.setdefault("window_spread", {})[f"{method}-{pass_no}"] = {
                        "max_spread": summary.max_spread,
                        "configs": {"@".join(o.config_id.split("@")[:2]):
                                    {"spread": round(o.window_spread, 4), "runs": o.window_runs}
                                    for o in summary.outcomes if o.status == "measured"}}
                print(f"{runtime} {method} pass {pass_no}: {res['seconds'][f'{method}-{pass_no}']:.0f} s",
                      file=sys.stderr, flush=True)
        if args.evaluate_only and (folder / "seconds.json").is_file():
            res["seconds"] = json.loads((folder / "seconds.json").read_text()).get(runtime, {})
        if "round-model" in methods:
            res["round-model"] = compare(*tables["round-model"])
        for method in [m for m in methods if m == "window" or m in VARIANTS]:
            # the window's figures from its raw samples, with the table's statistic; every other one beside it
            raws = [json.loads(p.with_suffix(".samples.json").read_text()) for p in tables[method]]
            per_visit = BurstPolicy().timed
            stat = statistic_name(BurstPolicy().quantile_pct)
            res[method] = compare_raw(*raws, stat, per_visit, scaling="yardstick_device")
            res[method]["scalings"] = {sc: compare_raw(*raws, stat, per_visit, scaling=sc) for sc in SCALINGS}
            res[method]["statistics"] = compare_statistics(*raws, per_visit=per_visit)
            res[method]["window_drift"] = window_drift(*raws, stat, per_visit)
            res[method].update(VARIANTS.get(method, {}))
        if "round-model" not in methods and args.old_from:
            old = json.loads(Path(args.old_from).read_text(encoding="utf-8"))
            if "round-model" in old.get("runtimes", {}).get(runtime, {}):
                res["round-model"] = {**old["runtimes"][runtime]["round-model"], "date": old.get("date", ""),
                                      "seconds": {k: v for k, v in old["runtimes"][runtime].get("seconds", {}).items()
                                                  if k.startswith("round-model")}}
        out["runtimes"][runtime] = res
        print(json.dumps({runtime: {m: res[m] for m in methods}}, indent=1), file=sys.stderr, flush=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out} (pass tables in {folder})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Accuracy against deadline: TRNs over depth x input resolution, depth only, and off-the-shelf networks.

For each dataset (real Fashion-MNIST from Debian's ``dataset-fashion-mnist``, and scikit-learn's handwritten
digits) every candidate (base network, input resolution, cut) is fine-tuned once the same way
(``trimmer search --exhaustive``, ``head`` mode, the same epochs for all: the off-the-shelf networks get the same
budget as the TRNs).  A candidate's latency is *measured* on this CPU at 1 thread: each prefix run alone with
``latmodel profile``'s method, plus the predicted head (``--latency predicted`` uses the predictor instead, quick).
For >= 8 deadlines from the fastest off-the-shelf network to past the slowest (and 3 tighter ones, where only
TRNs fit), each family's pick is what ``trimmer search`` would pick: the best validation accuracy among those meeting the deadline; its test
accuracy is reported.

* ``trn``: any (base, resolution, cut): this tool;
* ``depth_only``: cuts at ``--depth-only-resolution`` only (the search before resolutions; the NetCut paper);
* ``off_the_shelf``: the full networks at any resolution (the user's real alternative).

Relative gain = trn test accuracy / off-the-shelf test accuracy - 1, with a 95% interval
(:func:`trimmer.intervals.relative_gain_interval`); the paper reports up to 10.43%.

    make bench-data                                       # Debian's dataset-fashion-mnist (root)
    python benchmarks/bench_pareto.py                     # ~45 min here: 12-configuration profile, 2 searches
    python benchmarks/bench_pareto.py --latency predicted # no profile
    python benchmarks/bench_pareto.py --truth benchmarks/results/pareto-truth.csv   # the profile behind README's table

Measure alone: the profile's timings are slowed by anything else running.  Writes
benchmarks/results/pareto.json and benchmarks/results/pareto.png.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.results_io import result_header, write_result  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
#: The largest relative gain NetCut's paper reports over off-the-shelf networks at the same deadline.
PAPER_MAX_RELATIVE_GAIN = 0.1043
#: What each family of candidates may pick from (``depth_only`` also needs its resolution).
FAMILIES = ("trn", "depth_only", "off_the_shelf")


def _members(family: str, depth_only_px: int):
    return {"trn": lambda r: True,
            "depth_only": lambda r: int(r["resolution_px"]) == depth_only_px,
            "off_the_shelf": lambda r: r["off_the_shelf"] == "True"}[family]


def pick(rows: list[dict], deadline_ms: float, ok) -> dict | None:
    """What ``trimmer search`` picks: best validation accuracy meeting the deadline, then the faster."""
    pool = [r for r in rows if ok(r) and r["latency_ms"] <= deadline_ms]
    return max(pool, key=lambda r: (r["val_accuracy"], -r["latency_ms"]), default=None)


def deadlines_for(rows: list[dict], n: int, n_below: int = 3) -> list[float]:
    """``n`` deadlines where an off-the-shelf network can compete (evenly from just above the fastest one to 5%
    past the slowest), plus ``n_below`` from just above the fastest candidate up to the fastest off-the-shelf
    network (only TRNs fit there)."""
    ots = sorted(r["latency_ms"] for r in rows if r["off_the_shelf"] == "True")
    lo, first, hi = min(r["latency_ms"] for r in rows) * 1.02, ots[0] * 1.001, ots[-1] * 1.05
    below = [lo * (first / lo) ** (i / n_below) for i in range(n_below)] if lo < first else []
    return [round(v, 2) for v in below + [first + (hi - first) * i / (n - 1) for i in range(n)]]


def evaluate(rows: list[dict], deadlines: list[float], depth_only_px: int, n_test: int) -> dict:
    from trimmer.intervals import relative_gain_interval

    table = []
    for d in deadlines:
        entry: dict = {"deadline_ms": d}
        picks = {f: pick(rows, d, _members(f, depth_only_px)) for f in FAMILIES}
        for f, r in picks.items():
            entry[f] = None if r is None else {"candidate_id": r["candidate_id"], "latency_ms": round(r["latency_ms"], 3),
                                               "val_accuracy": r["val_accuracy"], "test_accuracy": r["test_accuracy"]}
        ots = picks["off_the_shelf"]
        for f in ("trn", "depth_only"):
            r = picks[f]
            gain = ci = None
            if r is not None and ots is not None and ots["test_accuracy"] > 0:
                gain = r["test_accuracy"] / ots["test_accuracy"] - 1
                ci = relative_gain_interval(r["test_accuracy"], ots["test_accuracy"], n_test)
            entry[f"{f}_relative_gain"] = gain
            entry[f"{f}_relative_gain_ci95"] = None if ci is None else [round(ci[0], 5), round(ci[1], 5)]
        table.append(entry)

    def stats(f: str) -> dict:
        gains = [t[f"{f}_relative_gain"] for t in table if t[f"{f}_relative_gain"] is not None]
        return {"max_relative_gain": max(gains, default=None),
                "median_relative_gain": statistics.median(gains) if gains else None,
                "deadlines_compared": len(gains),
                "deadlines_where_it_helps": sum(g > 0 for g in gains),
                "deadlines_with_no_off_the_shelf": sum(1 for t in table if t[f] is not None and t["off_the_shelf"] is None)}

    return {"deadlines": table, "trn": stats("trn"), "depth_only": stats("depth_only")}


def two_pass_agreement(truth: dict, table: Path, models, resolutions, predictor=None) -> dict | None:
    """How the prefix latencies used here agree with another pass of the same configurations (``table``), both at
    ``predictor``'s yardstick speed when given (as :func:`bench_exploration.measured_prefix_ms` puts the truth)."""
    from bench_repeatability import agreement
    from latmodel.measure.table import read_table

    df = read_table(table)
    if predictor is not None:
        from latmodel.predict.evaluation import at_predictor_scale

        df, _ = at_predictor_scale(predictor, df)
    other = {(r.model, int(r.resolution_px), int(r.block_index)): float(r.prefix_ms) for r in df.itertuples()
             if r.model in models and int(r.resolution_px) in resolutions and float(r.width) == 1.0}
    common = sorted(set(truth) & set(other))
    if not common:
        return None
    return {"table": str(table.relative_to(ROOT) if table.is_relative_to(ROOT) else table),
            "configurations": sorted({f"{m}@{r}px" for m, r, _ in common}),
            **agreement([truth[k] for k in common], [other[k] for k in common])}


def main(argv=None) -> int:
    from bench_exploration import measured_prefix_ms, read_candidates
    from latmodel.predict.predictor_io import load_predictor
    from latmodel.predict.shipped import choose_predictor
    from trimmer.search import DEFAULT_BASES, DEFAULT_RESOLUTIONS, SearchConfig, run_search

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(DEFAULT_BASES))
    ap.add_argument("--datasets", default="fashion-mnist,digits")
    ap.add_argument("--limit-per-class", type=int, default=300,
                    help="images per class of train and of test (0: all; the digits have ~180 a class)")
    ap.add_argument("--resolutions", default=",".join(map(str, DEFAULT_RESOLUTIONS)))
    ap.add_argument("--depth-only-resolution", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--deadlines", type=int, default=10,
                    help="deadlines at which an off-the-shelf network fits (>= 8; 3 tighter ones are added)")
    ap.add_argument("--latency", choices=("measured", "predicted"), default="measured")
    ap.add_argument("--truth", help="a profile of the base networks at --resolutions (skips the profile)")
    ap.add_argument("--second-pass", default=None,
                    help="another profile of (some of) the same configurations: their prefixes' agreement with the "
                         "latency used here is stated beside the results (default data/calibration/<this CPU>-torch-1thread.csv)")
    ap.add_argument("--predictor", default=None, help="prices the searches (default: the shipped one for this machine)")
    ap.add_argument("--work", default=None, help="work folder (default: a temporary one; searches resume in it)")
    args = ap.parse_args(argv)
    models = tuple(args.models.split(","))
    resolutions = tuple(int(v) for v in args.resolutions.split(","))
    if args.depth_only_resolution not in resolutions:
        ap.error("--depth-only-resolution must be one of --resolutions")
    if args.deadlines < 8:
        ap.error("--deadlines must be at least 8")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="netcut-pareto-"))
    work.mkdir(parents=True, exist_ok=True)
    predictor_path = args.predictor or choose_predictor().path
    predictor = load_predictor(Path(predictor_path))
    t0 = time.perf_counter()
    truth = None
    if args.latency == "measured":
        truth = measured_prefix_ms(models, resolutions, work, table=args.truth, predictor=predictor)
    measure_seconds = time.perf_counter() - t0
    from latmodel.measure.device import device_record

    record = device_record()
    second = Path(args.second_pass or ROOT / "data" / "calibration" / f"{record.slug}-torch-1thread.csv")
    results = {
        **result_header("pareto", argv),
        "device": (predictor.device_ or {}).get("device_name"),
        "cpu": f"{record.device_name} ({record.cpu_vendor} {record.cpu_model_id}, {record.cpu_isa})",
        "truth_yardstick_reference_ms": (predictor.yardstick_ or {}).get("reference_ms") if truth is not None else None,
        "latency_repeatability": (two_pass_agreement(truth, second, models, resolutions, predictor)
                                  if truth is not None and second.is_file() else None),
        "models": list(models), "resolutions_px": list(resolutions), "depth_only_resolution_px": args.depth_only_resolution,
        "epochs": args.epochs, "mode": "head", "latency": args.latency, "predictor": str(predictor_path),
        "paper_max_relative_gain": PAPER_MAX_RELATIVE_GAIN, "measure_seconds": round(measure_seconds, 1),
        "datasets": {},
    }
    for name in args.datasets.split(","):
        t1 = time.perf_counter()
        out = work / f"search-{name}"
        report = run_search(SearchConfig(deadline_ms=1e6, exhaustive=True, models=models, data=name,
                                         limit_per_class=args.limit_per_class or None, resolutions_px=resolutions,
                                         epochs=args.epochs, predictor=str(predictor_path)), out, progress=True)
        rows = read_candidates(out)
        for r in rows:
            key = (r["base"], int(r["resolution_px"]), int(r["cut"]))
            r["latency_ms"] = (truth[key] + float(r["head_latency_ms"]) if truth is not None
                               else float(r["predicted_latency_ms"]))
            r["val_accuracy"], r["test_accuracy"] = float(r["val_accuracy"]), float(r["test_accuracy"])
        entry = evaluate(rows, deadlines_for(rows, args.deadlines), args.depth_only_resolution, report["data"]["n_test"])
        entry["data"] = {k: v for k, v in report["data"].items() if k != "classes"}
        entry["search_seconds"] = round(time.perf_counter() - t1, 1)  # this run's (a resumed search reuses results)
        # head fits of every candidate, summed (the shared feature passes over the data are not in it)
        entry["head_fit_seconds"] = round(sum(float(r["train_seconds"] or 0) for r in rows), 1)
        entry["points"] = [{"candidate_id": r["candidate_id"], "resolution_px": int(r["resolution_px"]),
                            "off_the_shelf": r["off_the_shelf"] == "True", "latency_ms": round(r["latency_ms"], 3),
                            "test_accuracy": r["test_accuracy"]} for r in rows]
        results["datasets"][name] = entry
    write_result(RESULTS / "pareto.json", results)
    plot(results, RESULTS / "pareto.png")
    print(json.dumps({n: {f: d[f] for f in ("trn", "depth_only")} for n, d in results["datasets"].items()}, indent=1))
    return 0


def plot(results: dict, path: Path) -> None:
    """Per dataset: the test accuracy each family picks at every deadline (steps), over all candidates (dots)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["datasets"])
    fig, axes = plt.subplots(1, len(names), figsize=(6.5 * len(names), 5), dpi=110, squeeze=False)
    styles = {"trn": ("-", "tab:red", "TRNs, depth x resolution (this tool)"),
              "depth_only": ("--", "tab:blue", f"TRNs, depth only ({results['depth_only_resolution_px']} px)"),
              "off_the_shelf": (":", "black", "off-the-shelf, any resolution")}
    for ax, name in zip(axes[0], names):
        d = results["datasets"][name]
        pts = d["points"]
        ax.scatter([p["latency_ms"] for p in pts if not p["off_the_shelf"]],
                   [100 * p["test_accuracy"] for p in pts if not p["off_the_shelf"]], s=8, color="grey", alpha=0.35,
                   label="every TRN")
        ax.scatter([p["latency_ms"] for p in pts if p["off_the_shelf"]],
                   [100 * p["test_accuracy"] for p in pts if p["off_the_shelf"]], s=60, marker="*", color="black",
                   label="every off-the-shelf network")
        for f, (ls, color, label) in styles.items():
            xs = [t["deadline_ms"] for t in d["deadlines"] if t[f] is not None]
            ys = [100 * t[f]["test_accuracy"] for t in d["deadlines"] if t[f] is not None]
            ax.step(xs, ys, where="post", linestyle=ls, color=color, marker="o", markersize=3, label=label)
        data = d["data"]
        ax.set_title(f"{name}: {data.get('n_train')} train / {data.get('n_test')} test; trn max gain "
                     f"{100 * (d['trn']['max_relative_gain'] or 0):+.1f}%", fontsize=9)
        ax.set_xlabel(f"deadline = {results['latency']} latency (ms), CPU 1 thread")
        ax.set_ylabel("test accuracy of the pick (%)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.suptitle("Best network within a deadline: TRNs vs off-the-shelf (head retraining, same epochs)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())

"""Pareto frontier on Fashion-MNIST: off-the-shelf networks vs TRNs, at measured latency.

Base networks mobilenet_v2 and EfficientNet-Lite0/1/2 with their real ImageNet
weights (offline packages), `head` mode (frozen backbone, new GAP + linear
head), every TRN retrained (``--exhaustive``).  Latency is *measured*: each
prefix run alone on this CPU at 1 thread (``latmodel profile``) plus the
predicted head.  For deadlines spread over the range: the best off-the-shelf
network vs the best TRN within the deadline (by validation accuracy; test
accuracy reported) and the relative gain.  Where TRNs do not help, it says so.

    make bench-data                                   # Debian's dataset-fashion-mnist (root)
    python benchmarks/bench_pareto.py                 # 300 images/class of train and test (6,000), ~7 min here
    python benchmarks/bench_pareto.py --limit-per-class 0   # the full 60k/10k set (hours on 2 cores)

Writes benchmarks/results/pareto.json and benchmarks/results/pareto.png.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"


def main(argv=None) -> int:
    from bench_exploration import measured_prefix_ms, pick, read_candidates
    from trimmer.report import pareto_front
    from trimmer.search import SearchConfig, run_search

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mobilenet_v2,efficientnet_lite0,efficientnet_lite1,efficientnet_lite2")
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--limit-per-class", type=int, default=300, help="0 = the whole dataset")
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--out-dir", default=None, help="search folder (default: a temporary one; resumable)")
    args = ap.parse_args(argv)
    models = tuple(args.models.split(","))
    work = Path(args.out_dir) if args.out_dir else Path(tempfile.mkdtemp(prefix="netcut-pareto-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    truth = measured_prefix_ms(models, args.resolution, work)
    t1 = time.perf_counter()
    limit = args.limit_per_class or None
    report = run_search(SearchConfig(deadline_ms=1e6, exhaustive=True, models=models, data=args.data,
                                     limit_per_class=limit, resolution_px=args.resolution, epochs=args.epochs),
                        work / "search", progress=True)
    t2 = time.perf_counter()
    rows = read_candidates(work / "search")
    for r in rows:
        r["measured_ms"] = truth[(r["base"], int(r["cut"]))] + float(r["head_latency_ms"])
        r["test_accuracy"] = float(r["test_accuracy"])
    ots = [r for r in rows if r["off_the_shelf"] == "True"]
    lo = min(r["measured_ms"] for r in rows)
    hi = max(r["measured_ms"] for r in ots)
    deadlines = sorted({round(lo + (hi - lo) * i / 11, 2) for i in range(1, 12)} | {round(r["measured_ms"] * 1.001, 2) for r in ots})
    table = []
    for d in deadlines:
        best_trn = pick(rows, d, lambda r: r["measured_ms"])
        best_ots = pick(ots, d, lambda r: r["measured_ms"])
        gain = None
        if best_trn and best_ots:
            gain = best_trn["test_accuracy"] / best_ots["test_accuracy"] - 1
        table.append({
            "deadline_ms": d,
            "best_ots": best_ots["candidate_id"] if best_ots else None,
            "best_ots_test_accuracy": best_ots["test_accuracy"] if best_ots else None,
            "best_trn": best_trn["candidate_id"] if best_trn else None,
            "best_trn_test_accuracy": best_trn["test_accuracy"] if best_trn else None,
            "relative_gain": gain,
        })
    front_all = pareto_front([(r["measured_ms"], r["test_accuracy"]) for r in rows])
    front_ots = pareto_front([(r["measured_ms"], r["test_accuracy"]) for r in ots])
    data = report["data"]
    results = {
        "benchmark": "pareto", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "command": "python benchmarks/bench_pareto.py " + " ".join(argv or sys.argv[1:]),
        "models": list(models), "resolution_px": args.resolution, "epochs": args.epochs, "mode": "head",
        "data": {k: data[k] for k in data if k != "classes"},
        "measure_seconds": round(t1 - t0, 1), "search_seconds": round(t2 - t1, 1),
        "off_the_shelf": [{"candidate_id": r["candidate_id"], "measured_ms": r["measured_ms"],
                           "test_accuracy": r["test_accuracy"]} for r in ots],
        "frontier_all": front_all, "frontier_off_the_shelf": front_ots,
        "deadlines": table,
        "max_relative_gain": max((t["relative_gain"] for t in table if t["relative_gain"] is not None), default=None),
        "deadlines_where_trn_helps": sum(1 for t in table if (t["relative_gain"] or 0) > 0),
        "deadlines_with_no_ots": sum(1 for t in table if t["best_ots"] is None and t["best_trn"] is not None),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "pareto.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(rows, front_all, front_ots, RESULTS / "pareto.png", results)
    print(json.dumps({k: results[k] for k in ("max_relative_gain", "deadlines_where_trn_helps", "search_seconds")}))
    return 0


def plot(rows, front_all, front_ots, path, results) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 5.5), dpi=110)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, base in enumerate(results["models"]):
        pts = [r for r in rows if r["base"] == base]
        ax.scatter([r["measured_ms"] for r in pts if r["off_the_shelf"] != "True"],
                   [100 * r["test_accuracy"] for r in pts if r["off_the_shelf"] != "True"],
                   s=16, color=colors[i], alpha=0.7, label=f"{base} TRNs")
        ax.scatter([r["measured_ms"] for r in pts if r["off_the_shelf"] == "True"],
                   [100 * r["test_accuracy"] for r in pts if r["off_the_shelf"] == "True"],
                   s=140, marker="*", color=colors[i], edgecolor="black", zorder=4, label=f"{base} off-the-shelf")
    for front, style, label in ((front_all, "-", "frontier with TRNs"), (front_ots, ":", "frontier, off-the-shelf only")):
        ax.step([p[0] for p in front], [100 * p[1] for p in front], where="post", linestyle=style, color="black",
                label=label)
    d = results["data"]
    ax.set_title(f"Fashion-MNIST ({d.get('n_train', '?')} train / {d.get('n_test', '?')} test), "
                 f"{results['resolution_px']} px, head retraining, CPU 1 thread")
    ax.set_xlabel("measured latency (ms)")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())

"""Should the choice prefer a faster candidate whose validation accuracy is "indistinguishable" from the best?

    python benchmarks/bench_tie_break.py SEARCH_DIR [SEARCH_DIR ...]

Each SEARCH_DIR is an exhaustive ``trimmer search`` (every candidate retrained, e.g. bench_pareto's
``search-<dataset>`` folders).  At 25 deadlines spread geometrically from the fastest candidate's upper bound
to past the slowest, every rule below picks among the candidates whose upper bound meets the deadline:
the most accurate on validation, and of those within a band of it, the one with the lowest predicted
latency.  Bands side by side, from the same results: exact ties only (the rule ``trimmer`` uses), one
validation image, 0.5 / 1 / 1.96 standard errors of the pairwise difference, and the Hoeffding union
bound the report calls the selection margin.  Measured against exact ties: the mean and largest loss of
*test* accuracy (points), and the median and mean ratio of the pick's predicted latency.

Writes benchmarks/results/tie_break.json.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.results_io import result_header, write_result  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
N_DEADLINES = 25


def _se(p: float, n: int) -> float:
    return math.sqrt(2 * p * (1 - p) / n)


def bands(n_val: int, n_compared: int) -> dict:
    """Rule name -> band (accuracy fraction) as a function of the best validation accuracy."""
    from trimmer.intervals import selection_margin

    union = selection_margin(n_compared, n_val) or 0.0
    return {"exact ties": lambda p: 0.0, "1 validation image": lambda p: 1.0 / n_val + 1e-12,
            "0.5 SE": lambda p: 0.5 * _se(p, n_val), "1 SE": lambda p: _se(p, n_val),
            "1.96 SE (pairwise 95%)": lambda p: 1.96 * _se(p, n_val), "selection margin (union bound)": lambda p: union}


def evaluate(folder: Path) -> dict:
    import numpy as np

    report = json.loads((folder / "report.json").read_text())
    n_val = int(report["data"]["n_val"])
    with open(folder / "candidates.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["val_accuracy"] not in ("", None)]
    for r in rows:
        for k in ("val_accuracy", "test_accuracy", "predicted_latency_ms", "predicted_upper_ms"):
            r[k] = float(r[k])
    ups = sorted(r["predicted_upper_ms"] for r in rows)
    deadlines = np.geomspace(ups[0] * 1.02, ups[-1] * 1.05, N_DEADLINES)
    out = {"search": str(folder), "data": report["data"].get("source"), "n_val": n_val,
           "n_test": int(report["data"]["n_test"]), "candidates": len(rows), "mode": report.get("mode"), "rules": {}}
    for name, band in bands(n_val, len(rows)).items():
        loss, ratio = [], []
        for d in deadlines:
            pool = [r for r in rows if r["predicted_upper_ms"] <= d]
            if not pool:
                continue
            best = max(pool, key=lambda r: (r["val_accuracy"], -r["predicted_latency_ms"]))
            b = band(best["val_accuracy"])
            pick = min((r for r in pool if r["val_accuracy"] >= best["val_accuracy"] - b),
                       key=lambda r: r["predicted_latency_ms"])
            loss.append(100 * (best["test_accuracy"] - pick["test_accuracy"]))
            ratio.append(pick["predicted_latency_ms"] / best["predicted_latency_ms"])
        out["rules"][name] = {"deadlines": len(loss), "test_points_lost_mean": round(float(np.mean(loss)), 3),
                              "test_points_lost_max": round(float(np.max(loss)), 3),
                              "latency_ratio_median": round(float(np.median(ratio)), 3),
                              "latency_ratio_mean": round(float(np.mean(ratio)), 3)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("searches", nargs="+", help="exhaustive trimmer search folders")
    ap.add_argument("--out", default=str(RESULTS / "tie_break.json"))
    args = ap.parse_args(argv)
    runs = [evaluate(Path(s)) for s in args.searches]
    for run in runs:
        print(f"{run['data']} ({run['candidates']} candidates, {run['n_val']} validation images):")
        for name, r in run["rules"].items():
            print(f"  {name:32s} test points lost mean {r['test_points_lost_mean']:+.2f} max "
                  f"{r['test_points_lost_max']:+.2f}; latency ratio median {r['latency_ratio_median']:.2f}")
    out = {**result_header("tie_break", argv),
           "deadlines": N_DEADLINES, "runs": runs}
    write_result(args.out, out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

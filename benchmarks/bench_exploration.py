"""Exploration time: NetCut (retrain only what the predictor keeps) vs exhaustive (retrain every TRN).

Same data, epochs and seeds for both.  The exhaustive baseline retrains every
candidate once (its cost does not depend on the deadline), then picks, for each
deadline, the most accurate TRN (by validation accuracy) whose *measured*
latency meets it: the empirical estimator.  NetCut runs once per deadline from
an empty output folder and picks by *predicted* latency.  Reported per mode and
deadline: the speedup, whether both picked the same TRN, the accuracy NetCut
gave up, and whether NetCut's pick really meets the deadline when measured.

Ground-truth latencies are measured once, in a child process with the
calibration settings (1 thread, malloc thresholds), by ``latmodel profile``.

    python benchmarks/bench_exploration.py                 # head + finetune, about 30-40 min
    python benchmarks/bench_exploration.py --modes head    # head only, a few minutes

Writes benchmarks/results/exploration.json.
"""
from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results"


def measured_prefix_ms(models, resolution, workdir: Path) -> dict[tuple[str, int], float]:
    """(base, cut) -> measured latency of blocks 0..cut run alone (ms), via latmodel profile."""
    from latmodel.profiling import profile
    from latmodel.table import read_table

    table = workdir / "truth.csv"
    profile(list(models), table, resolutions=[resolution], threads=1, pin_cpu=1, progress=True)
    df = read_table(table)
    return {(r.model, int(r.block_index)): float(r.prefix_ms) for r in df.itertuples()}


def read_candidates(out: Path) -> list[dict]:
    with open(out / "candidates.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def pick(rows, deadline_ms, latency_of):
    pool = [r for r in rows if r["val_accuracy"] not in ("", None) and latency_of(r) <= deadline_ms]
    if not pool:
        return None
    return max(pool, key=lambda r: (float(r["val_accuracy"]), -latency_of(r)))


def main(argv=None) -> int:
    from trimmer.search import SearchConfig, run_search

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mobilenet_v2,efficientnet_lite0")
    ap.add_argument("--modes", default="head,finetune")
    ap.add_argument("--deadlines-ms", default=None, help="comma-separated; default: 4 spread over the candidates")
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--limit-per-class", type=int, default=None,
                    help="training images per class (default: all 180 of the embedded subset in head mode)")
    ap.add_argument("--finetune-models", default="mobilenet_v2", help="base networks for the finetune mode")
    ap.add_argument("--finetune-limit-per-class", type=int, default=30)
    ap.add_argument("--finetune-epochs", type=int, default=3)
    ap.add_argument("--out", default=str(RESULTS / "exploration.json"))
    args = ap.parse_args(argv)
    models = tuple(args.models.split(","))
    modes = args.modes.split(",")
    work = Path(tempfile.mkdtemp(prefix="netcut-explore-"))
    t0 = time.perf_counter()
    truth = measured_prefix_ms(models, args.resolution, work)
    measure_seconds = time.perf_counter() - t0

    results = {"benchmark": "exploration", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "machine": f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores",
               "command": "python benchmarks/bench_exploration.py " + " ".join(argv or sys.argv[1:]),
               "models": list(models), "resolution_px": args.resolution, "epochs": args.epochs,
               "ground_truth_measure_seconds": round(measure_seconds, 1), "modes": {}}
    for mode in modes:
        head = mode == "head"
        limit = args.limit_per_class if head else args.finetune_limit_per_class
        common = dict(models=models if head else tuple(args.finetune_models.split(",")), mode=mode,
                      epochs=args.epochs if head else args.finetune_epochs, resolution_px=args.resolution, seed=0,
                      limit_per_class=limit)
        # Exhaustive: every candidate, once.
        ex_out = work / f"exhaustive-{mode}"
        ex = run_search(SearchConfig(deadline_ms=1e6, exhaustive=True, **common), ex_out, progress=True)
        rows = read_candidates(ex_out)
        # Ground truth of a TRN: its backbone measured alone + the predicted head (a pool and one linear layer).
        measured = {r["candidate_id"]: truth[(r["base"], int(r["cut"]))] + float(r["head_latency_ms"])
                    for r in rows if (r["base"], int(r["cut"])) in truth}
        lat_pred = sorted(float(r["predicted_latency_ms"]) for r in rows)
        if args.deadlines_ms:
            deadlines = [float(d) for d in args.deadlines_ms.split(",")]
        else:
            lo, hi = lat_pred[len(lat_pred) // 6], lat_pred[-1]
            deadlines = [round(lo + (hi - lo) * f, 2) for f in (0.15, 0.35, 0.6, 0.9)]
        per_deadline = []
        for deadline in deadlines:
            nc_out = work / f"netcut-{mode}-{deadline}"
            try:
                nc = run_search(SearchConfig(deadline_ms=deadline, **common), nc_out, progress=True)
            except Exception as exc:  # a deadline no candidate meets: recorded, not fatal
                per_deadline.append({"deadline_ms": deadline, "error": str(exc)})
                continue
            ex_pick = pick(rows, deadline, lambda r: measured.get(r["candidate_id"], float("inf")))
            nc_pick = nc["chosen"]
            nc_measured = measured.get(nc_pick["candidate_id"]) if nc_pick else None
            per_deadline.append({
                "deadline_ms": deadline,
                "netcut_seconds": nc["exploration_seconds"],
                "exhaustive_seconds": ex["exploration_seconds"],
                "speedup": ex["exploration_seconds"] / max(1e-9, nc["exploration_seconds"]),
                "netcut_trained": nc["candidates_trained"],
                "exhaustive_trained": ex["candidates_trained"],
                "netcut_pick": nc_pick["candidate_id"] if nc_pick else None,
                "netcut_pick_test_accuracy": nc_pick["test_accuracy"] if nc_pick else None,
                "netcut_pick_measured_ms": nc_measured,
                "netcut_pick_meets_deadline_measured": (nc_measured is not None and nc_measured <= deadline),
                "exhaustive_pick": ex_pick["candidate_id"] if ex_pick else None,
                "exhaustive_pick_test_accuracy": float(ex_pick["test_accuracy"]) if ex_pick else None,
                "same_pick": bool(nc_pick and ex_pick and nc_pick["candidate_id"] == ex_pick["candidate_id"]),
                "accuracy_given_up": (float(ex_pick["test_accuracy"]) - nc_pick["test_accuracy"])
                if (nc_pick and ex_pick) else None,
            })
            print(json.dumps(per_deadline[-1]))
        results["modes"][mode] = {"models": list(common["models"]), "epochs": common["epochs"],
                                  "limit_per_class": limit, "candidates": len(rows), "deadlines": per_deadline}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Scale-out: one small search with 1 worker, 2 local worker processes, and a 2-worker Dask LocalCluster.

The same exhaustive ``head``-mode search (embedded Fashion-MNIST subset, two base
networks, 96 px, ``--limit-per-class 50``) runs three times through the Python API
(:class:`trimmer.search.SearchConfig`, :func:`trimmer.search.run_search`), each into a
fresh output folder: ``workers=1`` (in-process), ``workers=2`` (joblib's loky
processes) and ``scheduler=`` a ``distributed.LocalCluster(n_workers=2,
threads_per_worker=1)`` (joblib's Dask backend).  Reported per run: wall time of
``run_search``, its ``training_seconds`` (the retraining phase, the part that is
spread over workers) and the chosen TRN; speedups are relative to ``workers=1``.
The chosen TRN must be the same in every run (the script writes its JSON, then
exits 1 if not).

What to expect on this 2-core machine: little speedup.  In ``head`` mode the unit of
work is one base network (one feature pass serves all its cuts), so with two bases
there are exactly two jobs, of unequal size (efficientnet_lite0 costs more than
mobilenet_v2): the best case is ``t1 / max(job)``, well under 2x.  Each worker
process also imports torch, loads the base weights and receives the data, which a
job this small does not amortise; the Dask run adds the scheduler round trips
(the cluster's start-up is reported separately, not counted).  Every run uses one
torch thread per worker (``OMP_NUM_THREADS=1``, ``torch.set_num_threads(1)`` for the
in-process run), so the comparison is 1 core vs 2 cores.  Features are recomputed in
every run (``latmodel.graph.netfeatures.clear_cache``), as in a fresh ``trimmer search``; disk
caches still favour later runs a little.  The CPU is shared with other work: timings
are noisy.  The bundled predictor is calibrated at 96-260 px.

    python benchmarks/bench_scaleout.py            # about 1-2 min here (estimate)
    python benchmarks/bench_scaleout.py --no-dask  # 1 vs 2 local workers only

Writes benchmarks/results/scaleout.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before torch loads its thread pools; loky and Dask workers inherit it

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results"


def _run(name: str, config, out: Path) -> dict:
    """One search into the fresh folder ``out``; its wall time, training time and pick."""
    from latmodel.graph.netfeatures import clear_cache
    from trimmer.jobs import clear_base_cache
    from trimmer.search import run_search

    clear_cache()
    clear_base_cache()
    t0 = time.perf_counter()
    report = run_search(config, out, progress=False)
    seconds = time.perf_counter() - t0
    chosen = report["chosen"]
    row = {
        "run": name,
        "workers": config.workers,
        "scheduler": "LocalCluster(n_workers=2, threads_per_worker=1)" if config.scheduler else None,
        "seconds": round(seconds, 2),
        "training_seconds": report["training_seconds"],
        "candidates_trained": report["candidates_trained"],
        "chosen": chosen["candidate_id"] if chosen else None,
        "chosen_val_accuracy": chosen.get("val_accuracy") if chosen else None,
    }
    print(json.dumps(row), flush=True)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mobilenet_v2,efficientnet_lite0",
                    help="comma-separated base networks; one job each in head mode (default: two)")
    ap.add_argument("--resolution", type=int, default=96, help="input resolution, px (predictor: 96-260; default 96)")
    ap.add_argument("--limit-per-class", type=int, default=50, help="images per class and split (default 50)")
    ap.add_argument("--epochs", type=int, default=15, help="head training epochs (default 15, as trimmer search)")
    ap.add_argument("--deadline-ms", type=float, default=9.0, help="deadline, ms (default 9)")
    ap.add_argument("--no-dask", action="store_true", help="skip the Dask LocalCluster run")
    ap.add_argument("--out", default=str(RESULTS / "scaleout.json"), help="JSON to write")
    args = ap.parse_args(argv)

    import torch

    from latmodel.fileio import atomic_write_text
    from trimmer.search import SearchConfig

    torch.set_num_threads(1)
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    common = dict(deadline_ms=args.deadline_ms, models=models, mode="head", exhaustive=True, epochs=args.epochs,
                  resolutions_px=(args.resolution,), limit_per_class=args.limit_per_class, seed=0)
    work = Path(tempfile.mkdtemp(prefix="netcut-scaleout-"))
    runs = [_run("workers=1", SearchConfig(workers=1, **common), work / "workers1"),
            _run("workers=2", SearchConfig(workers=2, **common), work / "workers2")]
    cluster_start_seconds = None
    if not args.no_dask:
        from distributed import LocalCluster

        t0 = time.perf_counter()
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            cluster_start_seconds = round(time.perf_counter() - t0, 2)
            runs.append(_run("dask LocalCluster, 2 workers", SearchConfig(scheduler=cluster.scheduler_address,
                                                                           **common), work / "dask2"))
    base = runs[0]
    same_pick = all(r["chosen"] == base["chosen"] for r in runs)
    results = {
        "benchmark": "scaleout",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, CPU only, shared",
        "command": "python benchmarks/bench_scaleout.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "search": {**common, "models": list(models), "data": "embedded fashion-mnist-subset",
                   "threads_per_worker": 1},
        "jobs": len(models),
        "cluster_start_seconds": cluster_start_seconds,
        "runs": runs,
        "speedup": {r["run"]: round(base["seconds"] / r["seconds"], 3) for r in runs[1:]},
        "training_speedup": {r["run"]: round(base["training_seconds"] / max(r["training_seconds"], 1e-9), 3)
                             for r in runs[1:]},
        "same_pick": same_pick,
        "note": ("head mode: one job per base network, so at most len(models) workers are busy; on 2 shared "
                 "cores, with per-worker start-up (torch import, weights, data), little speedup is expected. "
                 "Timings taken while other work shared the CPU are noisy."),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    if not same_pick:
        print("error: the runs chose different TRNs: " + ", ".join(f"{r['run']}: {r['chosen']}" for r in runs),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where the calibration noise of this machine comes from: one process's runtime state, or the host.

    python benchmarks/bench_host_noise.py [--processes 6] [--seconds 20] [--models mobilenet_v3_small,regnet_y_400mf]

ONNX Runtime tables of the same configurations differed by -20..+32% between two passes here
(issue 15), which could be per-process state (arena placement, kernel choice) or the shared host.
This measures both in one run: each of ``--processes`` fresh child processes (pinned to one core,
the calibration malloc settings, 1 thread) runs every network in ONNX Runtime and in eager PyTorch,
interleaved run by run, for ``--seconds``, and records the first quartile of every window of 20 runs.

* within a process: the spread of the windows (max / min) of each runtime, and the correlation of
  the ONNX Runtime and torch windows: when both slow down together the machine changed speed,
  since one process's ONNX Runtime state cannot slow torch down;
* between processes: the spread of the per-process medians.

Writes benchmarks/results/host_noise.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.results_io import result_header, write_result  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
WINDOW = 20  # runs per window; each window's first quartile is one sample of the machine's speed


def child(models: list[str], resolution: int, seconds: float) -> dict:
    """Windows of interleaved ONNX Runtime / torch runs of each model, in this process."""
    import numpy as np
    import torch

    from latmodel.measure.runtimes import compile_module
    from latmodel.graph.zoo import build_model

    torch.set_num_threads(1)
    nets = {}
    for name in models:
        module = build_model(name, resolution=resolution).eval()
        x = torch.randn(1, 3, resolution, resolution)
        run, xo = compile_module("onnxruntime", module, x, threads=1)
        nets[name] = (module, x, run, xo)
    out = {name: {"onnxruntime": [], "torch": []} for name in models}
    with torch.inference_mode():
        for module, x, run, xo in nets.values():
            for _ in range(5):
                run(xo)
                module(x)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for name, (module, x, run, xo) in nets.items():
                t_ort, t_torch = [], []
                for _ in range(WINDOW):
                    t0 = time.perf_counter()
                    run(xo)
                    t1 = time.perf_counter()
                    module(x)
                    t2 = time.perf_counter()
                    t_ort.append(t1 - t0)
                    t_torch.append(t2 - t1)
                out[name]["onnxruntime"].append(1e3 * float(np.percentile(t_ort, 25)))
                out[name]["torch"].append(1e3 * float(np.percentile(t_torch, 25)))
    return out


def summarise(per_process: list[dict], models: list[str]) -> dict:
    import numpy as np

    res = {}
    for name in models:
        within = {rt: [] for rt in ("onnxruntime", "torch")}
        medians = {rt: [] for rt in ("onnxruntime", "torch")}
        corr = []
        for proc in per_process:
            w = proc[name]
            for rt in within:
                a = np.asarray(w[rt])
                within[rt].append(float(a.max() / a.min()))
                medians[rt].append(float(np.median(a)))
            if len(w["torch"]) > 2:
                corr.append(float(np.corrcoef(np.log(w["onnxruntime"]), np.log(w["torch"]))[0, 1]))
        res[name] = {
            "within_process_max_over_min": {rt: round(float(np.median(v)), 3) for rt, v in within.items()},
            "between_process_medians_max_over_min": {rt: round(max(v) / min(v), 3) for rt, v in medians.items()},
            "process_medians_ms": {rt: [round(m, 3) for m in v] for rt, v in medians.items()},
            "ort_torch_window_correlation_median": round(float(np.median(corr)), 3) if corr else None,
            "windows_per_process": int(np.median([len(p[name]["torch"]) for p in per_process])),
        }
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mobilenet_v3_small,regnet_y_400mf")
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--processes", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--pin-cpu", type=int, default=1)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(RESULTS / "host_noise.json"))
    args = ap.parse_args(argv)
    models = args.models.split(",")
    if args.child:
        print(json.dumps(child(models, args.resolution, args.seconds)))
        return 0
    from latmodel.measure.profiling import CHILD_ENV

    env = {**os.environ, **CHILD_ENV, "OMP_NUM_THREADS": "1"}
    cmd = ["taskset", "-c", str(args.pin_cpu), sys.executable, __file__, "--child", "--models", args.models,
           "--resolution", str(args.resolution), "--seconds", str(args.seconds)]
    per_process = []
    for i in range(args.processes):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        per_process.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"process {i + 1}/{args.processes} done", flush=True)
    results = {**result_header("host_noise", argv),
               "resolution_px": args.resolution, "processes": args.processes, "seconds": args.seconds,
               "window_runs": WINDOW, "models": summarise(per_process, models)}
    write_result(args.out, results)
    print(json.dumps(results["models"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How long a user waits for `latmodel predict` from the shell: first call and cached call, with and without the
feature disk cache, side by side in one run.

    python benchmarks/bench_cli_latency.py [--models mobilenet_v2,resnet18,...] [--resolution 160]

For each network, four fresh processes in a row: the caches off (``NETCUT_FEATURE_CACHE=off``: every call builds and
traces the network, as before the feature caches), then the cache on in an empty folder (first call: the features
shipped for the registry's networks answer, :mod:`latmodel.graph.feature_atlas`), then the same again (cached call), then a
first call at a resolution that is not shipped (``--resolution`` + 8 px: builds, traces and stores, what a network or
resolution outside the shipped ones costs).  Before them, the first call ever in an empty cache folder (it also
detects the device, which imports torch once per machine).  Wall time of the whole command, as the shell sees it; a last row prices
every network in one process (``--models``).  Writes ``benchmarks/results/cli_latency.json``.
Nothing else should run meanwhile (it is a wall-clock measurement).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("mobilenet_v2", "resnet18", "efficientnet_b0", "regnet_x_400mf", "mobilenet_v3_small")
#: Goals of the speed issue, seconds (first call, cached call).
GOAL_FIRST_S, GOAL_CACHED_S = 3.0, 1.5


def _wall_s(args: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "latmodel.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"latmodel {' '.join(args)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return round(wall, 2)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--resolution", type=int, default=160)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "cli_latency.json"))
    args = ap.parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks.results_io import machine_line

    models = [m for m in args.models.split(",") if m]
    base_env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-cli-cache-") as cache:
        on = {**base_env, "NETCUT_CACHE_DIR": cache}
        off = {**on, "NETCUT_FEATURE_CACHE": "off"}
        # a fresh machine: the first call ever also detects this device (imports torch once; then cached)
        first_ever = _wall_s(["predict", "--model", models[0], "--resolution", str(args.resolution), "--json"], on)
        for m in models:
            cmd = ["predict", "--model", m, "--resolution", str(args.resolution), "--json"]
            odd = ["predict", "--model", m, "--resolution", str(args.resolution + 8), "--json"]
            rows.append({"model": m, "no_cache_s": _wall_s(cmd, off), "first_s": _wall_s(cmd, on),
                         "cached_s": _wall_s(cmd, on), "first_not_shipped_s": _wall_s(odd, on)})
            print(rows[-1], file=sys.stderr, flush=True)
        together = _wall_s(["predict", "--models", ",".join(models), "--resolution", str(args.resolution), "--json"],
                           on)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    out = {"created_at": now.isoformat(), "date": now.date().isoformat(), "machine": machine_line(),
           "command": "python benchmarks/bench_cli_latency.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "resolution_px": args.resolution, "first_ever_s": first_ever, "rows": rows, "all_in_one_process_cached_s": together,
           "median": {k: statistics.median(r[k] for r in rows)
                      for k in ("no_cache_s", "first_s", "cached_s", "first_not_shipped_s")},
           "goal_s": {"first": GOAL_FIRST_S, "cached": GOAL_CACHED_S}}
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

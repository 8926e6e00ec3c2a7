"""Costs: profiling the default corpus, fitting the predictor, and the main job.

* ``latmodel profile``: measured on the small corpus (13 configurations, 1 thread,
  pinned to the last core) and scaled to the default corpus by its number of
  configurations (automatic rounds make every configuration cost about the same,
  10-15 s); the passes the shipped table was made from took 1,363 s for 122
  configurations and 374 s for 32 (``data/calibration/README.md``).  The whole
  default corpus takes ~30 min, so this script does not re-measure it.
* ``latmodel fit`` on the shipped table: wall time and peak resident memory of
  the child process (``resource.getrusage(RUSAGE_CHILDREN)``).
* the main job (README's ``make demo`` command, ``trimmer search``): wall time.

    python benchmarks/bench_costs.py        # about 5-10 minutes

Writes benchmarks/results/costs.json.
"""
from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
TABLE = ROOT / "data" / "calibration" / "cpu-1thread.csv"


def _child(cmd: list[str]) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip().splitlines()[-1:]}")
    peak_mib = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    return seconds, peak_mib, proc.stdout


def main() -> int:
    import pandas as pd

    df = pd.read_csv(TABLE)
    configs = df["config_id"].nunique()
    out = {"benchmark": "costs", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
           "command": "python benchmarks/bench_costs.py"}
    with tempfile.TemporaryDirectory() as tmp:
        from latmodel.measure.corpus import default_corpus, small_corpus

        pin = str((os.cpu_count() or 1) - 1)
        seconds, peak, _ = _child([sys.executable, "-m", "latmodel.cli", "profile", "--corpus", "small", "--quiet",
                                   "--pin-cpu", pin, "--out", str(Path(tmp) / "small.csv")])
        per_config = seconds / len(small_corpus())
        out["profile"] = {
            "small_corpus_configs": len(small_corpus()), "small_corpus_seconds": round(seconds, 1),
            "seconds_per_config": round(per_config, 1), "peak_rss_mib": round(peak, 1),
            "default_corpus_configs": len(default_corpus()),
            "default_corpus_minutes_estimated": round(per_config * len(default_corpus()) / 60, 1),
            "shipped_table": {"configs": int(configs), "rows": int(len(df))},
            "note": f"latmodel profile --corpus small --pin-cpu {pin} (1 thread), scaled by configurations",
        }
        seconds, peak, _ = _child([sys.executable, "-m", "latmodel.cli", "fit", str(TABLE), "--out",
                                   str(Path(tmp) / "pred"), "--no-cv"])
        out["fit"] = {"seconds": round(seconds, 2), "peak_rss_mib": round(peak, 1), "rows": int(len(df)),
                      "note": "latmodel fit --no-cv (without the leave-one-family-out report)"}
        seconds, _, _ = _child([sys.executable, "-m", "latmodel.cli", "fit", str(TABLE), "--out",
                                str(Path(tmp) / "pred_cv")])
        out["fit_with_cv_seconds"] = round(seconds, 2)
        seconds, peak, stdout = _child([sys.executable, "-m", "trimmer.cli", "search", "--quiet", "--out",
                                        str(Path(tmp) / "demo")])
        out["main_job"] = {"seconds": round(seconds, 1), "peak_rss_mib": round(peak, 1),
                           "command": "trimmer search --out DIR (README's make demo)",
                           "output_tail": stdout.strip().splitlines()[-5:]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "costs.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

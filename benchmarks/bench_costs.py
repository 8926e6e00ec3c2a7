"""Costs: profiling the default corpus, fitting the predictor, and the main job.

* ``latmodel profile`` on the default corpus: the span of the shipped table's
  ``measured_at`` stamps (it was measured by one uninterrupted command), and its
  size; re-measuring it takes ~25 min, so this script does not.
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
    stamps = pd.to_datetime(df["measured_at"], utc=True)
    configs = df["config_id"].nunique()
    out = {"benchmark": "costs", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
           "command": "python benchmarks/bench_costs.py"}
    out["profile_default_corpus"] = {
        "configs": int(configs), "rows": int(len(df)),
        "span_minutes": round((stamps.max() - stamps.min()).total_seconds() / 60, 1),
        "note": "first to last measured_at stamp of data/calibration/cpu-1thread.csv (one profile command)",
    }
    with tempfile.TemporaryDirectory() as tmp:
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

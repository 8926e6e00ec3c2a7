"""The predictor against a measurement it never saw, next to the measurement's own repeatability.

    python benchmarks/bench_independent_pass.py [--table data/calibration/cpu-1thread.csv]
        [--repeat data/calibration/cpu-1thread-repeat.csv] [--out benchmarks/results/independent_pass.json]

``--repeat`` is a second, independent ``latmodel profile`` pass over the same corpus
(same machine, another time; never used for training).  For the held-out families of
leave-one-family-out cross-validation on ``--table`` this reports, per prefix and per
whole network, the share within +-10 % and the median relative difference of

* the two measurements against each other (what the machine repeats to);
* ours against the table it was cross-validated on (the usual figure);
* ours against the independent pass;

plus the median shift of the repeat pass per family: a slow spell of the shared
machine that lasts minutes moves every configuration measured in it, and the
profiler used to measure family after family.  Rows flagged in either pass are
left out.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _agreement(a, b) -> dict:
    import numpy as np

    r = np.abs(np.asarray(a, float) / np.asarray(b, float) - 1.0)
    return {"within_10_pct": round(float((r <= 0.10).mean() * 100), 1), "median_rel_diff_pct": round(float(np.median(r) * 100), 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", default=str(ROOT / "data" / "calibration" / "cpu-1thread.csv"))
    ap.add_argument("--repeat", default=str(ROOT / "data" / "calibration" / "cpu-1thread-repeat.csv"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "independent_pass.json"))
    args = ap.parse_args(argv)

    import numpy as np

    from latmodel.predict.evaluation import cross_validate_predictions
    from latmodel.measure.table import read_table

    table, repeat = read_table(args.table), read_table(args.repeat)
    oof = cross_validate_predictions(table, log_progress=False)
    df = oof.df.assign(predicted_ms=oof.ours_prefix)
    m = df.merge(repeat[["config_id", "block_index", "prefix_ms", "network_ms", "flagged"]],
                 on=["config_id", "block_index"], suffixes=("", "_repeat"))
    m = m[(m["flagged"] != 1) & (m["flagged_repeat"] != 1)]
    last = m[m["block_index"] == m.groupby("config_id")["block_index"].transform("max")]
    shift = (m.assign(s=np.log(m["prefix_ms_repeat"] / m["prefix_ms"])).groupby("family")["s"].median())
    out = {
        "benchmark": "independent_pass",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/bench_independent_pass.py",
        "table": Path(args.table).name, "repeat": Path(args.repeat).name,
        "configs": int(m["config_id"].nunique()), "prefixes": int(len(m)), "networks": int(len(last)),
        "prefix": {
            "table_vs_repeat": _agreement(m["prefix_ms"], m["prefix_ms_repeat"]),
            "ours_vs_table": _agreement(m["predicted_ms"], m["prefix_ms"]),
            "ours_vs_repeat": _agreement(m["predicted_ms"], m["prefix_ms_repeat"]),
        },
        "network": {
            "table_vs_repeat": _agreement(last["network_ms"], last["network_ms_repeat"]),
            "ours_vs_table": _agreement(last["predicted_ms"], last["network_ms"]),
            "ours_vs_repeat": _agreement(last["predicted_ms"], last["network_ms_repeat"]),
        },
        "repeat_shift_by_family_pct": {k: round(float(np.expm1(v) * 100), 1) for k, v in shift.items()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How far a predictor's upper bound must widen outside the range it was fitted on.

    python benchmarks/bench_extrapolation.py [--table data/calibration/xeon-avx512-torch-1thread.csv]

Gradient-boosted trees price anything beyond their training range like its edge.  For each scenario
the predictor is fitted on part of a measurement table (a sub-range of input resolutions) and predicts
the held-out configurations outside that range; for every held-out prefix it records the measured
latency, the predictor's upper bound and the prefix's extrapolation distance
(:func:`latmodel.predict.ranges.extrapolation_distance`).  Reported side by side, from the same fits: the share
of measured latencies under the upper bound widened by ``distance ** e`` for several exponents ``e``
(``e = 0``: today's bound, unwidened), and, as a control, the same share on held-out configurations
inside the range.  The smallest exponent whose bound holds the predictor's own ``upper_quantile`` share
(95%) in every out-of-range scenario is the rule :data:`latmodel.predict.ranges.WIDEN_EXPONENT` states.

Writes benchmarks/results/extrapolation.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.results_io import repo_relative, result_header, write_result  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
EXPONENTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)

#: name -> (rows the predictor is fitted on, held-out rows it predicts), as resolution predicates.
SCENARIOS = {
    "above (fit <= 128 px, predict >= 160 px)": (lambda r: r <= 128, lambda r: r >= 160),
    "above (fit <= 160 px, predict >= 192 px)": (lambda r: r <= 160, lambda r: r >= 192),
    "below (fit >= 128 px, predict <= 96 px)": (lambda r: r >= 128, lambda r: r <= 96),
}
#: In-range control: every 3rd configuration held out, the rest fitted on (same resolutions either side).
CONTROL = "inside (every 3rd configuration held out)"


def held_out_rows(model, test):
    """(measured prefix ms, upper ms, distance) per held-out prefix row, and how many configurations warned."""
    import numpy as np

    from latmodel.graph.features import FEATURE_COLUMNS
    from latmodel.predict.ranges import extrapolation_distance

    test = test.sort_values(["config_id", "block_index"]).reset_index(drop=True)
    _, _, upper = model.predict_table(test)
    distance = np.ones(len(test))
    warned = 0
    for _cid, g in test.groupby("config_id", sort=False):
        rows = g[list(FEATURE_COLUMNS)].to_dict("records")
        config = {"resolution_px": float(g["resolution_px"].iloc[0]), "width": float(g["width"].iloc[0]),
                  "batch_size": float(g["batch_size"].iloc[0])}
        distance[g.index.to_numpy()] = extrapolation_distance(model.ranges_, rows, config)
        warned += bool(model.extrapolation_in(rows, resolution=config["resolution_px"], width=config["width"],
                                              batch_size=config["batch_size"]))
    meas = test["prefix_ms"].to_numpy(float)
    ok = np.isfinite(meas) & (test["flagged"].fillna(0).to_numpy() != 1)
    return meas[ok], np.asarray(upper)[ok], distance[ok], warned, test["config_id"].nunique()


def summarize(meas, upper, distance, warned, n_configs, seconds) -> dict:
    import numpy as np

    from latmodel.predict.ranges import widen_upper

    return {
        "configs": int(n_configs), "prefixes": int(len(meas)), "configs_warned": int(warned),
        "distance_median": round(float(np.median(distance)), 3), "distance_max": round(float(distance.max()), 3),
        "measured_over_upper_median": round(float(np.median(meas / upper)), 3),
        "share_under_bound": {f"{e:g}": round(float(np.mean(meas <= widen_upper(upper, distance, e))), 4)
                              for e in EXPONENTS},
        "fit_seconds": round(seconds, 1),
    }


def main(argv=None) -> int:
    import pandas as pd

    from latmodel.predict.model import LatencyModel
    from latmodel.measure.table import read_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", default=str(ROOT / "data" / "calibration" / "xeon-avx512-torch-1thread.csv"))
    ap.add_argument("--out", default=str(RESULTS / "extrapolation.json"))
    args = ap.parse_args(argv)
    df = read_table(args.table)
    res = pd.to_numeric(df["resolution_px"])
    results = {}
    configs = sorted(df["config_id"].unique())
    control_test = df["config_id"].isin(configs[::3])
    splits = {name: (df[fit(res)], df[test(res)]) for name, (fit, test) in SCENARIOS.items()}
    splits[CONTROL] = (df[~control_test], df[control_test])
    target = None
    for name, (train, test) in splits.items():
        t0 = time.perf_counter()
        model = LatencyModel().fit(train)
        target = model.upper_quantile
        results[name] = summarize(*held_out_rows(model, test), time.perf_counter() - t0)
        print(name, json.dumps(results[name]), flush=True)
    outside = [r for name, r in results.items() if name != CONTROL]
    chosen = next((e for e in EXPONENTS if all(r["share_under_bound"][f"{e:g}"] >= target for r in outside)), None)
    out = {**result_header("extrapolation", argv),
        "table": repo_relative(args.table),
        "upper_quantile": target, "exponents": list(EXPONENTS), "scenarios": results,
        "smallest_exponent_meeting_upper_quantile": chosen,
    }
    write_result(args.out, out)
    print(f"smallest exponent holding {target:.0%} in every out-of-range scenario: {chosen}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

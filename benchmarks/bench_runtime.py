"""Eager PyTorch against ONNX Runtime, and how well a predictor learns ONNX Runtime latency.

    python benchmarks/bench_runtime.py [--table data/calibration/cpu-onnxruntime-1thread.csv]
        [--torch-table data/calibration/cpu-avx2-1thread-small.csv]
        [--repeat data/calibration/cpu-onnxruntime-1thread-repeat.csv]
        [--out benchmarks/results/runtime.json] [--n-estimators N]

Three results, all on the prefixes (TRN cut points) of the held-out families (every
family except ``random``, which is always in training):

* the ratio ONNX Runtime / eager PyTorch of each prefix's latency (``prefix_ms`` of the
  same model, resolution, width and block in both tables; rows flagged in either left
  out): its distribution overall and its median per family -- whether one factor could
  turn a torch predictor into an ONNX Runtime one;
* the leave-one-family-out accuracy of the predictor fitted on the ONNX Runtime table
  (the same protocol as ``bench_predictor_accuracy.py``);
* beside it, ONNX Runtime's measurement repeatability: a second pass of a subset of the
  corpus against the first (``scripts/calibration_stability.py``): the accuracy cannot
  be judged finer than the ground truth repeats.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "benchmarks", ROOT / "scripts"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

logger = logging.getLogger("bench_runtime")

_KEY = ["model", "resolution_px", "width", "block_index"]
#: Columns that say which machine a table was measured on.
_MACHINE = ("device_kind", "device_name", "cpu_count", "threads", "torch_version")
_QUANTILES = {"min": 0.0, "p10": 0.1, "p25": 0.25, "median": 0.5, "p75": 0.75, "p90": 0.9, "max": 1.0}


def ratio_distribution(torch_df, ort_df) -> dict:
    """ONNX Runtime / torch ``prefix_ms`` of the prefixes in both tables (unflagged in both, held-out families)."""
    cols = _KEY + ["family", "prefix_ms", "flagged"]
    a = torch_df[cols].rename(columns={"prefix_ms": "torch_ms", "flagged": "flag_t"})
    b = ort_df[cols].drop(columns="family").rename(columns={"prefix_ms": "ort_ms", "flagged": "flag_o"})
    j = a.merge(b, on=_KEY)
    j = j[(j["family"].astype(str) != "random") & (j["flag_t"] != 1) & (j["flag_o"] != 1)]
    ratio = j["ort_ms"] / j["torch_ms"]
    by_family = {str(f): round(float(r.median()), 3) for f, r in ratio.groupby(j["family"].astype(str))}
    return {
        "prefixes": int(len(j)),
        "configs": int(j.groupby(["model", "resolution_px", "width"]).ngroups),
        "quantiles": {k: round(float(ratio.quantile(q)), 3) for k, q in _QUANTILES.items()} if len(j) else {},
        "median_by_family": by_family,
        "whole_networks_median": (round(float(ratio[j.groupby(["model", "resolution_px", "width"])["block_index"]
                                                      .transform("max") == j["block_index"]].median()), 3)
                                  if len(j) else None),
    }


def main(argv=None) -> int:
    import numpy as np

    from bench_predictor_accuracy import summarize
    from calibration_stability import compare
    from latmodel.predict.evaluation import by_family_within10, cross_validate_predictions
    from latmodel.measure.table import read_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", default=str(ROOT / "data/calibration/cpu-onnxruntime-1thread.csv"))
    ap.add_argument("--torch-table", default=str(ROOT / "data/calibration/cpu-avx2-1thread-small.csv"),
                    help="eager torch table of the same machine (default: the small corpus measured beside the "
                         "ONNX Runtime table)")
    ap.add_argument("--repeat", default=str(ROOT / "data/calibration/cpu-onnxruntime-1thread-repeat.csv"),
                    help="second ONNX Runtime pass of a subset (skipped when the file is missing)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/runtime.json"))
    ap.add_argument("--n-estimators", type=int, default=None, help="override stage-1 rounds (quick runs)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    ort_df = read_table(args.table)
    runtimes = sorted(set(ort_df["runtime"].astype(str)))
    if runtimes != ["onnxruntime"]:
        print(f"{args.table} holds runtime(s) {', '.join(runtimes)}, expected onnxruntime", file=sys.stderr)
        return 2
    torch_df = read_table(args.torch_table)
    # device_id hashes the runtime too, so the two tables' ids always differ; the machine is compared on
    # the columns both hold (they cannot tell two CPUs of one model name apart: keep the tables' provenance
    # in data/calibration/README.md).
    machine = {name: sorted({tuple(str(v) for v in r) for r in df[list(_MACHINE)].itertuples(index=False)})
               for name, df in (("onnxruntime", ort_df), ("torch", torch_df))}
    if machine["onnxruntime"] != machine["torch"]:
        print(f"the two tables come from different machines ({', '.join(_MACHINE)}: onnxruntime "
              f"{machine['onnxruntime']}, torch {machine['torch']}); measure --torch-table on the ONNX Runtime "
              "table's machine (latmodel profile --corpus small --pin-cpu 1 --out T.csv)", file=sys.stderr)
        return 2
    ids = {name: sorted(set(df["device_id"].astype(str))) for name, df in (("onnxruntime", ort_df), ("torch", torch_df))}
    ratios = ratio_distribution(torch_df, ort_df)

    params = {} if args.n_estimators is None else {"n_estimators": args.n_estimators}
    t0 = time.perf_counter()
    oof = cross_validate_predictions(ort_df, params)
    cv_seconds = time.perf_counter() - t0
    accuracy = summarize(oof.df, np.asarray(oof.ours_prefix))

    repeat = None
    if Path(args.repeat).is_file():
        st = compare(args.table, args.repeat)
        repeat = {"table": str(Path(args.repeat).name), "configs": st["configs_compared"], "rows": st["rows_compared"],
                  "prefix_all": st["all"]["prefix_ms"], "prefix_unflagged": st["unflagged_in_both"]["prefix_ms"]}
    out = {
        "date": _dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, {ort_df['device_name'].iloc[0]}, {int(ort_df['threads'].iloc[0])} thread(s)",
        "command": "python benchmarks/bench_runtime.py",
        "table": str(Path(args.table).name),
        "torch_table": str(Path(args.torch_table).name),
        "device_ids": ids,
        "runtime_version": str(ort_df["runtime_version"].iloc[0]),
        "torch_version": str(ort_df["torch_version"].iloc[0]),
        "ratio_onnxruntime_over_torch": ratios,
        "predictor": {"held_out_families": sorted(set(oof.df["family"].astype(str))),
                      "n_configs_held_out": int(oof.df["config_id"].nunique()),
                      "cv_seconds": round(cv_seconds, 1), "params": params, **accuracy,
                      "prefix_within_10_by_family": by_family_within10(oof.df, oof.ours_prefix)},
        "repeatability": repeat,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    q = ratios["quantiles"]
    print(f"ONNX Runtime / torch prefix latency over {ratios['prefixes']} prefixes: median {q.get('median')}, "
          f"p10 {q.get('p10')}, p90 {q.get('p90')}")
    print(f"ONNX Runtime predictor, held-out prefixes within ±10%: {accuracy['prefix']['within_10_pct']:.1f}%")
    if repeat:
        print(f"repeatability: median {100 * repeat['prefix_all']['median_rel_diff']:.1f}% between passes")
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

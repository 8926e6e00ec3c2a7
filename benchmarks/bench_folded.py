"""Networks with their batch norms folded, as deployed: measured and predicted beside the unfolded ones.

    python benchmarks/bench_folded.py --predictor NAME=data/predictors/xeon-avx512-step1-torch-1thread \
        [--predictor NAME=OTHER ...] [--models mobilenet_v2,resnet18,mnasnet1_0] [--resolution 160] \
        [--runtime torch|onnxruntime] [--truth benchmarks/results/folded-truth.csv] [--measure]
        [--out benchmarks/results/folded.json]

Edge deployments fold each batch norm into the convolution before it (fewer ops, the same function).  A
predictor that only ever saw convolutions followed by batch norms cannot tell the convolution's cost from the
norm's, and prices a folded network as if the norms had carried much of it.  This benchmark measures each network
and its folded twin (:mod:`benchmarks.folded_nets`) in one ``latmodel profile`` window (``--measure``; alone,
pinned to core 1, 1 thread), keeps that table as the truth, and scores every ``--predictor`` on both at the
predictor's yardstick speed: per network the measured and predicted whole-network latency, the folded / unfolded
ratio measured and predicted, and the share of prefixes within +-10%.  ONNX Runtime folds batch norms into
convolutions itself when it optimizes the graph, so there a folded network and its twin should cost the same
(``--runtime onnxruntime`` measures that; its truth and result files get the runtime in their names).

Writes benchmarks/results/folded.json (folded-onnxruntime.json).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.folded_nets import FOLDED  # noqa: E402
from benchmarks.measured_truth import add_arguments, measure, network_record, predicted_truth, resolve  # noqa: E402
from benchmarks.results_io import repo_relative, result_header, write_result  # noqa: E402

MODULE = "benchmarks.folded_nets"


def score(predictor: str, truth: Path, models: list[str]) -> dict:
    _, df, _ = predicted_truth(predictor, truth)
    by_name = {name: blocks for name, blocks in df.groupby("name", sort=False)}
    out = {}
    for base in models:
        folded = next((f"{MODULE}:{f}" for f, b in FOLDED.items() if b == base), None)
        if base not in by_name or folded not in by_name:
            continue
        rows = {"unfolded": network_record(by_name[base]), "folded": network_record(by_name[folded])}
        rows["folded_over_unfolded"] = {
            key: round(rows["folded"][f"{key}_ms"] / rows["unfolded"][f"{key}_ms"], 3) for key in ("measured", "predicted")}
        out[base] = rows
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(ap, "folded", models=",".join(sorted(set(FOLDED.values()))), resolution=160, minutes="1.5 min")
    args = ap.parse_args(argv)
    models, predictors, truth, out_path = resolve(args, "folded")
    unknown = [m for m in models if m not in FOLDED.values()]
    if unknown:
        ap.error(f"--models {','.join(unknown)}: no folded twin; allowed: {', '.join(sorted(set(FOLDED.values())))}")
    if args.measure:
        measure(models + [f"{MODULE}:{f}" for f, base in FOLDED.items() if base in models], args.resolution, truth,
                args.runtime)
    if not truth.exists():
        ap.error(f"--truth {truth} does not exist; measure it with --measure (alone, ~1.5 min)")
    out = {**result_header("folded", argv), "runtime": args.runtime, "truth": repo_relative(truth),
           "resolution_px": args.resolution,
           "note": args.note, "predictors": {name: {"path": repo_relative(Path(p)), "networks": score(p, truth, models)}
                                             for name, p in predictors.items()}}
    print(f"wrote {write_result(out_path, out)}")
    for name, res in out["predictors"].items():
        for base, rows in res["networks"].items():
            print(f"{name:10s} {base:14s} unfolded {rows['unfolded']['error_pct']:+6.1f}%  folded "
                  f"{rows['folded']['error_pct']:+6.1f}%  folded/unfolded measured {rows['folded_over_unfolded']['measured']:.3f}"
                  f" predicted {rows['folded_over_unfolded']['predicted']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

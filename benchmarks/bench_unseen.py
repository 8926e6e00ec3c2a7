"""Networks this project never measured nor trained on, measured independently and priced by the shipped predictors.

    python benchmarks/bench_unseen.py --predictor NAME=data/predictors/xeon-avx512-step1-torch-1thread \
        [--predictor NAME=OTHER ...] [--models torchvision.models:vgg11,...] [--resolution 128] \
        [--runtime torch|onnxruntime] [--truth benchmarks/results/unseen-truth.csv] [--measure]
        [--out benchmarks/results/unseen.json]

The held-out families of leave-one-family-out validation were still measured by the same profile passes as the
table; these networks come from outside the zoo and the corpus altogether (torchvision factories the zoo does not
register: VGG with and without batch norms, AlexNet, ResNeXt, a larger RegNet, ShuffleNet and EfficientNet), measured
in one window of ``latmodel profile`` (``--measure``: alone, pinned to core 1, 1 thread: warm bursts, the fastest
window sample) and scored at each predictor's yardstick speed (torch).  Per network: measured and predicted
whole-network latency, the share of its prefixes within +-10%, and whether the predictor said it extrapolates.

Writes benchmarks/results/unseen.json (unseen-RUNTIME.json).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.measured_truth import add_arguments, measure, network_record, predicted_truth, resolve  # noqa: E402
from benchmarks.results_io import repo_relative, result_header, write_result  # noqa: E402

#: Networks outside the zoo and the corpus (``package.module:factory`` names; one place to add one).
UNSEEN: tuple[str, ...] = (
    "torchvision.models:vgg11", "torchvision.models:vgg11_bn", "torchvision.models:alexnet",
    "torchvision.models:resnext50_32x4d", "torchvision.models:regnet_y_800mf",
    "torchvision.models:shufflenet_v2_x1_5", "torchvision.models:efficientnet_b2",
)


def score(predictor: str, truth: Path) -> dict:
    import numpy as np

    model, df, scale = predicted_truth(predictor, truth)
    out = {name: {**network_record(blocks), "extrapolated": bool(model.extrapolation_in(blocks.to_dict("records")))}
           for name, blocks in df.groupby("name", sort=False)}
    networks = list(out.values())
    summary = {"networks": len(networks),
               "networks_within_10_pct": round(100 * float(np.mean([abs(n["error_pct"]) <= 10 for n in networks])), 1),
               "prefixes_within_10_pct": round(float(np.average([n["prefix_within_10_pct"] for n in networks],
                                                                weights=[n["prefixes"] for n in networks])), 1)}
    return {"summary": summary, "scale": scale, "networks": out}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(ap, "unseen", models=",".join(UNSEEN), resolution=128, minutes="4 min")
    args = ap.parse_args(argv)
    models, predictors, truth, out_path = resolve(args, "unseen")
    if args.measure:
        measure(models, args.resolution, truth, args.runtime)
    if not truth.exists():
        ap.error(f"--truth {truth} does not exist; measure it with --measure (alone, ~4 min)")
    out = {**result_header("unseen", argv), "runtime": args.runtime, "truth": repo_relative(truth),
           "resolution_px": args.resolution, "note": args.note,
           "predictors": {name: {"path": repo_relative(Path(p)), **score(p, truth)} for name, p in predictors.items()}}
    print(f"wrote {write_result(out_path, out)}")
    for name, res in out["predictors"].items():
        for net, n in res["networks"].items():
            print(f"{name:10s} {net:40s} {n['error_pct']:+6.1f}%  prefixes within 10%: {n['prefix_within_10_pct']:5.1f}%"
                  f"{'  (extrapolated)' if n['extrapolated'] else ''}")
        print(f"{name:10s} {res['summary']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

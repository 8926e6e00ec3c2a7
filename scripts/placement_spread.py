"""How far apart one configuration's placements (independent copies of its weights) read in one process.

    MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 \\
        taskset -c 1 python scripts/placement_spread.py run1.json --placements 6 --window-s 200
    ... run2.json (a second process), then: python scripts/placement_spread.py --compare run1.json run2.json

Times every prefix of a few configurations (``--configs``, default the ones whose torch passes disagreed most on the
AMD EPYC, and two that did not) in ``--placements`` copies round-robin in one window of warm bursts
(:func:`latmodel.measure.bursts.time_window`, torch, one thread), and writes each copy's minimum per prefix.
``--compare`` says how well two processes agree by the minimum over the first 1, 2, ... placements: whether more
copies make passes repeat (data/calibration/README.md, "placements or rounds?").  Measure alone.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_CONFIGS = ("regnet_x_400mf@224,efficientnet_b1@240,mobilenet_v2@192,random5:139@160,random2:89@96,"
                   "resnet18@224,efficientnet_b0@160,mnasnet1_0@224")


def measure(configs: list[tuple[str, int]], placements: int, window_s: float) -> dict[str, list[list[float]]]:
    """``{"model@res": [per placement: [per prefix: minimum ms]]}``."""
    import copy

    import torch

    from latmodel.graph.blocks import load_chain
    from latmodel.measure.bursts import BurstPolicy, WindowUnit, time_window
    from latmodel.measure.runtimes import prepare_chain
    from latmodel.measure.timing import torch_threads

    labels, units = [], []
    with torch_threads(1), torch.inference_mode():
        for model, res in configs:
            chain = load_chain(model, res)
            x = torch.randn(chain.input_shape, generator=torch.Generator().manual_seed(0))
            blocks = list(chain.blocks)
            for k in range(placements):
                ready = prepare_chain("torch", copy.deepcopy(blocks) if k else blocks, x.clone(), name=model)
                units.append(WindowUnit((), tuple(ready.prefixes), ready.x))  # prefixes only
                labels.append(f"{model}@{res}")
        w = time_window(units, policy=BurstPolicy(window_s=window_s, placements=1))
    out: dict[str, list[list[float]]] = {}
    for label, s in zip(labels, w.samples):
        out.setdefault(label, []).append([min(p) for p in s["prefix"]])
    return out


def compare(a: dict, b: dict) -> list[dict]:
    """Prefix agreement of two runs by the minimum over their first ``p`` placements, for every ``p``."""
    import numpy as np

    from benchmarks.bench_repeatability import agreement

    rows = []
    common = [c for c in a if c in b]
    for p in range(1, min(len(v) for v in (*a.values(), *b.values())) + 1):
        first_b, first_a = ([np.min(np.array(run[c])[:p], axis=0) for c in common] for run in (b, a))
        got = agreement(np.concatenate(first_b), np.concatenate(first_a), tiny_ms=0.0)  # every prefix counted
        rows.append({"placements": p, "within_5_pct": got["within_5_pct"], "within_10_pct": got["within_10_pct"],
                     "prefixes": got["n"]})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", help="JSON written by a measuring run")
    ap.add_argument("--configs", default=DEFAULT_CONFIGS, help="model@resolution, comma-separated")
    ap.add_argument("--placements", type=int, default=6)
    ap.add_argument("--window-s", type=float, default=200.0)
    ap.add_argument("--compare", nargs=2, metavar="RUN.json", help="compare two runs instead of measuring")
    args = ap.parse_args(argv)
    if args.compare:
        a, b = (json.loads(Path(p).read_text()) for p in args.compare)
        for row in compare(a, b):
            print(row)
        return 0
    if not args.out:
        ap.error("give the JSON to write (or --compare A.json B.json)")
    configs = [(c.rsplit("@", 1)[0], int(c.rsplit("@", 1)[1])) for c in args.configs.split(",") if c.strip()]
    result = measure(configs, args.placements, args.window_s)
    Path(args.out).write_text(json.dumps(result))
    for label, per in result.items():
        nets = [p[-1] for p in per]
        print(label, " ".join(f"{v:.3f}" for v in nets), f"spread {max(nets) / min(nets) - 1:+.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What elementwise operators cost per element: why some features exist.

    python benchmarks/bench_op_costs.py [--channels 96 --size 112 --rounds 30]
        [--out benchmarks/results/op_costs.json]

Times ReLU, ReLU6, hardswish, hardsigmoid, SiLU, sigmoid, GELU, tanh, an
explicit zero padding (``ZeroPad2d``, TensorFlow "same" padding), a copy and an
add on one feature map, side by side: each round runs every operator once
untimed and three times timed, round after round, so a slow phase of the shared
machine hits all of them alike.  Reports the first quartile over rounds, in
nanoseconds per element and as a multiple of ReLU.

It backs two block features (``latmodel.graph.features``): ``flops_act_transcendental``
counts only activations that evaluate an exponential (hardswish and hardsigmoid
cost like a ReLU; until they were separated, held-out EfficientNet prefixes were
under-predicted by about 12% and MobileNetV3 ones over-predicted), and
``flops_pad`` counts explicit padding (EfficientNet-Lite's TensorFlow-style
padding).  Run it pinned to one core with the malloc thresholds set, as the
profiler does::

    MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 taskset -c 1 \\
        python benchmarks/bench_op_costs.py
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _operators():
    import torch
    import torch.nn as nn

    return {
        "relu": nn.ReLU(),
        "relu6": nn.ReLU6(),
        "hardswish": nn.Hardswish(),
        "hardsigmoid": nn.Hardsigmoid(),
        "silu": nn.SiLU(),
        "sigmoid": nn.Sigmoid(),
        "gelu": nn.GELU(),
        "tanh": nn.Tanh(),
        "zero_pad_same_stride2": nn.ZeroPad2d((0, 1, 0, 1)),
        "copy": torch.clone,
        "add": lambda t: t + t,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=96)
    ap.add_argument("--size", type=int, default=112, help="feature map height and width, pixels")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "op_costs.json"))
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    x = torch.randn(1, args.channels, args.size, args.size)
    ops = _operators()
    samples: dict[str, list[float]] = {k: [] for k in ops}
    with torch.no_grad():
        for _ in range(args.rounds):
            for name, op in ops.items():
                op(x)
                t0 = time.perf_counter()
                for _ in range(3):
                    op(x)
                samples[name].append((time.perf_counter() - t0) / 3)
    elements = x.numel()
    q25 = {k: sorted(v)[len(v) // 4] for k, v in samples.items()}
    rows = {k: {"ms": round(v * 1e3, 4), "ns_per_element": round(v * 1e9 / elements, 4),
                "x_relu": round(v / q25["relu"], 2)} for k, v in q25.items()}
    result = {
        "what": "elementwise operator cost per element, first quartile over interleaved rounds",
        "feature_map": [1, args.channels, args.size, args.size],
        "rounds": args.rounds,
        "threads": 1,
        "pinned_cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "malloc_thresholds_set": "MALLOC_MMAP_THRESHOLD_" in os.environ,
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "operators": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'operator':24s} {'ms':>8s} {'ns/element':>11s} {'x ReLU':>7s}")
    for k, r in rows.items():
        print(f"{k:24s} {r['ms']:8.3f} {r['ns_per_element']:11.3f} {r['x_relu']:7.2f}")
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Does ONNX Runtime's latency generalise better from its own deployed nodes than from the torch blocks?  A study.

    MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 OMP_NUM_THREADS=1 \\
        taskset -c 1 python scripts/ort_node_costs.py run nodes.csv [--random 40]
    python scripts/ort_node_costs.py fit nodes.csv [--seeds 0,1,2]

``run`` profiles the configurations of an ONNX Runtime table (``--table``: every zoo configuration and ``--random``
sampled ones) with ONNX Runtime's node profiler, the way :mod:`latmodel.measure.graph_profile` attributes a deployed
graph to blocks, and writes one row per deployed node: its block, op type, whether it runs in the NCHWc layout, its
input / output shapes, parameter and activation bytes, and its median profiled time (µs) over ``--runs`` passes after
5 warm ones.  Resumable (configurations already in the file are skipped).  Measure alone.

``fit`` holds out each architecture family in turn (sampled networks always train) and prices the held-out networks'
prefixes three ways, all against the same target, the summed profiled node time: node-level XGBoost on node features
summed per block (``node``), block-level XGBoost on the table's block features (``block``), and their geometric mean
(``blend``); it prints the share of prefixes and whole networks within ±10%, by family too.  Profiled times carry
the profiler's per-node cost, so this compares how the two levels generalise, not the shipped predictor's accuracy
(data/calibration/README.md, "What else did not raise the AMD EPYC predictors' held-out accuracy").
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_TABLE = ROOT / "data/calibration/epyc-avx512-onnxruntime-1thread.csv"
#: Op types whose multiply-adds follow from their shapes (Conv weights ``[O, I/g, kh, kw]``; a matrix product's
#: inner dimension is its first input's last).
CONV_OPS = ("Conv", "FusedConv")
MATMUL_OPS = ("MatMul", "Gemm", "FusedMatMul", "FusedGemm")
WARM_RUNS = 5
XGB_PARAMS = {"objective": "reg:squarederror", "max_depth": 6, "eta": 0.1, "subsample": 0.8, "colsample_bytree": 0.8,
              "min_child_weight": 3, "tree_method": "hist", "nthread": 1}


def node_macs(op: str, input_shapes: list, output_shapes: list) -> float:
    """Multiply-adds of one deployed node from its profiled shapes (0 for ops without a product)."""
    if not output_shapes or not output_shapes[0]:
        return 0.0
    out = math.prod(output_shapes[0])
    if op in CONV_OPS and len(input_shapes) >= 2 and len(input_shapes[1]) == 4:
        _, per_group, kh, kw = input_shapes[1]
        return float(out * per_group * kh * kw)
    if op in MATMUL_OPS and input_shapes and input_shapes[0]:
        return float(out * input_shapes[0][-1])
    return 0.0


def _shapes(value) -> list:
    """Profiled ``input_type_shape`` / ``output_type_shape``: a list of ``{dtype: shape}``, as shapes."""
    return [next(iter(d.values())) for d in value] if value else []


def profile_nodes(model: str, resolution: int, width: float, runs: int) -> list[dict]:
    """One row per deployed node of the configuration's chain graph (profiled, 1 thread)."""
    import os
    import tempfile

    import numpy as np
    import onnxruntime as ort
    import torch

    from latmodel.graph.blocks import load_chain
    from latmodel.measure.graph_profile import kernel_events, node_blocks
    from latmodel.measure.loaders import ort_session_options
    from latmodel.measure.runtimes import export_chain_onnx

    chain = load_chain(model, int(resolution), width=float(width))
    x = torch.randn(*chain.input_shape)
    path = export_chain_onnx(chain.blocks, x, name=model)
    opts = ort_session_options(1)
    opts.enable_profiling = True
    with tempfile.TemporaryDirectory() as tmp:
        opts.profile_file_prefix = os.path.join(tmp, "profile")
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x.numpy()}
        for _ in range(WARM_RUNS + runs):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    nodes: dict[str, dict] = {}  # every pass's events of one node under its name, in execution order
    for name, e in kernel_events(events):
        nodes.setdefault(name, {"durs": [], "args": e["args"]})["durs"].append(float(e["dur"]))
    rows = []
    for (name, node), block in zip(nodes.items(), node_blocks(nodes)):
        a = node["args"]
        rows.append({"model": model, "resolution_px": int(resolution), "width": float(width), "block_index": block,
                     "node": name, "op": a.get("op_name"), "nchwc": int("_nchwc" in name),
                     "inputs": json.dumps(_shapes(a.get("input_type_shape"))),
                     "outputs": json.dumps(_shapes(a.get("output_type_shape"))),
                     "param_bytes": int(a.get("parameter_size", 0)), "act_bytes": int(a.get("activation_size", 0)),
                     "out_bytes": int(a.get("output_size", 0)),
                     "dur_us": float(np.median(node["durs"][WARM_RUNS:] or node["durs"]))})
    return rows


def run(args) -> int:
    import pandas as pd

    table = pd.read_csv(args.table, low_memory=False, usecols=["model", "resolution_px", "width", "family"])
    configs = table.drop_duplicates(["model", "resolution_px", "width"])
    sampled = configs[configs["family"] == "random"]
    todo = pd.concat([configs[configs["family"] != "random"],
                      sampled.sample(min(args.random, len(sampled)), random_state=0)])
    out = Path(args.nodes)
    done = set()
    if out.is_file():
        done = set(map(tuple, pd.read_csv(out)[["model", "resolution_px", "width"]].itertuples(index=False)))
    for i, (model, res, width, family) in enumerate(todo[["model", "resolution_px", "width", "family"]]
                                                    .itertuples(index=False)):  # read_csv keeps the file's order
        if (model, int(res), float(width)) in done:
            continue
        rows = [{**r, "family": family} for r in profile_nodes(model, res, width, args.runs)]
        pd.DataFrame(rows).to_csv(out, mode="a", header=not out.is_file(), index=False)
        print(f"{i + 1}/{len(todo)} {model}@{res}px: {len(rows)} nodes, {sum(r['dur_us'] for r in rows) / 1e3:.3f} ms",
              flush=True)
    return 0


def node_features(nodes):
    """The node-level design matrix (op type as a category) and the log-time label."""
    import numpy as np

    ins, outs = nodes["inputs"].map(json.loads), nodes["outputs"].map(json.loads)
    X = nodes[["nchwc"]].copy()
    X["op"] = nodes["op"].astype("category")
    X["log_macs"] = np.log1p([node_macs(op, i, o) for op, i, o in zip(nodes["op"], ins, outs)])
    X["log_in_elems"] = np.log1p([sum(math.prod(s) for s in i) for i in ins])
    X["log_out_elems"] = np.log1p([sum(math.prod(s) for s in o) for o in outs])
    weight = [i[1] if len(i) >= 2 and len(i[1]) == 4 else [0, 0, 0, 0] for i in ins]
    X["kernel_area"] = [w[2] * w[3] for w in weight]
    X["channels_per_group"] = [w[1] for w in weight]
    X["out_channels"] = [w[0] for w in weight]
    X["groups"] = [i[0][1] / w[1] if w[1] and i and len(i[0]) >= 2 else 0 for i, w in zip(ins, weight)]
    X["in_rank"] = [len(i[0]) if i else 0 for i in ins]
    X["n_inputs"] = [len(i) for i in ins]
    for col in ("param_bytes", "act_bytes", "out_bytes"):
        X[f"log_{col}"] = np.log1p(nodes[col])
    return X, np.log1p(nodes["dur_us"].to_numpy(float))


def _lofo(frame, X, y, params, rounds):
    """Every row priced by a model that did not see its family (µs: labels are log1p of µs); sampled networks
    always train."""
    import numpy as np
    import xgboost as xgb

    pred = np.zeros(len(frame))
    for family in sorted(set(frame["family"]) - {"random"}):
        test = (frame["family"] == family).to_numpy()
        booster = xgb.train(params, xgb.DMatrix(X[~test], label=y[~test], enable_categorical=True), rounds)
        pred[test] = np.expm1(booster.predict(xgb.DMatrix(X[test], enable_categorical=True)))
    return np.maximum(pred, 0.0)


def _score(blocks, column) -> tuple[float, float, dict]:
    """Shares of prefixes and whole networks within ±10% (``column``: per-block predictions), and by family."""
    cfg = ["model", "resolution_px", "width"]
    err = blocks.groupby(cfg)[column].cumsum() / blocks.groupby(cfg)["dur_us"].cumsum() - 1
    ok = err.abs() <= 0.10
    last = ~blocks.duplicated(cfg, keep="last")
    return (100 * ok.mean(), 100 * ok[last].mean(),
            {f: round(100 * g.mean()) for f, g in ok.groupby(blocks["family"])})


def fit(args) -> int:
    import numpy as np
    import pandas as pd

    from latmodel.graph.features import FEATURE_COLUMNS
    from latmodel.measure.table import read_table

    nodes = pd.read_csv(args.nodes)
    X, y = node_features(nodes)
    keys = ["model", "resolution_px", "width", "block_index"]
    table = read_table(args.table)[keys + list(FEATURE_COLUMNS)]
    for seed in [int(s) for s in args.seeds.split(",")]:
        nodes["pred_node"] = _lofo(nodes, X, y, {**XGB_PARAMS, "seed": seed}, 300)
        blocks = (nodes.groupby(keys + ["family"], sort=False)[["dur_us", "pred_node"]].sum().reset_index()
                  .merge(table, on=keys, how="inner").sort_values(keys).reset_index(drop=True))
        blocks["pred_block"] = _lofo(blocks, blocks[list(FEATURE_COLUMNS)], np.log1p(blocks["dur_us"].to_numpy()),
                                     {**XGB_PARAMS, "seed": seed, "max_depth": 5, "eta": 0.2}, 100)
        blocks["pred_blend"] = np.sqrt(blocks["pred_node"] * blocks["pred_block"])
        held = blocks[blocks["family"] != "random"].reset_index(drop=True)
        for level in ("node", "block", "blend"):
            prefixes, networks, by_family = _score(held, f"pred_{level}")
            print(f"seed {seed} {level:5s}: prefixes {prefixes:.1f}%, whole networks {networks:.1f}% within ±10% "
                  f"({len(held)} prefixes)  {by_family}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="profile the nodes (measure alone)")
    r.add_argument("nodes", help="CSV of node rows to write or resume")
    r.add_argument("--table", default=str(DEFAULT_TABLE))
    r.add_argument("--random", type=int, default=40, help="sampled configurations beside the zoo ones")
    r.add_argument("--runs", type=int, default=20, help="profiled passes after the warm ones")
    f = sub.add_parser("fit", help="leave-one-family-out, node level against block level")
    f.add_argument("nodes")
    f.add_argument("--table", default=str(DEFAULT_TABLE))
    f.add_argument("--seeds", default="0,1,2")
    args = ap.parse_args(argv)
    return run(args) if args.command == "run" else fit(args)


if __name__ == "__main__":
    sys.exit(main())

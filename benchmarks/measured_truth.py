"""What the benchmarks that measure their own truth table share (``bench_folded.py``, ``bench_unseen.py``): their
arguments, where the table and the result go, one ``latmodel profile`` window to measure it, and scoring a
predictor on it network by network."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["add_arguments", "resolve", "measure", "predicted_truth", "network_record"]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def add_arguments(ap: argparse.ArgumentParser, bench: str, *, models: str, resolution: int, minutes: str) -> None:
    """Predictors to score, networks, resolution, runtime, the truth table and the result file."""
    ap.add_argument("--predictor", action="append", required=True, metavar="NAME=PATH")
    ap.add_argument("--models", default=models)
    ap.add_argument("--resolution", type=int, default=resolution)
    ap.add_argument("--runtime", default="torch", help="what runs the networks when measuring (default torch)")
    ap.add_argument("--truth", default=None, help=f"measured table (default benchmarks/results/{bench}-truth[-RUNTIME].csv)")
    ap.add_argument("--measure", action="store_true", help=f"measure the truth table first (alone: ~{minutes})")
    ap.add_argument("--note", default="")
    ap.add_argument("--out", default=None, help=f"default benchmarks/results/{bench}[-RUNTIME].json")


def resolve(args, bench: str) -> tuple[list[str], dict[str, str], Path, Path]:
    """``(models, {name: predictor path}, truth table, result file)`` from the parsed arguments."""
    suffix = "" if args.runtime == "torch" else f"-{args.runtime}"
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    predictors = dict(p.split("=", 1) for p in args.predictor)
    return (models, predictors, Path(args.truth or RESULTS / f"{bench}-truth{suffix}.csv"),
            Path(args.out or RESULTS / f"{bench}{suffix}.json"))


def measure(names: list[str], resolution: int, truth: Path, runtime: str) -> None:
    """One ``latmodel profile`` window over ``names`` (alone, pinned to core 1, 1 thread) into ``truth``."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="33554432", MALLOC_TRIM_THRESHOLD_="4294967296")
    subprocess.run([sys.executable, "-m", "latmodel.cli", "profile", "--models", ",".join(names), "--resolutions",
                    str(resolution), "--runtime", runtime, "--pin-cpu", "1", "--out", str(truth)],
                   check=True, cwd=ROOT, env=env)


def predicted_truth(predictor: str, truth: Path):
    """``(model, frame, scale)``: the truth table at the predictor's yardstick speed, sorted by network and block,
    with each prefix's prediction (``predicted_ms``) and the network's name (``name``: its configuration id's head);
    ``scale``: how it was put on that scale, in words (:func:`latmodel.predict.evaluation.describe_predictor_scale`)."""
    from latmodel.measure.table import read_table
    from latmodel.predict.baselines import sort_blocks
    from latmodel.predict.evaluation import at_predictor_scale, describe_predictor_scale, predictor_scale
    from latmodel.predict.model import LatencyModel
    from latmodel.predict.predictor_io import load_predictor

    model = load_predictor(predictor)
    df, other = at_predictor_scale(model, LatencyModel.validate_table(read_table(truth)))
    df = sort_blocks(df)
    _, prefix, _ = model.predict_table(df)
    return (model, df.assign(predicted_ms=prefix, name=df["config_id"].str.split("@").str[0]),
            describe_predictor_scale(predictor_scale(model, other)))


def network_record(blocks) -> dict:
    """One network's blocks (in order, from :func:`predicted_truth`): measured (as deployed) and predicted whole-network
    latency, the error, and the share of its prefixes within +-10%."""
    from latmodel.predict.evaluation import deployed_network_ms

    # as deployed: for an exported-graph runtime the one graph (the last prefix), not the chained block sessions
    measured, predicted = float(deployed_network_ms(blocks)[-1]), float(blocks.iloc[-1]["predicted_ms"])
    rel = (blocks["predicted_ms"] / blocks["prefix_ms"] - 1.0).abs()
    return {"measured_ms": round(measured, 3), "predicted_ms": round(predicted, 3),
            "error_pct": round(100 * (predicted / measured - 1), 1), "prefixes": int(len(blocks)),
            "prefix_within_10_pct": round(100 * float((rel <= 0.1).mean()), 1)}

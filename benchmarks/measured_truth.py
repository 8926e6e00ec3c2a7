"""What the benchmarks that measure their own truth table share (``bench_folded.py``, ``bench_unseen.py``): their
arguments, where the table and the result go, and one ``latmodel profile`` window to measure it."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["add_arguments", "resolve", "measure"]

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

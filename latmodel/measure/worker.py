"""The measuring child of :func:`latmodel.measure.profiling.profile`: ``python -m latmodel.measure.worker
--worker JOB.json --result ROWS.json`` pins itself, fixes torch's threads before anything runs, measures the
job's configurations (a window, or one at a time) and writes the rows atomically."""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import resource
import sys
from pathlib import Path
from typing import Sequence

from ..errors import NetcutError
from .bursts import BurstPolicy
from .device import DeviceRecord, device_record
from .rows import WINDOW_METHOD, measure_config, measure_window

__all__ = ["run_job", "main"]

logger = logging.getLogger(__name__)


def run_job(job_path: str, result_path: str) -> int:
    """Measure the job's configurations (its thread count, pinning and method) and write the rows to ``result_path``."""
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    if job.get("pin_cpu"):
        os.sched_setaffinity(0, set(job["pin_cpu"]))  # before torch starts its thread pool
    import torch

    threads = int(job["threads"])
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
    record = DeviceRecord.from_dict(job["record"])
    runtime = job.get("runtime", "torch")
    mine = device_record(job["device"], threads=threads, batch_size=int(job["batch_size"]), runtime=runtime)
    if mine.device_id != record.device_id:
        logger.warning("child device record %s differs from the parent's %s", mine.to_dict(), record.to_dict())
    from .corpus import ProfileConfig

    configs = [ProfileConfig.from_dict(c) for c in job["configs"]]
    diagnostics: dict = {}
    samples = None
    if job.get("method", WINDOW_METHOD) == WINDOW_METHOD:
        policy = BurstPolicy(window_s=float(job["window_s"]),
                             min_rounds=int(job.get("min_rounds", BurstPolicy.min_rounds)),
                             settle_ms=float(job.get("settle_ms", BurstPolicy.settle_ms)),
                             quantile_pct=float(job.get("quantile_pct", BurstPolicy.quantile_pct)))
        samples = {} if job.get("keep_samples") else None
        rows = measure_window(configs, threads=threads, batch_size=int(job["batch_size"]), device=job["device"],
                              policy=policy, record=record, runtime=runtime, onnx_cache=job.get("onnx_cache"),
                              samples=samples, on_round=_round_reporter(job.get("progress_path")))
    else:
        rows = [measure_config(c.model, c.resolution_px, c.width, threads=threads,
                               batch_size=int(job["batch_size"]), repeats=job.get("repeats"),
                               warmup=job.get("warmup"), device=job["device"], record=record,
                               diagnostics=diagnostics, runtime=runtime, onnx_cache=job.get("onnx_cache"))
                for c in configs]
    from ..fileio import atomic_write_text

    # What the window held at its peak (Linux reports KiB): profile() compares it with its memory estimate.
    diagnostics["peak_rss_bytes"] = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    result = {"rows": rows, "diagnostics": diagnostics}
    if samples:
        result["samples"] = samples
    atomic_write_text(Path(result_path), json.dumps(result))
    return 0


def _round_reporter(path: str | None):
    """``on_round`` for the window: after every round, the rounds done and the window's seconds so far written to
    ``path`` (the parent's progress bar re-prices the window from them, :mod:`latmodel.measure.progress`); one small
    atomic write between rounds, none while a quantity is timed."""
    if not path:
        return None
    from ..fileio import atomic_write_text

    def report(rounds: int, seconds: float) -> None:
        with contextlib.suppress(OSError):  # progress is a courtesy: a failed write never stops the measurement
            atomic_write_text(Path(path), json.dumps({"rounds": int(rounds), "seconds": float(seconds)}))

    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Child entry point: ``python -m latmodel.measure.worker --worker JOB.json --result ROWS.json``."""
    parser = argparse.ArgumentParser(prog="python -m latmodel.measure.worker",
                                     description="measure one configuration (used by 'latmodel profile')")
    parser.add_argument("--worker", required=True, help="job JSON written by profile()")
    parser.add_argument("--result", required=True, help="where to write the rows (JSON)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run_job(args.worker, args.result)
    except NetcutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

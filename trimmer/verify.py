"""TRNs timed on this machine, in the predictor's runtime and thread count: the chosen one under ``--verify``,
borderline candidates under ``--margin measured`` (:class:`trimmer.feasibility.Feasibility` asks)."""
from __future__ import annotations

import copy
from pathlib import Path

from latmodel.predict.protocol import runtime_of, threads_of

from .candidates import Candidate
from .feasibility import MeasureFn

__all__ = ["MEASURE_SPAN_MS", "verify_latency", "trn_timer"]


def verify_latency(trn, resolution: int, predictor, onnx_path: Path | None, *, bursts: int = 15) -> float:
    """Measure the chosen TRN here in the predictor's runtime, with its thread count, with the calibration
    table's statistic (the fastest of its warm bursts; docs/TABLE.md), so the number compares with the prediction."""
    import torch
    from latmodel.measure.runtimes import time_module

    x = torch.randn(1, 3, resolution, resolution)
    return time_module(trn, x, runtime=runtime_of(predictor), threads=threads_of(predictor), bursts=bursts,
                       onnx_path=onnx_path)


#: Timed runs of a borderline candidate span about this long, so that its statistic sees more than one of a
#: shared host's speed phases (they last seconds); 15 rounds of a 1.5 ms TRN took 25 ms and read 2.97 ms where
#: the calibration profile read 1.80 ms (bench_exploration, 2026-12-02).
MEASURE_SPAN_MS = 1000.0


def trn_timer(bases: dict, n_classes: int, predictor) -> MeasureFn:
    """``candidate -> ms``: its TRN (prefix + a new head) timed here as ``--verify`` times the chosen one."""
    def measure(cand: Candidate) -> float:
        from latmodel.measure.bursts import BurstPolicy

        from .trn import build_trn

        chain, _ = bases[cand.base, cand.resolution_px]
        trn = copy.deepcopy(build_trn(chain, cand.cut, n_classes)).cpu().eval()
        policy = BurstPolicy()
        per_burst = policy.warm_burst_passes
        bursts = int(min(100, max(6, MEASURE_SPAN_MS // (per_burst * max(cand.predicted_latency_ms, 1e-3)))))
        return verify_latency(trn, cand.resolution_px, predictor, None, bursts=bursts)

    return measure

"""Text of the result records in :mod:`latmodel.predict.reports` (what the ``latmodel`` commands print)."""
from __future__ import annotations

from pathlib import Path

from .metrics import ErrorMetrics, metrics_table
from .reports import CrossValidation, EvaluationReport, FitReport, NetworkPrediction

__all__ = ["network_prediction_text", "predictions_summary_text", "subnormal_note", "cross_validation_text", "fit_report_text",
           "evaluation_report_text", "calibration_text", "calibration_done_text", "calibration_estimate_text"]

#: Metric levels in the order printed: level -> heading.
_LEVEL_HEADINGS: dict[str, str] = {
    "block": "block level (vs what stage 1 learns: incontext_ms, or the prefix increment for exported graphs)",
    "prefix": "prefix level (vs prefix_ms)",
    "network": "whole networks (vs network_ms; the last prefix_ms for exported-graph runtimes)",
}


def network_prediction_text(pred: NetworkPrediction) -> str:
    """One row per block (block, prefix and upper-bound ms) and the total."""
    from tabulate import tabulate

    rows = [[i, n, f"{b:.3f}", f"{p:.3f}", f"{u:.3f}"]
            for i, (n, b, p, u) in enumerate(zip(pred.block_names, pred.block_latency_ms,
                                                  pred.prefix_latency_ms, pred.prefix_upper_ms))]
    head = f"{pred.model} at {pred.resolution_px}px, width {pred.width:g}: {len(pred)} blocks"
    table = tabulate(rows, headers=["index", "block", "block ms", "prefix ms", "prefix upper ms"],
                     tablefmt="simple", disable_numparse=True)
    text = f"{head}\n{table}\ntotal: {pred.total_latency_ms:.3f} ms (feature blocks, head excluded)"
    if pred.extrapolated:
        text += "\nEXTRAPOLATED, the latency may be far off: " + "; ".join(pred.extrapolation)
    if pred.subnormal_blocks:
        text += "\n" + subnormal_note(pred)
    return text


def subnormal_note(pred: NetworkPrediction) -> str:
    """What a user deploying a network whose blocks compute with subnormal floats can do about it, or, priced
    with them flushed, what that price rests on."""
    shown = ", ".join(pred.subnormal_blocks[:4]) + (" ..." if len(pred.subnormal_blocks) > 4 else "")
    if pred.subnormals_flushed:
        return (f"note: priced with subnormal floats flushed to zero, as deployed after "
                "torch.set_flush_denormal(True) in the thread that runs inference; "
                f"{len(pred.subnormal_blocks)} block(s) make them otherwise ({shown}); an estimate, the tables "
                "measure the runtimes' defaults (Swin-T at 64 / 96 / 128 px in torch: predicted 0.76x / 0.88x / "
                "0.36x of the default, measured 0.81x / 0.91x / 0.39x; ONNX Runtime at 128 px: 0.31x / 0.31x)")
    return (f"note: {len(pred.subnormal_blocks)} block(s) compute with subnormal floats ({shown}), which a CPU "
            "runs ~100x slower per operation; priced as the runtime runs them by default. Flushing them to zero "
            "(torch.set_flush_denormal(True) in the thread that runs inference; for ONNX Runtime at 1 thread too, "
            "which runs on the caller's thread: its session.set_denormal_as_zero option reaches only its pool "
            "threads and changed nothing here) makes those blocks several times faster (Swin-T at 128 px: one "
            "block 37.5 -> 4.8 ms, the feature blocks 192 -> 76 ms in torch, 172 -> 54 ms in ONNX Runtime; "
            "latmodel.graph.subnormals); --flush-subnormals prices that")


def predictions_summary_text(preds) -> str:
    """One row per network: its total and upper bound (feature blocks), block count, and why it is extrapolated."""
    from tabulate import tabulate

    rows = [[p.model, p.resolution_px, f"{p.width:g}", len(p), f"{p.total_latency_ms:.3f}",
             f"{p.prefix_upper_ms[-1]:.3f}", "; ".join(p.extrapolation) if p.extrapolated else ""] for p in preds]
    text = tabulate(rows, headers=["network", "px", "width", "blocks", "latency ms", "upper ms", "extrapolated"],
                    tablefmt="simple", disable_numparse=True) + "\n(feature blocks, head excluded)"
    for p in preds:
        if p.subnormal_blocks:
            text += f"\n{p.model} at {p.resolution_px} px: " + subnormal_note(p).removeprefix("note: ")
    return text


def _levels_text(levels: dict[str, dict[str, ErrorMetrics]], prefix_within_10_by_family: dict[str, float]) -> str:
    """One metrics table per level, then ours by family; shared by cross-validation and evaluation."""
    lines = []
    for level, label in _LEVEL_HEADINGS.items():
        rows = {est: lv[level] for est, lv in levels.items() if level in lv}
        if rows:
            lines.append(label)
            lines.append(metrics_table(rows, label="estimator"))
            lines.append("")
    if prefix_within_10_by_family:
        fam = ", ".join(f"{k} {v:.0f}%" for k, v in sorted(prefix_within_10_by_family.items()))
        lines.append(f"ours, prefixes within 10% by held-out family: {fam}")
    return "\n".join(lines).rstrip()


def cross_validation_text(cv: CrossValidation) -> str:
    return _levels_text(cv.levels, cv.prefix_within_10_by_family)


def fit_report_text(report: FitReport) -> str:
    lines = [
        f"fitted on {report.n_rows} rows, {report.n_configs} configurations, {len(report.families)} families "
        f"({', '.join(report.families)})" + (f", adapted from {report.base}" if report.base else ""),
        f"flagged rows: {report.n_flagged} (weighted {report.flagged_weight:g} in training, left out of the metrics)",
    ]
    if report.cross_validation is not None:
        lines.append("")
        lines.append("leave-one-family-out cross-validation ('random' always in training, not reported):")
        lines.append(cross_validation_text(report.cross_validation))
    else:
        lines.append("cross-validation skipped (--no-cv)")
    lines.append("")
    lines.append(f"predictor written to {report.out} in {report.fit_seconds:.1f} s")
    return "\n".join(lines)


def evaluation_report_text(report: EvaluationReport) -> str:
    lines = [f"predictor {report.predictor} on {report.n_rows} rows, {report.n_configs} configurations "
             f"({report.n_flagged_left_out} flagged rows left out)", "",
             _levels_text(report.levels, report.prefix_within_10_by_family)]
    if report.plot:
        lines += ["", f"predicted-vs-measured plot: {report.plot}"]
    return "\n".join(lines)


def calibration_text(result) -> str:
    """What ``latmodel calibrate`` prints: the bases scored, the one adapted, where everything went."""
    lines = [f"measured {len(result.configs)} configurations here in {result.measure_seconds:.0f} s "
             f"({result.table})", "bases, best first (held out: prefixes within ±10% when adapted to the other "
             "configurations' folds; spread of log(measured / predicted) before adapting; factor: the constant it "
             "removes first):"]
    for s in result.scores:
        held = f"held out {s.cv_within_10_pct:.1f}%, " if s.cv_within_10_pct is not None else ""
        lines.append(f"  {s.path}: {held}spread {s.log_ratio_spread:.3f}, factor {s.median_ratio:.2f} "
                     f"({s.device_name}, {s.runtime}, {s.threads} thread(s))")
    lines.append(f"chose and adapted {result.base} ({result.method}) in {result.fit_seconds:.0f} s: "
                 f"predictor {result.out}")
    lines.append(f"use it: trimmer search --predictor {result.out} ...   latmodel predict --predictor {result.out} ...")
    return "\n".join(lines)


def calibration_done_text(result) -> str:
    """One line for a calibration run inside another command (``trimmer search``): what was adapted, how long."""
    return (f"calibrated: {Path(result.base).name} adapted ({result.method}) to {len(result.configs)} measurements "
            f"of this machine in {result.measure_seconds + result.fit_seconds:.0f} s: predictor {result.out}")


def calibration_estimate_text(seconds: float, n_configs: int) -> str:
    """The line ``latmodel calibrate`` (and ``trimmer search`` when it calibrates) prints before measuring."""
    from .calibrate import FIT_SECONDS

    return (f"calibrate: measuring {n_configs} configuration(s) here, then adapting the closest predictor: about "
            f"{max(1, round((seconds + FIT_SECONDS) / 60))} min (about twice that if this machine turns out noisy: "
            "what it measured in noise is measured again); measure alone (other work on this machine slows the "
            "measured core)")

"""Search outputs: ``candidates.csv``, ``report.json`` and ``pareto.png`` (all written atomically).

:func:`candidate_rows` and :func:`build_report` compute the table and the report from a search's
:class:`~trimmer.outcome.SearchOutcome`; :func:`write_report` writes them and draws the plot
(:mod:`trimmer.plot`); :mod:`trimmer.summary` renders the report's last lines.
"""
from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import Any

from latmodel.fileio import atomic_write_text, sanitize_cell

from .intervals import Z95, accuracy_interval, pairwise_half_width, relative_gain_interval, selection_margin
from .outcome import SearchOutcome

__all__ = ["REPORT_SCHEMA_VERSION", "CANDIDATE_COLUMNS", "TIE_BREAK_RULE", "tie_break", "candidate_rows",
           "build_report", "write_report"]

logger = logging.getLogger(__name__)

#: 5: resolutions_px (a list) replaces resolution_px; relative_accuracy_gain_ci95; the best off-the-shelf network
#: at any resolution is fine-tuned by every policy.  6: tie_break.  7: probe_precision
REPORT_SCHEMA_VERSION = 7
#: How the choice is made among fine-tuned candidates meeting the deadline.  Only exact ties go to the faster:
#: taking the fastest of the candidates within a statistical band of the best cost test accuracy on every
#: exhaustive run measured (benchmarks/bench_tie_break.py, Fashion-MNIST and digits, 25 deadlines each: a band
#: of one standard error lost 0.6-2.0 test points on average and up to 7.8, the pairwise 95% band 2.0-3.4 and up
#: to 12.8), so the report names the fastest indistinguishable candidate instead of choosing it.
TIE_BREAK_RULE = "highest validation accuracy; of equal validation accuracy, the lower predicted latency"
CANDIDATE_COLUMNS = (
    "candidate_id", "base", "cut", "n_blocks", "block_name", "off_the_shelf", "resolution_px", "out_channels",
    "flops", "backbone_latency_ms", "head_latency_ms", "predicted_latency_ms", "predicted_upper_ms",
    "extrapolated", "extrapolation", "status",
    "measured_latency_ms", "probe_val_accuracy", "probe_rank", "fine_tuned", "val_accuracy", "test_accuracy",
    "epochs_run", "train_seconds",
)


def tie_break(chosen, results: dict, pool, n_val: int, z: float = Z95) -> dict[str, Any]:
    """``report.json``'s ``tie_break``: the rule, and the fine-tuned candidates of ``pool`` (those meeting the
    deadline) whose validation accuracy the chosen one's cannot be told apart from (pairwise 95% interval of
    the difference, the two treated as independent), with the fastest of them when it is not the chosen one."""
    out: dict[str, Any] = {"rule": TIE_BREAK_RULE, "indistinguishable": 0, "fastest_indistinguishable": None}
    if chosen is None or not n_val:
        return out
    cand, res = chosen
    p = res.val_accuracy
    close = []
    for c in pool:
        r = results.get(c.candidate_id)
        if r is None or c.candidate_id == cand.candidate_id:
            continue
        if abs(p - r.val_accuracy) <= pairwise_half_width(p, r.val_accuracy, n_val, z):
            close.append((c, r))
    out["indistinguishable"] = len(close)
    fastest = min(close, key=lambda cr: cr[0].predicted_latency_ms, default=None)
    if fastest is not None and fastest[0].predicted_latency_ms < cand.predicted_latency_ms:
        c, r = fastest
        out["fastest_indistinguishable"] = {"candidate_id": c.candidate_id,
                                            "predicted_latency_ms": round(c.predicted_latency_ms, 4),
                                            "val_accuracy": round(r.val_accuracy, 5),
                                            "test_accuracy": round(r.test_accuracy, 5)}
    return out


def _csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CANDIDATE_COLUMNS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: sanitize_cell(v) for k, v in row.items()})
    return buf.getvalue()


def _cand_summary(pair) -> dict[str, Any] | None:
    if pair is None:
        return None
    cand, res = pair
    return {
        "candidate_id": cand.candidate_id, "base": cand.base, "cut": cand.cut, "n_blocks": cand.n_blocks,
        "block_name": cand.block_name, "off_the_shelf": cand.off_the_shelf, "resolution_px": cand.resolution_px,
        "predicted_latency_ms": round(cand.predicted_latency_ms, 4),
        "predicted_upper_ms": round(cand.predicted_upper_ms, 4),
        "val_accuracy": res.val_accuracy, "test_accuracy": res.test_accuracy,
    }


def candidate_rows(outcome: SearchOutcome) -> list[dict[str, Any]]:
    """``candidates.csv``'s rows (and the plot's points): every candidate with its status, probe, measurement
    and fine-tuning results."""
    from .proposal import probe_order

    probes, results, measured = outcome.probes, outcome.results, outcome.measured_ms
    scored = [c for c in outcome.candidates if c.candidate_id in probes]
    order = probe_order(scored, {cid: p.probe_val_accuracy for cid, p in probes.items()})
    rank = {c.candidate_id: i + 1 for i, c in enumerate(order)}
    rows = []
    for c in outcome.candidates:
        res = results.get(c.candidate_id)
        probe = probes.get(c.candidate_id)
        rows.append({
            **{k: v for k, v in c.to_dict().items() if k in CANDIDATE_COLUMNS},
            "backbone_latency_ms": round(c.backbone_latency_ms, 4),
            "head_latency_ms": round(c.head_latency_ms, 4),
            "predicted_latency_ms": round(c.predicted_latency_ms, 4),
            "predicted_upper_ms": round(c.predicted_upper_ms, 4),
            "status": outcome.pricing.status(c),
            "measured_latency_ms": None if c.candidate_id not in measured else round(measured[c.candidate_id], 4),
            "probe_val_accuracy": None if probe is None else round(probe.probe_val_accuracy, 5),
            "probe_rank": rank.get(c.candidate_id),
            "fine_tuned": c.candidate_id in outcome.proposed_ids,
            "val_accuracy": None if res is None else round(res.val_accuracy, 5),
            "test_accuracy": None if res is None else round(res.test_accuracy, 5),
            "epochs_run": None if res is None else res.epochs_run,
            "train_seconds": None if res is None else round(res.train_seconds, 3),
        })
    return rows


def _trained_summary(outcome: SearchOutcome, pair) -> dict[str, Any] | None:
    """A fine-tuned candidate as the report names it: identity, predicted and measured latency, accuracies with
    their 95% intervals."""
    d = _cand_summary(pair)
    if d is None:
        return None
    if d["candidate_id"] in outcome.measured_ms:
        d["measured_latency_ms"] = round(outcome.measured_ms[d["candidate_id"]], 4)
    for split, n in (("val", outcome.n_val), ("test", outcome.n_test)):
        ci = accuracy_interval(d[f"{split}_accuracy"], n)
        d[f"{split}_accuracy_ci95"] = None if ci is None else [round(ci[0], 5), round(ci[1], 5)]
    return d


def _best_off_the_shelf_by_probe(outcome: SearchOutcome, chosen_d) -> dict[str, Any] | None:
    """Under ``ranked`` the off-the-shelf networks are usually not fine-tuned; their probe scores still say which
    would have been the baseline (compared with the chosen TRN's probe score, not its accuracy)."""
    probes = outcome.probes
    ots = max((c for c in outcome.kept if c.off_the_shelf and c.candidate_id in probes),
              key=lambda c: (probes[c.candidate_id].probe_val_accuracy, -c.predicted_latency_ms), default=None)
    if ots is None:
        return None
    return {"candidate_id": ots.candidate_id, "predicted_latency_ms": round(ots.predicted_latency_ms, 4),
            "predicted_upper_ms": round(ots.predicted_upper_ms, 4),
            "probe_val_accuracy": round(probes[ots.candidate_id].probe_val_accuracy, 5),
            "chosen_probe_val_accuracy": (round(probes[chosen_d["candidate_id"]].probe_val_accuracy, 5)
                                          if chosen_d and chosen_d["candidate_id"] in probes else None)}


def build_report(outcome: SearchOutcome) -> dict[str, Any]:
    """``report.json``: the settings, the chosen TRN and the best off-the-shelf network with intervals, the
    relative gain, the counts and the timings."""
    from . import __version__

    config, pricing = outcome.config, outcome.pricing
    chosen_d = _trained_summary(outcome, outcome.chosen)
    ots_d = _trained_summary(outcome, outcome.best_off_the_shelf)
    if chosen_d is not None and outcome.verified_latency_ms is not None:
        chosen_d["verified_latency_ms"] = round(outcome.verified_latency_ms, 4)
        chosen_d["verified_meets_deadline"] = outcome.verified_latency_ms <= config.deadline_ms
    fastest_ots = min((c for c in outcome.candidates if c.off_the_shelf), key=lambda c: c.predicted_upper_ms,
                      default=None)
    gain = gain_ci = None
    if chosen_d and ots_d and ots_d["test_accuracy"] > 0:
        gain = chosen_d["test_accuracy"] / ots_d["test_accuracy"] - 1.0
        gain_ci = relative_gain_interval(chosen_d["test_accuracy"], ots_d["test_accuracy"], outcome.n_test)
    t = outcome.timings
    n_kept = len(pricing.kept_ids)
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "netcut_version": __version__,
        "deadline_ms": config.deadline_ms,
        "margin": config.margin,
        "propose": "exhaustive" if config.exhaustive else config.propose,
        "top_k": config.top_k,
        "probe_per_class": config.probe_per_class,
        "probe_precision": config.probe_precision,  # resolved by the search: what ran
        "mode": config.mode,
        "epochs": config.epochs,
        "seed": config.seed,
        "data_seed": config.split_seed,
        "exhaustive": config.exhaustive,
        "resolutions_px": list(config.resolutions_px),
        "models": list(config.models),
        "data": dict(outcome.data),
        "predictor": {"path": str(config.predictor), "device": dict(outcome.predictor_device) or None},
        "runtime": outcome.runtime,
        "chosen": chosen_d,
        "best_off_the_shelf": ots_d,
        "best_off_the_shelf_by_probe": _best_off_the_shelf_by_probe(outcome, chosen_d),
        "fastest_off_the_shelf": None if fastest_ots is None else {
            "candidate_id": fastest_ots.candidate_id, "predicted_latency_ms": round(fastest_ots.predicted_latency_ms, 4),
            "predicted_upper_ms": round(fastest_ots.predicted_upper_ms, 4),
            "meets_deadline": fastest_ots.candidate_id in pricing.kept_ids},
        "relative_accuracy_gain": gain,
        "relative_accuracy_gain_ci95": None if gain_ci is None else [round(gain_ci[0], 5), round(gain_ci[1], 5)],
        "candidates_total": len(outcome.candidates),
        "candidates_kept": n_kept,
        "candidates_pruned": len(outcome.candidates) - n_kept,
        "candidates_probed": len(outcome.probes),
        "candidates_fine_tuned": len(outcome.proposed_ids),
        "candidates_trained": len(outcome.results),
        "selection_margin": selection_margin(len(outcome.results), outcome.n_val),
        "tie_break": tie_break(outcome.chosen, outcome.results, outcome.kept, outcome.n_val),
        "candidates_trained_this_run": outcome.trained_now,
        "candidates_resumed": outcome.resumed,
        "prediction_seconds": round(t.prediction_seconds, 4),
        "probe_seconds": round(t.probe_seconds, 3),
        "candidates_measured": len(outcome.measured_ms),
        "candidates_measured_this_run": outcome.measured_now,
        "measure_seconds": round(t.measure_seconds, 3),
        "training_seconds": round(t.training_seconds, 3),
        "exploration_seconds": round(t.exploration_seconds, 3),
        "exported_trn": outcome.exported_trn or None,
        "files": {"candidates": "candidates.csv", "report": "report.json", "plot": "pareto.png"},
    }


def write_report(out: Path, outcome: SearchOutcome) -> dict[str, Any]:
    """Write candidates.csv, report.json and pareto.png into ``out``; return the report dict."""
    from .plot import plot_pareto

    rows = candidate_rows(outcome)
    report = build_report(outcome)
    atomic_write_text(out / "candidates.csv", _csv_text(rows))
    chosen = report["chosen"]
    plot_pareto(rows, outcome.config.deadline_ms, chosen["candidate_id"] if chosen else None, out / "pareto.png",
                title=f"NetCut on {outcome.data['source']}: deadline {outcome.config.deadline_ms:g} ms, "
                      f"mode {outcome.config.mode}")
    atomic_write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
    return report

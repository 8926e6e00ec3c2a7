"""The lines ``trimmer search`` prints at its end, rendered from ``report.json``'s dict (nothing computed here)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from latmodel.predict.shipped import predictor_device_text

__all__ = ["summary_text"]


def _pct_ci(d: dict, split: str) -> str:
    ci = d.get(f"{split}_accuracy_ci95")
    text = f"{100 * d[f'{split}_accuracy']:.2f}%"
    return text + (f" [95% CI {100 * ci[0]:.1f}-{100 * ci[1]:.1f}]" if ci else "")


#: How the summary names the comparison each ``--margin`` makes.
_BOUND_TEXT = {"upper": "upper bound", "none": "prediction", "measured": "prediction"}


def summary_text(report: dict[str, Any], out: Path) -> str:
    """The lines the CLI prints at the end of a search."""
    lines = []
    c = report.get("chosen")
    o = report.get("best_off_the_shelf")
    bound = _BOUND_TEXT.get(report["margin"], report["margin"])
    probed = f", {report['candidates_probed']} probed" if report.get("candidates_probed") else ""
    if report.get("candidates_measured"):
        probed += f", {report['candidates_measured']} borderline measured here"
    lines.append(f"candidates: {report['candidates_total']} total, {report['candidates_pruned']} pruned by the "
                 f"{report['deadline_ms']:g} ms deadline ({bound}){probed}, {report['candidates_trained']} retrained "
                 f"({report['propose']}; {report['candidates_resumed']} resumed); exploration "
                 f"{report['exploration_seconds']:.1f} s")
    if c is None:
        lines.append("no trained candidate meets the deadline")
    else:
        v = f", measured {c['measured_latency_ms']:.2f} ms here" if "measured_latency_ms" in c else ""
        v += f", verified {c['verified_latency_ms']:.2f} ms" if "verified_latency_ms" in c else ""
        lines.append(f"chosen TRN: {c['candidate_id']} (cut after {c['block_name']}, block {c['cut'] + 1} of "
                     f"{c['n_blocks']}): validation {_pct_ci(c, 'val')}, test {_pct_ci(c, 'test')}; predicted "
                     f"{c['predicted_latency_ms']:.2f} ms (upper bound {c['predicted_upper_ms']:.2f} ms){v}")
        margin = report.get("selection_margin")
        if margin is not None and margin > 0.05:
            n = min(100.0, 100 * margin)
            lines.append(f"note: the validation split ({report['data']['n_val']} images) is too small to tell the "
                         f"{report['candidates_trained']} retrained candidates apart within {n:.0f} accuracy points "
                         "(95%); use --val-fraction or more data, or retrain fewer candidates (--top-k)")
        near = (report.get("tie_break") or {}).get("fastest_indistinguishable")
        if near is not None:
            lines.append(f"note: {report['tie_break']['indistinguishable']} other retrained candidate(s) meeting the "
                         f"deadline score within the 95% interval of its validation accuracy; the fastest, "
                         f"{near['candidate_id']}, is predicted {near['predicted_latency_ms']:.2f} ms "
                         f"(validation {100 * near['val_accuracy']:.2f}%; kept out: a band costs accuracy, "
                         "README 'Ties')")
    op = report.get("best_off_the_shelf_by_probe")
    if o is None and op is not None:
        vs = (f" (chosen TRN's probe: {100 * op['chosen_probe_val_accuracy']:.2f}%)"
              if op.get("chosen_probe_val_accuracy") is not None else "")
        lines.append(f"best off-the-shelf: {op['candidate_id']}: probe validation accuracy "
                     f"{100 * op['probe_val_accuracy']:.2f}%{vs}, predicted {op['predicted_latency_ms']:.2f} ms "
                     f"(upper bound {op['predicted_upper_ms']:.2f} ms); not fine-tuned by the ranked policy "
                     "(--propose feasible fine-tunes it too)")
    elif o is None and (report.get("fastest_off_the_shelf") or {}).get("meets_deadline") is False:
        f = report["fastest_off_the_shelf"]
        res = ",".join(str(r) for r in report.get("resolutions_px") or ())
        lines.append(f"best off-the-shelf: none meets the {report['deadline_ms']:g} ms deadline at any resolution "
                     f"searched ({res} px); the fastest, {f['candidate_id']}, is predicted "
                     f"{f['predicted_latency_ms']:.2f} ms"
                     + (f" (upper bound {f['predicted_upper_ms']:.2f} ms)" if report["margin"] == "upper" else "")
                     + "; add a lower resolution to --resolutions to compare with one")
    elif o is None:
        lines.append("no off-the-shelf network was retrained within the deadline"
                     + (" (the ranked policy retrains only the best-scored; --propose feasible retrains them all)"
                        if report.get("propose") == "ranked" else ""))
    else:
        gain = report.get("relative_accuracy_gain")
        ci = report.get("relative_accuracy_gain_ci95")
        g = ""
        if gain is not None:
            g = f"; the chosen TRN's relative gain over it: {100 * gain:+.2f}%"
            g += f" [95% CI {100 * ci[0]:+.1f}% to {100 * ci[1]:+.1f}%]" if ci else ""
        lines.append(f"best off-the-shelf (any resolution, fine-tuned the same way): {o['candidate_id']}: validation "
                     f"{_pct_ci(o, 'val')}, test {_pct_ci(o, 'test')}, predicted {o['predicted_latency_ms']:.2f} ms{g}")
    lines.append(f"exported TRN: {report['exported_trn']}")
    pred = report.get("predictor") or {}
    if pred.get("path"):
        dev = f" (measured on {predictor_device_text(pred['device'])})" if pred.get("device") else ""
        lines.append(f"latencies priced by: {Path(pred['path']).name}{dev}")
    lines.append(f"plot: {out / 'pareto.png'}   table: {out / 'candidates.csv'}   report: {out / 'report.json'}")
    return "\n".join(lines)

"""Search outputs: ``candidates.csv``, ``report.json`` and ``pareto.png`` (all written atomically)."""
from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any, Sequence

from latmodel.fileio import atomic_path, atomic_write_text, sanitize_cell

__all__ = ["REPORT_SCHEMA_VERSION", "CANDIDATE_COLUMNS", "write_report", "pareto_front", "plot_pareto", "summary_text",
           "accuracy_interval", "relative_gain_interval", "selection_margin", "TIE_BREAK_RULE", "tie_break"]

logger = logging.getLogger(__name__)

#: 5: resolutions_px (a list) replaces resolution_px; relative_accuracy_gain_ci95; the best off-the-shelf network
#: at any resolution is fine-tuned by every policy.  6: tie_break
REPORT_SCHEMA_VERSION = 6
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
#: Two-sided 95% normal quantile for the accuracy intervals.
_Z95 = 1.959964


def accuracy_interval(accuracy: float, n: int, z: float = _Z95) -> tuple[float, float] | None:
    """Wilson score interval of an accuracy measured on ``n`` images (None without images)."""
    import math

    if not n or accuracy != accuracy:
        return None
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def selection_margin(n_compared: int, n_val: int, alpha: float = 0.05) -> float | None:
    """Accuracy difference (fraction) below which ``n_compared`` candidates cannot be told apart on ``n_val``
    validation images with confidence 1 - ``alpha`` (Hoeffding's bound with a union over the candidates)."""
    import math

    if n_compared < 2 or not n_val:
        return None
    return 2 * math.sqrt(math.log(2 * n_compared / alpha) / (2 * n_val))


def tie_break(chosen, results: dict, pool, n_val: int, z: float = _Z95) -> dict[str, Any]:
    """``report.json``'s ``tie_break``: the rule, and the fine-tuned candidates of ``pool`` (those meeting the
    deadline) whose validation accuracy the chosen one's cannot be told apart from (pairwise 95% interval of
    the difference, the two treated as independent), with the fastest of them when it is not the chosen one."""
    import math

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
        half = z * math.sqrt((p * (1 - p) + r.val_accuracy * (1 - r.val_accuracy)) / n_val)
        if abs(p - r.val_accuracy) <= half:
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


def relative_gain_interval(accuracy: float, baseline_accuracy: float, n: int, z: float = _Z95
                           ) -> tuple[float, float] | None:
    """95% interval of ``accuracy / baseline_accuracy - 1`` for two accuracies on ``n`` test images each
    (delta method on the log ratio, the two treated as independent: conservative, since both are scored on the
    same images and move together).  None without images or with a zero accuracy."""
    import math

    if not n or not accuracy > 0 or not baseline_accuracy > 0:
        return None
    ratio = math.log(accuracy / baseline_accuracy)
    se = math.sqrt((1 - accuracy) / (n * accuracy) + (1 - baseline_accuracy) / (n * baseline_accuracy))
    return math.exp(ratio - z * se) - 1, math.exp(ratio + z * se) - 1


def pareto_front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not dominated in (lower latency, higher accuracy), sorted by latency."""
    front: list[tuple[float, float]] = []
    best = float("-inf")
    for lat, acc in sorted(points, key=lambda p: (p[0], -p[1])):
        if acc > best:
            front.append((lat, acc))
            best = acc
    return front


def _csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CANDIDATE_COLUMNS), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: sanitize_cell(v) for k, v in row.items()})
    return buf.getvalue()


#: Marker of the off-the-shelf networks at each searched resolution, smallest first (cycled beyond five).
_OTS_MARKERS = ("^", "D", "*", "s", "P")


def _ots_marker(resolution: int, resolutions: Sequence[int]) -> str:
    return _OTS_MARKERS[sorted(resolutions).index(resolution) % len(_OTS_MARKERS)]


def _pareto_panel(ax, rows: list[dict], metric: str, deadline_ms: float, chosen_id: str | None, colors) -> None:
    trained = [r for r in rows if r.get(metric) not in (None, "")]
    bases = sorted({r["base"] for r in rows})
    resolutions = sorted({int(r["resolution_px"]) for r in rows})
    for i, base in enumerate(bases):
        color = colors[i % len(colors)]
        if metric == "val_accuracy":  # the ranked policy's cheap scores, for every feasible candidate
            probed = [r for r in rows if r["base"] == base and r.get("probe_val_accuracy") not in (None, "")
                      and not r.get("fine_tuned")]
            trn_probed = [r for r in probed if not r["off_the_shelf"]]
            if trn_probed:
                ax.scatter([r["predicted_latency_ms"] for r in trn_probed],
                           [100 * r["probe_val_accuracy"] for r in trn_probed], s=12, marker="x", color=color, alpha=0.4)
            for res in resolutions:  # off-the-shelf networks scored by the probe only: their resolution's marker, hollow
                ots = [r for r in probed if r["off_the_shelf"] and int(r["resolution_px"]) == res]
                if ots:
                    ax.scatter([r["predicted_latency_ms"] for r in ots], [100 * r["probe_val_accuracy"] for r in ots],
                               s=80, marker=_ots_marker(res, resolutions), facecolors="none", edgecolors=color,
                               linewidth=1.2, zorder=3)
        pts = [r for r in trained if r["base"] == base]
        trn = [r for r in pts if not r["off_the_shelf"]]
        if trn:
            ax.scatter([r["predicted_latency_ms"] for r in trn], [100 * r[metric] for r in trn], s=18,
                       color=color, alpha=0.85)
        for res in resolutions:  # the off-the-shelf networks: one marked series per resolution
            ots = [r for r in pts if r["off_the_shelf"] and int(r["resolution_px"]) == res]
            if ots:
                ax.scatter([r["predicted_latency_ms"] for r in ots], [100 * r[metric] for r in ots], s=90,
                           marker=_ots_marker(res, resolutions), color=color, edgecolor="black", linewidth=0.7,
                           zorder=4)
    all_pts = [(r["predicted_latency_ms"], 100 * r[metric]) for r in trained]
    ots_pts = [(r["predicted_latency_ms"], 100 * r[metric]) for r in trained if r["off_the_shelf"]]
    right = max([deadline_ms] + [p[0] for p in all_pts])
    for pts, style in ((all_pts, "-"), (ots_pts, ":")):
        front = pareto_front(pts)
        if front:  # drawn on to the right edge: the best accuracy reachable at any larger deadline
            ax.step([p[0] for p in front] + [right], [p[1] for p in front] + [front[-1][1]], where="post",
                    linestyle=style, color="black", linewidth=1.2)
    ax.axvline(deadline_ms, color="crimson", linestyle="--", linewidth=1.2)
    chosen = next((r for r in trained if r["candidate_id"] == chosen_id), None)
    if chosen:
        ax.scatter([chosen["predicted_latency_ms"]], [100 * chosen[metric]], s=260, facecolors="none",
                   edgecolors="crimson", linewidth=2, zorder=5)
    ax.set_xlabel("predicted latency (ms)")
    ax.set_ylabel(("validation" if metric == "val_accuracy" else "test") + " accuracy (%)")
    ax.grid(alpha=0.3)


def _legend_handles(rows: list[dict], deadline_ms: float, chosen_id: str | None, colors) -> list:
    """One legend for both panels, drawn beside them (never over a point): base colours, one marker per
    resolution's off-the-shelf series, TRNs, probes, the two frontiers, the deadline, the chosen TRN."""
    from matplotlib.lines import Line2D

    bases = sorted({r["base"] for r in rows})
    resolutions = sorted({int(r["resolution_px"]) for r in rows})
    h = [Line2D([], [], color=colors[i % len(colors)], marker="o", linestyle="", label=b) for i, b in enumerate(bases)]
    h += [Line2D([], [], color="grey", marker=_ots_marker(res, resolutions), markeredgecolor="black", markersize=9,
                 linestyle="", label=f"off-the-shelf @ {res} px") for res in resolutions]
    h += [Line2D([], [], color="grey", marker="o", markersize=5, linestyle="", label="TRN (cut network), fine-tuned"),
          Line2D([], [], color="grey", marker="x", markersize=5, linestyle="", label="probe score, not fine-tuned"),
          Line2D([], [], color="grey", marker=_OTS_MARKERS[0], markerfacecolor="none", markersize=8, linestyle="",
                 label="off-the-shelf, probe score only"),
          Line2D([], [], color="black", linestyle="-", label="frontier: TRNs + off-the-shelf"),
          Line2D([], [], color="black", linestyle=":", label="frontier: off-the-shelf only"),
          Line2D([], [], color="crimson", linestyle="--", label=f"deadline {deadline_ms:g} ms")]
    if chosen_id:
        h.append(Line2D([], [], color="crimson", marker="o", markerfacecolor="none", markersize=12, linestyle="",
                        markeredgewidth=2, label=f"chosen: {chosen_id}"))
    return h


def plot_pareto(rows: list[dict], deadline_ms: float, chosen_id: str | None, path: Path, *, title: str = "") -> None:
    """Latency vs accuracy, side by side: validation (what the choice is made on) and test (reported only);
    the off-the-shelf networks at each resolution are their own marked series, the legend sits beside."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(15, 5.5), dpi=110, sharex=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric, name in zip(axes, ("val_accuracy", "test_accuracy"),
                                ("validation: the choice is made here", "test: reported, never used to choose")):
        _pareto_panel(ax, rows, metric, deadline_ms, chosen_id, colors)
        ax.set_title(name, fontsize=9)
    fig.legend(handles=_legend_handles(rows, deadline_ms, chosen_id, colors), loc="center right", fontsize=7.5,
               frameon=False)
    fig.suptitle(title or "NetCut: latency vs accuracy")
    fig.tight_layout(rect=(0, 0, 0.84, 1))
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp)
    finally:
        plt.close(fig)


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


def write_report(out: Path, *, config, candidates, kept, results, chosen, off_the_shelf, exported,
                 verified_latency_ms, prediction_seconds, training_seconds, exploration_seconds, resumed,
                 trained_now, data, predictor, probes=None, proposed=(), probe_seconds=0.0,
                 runtime: str = "torch", feasibility=None) -> dict[str, Any]:
    """Write candidates.csv, report.json and pareto.png into ``out``; return the report dict."""
    import json

    from . import __version__

    kept_ids = {c.candidate_id for c in kept}
    probes = probes or {}
    measured = dict(feasibility.measured_ms) if feasibility is not None else {}
    from .proposal import probe_order

    scored = [c for c in candidates if c.candidate_id in probes]
    order = probe_order(scored, {cid: p.probe_val_accuracy for cid, p in probes.items()})
    rank = {c.candidate_id: i + 1 for i, c in enumerate(order)}
    proposed_ids = {c.candidate_id for c in proposed}
    rows = []
    for c in candidates:
        res = results.get(c.candidate_id)
        probe = probes.get(c.candidate_id)
        rows.append({
            **{k: v for k, v in c.to_dict().items() if k in CANDIDATE_COLUMNS},
            "backbone_latency_ms": round(c.backbone_latency_ms, 4),
            "head_latency_ms": round(c.head_latency_ms, 4),
            "predicted_latency_ms": round(c.predicted_latency_ms, 4),
            "predicted_upper_ms": round(c.predicted_upper_ms, 4),
            "status": "kept" if c.candidate_id in kept_ids else "pruned",
            "measured_latency_ms": None if c.candidate_id not in measured else round(measured[c.candidate_id], 4),
            "probe_val_accuracy": None if probe is None else round(probe.probe_val_accuracy, 5),
            "probe_rank": rank.get(c.candidate_id),
            "fine_tuned": c.candidate_id in proposed_ids,
            "val_accuracy": None if res is None else round(res.val_accuracy, 5),
            "test_accuracy": None if res is None else round(res.test_accuracy, 5),
            "epochs_run": None if res is None else res.epochs_run,
            "train_seconds": None if res is None else round(res.train_seconds, 3),
        })
    atomic_write_text(out / "candidates.csv", _csv_text(rows))
    chosen_d = _cand_summary(chosen)
    ots_d = _cand_summary(off_the_shelf)
    for d in (chosen_d, ots_d):
        if d is not None and d["candidate_id"] in measured:
            d["measured_latency_ms"] = round(measured[d["candidate_id"]], 4)
        if d is not None:
            for split, n in (("val", len(data.val_y)), ("test", len(data.test_y))):
                ci = accuracy_interval(d[f"{split}_accuracy"], n)
                d[f"{split}_accuracy_ci95"] = None if ci is None else [round(ci[0], 5), round(ci[1], 5)]
    if chosen_d is not None and verified_latency_ms is not None:
        chosen_d["verified_latency_ms"] = round(verified_latency_ms, 4)
        chosen_d["verified_meets_deadline"] = verified_latency_ms <= config.deadline_ms
    # Under ``ranked`` the off-the-shelf networks are usually not fine-tuned; their probe scores still
    # say which would have been the baseline (compared with the chosen TRN's probe score, not its accuracy).
    ots_probe = max((c for c in kept if c.off_the_shelf and c.candidate_id in probes),
                    key=lambda c: (probes[c.candidate_id].probe_val_accuracy, -c.predicted_latency_ms), default=None)
    ots_probe_d = None if ots_probe is None else {
        "candidate_id": ots_probe.candidate_id, "predicted_latency_ms": round(ots_probe.predicted_latency_ms, 4),
        "predicted_upper_ms": round(ots_probe.predicted_upper_ms, 4),
        "probe_val_accuracy": round(probes[ots_probe.candidate_id].probe_val_accuracy, 5),
        "chosen_probe_val_accuracy": (round(probes[chosen_d["candidate_id"]].probe_val_accuracy, 5)
                                      if chosen_d and chosen_d["candidate_id"] in probes else None)}
    fastest_ots = min((c for c in candidates if c.off_the_shelf), key=lambda c: c.predicted_upper_ms, default=None)
    gain = gain_ci = None
    if chosen_d and ots_d and ots_d["test_accuracy"] > 0:
        gain = chosen_d["test_accuracy"] / ots_d["test_accuracy"] - 1.0
        gain_ci = relative_gain_interval(chosen_d["test_accuracy"], ots_d["test_accuracy"], len(data.test_y))
    report = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "netcut_version": __version__,
        "deadline_ms": config.deadline_ms,
        "margin": config.margin,
        "propose": "exhaustive" if config.exhaustive else config.propose,
        "top_k": config.top_k,
        "probe_per_class": config.probe_per_class,
        "mode": config.mode,
        "epochs": config.epochs,
        "seed": config.seed,
        "exhaustive": config.exhaustive,
        "resolutions_px": list(config.resolutions_px),
        "models": list(config.models),
        "data": data.to_dict(),
        "predictor": {"path": str(config.predictor), "device": getattr(predictor, "device_", None)},
        "runtime": runtime,
        "chosen": chosen_d,
        "best_off_the_shelf": ots_d,
        "best_off_the_shelf_by_probe": ots_probe_d,
        "fastest_off_the_shelf": None if fastest_ots is None else {
            "candidate_id": fastest_ots.candidate_id, "predicted_latency_ms": round(fastest_ots.predicted_latency_ms, 4),
            "predicted_upper_ms": round(fastest_ots.predicted_upper_ms, 4),
            "meets_deadline": fastest_ots.candidate_id in kept_ids},
        "relative_accuracy_gain": gain,
        "relative_accuracy_gain_ci95": None if gain_ci is None else [round(gain_ci[0], 5), round(gain_ci[1], 5)],
        "candidates_total": len(candidates),
        "candidates_kept": len(kept),
        "candidates_pruned": len(candidates) - len(kept),
        "candidates_probed": len(probes),
        "candidates_fine_tuned": len(proposed_ids),
        "candidates_trained": len(results),
        "selection_margin": selection_margin(len(results), len(data.val_y)),
        "tie_break": tie_break(chosen, results, kept, len(data.val_y)),
        "candidates_trained_this_run": trained_now,
        "candidates_resumed": resumed,
        "prediction_seconds": round(prediction_seconds, 4),
        "probe_seconds": round(probe_seconds, 3),
        "candidates_measured": len(measured),
        "candidates_measured_this_run": 0 if feasibility is None else feasibility.measured_now,
        "measure_seconds": 0.0 if feasibility is None else round(feasibility.measure_seconds, 3),
        "training_seconds": round(training_seconds, 3),
        "exploration_seconds": round(exploration_seconds, 3),
        "exported_trn": str(exported) if exported else None,
        "files": {"candidates": "candidates.csv", "report": "report.json", "plot": "pareto.png"},
    }
    plot_pareto(rows, config.deadline_ms, chosen_d["candidate_id"] if chosen_d else None, out / "pareto.png",
                title=f"NetCut on {data.source}: deadline {config.deadline_ms:g} ms, mode {config.mode}")
    atomic_write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
    return report


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
    lines.append(f"plot: {out / 'pareto.png'}   table: {out / 'candidates.csv'}   report: {out / 'report.json'}")
    return "\n".join(lines)

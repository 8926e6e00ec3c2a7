"""Search outputs: ``candidates.csv``, ``report.json`` and ``pareto.png`` (all written atomically)."""
from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any, Sequence

from latmodel.fileio import atomic_path, atomic_write_text, sanitize_cell

__all__ = ["REPORT_SCHEMA_VERSION", "CANDIDATE_COLUMNS", "write_report", "pareto_front", "plot_pareto", "summary_text"]

logger = logging.getLogger(__name__)

REPORT_SCHEMA_VERSION = 1
CANDIDATE_COLUMNS = (
    "candidate_id", "base", "cut", "n_blocks", "block_name", "off_the_shelf", "resolution_px", "out_channels",
    "flops", "backbone_latency_ms", "head_latency_ms", "predicted_latency_ms", "predicted_upper_ms", "status", "val_accuracy", "test_accuracy",
    "epochs_run", "train_seconds",
)


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


def plot_pareto(rows: list[dict], deadline_ms: float, chosen_id: str | None, path: Path, *, title: str = "") -> None:
    """Latency vs accuracy: off-the-shelf points, TRN points, each frontier, the deadline line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trained = [r for r in rows if r.get("test_accuracy") not in (None, "")]
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    bases = sorted({r["base"] for r in trained})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, base in enumerate(bases):
        pts = [r for r in trained if r["base"] == base]
        color = colors[i % len(colors)]
        trn = [r for r in pts if not r["off_the_shelf"]]
        ax.scatter([r["predicted_latency_ms"] for r in trn], [100 * r["test_accuracy"] for r in trn], s=18,
                   color=color, alpha=0.75, label=f"{base} TRNs")
        ots = [r for r in pts if r["off_the_shelf"]]
        if not ots:
            continue
        ax.scatter([r["predicted_latency_ms"] for r in ots], [100 * r["test_accuracy"] for r in ots], s=110,
                   marker="*", color=color, edgecolor="black", linewidth=0.6, zorder=4, label=f"{base} off-the-shelf")
    all_pts = [(r["predicted_latency_ms"], 100 * r["test_accuracy"]) for r in trained]
    ots_pts = [(r["predicted_latency_ms"], 100 * r["test_accuracy"]) for r in trained if r["off_the_shelf"]]
    for pts, style, label in ((all_pts, "-", "frontier, TRNs + off-the-shelf"), (ots_pts, ":", "frontier, off-the-shelf only")):
        front = pareto_front(pts)
        if front:
            xs = [p[0] for p in front]
            ys = [p[1] for p in front]
            ax.step(xs, ys, where="post", linestyle=style, color="black", linewidth=1.2, label=label)
    ax.axvline(deadline_ms, color="crimson", linestyle="--", linewidth=1.2, label=f"deadline {deadline_ms:g} ms")
    chosen = next((r for r in trained if r["candidate_id"] == chosen_id), None)
    if chosen:
        ax.scatter([chosen["predicted_latency_ms"]], [100 * chosen["test_accuracy"]], s=220, facecolors="none",
                   edgecolors="crimson", linewidth=2, zorder=5, label=f"chosen: {chosen_id}")
    ax.set_xlabel("predicted latency (ms)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title or "NetCut: latency vs accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
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
        "block_name": cand.block_name, "off_the_shelf": cand.off_the_shelf,
        "predicted_latency_ms": round(cand.predicted_latency_ms, 4),
        "predicted_upper_ms": round(cand.predicted_upper_ms, 4),
        "val_accuracy": res.val_accuracy, "test_accuracy": res.test_accuracy,
    }


def write_report(out: Path, *, config, candidates, kept, results, chosen, off_the_shelf, exported,
                 verified_latency_ms, prediction_seconds, training_seconds, exploration_seconds, resumed,
                 trained_now, data, predictor) -> dict[str, Any]:
    """Write candidates.csv, report.json and pareto.png into ``out``; return the report dict."""
    import json

    from . import __version__

    kept_ids = {c.candidate_id for c in kept}
    rows = []
    for c in candidates:
        res = results.get(c.candidate_id)
        rows.append({
            **{k: v for k, v in c.to_dict().items() if k in CANDIDATE_COLUMNS},
            "backbone_latency_ms": round(c.backbone_latency_ms, 4),
            "head_latency_ms": round(c.head_latency_ms, 4),
            "predicted_latency_ms": round(c.predicted_latency_ms, 4),
            "predicted_upper_ms": round(c.predicted_upper_ms, 4),
            "status": "kept" if c.candidate_id in kept_ids else "pruned",
            "val_accuracy": None if res is None else round(res.val_accuracy, 5),
            "test_accuracy": None if res is None else round(res.test_accuracy, 5),
            "epochs_run": None if res is None else res.epochs_run,
            "train_seconds": None if res is None else round(res.train_seconds, 3),
        })
    atomic_write_text(out / "candidates.csv", _csv_text(rows))
    chosen_d = _cand_summary(chosen)
    ots_d = _cand_summary(off_the_shelf)
    if chosen_d is not None and verified_latency_ms is not None:
        chosen_d["verified_latency_ms"] = round(verified_latency_ms, 4)
        chosen_d["verified_meets_deadline"] = verified_latency_ms <= config.deadline_ms
    gain = None
    if chosen_d and ots_d and ots_d["test_accuracy"] > 0:
        gain = chosen_d["test_accuracy"] / ots_d["test_accuracy"] - 1.0
    report = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "netcut_version": __version__,
        "deadline_ms": config.deadline_ms,
        "margin": config.margin,
        "mode": config.mode,
        "epochs": config.epochs,
        "seed": config.seed,
        "exhaustive": config.exhaustive,
        "resolution_px": config.resolution_px,
        "models": list(config.models),
        "data": data.to_dict(),
        "predictor": {"path": str(config.predictor), "device": getattr(predictor, "device_", None)},
        "chosen": chosen_d,
        "best_off_the_shelf": ots_d,
        "relative_accuracy_gain": gain,
        "candidates_total": len(candidates),
        "candidates_kept": len(kept),
        "candidates_pruned": len(candidates) - len(kept),
        "candidates_trained": len(results),
        "candidates_trained_this_run": trained_now,
        "candidates_resumed": resumed,
        "prediction_seconds": round(prediction_seconds, 4),
        "training_seconds": round(training_seconds, 3),
        "exploration_seconds": round(exploration_seconds, 3),
        "exported_trn": str(exported) if exported else None,
        "files": {"candidates": "candidates.csv", "report": "report.json", "plot": "pareto.png"},
    }
    plot_pareto(rows, config.deadline_ms, chosen_d["candidate_id"] if chosen_d else None, out / "pareto.png",
                title=f"NetCut on {data.source}: deadline {config.deadline_ms:g} ms, mode {config.mode}")
    atomic_write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
    return report


def summary_text(report: dict[str, Any], out: Path) -> str:
    """The lines the CLI prints at the end of a search."""
    lines = []
    c = report.get("chosen")
    o = report.get("best_off_the_shelf")
    lines.append(f"candidates: {report['candidates_total']} total, {report['candidates_pruned']} pruned by the "
                 f"{report['deadline_ms']:g} ms deadline, {report['candidates_trained']} trained "
                 f"({report['candidates_resumed']} resumed); exploration {report['exploration_seconds']:.1f} s")
    if c is None:
        lines.append("no trained candidate meets the deadline")
    else:
        v = f", measured {c['verified_latency_ms']:.2f} ms" if "verified_latency_ms" in c else ""
        lines.append(f"chosen TRN: {c['candidate_id']} (cut after {c['block_name']}, block {c['cut'] + 1} of "
                     f"{c['n_blocks']}): test accuracy {100 * c['test_accuracy']:.2f}%, predicted "
                     f"{c['predicted_latency_ms']:.2f} ms{v}")
    if o is None:
        lines.append("no off-the-shelf network meets the deadline")
    else:
        gain = report.get("relative_accuracy_gain")
        g = f"; relative gain {100 * gain:+.2f}%" if gain is not None else ""
        lines.append(f"best off-the-shelf: {o['candidate_id']}: test accuracy {100 * o['test_accuracy']:.2f}%, "
                     f"predicted {o['predicted_latency_ms']:.2f} ms{g}")
    lines.append(f"exported TRN: {report['exported_trn']}")
    lines.append(f"plot: {out / 'pareto.png'}   table: {out / 'candidates.csv'}   report: {out / 'report.json'}")
    return "\n".join(lines)

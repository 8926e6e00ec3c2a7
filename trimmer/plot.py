"""``pareto.png``: latency against accuracy, validation and test side by side, the off-the-shelf networks at each
resolution as their own marked series, both frontiers, the deadline and the chosen TRN (rendering only: it
draws the rows :func:`trimmer.report.candidate_rows` computed)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from latmodel.fileio import atomic_path

__all__ = ["pareto_front", "plot_pareto"]


def pareto_front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not dominated in (lower latency, higher accuracy), sorted by latency."""
    front: list[tuple[float, float]] = []
    best = float("-inf")
    for lat, acc in sorted(points, key=lambda p: (p[0], -p[1])):
        if acc > best:
            front.append((lat, acc))
            best = acc
    return front


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


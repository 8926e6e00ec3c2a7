"""Render benchmarks/results/*.json into README.md's results section (figures are never typed by hand).

    python benchmarks/render_readme.py

Replaces the text between the markers ``<!-- results:start -->`` and
``<!-- results:end -->`` in README.md.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def _load(name):
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _pct(v, digits=1):
    return "n/a" if v is None else f"{100 * v:.{digits}f}%"


def _header(r):
    return f"*{r.get('date', '?')}, {r.get('machine', '?')}; `{r.get('command', '?')}`*\n"


def section_accuracy(r):
    lines = ["### Latency prediction on held-out architecture families (CPU, 1 thread)\n", _header(r)]
    levels = r.get("levels") or {}
    if not levels:
        return lines + ["```", json.dumps(r, indent=1)[:1500], "```"]
    lines.append("| level | estimator | within ±10% | MAPE | RMSPE |")
    lines.append("|---|---|---|---|---|")
    for level, ests in levels.items():
        for est, m in ests.items():
            lines.append(f"| {level} | {est} | {_pct(m.get('within_10'))} | {_pct(m.get('mape'))} | {_pct(m.get('rmspe'))} |")
    if "deadline_classification" in r:
        lines.append("")
        lines.append("Deadline classification (TRN meets / misses a deadline), share correct: " + ", ".join(
            f"{k} {_pct(v)}" for k, v in r["deadline_classification"].items()))
    return lines


def section_speed(r):
    lines = ["### Query speed\n", _header(r), "| quantity | value |", "|---|---|"]
    for k, v in r.items():
        if k in ("benchmark", "date", "machine", "command") or isinstance(v, (dict, list)):
            continue
        lines.append(f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |")
    return lines


def section_exploration(r):
    lines = ["### Exploration time: NetCut vs exhaustive retraining\n", _header(r),
             "| mode | deadline (ms) | NetCut s | exhaustive s | speedup | trained (NetCut / all) | same pick | accuracy given up | NetCut pick meets deadline (measured) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for mode, m in r["modes"].items():
        for d in m["deadlines"]:
            if "error" in d:
                lines.append(f"| {mode} | {d['deadline_ms']} | {d['error']} | | | | | | |")
                continue
            gave = d["accuracy_given_up"]
            lines.append(
                f"| {mode} | {d['deadline_ms']} | {d['netcut_seconds']:.1f} | {d['exhaustive_seconds']:.1f} | "
                f"{d['speedup']:.1f}x | {d['netcut_trained']} / {d['exhaustive_trained']} | {'yes' if d['same_pick'] else 'no'} | "
                f"{'n/a' if gave is None else f'{100 * gave:+.2f} pt'} | {'yes' if d['netcut_pick_meets_deadline_measured'] else 'no'} |")
    return lines


def section_pareto(r):
    d = r["data"]
    lines = ["### Pareto frontier on Fashion-MNIST: best TRN vs best off-the-shelf within a deadline\n", _header(r),
             f"{d.get('n_train')} train / {d.get('n_val')} val / {d.get('n_test')} test images, {r['resolution_px']} px, "
             f"head retraining, {r['epochs']} epochs; latency measured (prefix alone + head), CPU 1 thread.\n",
             "![pareto](benchmarks/results/pareto.png)\n",
             "| deadline (ms) | best off-the-shelf | its accuracy | best TRN | its accuracy | relative gain |",
             "|---|---|---|---|---|---|"]
    for t in r["deadlines"]:
        gain = "n/a" if t["relative_gain"] is None else f"{100 * t['relative_gain']:+.2f}%"
        lines.append(f"| {t['deadline_ms']} | {t['best_ots'] or '—'} | {_pct(t['best_ots_test_accuracy'], 2)} | "
                     f"{t['best_trn'] or '—'} | {_pct(t['best_trn_test_accuracy'], 2)} | {gain} |")
    lines.append(f"\nLargest relative gain: {_pct(r['max_relative_gain'], 2)}; TRNs help at "
                 f"{r['deadlines_where_trn_helps']} of {len(r['deadlines'])} deadlines; at "
                 f"{r['deadlines_with_no_ots']} only a TRN meets the deadline.")
    return lines


def section_costs(r):
    p, f, m = r["profile_default_corpus"], r["fit"], r["main_job"]
    return ["### Costs\n", _header(r), "| what | figure |", "|---|---|",
            f"| `latmodel profile`, default corpus ({p['configs']} configs, {p['rows']} rows) | {p['span_minutes']} min |",
            f"| `latmodel fit` ({f['rows']} rows), no CV | {f['seconds']} s, peak {f['peak_rss_mib']} MiB |",
            f"| `latmodel fit` with leave-one-family-out CV | {r.get('fit_with_cv_seconds')} s |",
            f"| main job (`make demo`'s `trimmer search`) | {m['seconds']} s |"]


def section_adaptation(r):
    lines = ["### Adapting to a new device from few measurements\n", _header(r)]
    rows = r.get("rows") or r.get("results") or []
    if rows and isinstance(rows, list) and isinstance(rows[0], dict):
        keys = list(rows[0].keys())
        lines.append("| " + " | ".join(keys) + " |")
        lines.append("|" + "---|" * len(keys))
        for row in rows:
            lines.append("| " + " | ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in row.values()) + " |")
    else:
        lines += ["```", json.dumps(r, indent=1)[:2000], "```"]
    if (RESULTS / "adaptation.png").is_file():
        lines.append("\n![adaptation](benchmarks/results/adaptation.png)")
    return lines


SECTIONS = [("predictor_accuracy", section_accuracy), ("query_speed", section_speed),
            ("adaptation", section_adaptation), ("exploration", section_exploration), ("pareto", section_pareto),
            ("costs", section_costs)]


def render() -> str:
    out = []
    for name, fn in SECTIONS:
        r = _load(name)
        if r is None:
            out.append(f"### {name}\n\nnot run yet: `python benchmarks/bench_{name}.py`\n")
            continue
        try:
            out.append("\n".join(fn(r)) + "\n")
        except (KeyError, TypeError) as exc:
            out.append(f"### {name}\n\n(could not render: {exc!r}; see benchmarks/results/{name}.json)\n")
    return "\n".join(out)


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        print(f"README.md lacks the markers {START} / {END}", file=sys.stderr)
        return 2
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(head + START + "\n" + render() + END + tail)
    print("README.md results section updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())

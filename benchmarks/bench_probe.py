"""The probe's cost against its ranking quality: forward-pass precision and training images per class.

    python benchmarks/bench_probe.py --exhaustive W/exhaustive-finetune [--exhaustive W2 ...]
        [--per-class 100,24,12] [--precisions auto] [--deadlines 25]

``--exhaustive`` is the folder of an exhaustive search (``trimmer search --exhaustive``, e.g. the one
``bench_exploration.py`` leaves in its ``--work``): every candidate fine-tuned, so its validation and test
accuracies are known.  For every (base network, resolution) of that run the probe runs as the ranked search
runs it (:func:`trimmer.probe.probe_base`, every cut, the same data, seed and threads), in float32 and, when this
CPU computes bfloat16 natively (:func:`trimmer.compute.native_bf16`), in bfloat16, with each ``--per-class``
number of training images per class; the settings alternate over ``--rounds`` rounds and each setting's seconds
are the median of its rounds.  Measure alone: nothing else may run.

Ranking quality, against the exhaustive run's fine-tuned accuracies of the same candidates: Spearman correlation
of the probe score with validation and with test accuracy; and at ``--deadlines`` deadlines (from the fastest
candidate's upper bound to past the slowest, as bench_exploration spaces them) whether the probe's first choice
among the candidates meeting the deadline by their upper bound (:func:`trimmer.proposal.probe_order`, what
top-1 ranked fine-tunes) is the exhaustive pick among the same candidates (highest validation accuracy, ties to
the lower predicted latency), how many validation images it trails by, and the test accuracy given up.

Writes benchmarks/results/probe.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_exploration import best_by_val, read_candidates, upper_ms  # noqa: E402
from benchmarks.results_io import repo_relative, result_header, write_result  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def probe_all(bases, data, per_class: int, precision: str, seed: int) -> tuple[dict[str, float], float]:
    """({candidate id: probe score} of every cut of every base, seconds of all the probe calls)."""
    from trimmer.probe import probe_base

    scores, seconds = {}, 0.0
    for (base, res), (chain, ids) in bases.items():
        t = time.perf_counter()
        got = probe_base(chain, ids, data, res, per_class=per_class, seed=seed, precision=precision)
        seconds += time.perf_counter() - t
        scores.update({p.candidate_id: p.probe_val_accuracy for p in got})
    return scores, seconds


def ranking_quality(rows, scores: dict[str, float], deadlines, n_val: int) -> dict:
    """Spearman correlations and top-1 picks against the exhaustive fine-tunings (see the module docstring)."""
    from scipy.stats import spearmanr

    from trimmer.candidates import Candidate
    from trimmer.proposal import probe_order

    done = [r for r in rows if r["val_accuracy"] not in ("", None)]
    s = [scores[r["candidate_id"]] for r in done]
    by_id = {r["candidate_id"]: r for r in done}
    cands = {r["candidate_id"]: Candidate.from_dict(r) for r in done}
    picks = []
    for d in deadlines:
        ok = [c for c in cands.values() if c.fits(d, "upper")]
        if not ok:
            continue
        mine = by_id[probe_order(ok, scores)[0].candidate_id]
        best = best_by_val(done, lambda r, d=d: cands[r["candidate_id"]].fits(d, "upper"))
        picks.append({"deadline_ms": d, "feasible": len(ok), "pick": mine["candidate_id"],
                      "exhaustive_pick": best["candidate_id"], "same_pick": mine is best,
                      "val_images_behind": round((float(best["val_accuracy"]) - float(mine["val_accuracy"])) * n_val),
                      "test_given_up": float(best["test_accuracy"]) - float(mine["test_accuracy"])})
    return {
        "spearman_val": float(spearmanr(s, [float(r["val_accuracy"]) for r in done]).statistic),
        "spearman_test": float(spearmanr(s, [float(r["test_accuracy"]) for r in done]).statistic),
        "deadlines": len(picks),
        "same_pick": sum(p["same_pick"] for p in picks),
        "test_given_up_mean": statistics.fmean(p["test_given_up"] for p in picks),
        "test_given_up_max": max(p["test_given_up"] for p in picks),
        "val_images_behind_median": statistics.median(p["val_images_behind"] for p in picks),
        "picks": picks,
    }


def run_one(ex: Path, precisions, per_class, n_deadlines: int, rounds: int) -> dict:
    """Every probe setting on the chains of the exhaustive search in ``ex``, timed and scored."""
    from trimmer.data import load_data
    from trimmer.jobs import base_chain

    spec = json.loads((ex / "search.json").read_text())["data_spec"]
    report = json.loads((ex / "report.json").read_text())
    rows = read_candidates(ex)
    data = load_data(spec["data"], seed=spec["seed"], limit_per_class=spec["limit_per_class"],
                     val_fraction=spec["val_fraction"])
    by_chain: dict[tuple[str, int], dict[int, str]] = {}
    for r in rows:
        by_chain.setdefault((r["base"], int(r["resolution_px"])), {})[int(r["cut"])] = r["candidate_id"]
    bases = {(b, res): (base_chain(b, res, weights_path=None, pretrained=True, seed=spec["seed"])[0], ids)
             for (b, res), ids in by_chain.items()}
    ups = sorted(upper_ms(r) for r in rows)
    lo, hi = ups[0] * 1.02, ups[-1] * 1.05
    deadlines = [round(lo + (hi - lo) * i / (n_deadlines - 1), 2) for i in range(n_deadlines)]

    settings = [(p, k) for p in precisions for k in per_class]
    seconds: dict[tuple[str, int], list[float]] = {s: [] for s in settings}
    scores: dict[tuple[str, int], dict[str, float]] = {}
    for rnd in range(rounds):
        for s in (settings if rnd % 2 == 0 else settings[::-1]):
            scores[s], sec = probe_all(bases, data, s[1], s[0], spec["seed"])
            seconds[s].append(sec)
            print(f"{ex.name} round {rnd + 1}: {s[0]} {s[1]}/class: {sec:.1f} s", flush=True)
    n_val = len(data.val_y)
    results = []
    for s in settings:
        n_train = min(len(data.train_y), s[1] * data.n_classes)
        results.append({"precision": s[0], "per_class": s[1], "n_train": n_train, "n_val": n_val,
                        "seconds": round(statistics.median(seconds[s]), 2),
                        "seconds_rounds": [round(v, 2) for v in seconds[s]],
                        **ranking_quality(rows, scores[s], deadlines, n_val)})
    for r in results:
        r["speedup_vs_first"] = round(results[0]["seconds"] / r["seconds"], 2)
        print(f"{ex.name}: {r['precision']:>8} {r['per_class']:>4}/class: {r['seconds']:6.1f} s  spearman val "
              f"{r['spearman_val']:.3f} test {r['spearman_test']:.3f}  same pick {r['same_pick']}/{r['deadlines']}  "
              f"test given up mean {100 * r['test_given_up_mean']:.2f} max {100 * r['test_given_up_max']:.2f} points")
    return {"exhaustive": repo_relative(ex), "data_spec": spec, "mode": report.get("mode"),
            "candidates": len(rows), "chains": len(bases), "n_train": len(data.train_y), "n_val": n_val,
            "n_test": len(data.test_y), "deadlines_ms": deadlines, "results": results}


def main(argv=None) -> int:
    import torch

    from trimmer.compute import keep_freed_memory, native_bf16

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exhaustive", action="append", required=True,
                    help="folder of an exhaustive trimmer search (its candidates.csv); repeatable")
    ap.add_argument("--per-class", default="100,24,12", help="training images per class the probe fits on")
    ap.add_argument("--precisions", default="auto", help="float32,bfloat16 (auto: bfloat16 too where native)")
    ap.add_argument("--deadlines", type=int, default=25)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--note", default="")
    ap.add_argument("--out", default=str(RESULTS / "probe.json"))
    args = ap.parse_args(argv)

    keep_freed_memory()  # as the search does
    precisions = (["float32", "bfloat16"] if native_bf16() else ["float32"]) if args.precisions == "auto" \
        else args.precisions.split(",")
    per_class = [int(v) for v in args.per_class.split(",")]
    runs = [run_one(Path(ex), precisions, per_class, args.deadlines, args.rounds) for ex in args.exhaustive]
    out = {**result_header("probe", argv), "torch_threads": torch.get_num_threads(), "native_bf16": native_bf16(),
           "note": args.note, "runs": runs}
    write_result(args.out, out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

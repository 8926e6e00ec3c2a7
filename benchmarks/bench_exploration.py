"""Exploration time: NetCut's proposal policies vs exhaustive fine-tuning, on real Fashion-MNIST.

    python benchmarks/bench_exploration.py                  # finetune, 4 base networks, 5 deadlines (~25 min)
    python benchmarks/bench_exploration.py --modes finetune,full
    python benchmarks/bench_exploration.py --work W --evaluate-only --truth T.csv   # re-evaluate a run

One run, side by side:

* ``exhaustive``: every candidate of every base network fine-tuned (deadline ignored), once, from an empty
  folder (``--reuse-exhaustive`` keeps a finished one instead of timing a resumed one); for each
  deadline its pick is the most accurate (validation) candidate whose *measured* latency meets it
  (the empirical estimator: retrain everything, measure everything).
* ``ranked`` (NetCut's default): run for real, from an empty output folder, at each deadline: a
  closed-form probe scores every feasible candidate (one forward pass per base network), the best
  ``top_k`` are fine-tuned; feasibility by ``--margin`` (the predictor's upper bound by default;
  ``measured``: the borderline candidates it would fine-tune are timed during the search, and that
  time counts).
* ``deepest`` and ``feasible``: what they fine-tune is fixed by the deadline alone and every
  fine-tuning is deterministic (same seed, data and settings as the exhaustive run), so their picks
  are exactly the exhaustive run's results for their candidates; their time is this run's measured
  training seconds of those candidates plus the measured fixed cost of a search (data, networks,
  prediction), both from this same run.  Running them too would double the benchmark's time.  Under
  ``--margin measured`` a borderline candidate counts as meeting the deadline by its ground truth
  and costs the ``ranked`` runs' mean seconds per measurement.

Ground truth latency of a TRN: its prefix measured alone (``latmodel profile``, 1 thread, child
process, calibration settings), at the predictor's yardstick speed (:func:`measured_prefix_ms`), plus the
predicted head.  Also reported from the same run: which pick
``ranked`` would make with top-k = 1, 2, 3 (from its probe ranks and the exhaustive results), the
evidence for the default top-k.

``--replicate-seeds 1,2``: the exhaustive run again with other training seeds on the very same images and split
(``SearchConfig(seed=s, data_seed=0)``), and how often *exhaustive agrees with itself* on the pick at each deadline:
the ceiling of any policy's "same pick", set by how much of the choice is training noise.

Writes benchmarks/results/exploration.json and exploration.png.
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.results_io import repo_relative, result_header, write_result  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
POLICIES = ("ranked", "deepest", "feasible")
#: ``--sweep``: ranked at every deadline in one output folder, ascending (probe scores and fine-tunings reused)
SWEEP_POLICY = "ranked, one --out"


def measured_prefix_ms(models, resolutions, workdir: Path, table=None, runtime: str = "torch",
                       threads: int = 1, predictor=None) -> dict[tuple[str, int, int], float]:
    """(base, resolution, cut) -> measured latency of blocks 0..cut run alone (ms), via latmodel profile in
    ``runtime`` with its measuring method (or read from ``table``).

    ``predictor`` (a loaded one): the table's windows are put at its yardstick speed
    (:func:`latmodel.predict.evaluation.at_predictor_scale`, the rule ``latmodel evaluate`` uses), so the truth
    is the latency in the machine's fast state, on the scale the predictor was fitted at, whatever phase of the
    host each window fell into (two passes of the same 12 configurations on the stepping-1 Xeon, 2026-12-04:
    43% / 93% of prefixes within 5 / 10% as measured, 83% / 99% at one yardstick reference).  A table of another
    device than the predictor's is put at its own fastest window instead."""
    from latmodel.measure.profiling import profile
    from latmodel.measure.table import read_table

    if table is None:
        table = workdir / "truth.csv"
        profile(list(models), table, resolutions=list(resolutions), threads=threads, pin_cpu=1, progress=True,
                runtime=runtime)
    df = read_table(table)
    if predictor is not None:
        from latmodel.predict.evaluation import at_predictor_scale

        df, other = at_predictor_scale(predictor, df)
        if other:
            print(f"warning: truth {table}: {other}; its windows are put at its own fastest window")
    return {(r.model, int(r.resolution_px), int(r.block_index)): float(r.prefix_ms) for r in df.itertuples()}


def read_candidates(out: Path) -> list[dict]:
    with open(out / "candidates.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def best_by_val(rows, ok) -> dict | None:
    pool = [r for r in rows if r["val_accuracy"] not in ("", None) and ok(r)]
    if not pool:
        return None
    return max(pool, key=lambda r: (float(r["val_accuracy"]), -float(r["predicted_latency_ms"])))


def upper_ms(r) -> float:
    return float(r["predicted_upper_ms"])


def main(argv=None) -> int:
    from trimmer.search import SearchConfig, run_search

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mobilenet_v2,efficientnet_lite0,efficientnet_lite1,efficientnet_lite2")
    ap.add_argument("--modes", default="finetune")
    ap.add_argument("--data", default="fashion-mnist", help="dataset spec (default: Debian's dataset-fashion-mnist)")
    ap.add_argument("--limit-per-class", type=int, default=120, help="images per class of train and of test")
    ap.add_argument("--val-fraction", type=float, default=0.2)
    ap.add_argument("--resolutions", default="96", help="comma-separated input resolutions the searches cover")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--deadlines", type=int, default=5)
    ap.add_argument("--work", help="work folder (default: a new temporary one)")
    ap.add_argument("--evaluate-only", action="store_true",
                    help="no searches: re-read --work's search folders (e.g. with a re-measured --truth)")
    ap.add_argument("--truth", help="ground-truth table (latmodel profile of the base networks at --resolutions); "
                                    "default: measured now into --work")
    ap.add_argument("--exhaustive-feasibility", choices=("measured", "upper"), default="measured",
                    help="which candidates the exhaustive baseline may pick at a deadline: those whose latency "
                         "measured here meets it (default), or those whose predicted upper bound does (the same "
                         "rule as NetCut: for a machine that is not the predictor's device)")
    ap.add_argument("--predictor", default=None,
                    help="predictor folder every search prices with (default: the search's); the ground truth "
                         "is measured in its runtime and thread count")
    ap.add_argument("--margin", choices=("upper", "none", "measured"), default="upper",
                    help="the searches' --margin (measured: borderline candidates are timed here during the search)")
    ap.add_argument("--reuse-exhaustive", action="store_true",
                    help="keep --work's finished exhaustive run instead of running it again (the ranked searches "
                         "still run, from empty folders)")
    ap.add_argument("--sweep", action="store_true",
                    help="also run ranked at every deadline in ONE output folder, ascending, as a user sweeping "
                         "deadlines does: probe scores and fine-tunings of earlier deadlines are reused")
    ap.add_argument("--replicate-seeds", default="",
                    help="comma-separated training seeds: rerun the exhaustive search with each on the same data "
                         "split (reused when its folder holds a finished run) and report how often the picks agree")
    ap.add_argument("--note", default="", help="a line about this run, kept in the JSON and the README")
    ap.add_argument("--out", default=str(RESULTS / "exploration.json"))
    args = ap.parse_args(argv)
    models = tuple(args.models.split(","))
    resolutions = tuple(int(v) for v in args.resolutions.split(","))
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="netcut-explore-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    from latmodel.predict.predictor_io import load_predictor
    from latmodel.predict.shipped import choose_predictor

    predictor_dir = Path(args.predictor) if args.predictor else Path(choose_predictor().path)
    predictor = load_predictor(predictor_dir)
    device = predictor.device_ or {}
    runtime, threads = str(device.get("runtime") or "torch"), int(device.get("threads") or 1)
    truth = measured_prefix_ms(models, resolutions, work, table=args.truth, runtime=runtime, threads=threads,
                               predictor=predictor)
    measure_seconds = time.perf_counter() - t0

    results = {**result_header("exploration", argv),
               "models": list(models), "resolutions_px": list(resolutions), "epochs": args.epochs,
               "data": args.data, "limit_per_class": args.limit_per_class, "val_fraction": args.val_fraction,
               "ground_truth_measure_seconds": round(measure_seconds, 1), "note": args.note,
               "ground_truth_yardstick_reference_ms": (predictor.yardstick_ or {}).get("reference_ms"),
               "predictor": str(predictor_dir.relative_to(ROOT) if predictor_dir.is_relative_to(ROOT) else predictor_dir),
               "runtime": runtime, "threads": threads, "margin": args.margin, "modes": {}}
    for mode in args.modes.split(","):
        common = dict(models=models, mode=mode, epochs=args.epochs, resolutions_px=resolutions, seed=0,
                      data=args.data, limit_per_class=args.limit_per_class, val_fraction=args.val_fraction,
                      predictor=str(predictor_dir))
        ex_out = work / f"exhaustive-{mode}"
        reuse = args.reuse_exhaustive and (ex_out / "report.json").is_file()
        if not (args.evaluate_only or reuse):
            # from empty: a search resumes the candidates its folder already holds, and a resumed exhaustive run
            # would be timed at seconds (a rerun over an earlier --work once read 4.2 s for 706 s of training)
            shutil.rmtree(ex_out, ignore_errors=True)
            run_search(SearchConfig(deadline_ms=1e6, exhaustive=True, **common), ex_out, progress=True)
        rows = read_candidates(ex_out)
        ups = sorted(upper_ms(r) for r in rows)
        lo, hi = ups[0] * 1.02, ups[-1] * 1.05  # from the fastest candidate's upper bound to past the slowest
        deadlines = [round(lo + (hi - lo) * i / (args.deadlines - 1), 2) for i in range(args.deadlines)]
        for deadline in deadlines:
            if not args.evaluate_only:
                shutil.rmtree(work / f"ranked-{mode}-{deadline}", ignore_errors=True)  # from empty, every time
                run_search(SearchConfig(deadline_ms=deadline, propose="ranked", margin=args.margin, **common),
                           work / f"ranked-{mode}-{deadline}", progress=True)
        sweep = work / f"ranked-sweep-{mode}"
        if args.sweep and not args.evaluate_only:
            shutil.rmtree(sweep, ignore_errors=True)
            sweep.mkdir(parents=True)
            for deadline in deadlines:
                report = run_search(SearchConfig(deadline_ms=deadline, propose="ranked", margin=args.margin, **common),
                                    sweep / "out", progress=True)
                (sweep / f"report-{deadline}.json").write_text(json.dumps(report, indent=1))
        results["modes"][mode] = evaluate(work, mode, deadlines, truth, args.exhaustive_feasibility, args.margin)
        seeds = [int(v) for v in args.replicate_seeds.split(",") if v.strip()]
        for s in seeds:
            rep_out = work / f"exhaustive-{mode}-seed{s}"
            if not (args.evaluate_only or (rep_out / "report.json").is_file()):
                run_search(SearchConfig(deadline_ms=1e6, exhaustive=True, **{**common, "seed": s, "data_seed": 0}),
                           rep_out, progress=True)
        if seeds:
            results["modes"][mode]["exhaustive_replicates"] = replicate_agreement(
                work, mode, deadlines, truth, seeds, args.exhaustive_feasibility)
        results["modes"][mode]["exhaustive_reused"] = bool(reuse)
    results["exhaustive_feasibility"] = args.exhaustive_feasibility
    png = Path(args.out).with_suffix(".png")
    results["plot"] = repo_relative(png)
    write_result(args.out, results)
    plot(results, png)
    print(f"wrote {args.out}")
    return 0


def deadline_rule(margin: str, deadline: float, measured: dict):
    """The searches' :class:`~trimmer.feasibility.Feasibility` for a row of candidates.csv; under ``measured`` a
    borderline row is "timed" by its ground truth (``measured``), and ``measured_now`` counts those timings."""
    from trimmer.feasibility import Feasibility

    return Feasibility(deadline, margin, measure=lambda c: measured.get(c.candidate_id, float("inf")))


def _validation_tie(pick, ex_pick, by_id, n_val: int) -> dict:
    """How far the pick trails the exhaustive pick on validation (fraction), and whether the validation split can tell
    them apart (:func:`trimmer.intervals.pairwise_half_width`, the band of report.json's ``tie_break``).  Both
    accuracies from the exhaustive run's fine-tunings."""
    from trimmer.intervals import pairwise_half_width

    if not (pick and ex_pick) or pick["candidate_id"] not in by_id or not n_val:
        return {"val_gap": None, "tied_on_validation": None}
    best = float(by_id[ex_pick["candidate_id"]]["val_accuracy"])
    mine = float(by_id[pick["candidate_id"]]["val_accuracy"])
    return {"val_gap": best - mine, "tied_on_validation": bool(best - mine <= pairwise_half_width(best, mine, n_val))}


def exhaustive_ties(ex_pick, eligible, n_val: int) -> int | None:
    """How many of the candidates the exhaustive run could pick (``eligible``, its pick included) the validation
    split cannot tell from its pick (:func:`_validation_tie`'s band): the odds of any other policy making the
    *same* pick are about one in this many when the probe cannot see the differences either."""
    from trimmer.intervals import pairwise_half_width

    if not ex_pick or not n_val:
        return None
    best = float(ex_pick["val_accuracy"])
    return sum(best - float(r["val_accuracy"]) <= pairwise_half_width(best, float(r["val_accuracy"]), n_val)
               for r in eligible)


def measured_ms(rows, truth) -> dict[str, float]:
    """candidate_id -> ground-truth latency (prefix alone + predicted head) of the rows ``truth`` covers."""
    key = lambda r: (r["base"], int(r["resolution_px"]), int(r["cut"]))  # noqa: E731
    return {r["candidate_id"]: truth[key(r)] + float(r["head_latency_ms"]) for r in rows if key(r) in truth}


def exhaustive_eligible(feasibility: str, deadline: float, measured: dict):
    """Which candidates.csv rows the exhaustive run may pick at ``deadline``: those whose ground truth
    (``measured``) meets it, or under ``feasibility`` "upper" those whose predicted upper bound does."""
    if feasibility == "measured":
        return lambda r: measured.get(r["candidate_id"], float("inf")) <= deadline
    return lambda r: upper_ms(r) <= deadline


def replicate_agreement(work: Path, mode: str, deadlines, truth, seeds, feasibility: str = "measured") -> dict:
    """How often exhaustive runs that differ only in their training seed (same images, same split) pick the same
    candidate at each deadline, by the rule :func:`evaluate` gives the exhaustive run: every pair of runs, and the
    seed-0 run against each other.  Also how far fine-tuning moves a candidate's accuracy between seeds."""
    import itertools

    import numpy as np
    from scipy.stats import spearmanr

    runs = {0: read_candidates(work / f"exhaustive-{mode}")}
    runs.update({s: read_candidates(work / f"exhaustive-{mode}-seed{s}") for s in seeds})
    measured = measured_ms(runs[0], truth)
    per_deadline = []
    for deadline in deadlines:
        ok = exhaustive_eligible(feasibility, deadline, measured)
        picks = {s: best_by_val(rows, ok) for s, rows in runs.items()}
        per_deadline.append({"deadline_ms": deadline,
                             "picks": {str(s): p["candidate_id"] if p else None for s, p in picks.items()},
                             "pick_test_accuracy": {str(s): float(p["test_accuracy"]) if p else None
                                                    for s, p in picks.items()}})
    pairs = list(itertools.combinations(runs, 2))
    agree = [d["picks"][str(a)] == d["picks"][str(b)] for d in per_deadline for a, b in pairs]
    vs0 = [d["picks"]["0"] == d["picks"][str(s)] for d in per_deadline for s in seeds]
    ids = [r["candidate_id"] for r in runs[0]]
    acc = {s: {r["candidate_id"]: r for r in rows} for s, rows in runs.items()}
    val_rho, test_moves = [], []
    for a, b in pairs:
        va = [float(acc[a][i]["val_accuracy"]) for i in ids]
        vb = [float(acc[b][i]["val_accuracy"]) for i in ids]
        val_rho.append(float(spearmanr(va, vb)[0]))
        test_moves += [abs(float(acc[a][i]["test_accuracy"]) - float(acc[b][i]["test_accuracy"])) for i in ids]
    return {"seeds": [0, *seeds], "deadlines": per_deadline,
            "same_pick_all_pairs": int(sum(agree)), "pairs_compared": len(agree),
            "same_pick_as_seed0": int(sum(vs0)), "compared_with_seed0": len(vs0),
            "val_accuracy_spearman_between_seeds": [round(v, 3) for v in val_rho],
            "test_accuracy_abs_change_median_pt": round(100 * float(np.median(test_moves)), 2),
            "test_accuracy_abs_change_p90_pt": round(100 * float(np.percentile(test_moves, 90)), 2)}


def evaluate(work: Path, mode: str, deadlines, truth, feasibility: str = "measured", margin: str = "upper") -> dict:
    """Every policy at every deadline, from the search folders in ``work`` and the ground truth."""
    ex_out = work / f"exhaustive-{mode}"
    ex = json.loads((ex_out / "report.json").read_text())
    rows = read_candidates(ex_out)
    by_id = {r["candidate_id"]: r for r in rows}
    from trimmer.candidates import Candidate

    cand = {cid: Candidate.from_dict(r) for cid, r in by_id.items()}
    measured = measured_ms(rows, truth)
    train_s = {r["candidate_id"]: float(r["train_seconds"]) for r in rows}
    fixed_s = ex["exploration_seconds"] - ex["training_seconds"]
    per_policy = {p: [] for p in POLICIES}
    top_k_picks = []
    reports = {d: json.loads((work / f"ranked-{mode}-{d}" / "report.json").read_text()) for d in deadlines}
    sweep = {d: json.loads(f.read_text()) for d in deadlines
             if (f := work / f"ranked-sweep-{mode}" / f"report-{d}.json").is_file()}
    n_meas = sum(r.get("candidates_measured_this_run", 0) for r in reports.values())
    measure_s = sum(r.get("measure_seconds", 0.0) for r in reports.values()) / n_meas if n_meas else 0.0
    for deadline in deadlines:
        eligible_ex = exhaustive_eligible(feasibility, deadline, measured)
        ex_pick = best_by_val(rows, eligible_ex)
        ties = exhaustive_ties(ex_pick, [r for r in rows if eligible_ex(r)], ex["data"]["n_val"])
        rule = deadline_rule(margin, deadline, measured)
        possible = [r for r in rows if rule.possible(cand[r["candidate_id"]])]
        feasible = [r for r in possible if rule.meets(cand[r["candidate_id"]])]
        timed_feasible = rule.measured_now

        def entry(pick, seconds, trained, extra=None):
            pick_ms = measured.get(pick["candidate_id"]) if pick else None
            d = {"deadline_ms": deadline, "seconds": round(seconds, 2),
                 "exhaustive_seconds": round(ex["exploration_seconds"], 2),
                 "speedup": ex["exploration_seconds"] / max(1e-9, seconds),
                 "fine_tuned": trained, "exhaustive_fine_tuned": ex["candidates_trained"],
                 "pick": pick["candidate_id"] if pick else None,
                 "pick_test_accuracy": float(pick["test_accuracy"]) if pick else None,
                 "pick_measured_ms": pick_ms,
                 "pick_meets_deadline_measured": pick_ms is not None and pick_ms <= deadline,
                 "exhaustive_pick": ex_pick["candidate_id"] if ex_pick else None,
                 "exhaustive_pick_test_accuracy": float(ex_pick["test_accuracy"]) if ex_pick else None,
                 "same_pick": bool(pick and ex_pick and pick["candidate_id"] == ex_pick["candidate_id"]),
                 **_validation_tie(pick, ex_pick, by_id, ex["data"]["n_val"]),
                 "accuracy_given_up": (float(ex_pick["test_accuracy"]) - float(pick["test_accuracy"]))
                 if (pick and ex_pick) else None}
            d.update(extra or {})
            return d

        nc_out = work / f"ranked-{mode}-{deadline}"
        nc = reports[deadline]
        c = nc["chosen"]
        pick = {"candidate_id": c["candidate_id"], "test_accuracy": c["test_accuracy"]} if c else None
        if c and abs(float(by_id[c["candidate_id"]]["test_accuracy"]) - c["test_accuracy"]) > 1e-4:
            print(f"warning: {c['candidate_id']} fine-tuned to another accuracy than in the exhaustive run")
        per_policy["ranked"].append(entry(pick, nc["exploration_seconds"], nc["candidates_trained"],
                                          {"probe_seconds": nc["probe_seconds"], "probed": nc["candidates_probed"],
                                           "measured": nc.get("candidates_measured", 0),
                                           "measure_seconds": nc.get("measure_seconds", 0.0),
                                           "training_seconds": nc.get("training_seconds"),
                                           # the speedup a free probe and a free search would leave: the
                                           # fine-tunings alone (the TRN's and the off-the-shelf baseline's)
                                           "training_bound_speedup": ex["exploration_seconds"] / nc["training_seconds"]
                                           if nc.get("training_seconds") else None,
                                           "exhaustive_tied_candidates": ties}))
        print(json.dumps(per_policy["ranked"][-1]), flush=True)
        if deadline in sweep:  # the same policy in one --out, deadlines ascending: earlier work reused
            sw = sweep[deadline]
            c = sw["chosen"]
            per_policy.setdefault(SWEEP_POLICY, []).append(entry(
                {"candidate_id": c["candidate_id"], "test_accuracy": c["test_accuracy"]} if c else None,
                sw["exploration_seconds"], sw["candidates_trained_this_run"],
                {"probe_seconds": sw["probe_seconds"], "resumed": sw.get("candidates_resumed", 0)}))
        # what top-k = 1, 2, 3 would have picked (probe ranks of this run + the exhaustive results)
        rank = {q["candidate_id"]: int(q["probe_rank"]) for q in read_candidates(nc_out) if q["probe_rank"]}
        # the policy walks the probe order, skipping what does not meet the deadline
        ranked_rows = [r for r in sorted((r for r in possible if r["candidate_id"] in rank),
                                         key=lambda r: rank[r["candidate_id"]]) if rule.meets(cand[r["candidate_id"]])]
        ks = {}
        for k in (1, 2, 3):
            pk = best_by_val(ranked_rows[:k], lambda r: True)
            ks[str(k)] = {"pick": pk["candidate_id"] if pk else None,
                          "same_pick": bool(pk and ex_pick and pk["candidate_id"] == ex_pick["candidate_id"]),
                          "accuracy_given_up": (float(ex_pick["test_accuracy"]) - float(pk["test_accuracy"]))
                          if (pk and ex_pick) else None}
        top_k_picks.append({"deadline_ms": deadline, "top_k": ks})
        # deepest and feasible: composed from this run's measured costs (see the module docstring)
        deepest, walk = {}, deadline_rule(margin, deadline, measured)
        for r in sorted(possible, key=lambda r: -int(r["cut"])):  # per base, deepest first, as the policy walks
            if r["base"] not in deepest and walk.meets(cand[r["candidate_id"]]):
                deepest[r["base"]] = r
        timed = {"deepest": walk.measured_now, "feasible": timed_feasible}
        for policy, chosen_rows in (("deepest", list(deepest.values())), ("feasible", feasible)):
            pick = best_by_val(chosen_rows, lambda r: True)
            seconds = fixed_s + sum(train_s[r["candidate_id"]] for r in chosen_rows) + timed[policy] * measure_s
            per_policy[policy].append(entry(pick, seconds, len(chosen_rows), {"composed": True,
                                                                              "measured": timed[policy]}))
    return {"candidates": len(rows), "exhaustive_seconds": ex["exploration_seconds"],
            "exhaustive_fixed_seconds": round(fixed_s, 2),
            "n_train": ex["data"]["n_train"], "n_val": ex["data"]["n_val"], "n_test": ex["data"]["n_test"],
            "policies": {p: {"deadlines": v} for p, v in per_policy.items()}, "ranked_top_k": top_k_picks}


def plot(results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for mode, m in results["modes"].items():
        for policy, p in m["policies"].items():
            ds = p["deadlines"]
            ax.plot([d["deadline_ms"] for d in ds], [d["speedup"] for d in ds], marker="o",
                    label=f"{mode}: {policy}" + (" (composed)" if policy in ("deepest", "feasible") else ""))
    ax.axhline(27, color="grey", linestyle=":", label="27x (NetCut paper)")
    ax.set_yscale("log")
    ax.set_xlabel("deadline (ms)")
    ax.set_ylabel("speedup over exhaustive fine-tuning")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())

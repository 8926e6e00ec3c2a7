"""Render benchmarks/results/*.json into docs/RESULTS.md (figures are never typed by hand).

    python benchmarks/render_readme.py

Replaces the text between the markers ``<!-- results:start -->`` and ``<!-- results:end -->`` in
docs/RESULTS.md (README.md links to it); links to ``benchmarks/`` are made relative to ``docs/``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.results_io import repo_relative  # noqa: E402

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
    runtime = r.get("runtime", "torch")
    default_out = Path(r.get("out") or "").name in ("", "predictor_accuracy.json")
    out = f" --out {repo_relative(r['out'])}" if not default_out else ""
    out += f" --repeat {repo_relative(r['repeatability']['table_b'])}" if r.get("repeatability") else ""
    out = "".join(f" --extra-table {repo_relative(t)}" for t in r.get("extra_tables", [])) + out
    lines = [f"### Latency prediction on held-out architecture families ({runtime}, CPU, 1 thread; "
             f"`{Path(r['table']).stem}`)\n",
             f"*table `{Path(r['table']).name}`; leave-one-family-out over {len(r['held_out_families'])} families "
             f"({r['n_configs_held_out']} configurations); flagged rows left out of the metrics; "
             f"`python benchmarks/bench_predictor_accuracy.py --table {repo_relative(r['table'])}{out}`*\n",
             "| estimator | prefixes ±10% | prefix MAPE | prefix RMSPE | whole networks ±10% (unflagged) | "
             "whole networks ±10% (all) | (TRN, deadline) pairs right |",
             "|---|---|---|---|---|---|---|"]
    for name, e in r["estimators"].items():
        p, n, na = e.get("prefix", {}), e.get("network", {}), e.get("network_including_flagged", {})
        dl = e.get("deadlines", {}).get("correct_pct")
        lines.append(f"| {name} | {p.get('within_10_pct', 0):.1f}% (n={p.get('n')}) | {p.get('mape_pct', 0):.1f}% | "
                     f"{p.get('rmspe_pct', 0):.1f}% | {n.get('within_10_pct', 0):.1f}% (n={n.get('n')}) | "
                     f"{na.get('within_10_pct', 0):.1f}% (n={na.get('n')}) | {'n/a' if dl is None else f'{dl:.1f}%'} |")
    fam = r.get("ours_prefix_within_10_by_family")
    if fam:
        lines.append("\nOurs, prefixes within ±10% by held-out family: " + ", ".join(
            f"{k} {v:.0f}%" for k, v in fam.items()) + ".")
    extra = r.get("extra_tables")
    if extra:
        lines.append("\nTraining rows also from " + ", ".join(f"`{Path(t).name}`" for t in extra)
                     + " (sampled networks only: the held-out families stay held out).")
    by_seed = r.get("ours_prefix_within_10_by_seed")
    if by_seed and len(by_seed) > 1:
        from statistics import median

        lines.append("\nThe booster's random seed alone (column and row sampling) moves ours: prefixes within ±10% at "
                     "seeds " + ", ".join(f"{k}: {v:.1f}%" for k, v in by_seed.items())
                     + f" (median {median(by_seed.values()):.1f}%; the shipped predictors use seed 0).")
        net_seed = r.get("ours_network_within_10_by_seed")
        if net_seed:
            lines.append("Whole networks within ±10% at the same seeds: " + ", ".join(
                f"{k}: {v:.1f}%" for k, v in net_seed.items()) + f" (median {median(net_seed.values()):.1f}%).")
        avg = r.get("ours_seed_average")
        if avg:
            lines.append(f"Their predictions averaged (geometric mean over seeds {', '.join(map(str, avg['seeds']))}, "
                         f"what bagging boosters of these seeds would price): {avg['prefix']['within_10_pct']:.1f}% of "
                         f"prefixes and {avg['network']['within_10_pct']:.1f}% of whole networks within ±10%; the part "
                         "of the error the seed makes is the distance to the single seeds, the rest is bias.")
    ours = r["estimators"].get("ours", {})
    pre, net = ours.get("prefix", {}).get("within_10_pct"), ours.get("network", {}).get("within_10_pct")
    if pre is not None and net is not None:
        verdict = "reached" if pre >= 90.0 and net >= 95.0 else "not reached"
        lines.append(f"\nGoal: 90% of held-out prefixes and 95% of whole networks within ±10%; {verdict} "
                     f"({pre:.1f}% / {net:.1f}%).")
    rep = r.get("repeatability")
    if rep:  # the table's own second pass (bench --repeat)
        p5, p10 = rep["all"]["prefix_ms"]["within_5pct"], rep["all"]["prefix_ms"]["within_10pct"]
        lines.append(f"\nGround-truth repeatability: a second pass of {rep['configs_compared']} of its configurations "
                     f"(`{Path(rep['table_b']).name}`, {rep['rows_compared']} prefixes) agrees on {_pct(p5)} / "
                     f"{_pct(p10)} of prefixes within ±5% / ±10% (median "
                     f"{_pct(rep['all']['prefix_ms']['median_rel_diff'])}).")
        return lines
    st = _load("calibration_stability")
    if st:
        a, u = st["all"], st["unflagged_in_both"]
        text = (f"Ground-truth repeatability: two passes of the same corpus ({st['configs_compared']} configurations "
                f"in both, {st['rows_compared']} rows) differ by a median {_pct(a['prefix_ms']['median_rel_diff'])} per "
                f"prefix latency ({_pct(a['prefix_ms']['within_10pct'])} within ±10%; "
                f"{_pct(u['prefix_ms']['median_rel_diff'])} where neither pass flagged the row)")
        if "prefix_median_ms" in a:
            text += (f", while their plain medians differ by {_pct(a['prefix_median_ms']['median_rel_diff'])} "
                     f"({_pct(a['prefix_median_ms']['within_10pct'])} within ±10%)")
        lines.append("\n" + text + f" (`{st['command']}`).")
    return lines


def section_speed(r):
    aq, fit = r["amortized_query"], r.get("fit") or {}
    lines = ["### Query speed\n", (_header(r) if r.get("date") else "*`python benchmarks/bench_query_speed.py`*\n")
             + "Medians over repeats, 1 thread unless a row says otherwise, nothing else running.\n",
             "| quantity | value |", "|---|---|",
             f"| amortized TRN latency query (one network predicted, every cut from prefix sums) | "
             f"{aq['all_networks_us_per_candidate']:.1f} µs per candidate ({aq['candidates']} candidates) |",
             f"| one batched prediction of all networks | {aq['batched_us_per_candidate']:.1f} µs per candidate |",
             f"| head latency query | {r['head_latency_query_us']:.1f} µs |"]
    bulk = r.get("bulk_query") or {}
    for threads, b in (bulk.get("by_threads") or {}).items():
        if "price_chains_us_per_candidate" in b:
            lines.append(f"| bulk, arrays: {bulk['candidates']:,} candidates priced in one `price_chains` call "
                         f"(prefix latencies, upper bounds, extrapolation checks), features already stacked, "
                         f"XGBoost on {threads} thread{'s' if threads != '1' else ''} | "
                         f"**{b['price_chains_us_per_candidate']:.2f} µs** per candidate"
                         + (f" ({b['price_chains_every_row_us_per_candidate']:.2f} µs with every row through the "
                            f"trees, in the same run; {bulk['distinct_rows']:,} distinct block rows)"
                            if "price_chains_every_row_us_per_candidate" in b else "") + " |")
        lines.append(f"| bulk, records: {bulk['candidates']:,} candidates ({bulk['configs']} shipped network × "
                     f"resolution configurations) in one `predict_feature_rows` call, one record a network, "
                     f"XGBoost on {threads} thread{'s' if threads != '1' else ''} | "
                     f"**{b['api_us_per_candidate']:.1f} µs** per candidate ({b['boosters_us_per_candidate']:.1f} µs "
                     f"of it in the {bulk['trees']:,} trees"
                     + (f", {b['stack_features_us_per_candidate']:.1f} µs stacking the cached feature rows into one array"
                        if "stack_features_us_per_candidate" in b else "")
                     + f"); features read in {bulk['features_seconds'] * 1000:.0f} ms |")
    for c in r.get("cold_network", []):
        lines.append(f"| cold network never seen: {c['model']} at {c['resolution_px']} px ({c['n_blocks']} blocks) | "
                     f"{c['total_seconds'] * 1000:.0f} ms (features {c['features_seconds'] * 1000:.0f} ms, "
                     f"prediction {c['prediction_seconds'] * 1000:.1f} ms) |")
    if fit:
        lines.append(f"| fit on the shipped table ({fit['rows']} rows) | {fit['seconds']} s, peak "
                     f"{fit['peak_rss_bytes'] / 2**20:.0f} MiB |")
    e = r.get("empirical_vs_predicted")
    if e:
        lines.append(f"| measuring one TRN instead ({e['trn']}: child process, 10 warm-up + 30 timed runs) | "
                     f"{e['measure_one_trn_seconds']} s = {e['ratio_measure_over_query']:,}x one predicted query "
                     f"({e['ratio_in_process_over_query']:,}x without the process start) |")
    if r.get("run_note"):
        lines.append("\n" + r["run_note"])
    return lines


#: How the exploration section names the searches' --margin.
_MARGIN_TEXT = {"upper": "the predictor's upper bound", "none": "the point prediction",
                "measured": "the point prediction and upper bound, borderline candidates timed during the search "
                            "(`--margin measured`; that time counts)"}


def section_exploration(r):
    lines = ["### Exploration time: NetCut's proposal policies vs exhaustive fine-tuning\n", _header(r),
             f"{', '.join(r['models'])} at {_px(r)} px on {r['data']} ({r['limit_per_class']} images per "
             f"class, validation {r['val_fraction']:g} of them), {r['epochs']} epochs. `ranked` ran for real at every "
             "deadline; `deepest` and `feasible` are composed from the same run's measured per-candidate training "
             "seconds (their fine-tunings are the exhaustive run's, deterministically) plus the measured fixed cost "
             f"of a search. Priced with `{r.get('predictor', 'data/predictors/cpu-1thread')}`, deadline compared "
             f"with {_MARGIN_TEXT[r.get('margin', 'upper')]}; latency measured here in {r.get('runtime', 'torch')} at "
             f"{r.get('threads', 1)} thread(s): prefix alone + head.\n",
             f"![exploration]({r.get('plot') or 'benchmarks/results/exploration.png'})\n"]
    if r.get("note"):
        lines.append(r["note"] + "\n")
    for mode, m in r["modes"].items():
        lines += [f"**{mode}**: {m['candidates']} candidates ({m['n_train']} train / {m['n_val']} val / "
                  f"{m['n_test']} test images); exhaustive {m['exhaustive_seconds']:.0f} s.\n",
                  "| policy | deadline (ms) | s | speedup | fine-tuned | borderline timed | pick | same pick as "
                  "exhaustive | accuracy given up | pick measured here (ms) | meets deadline here |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for policy, pol in m["policies"].items():
            for d in pol["deadlines"]:
                gave = d["accuracy_given_up"]
                meas = d["pick_measured_ms"]
                lines.append(
                    f"| {policy} | {d['deadline_ms']} | {d['seconds']:.1f} | {d['speedup']:.1f}x | "
                    f"{d['fine_tuned']} / {d['exhaustive_fine_tuned']} | {d.get('measured', 0)} | {d['pick'] or '—'} | "
                    f"{'yes' if d['same_pick'] else 'no'} | {'n/a' if gave is None else f'{100 * gave:+.2f} pt'} | "
                    f"{'n/a' if meas is None else f'{meas:.2f}'} | {'yes' if d['pick_meets_deadline_measured'] else 'no'} |")
        ranked = m["policies"]["ranked"]["deadlines"]
        sp = sorted(d["speedup"] for d in ranked)
        same = sum(d["same_pick"] for d in ranked)
        tied = [d for d in ranked if d.get("tied_on_validation") is not None]
        lines.append(f"\n`ranked`: median speedup {sp[len(sp) // 2]:.1f}x, same pick as exhaustive at {same} of "
                     f"{len(sp)} deadlines" + (
                         f"; its pick within the validation split's pairwise 95% band of the exhaustive pick (the "
                         f"split cannot tell them apart) at {sum(d['tied_on_validation'] for d in tied)} of {len(tied)}, "
                         f"at most {100 * max(d['val_gap'] for d in tied):.1f} validation points behind."
                         if tied else "."))
        ties = [d["exhaustive_tied_candidates"] for d in ranked if d.get("exhaustive_tied_candidates")]
        bounds = sorted(d["training_bound_speedup"] for d in ranked if d.get("training_bound_speedup"))
        if ties:
            lines.append(f"\nCandidates the exhaustive run's validation split cannot tell from its own pick, per "
                         f"deadline: {', '.join(str(t) for t in ties)} (a same pick is then about a one-in-that-many "
                         "draw for any policy whose scores cannot see the differences either).")
        rep = m.get("exhaustive_replicates")
        if rep:
            lines.append(_replicates_text(rep))
        if bounds:
            lines.append(f"\nThe fine-tunings `ranked` cannot skip (its TRN and the off-the-shelf baseline) alone bound "
                         f"its speedup at {', '.join(f'{b:.0f}x' for b in bounds)} (median "
                         f"{bounds[len(bounds) // 2]:.0f}x): what a free probe and a free search would reach.")
        sweep = m["policies"].get("ranked, one --out", {}).get("deadlines")
        if sweep:
            ssp = sorted(d["speedup"] for d in sweep)
            lines.append(f"\n`ranked, one --out` (the deadlines in ascending order in one output folder, as a user "
                         f"sweeping deadlines runs them: probe scores and fine-tunings of earlier deadlines reused): "
                         f"median speedup {ssp[len(ssp) // 2]:.1f}x, {sum(d['seconds'] for d in sweep):.0f} s for all "
                         f"{len(sweep)} deadlines against {sum(d['seconds'] for d in ranked):.0f} s from empty folders.")
        if m.get("exhaustive_reused"):
            lines.append("\nThe exhaustive run was reused from an earlier run of this benchmark in the same work "
                         "folder (`--reuse-exhaustive`).")
        if m.get("ranked_top_k"):
            lines.append(_top_k_text(m["ranked_top_k"]))
    return lines


def _replicates_text(rep) -> str:
    """How often the exhaustive search agrees with itself when only its training seed changes."""
    picks = "; ".join(f"{d['deadline_ms']} ms: " + " / ".join(d["picks"][str(s)] or "none" for s in rep["seeds"])
                      for d in rep["deadlines"])
    return (f"\n**Exhaustive against itself** (the same images and split, training seeds "
            f"{', '.join(str(s) for s in rep['seeds'])}): the same pick at {rep['same_pick_all_pairs']} of "
            f"{rep['pairs_compared']} (deadline, pair of runs) comparisons, seed 0's pick (the one `same pick` is "
            f"judged against) at {rep['same_pick_as_seed0']} of {rep['compared_with_seed0']}. Between seeds the "
            f"candidates' validation accuracies rank with Spearman "
            f"{', '.join(f'{v:.2f}' for v in rep['val_accuracy_spearman_between_seeds'])}, and a candidate's test "
            f"accuracy moves by a median {rep['test_accuracy_abs_change_median_pt']:.1f} points (90th percentile "
            f"{rep['test_accuracy_abs_change_p90_pt']:.1f}). Picks per deadline, seed by seed: {picks}. A policy "
            "that matched seed 0's pick more often than the exhaustive search matches itself would be matching "
            "the noise of one fine-tuning.")


def _top_k_text(ks) -> str:
    """What the ranked policy would have picked with top-k = 1, 2, 3 (from the same run)."""
    def cell(k):
        n = sum(t["top_k"][k]["same_pick"] for t in ks)
        worst = max((t["top_k"][k]["accuracy_given_up"] or 0.0) for t in ks)
        return f"top-{k}: same pick at {n} of {len(ks)}, at most {100 * worst:+.2f} pt given up"
    return "From the same run, what `ranked` would pick with " + "; ".join(cell(k) for k in ("1", "2", "3")) + "."


def _px(r) -> str:
    """The resolutions of a result: a list since searches cover several (``resolution_px`` before)."""
    return ",".join(str(v) for v in r.get("resolutions_px") or [r.get("resolution_px", "?")])


def _gain(g, ci=None) -> str:
    if g is None:
        return "n/a"
    return f"{100 * g:+.2f}%" + (f" [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]" if ci else "")


def section_pareto(r):
    if "datasets" not in r:  # a result from before resolutions were searched
        raise KeyError("datasets")
    lines = ["### Accuracy within a deadline: TRNs (depth x resolution) vs depth only vs off-the-shelf\n", _header(r),
             f"{', '.join(r['models'])} at {_px(r)} px; every candidate fine-tuned the same way (head retraining, "
             f"{r['epochs']} epochs); latency {r['latency']} (CPU 1 thread; prefix alone + predicted head); each pick is "
             "the best validation accuracy within the deadline, its test accuracy shown; relative gain over the best "
             "off-the-shelf network (any resolution) with a 95% interval (conservative).\n",
             "![pareto](benchmarks/results/pareto.png)\n"]
    rep = r.get("latency_repeatability")
    ref = r.get("truth_yardstick_reference_ms")
    scale = (f" (both passes at the predictor's yardstick speed, {ref:g} ms: the machine's fast state)" if ref else "")
    lines.append(f"CPU: {r.get('cpu', '?')}. " + (
        f"Repeatability of the latency used: {len(rep['configurations'])} of its configurations measured again "
        f"in another pass (`{rep['table']}`){scale} agree on {rep['within_10_pct']:.1f}% of prefixes within ±10% "
        f"({rep['within_5_pct']:.1f}% within ±5%, median |Δ| {rep['median_abs_pct']:.1f}%)"
        + (": picks near a deadline can change from one pass to the next.\n" if rep['within_10_pct'] < 99 else ".\n")
        if rep else
        "The latency used has no second pass here: its repeatability is not stated.\n"))
    for name, d in r["datasets"].items():
        data = d["data"]
        lines += [f"**{name}** ({data.get('n_train')} train / {data.get('n_val')} val / {data.get('n_test')} test "
                  "images):\n",
                  "| deadline (ms) | best off-the-shelf | acc. | best TRN, depth x resolution | acc. | gain | "
                  f"best TRN, depth only ({r['depth_only_resolution_px']} px) | acc. | gain |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for t in d["deadlines"]:
            cells = [f"{t['deadline_ms']}"]
            for f in ("off_the_shelf", "trn", "depth_only"):
                p = t[f]
                cells += [p["candidate_id"] if p else "—", _pct(p["test_accuracy"], 2) if p else "—"]
                if f != "off_the_shelf":
                    cells.append(_gain(t[f"{f}_relative_gain"], t[f"{f}_relative_gain_ci95"]))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        for f, label in (("trn", "depth x resolution"), ("depth_only", "depth only")):
            st = d[f]
            lines.append(f"* {label}: largest relative gain {_gain(st['max_relative_gain'])}, median "
                         f"{_gain(st['median_relative_gain'])} over {st['deadlines_compared']} deadlines with an "
                         f"off-the-shelf network; it helps at {st['deadlines_where_it_helps']}; at "
                         f"{st['deadlines_with_no_off_the_shelf']} more only a TRN fits.")
        lines.append("")
    lines.append(f"The paper reports up to {_pct(r['paper_max_relative_gain'], 2)} relative gain.")
    return lines


def section_costs(r):
    p, f, m = r["profile"], r["fit"], r["main_job"]
    return ["### Costs\n", _header(r), "| what | figure |", "|---|---|",
            f"| `latmodel profile`, small corpus ({p['small_corpus_configs']} configs, 1 thread, pinned) | "
            f"{p['small_corpus_seconds']} s ({p['seconds_per_config']} s per config) |",
            f"| `latmodel profile`, default corpus ({p['default_corpus_configs']} configs), scaled from that | "
            f"~{p['default_corpus_minutes_estimated']} min |",
            f"| `latmodel fit` ({f['rows']} rows), no CV | {f['seconds']} s, peak {f['peak_rss_mib']} MiB |",
            f"| `latmodel fit` with leave-one-family-out CV | {r.get('fit_with_cv_seconds')} s |",
            f"| main job (`make demo`'s `trimmer search`) | {m['seconds']} s |"]


def _adaptation_target(name, t) -> list[str]:
    sizes = list(t["results"])
    ests = list(t["results"][sizes[0]]["estimators"])
    rep = t.get("repeatability")
    rep_text = (f"two passes agree within ±10% on {rep['prefix_within_10_pct']:.1f}% of {rep['prefixes']} prefixes "
                f"(median difference {rep['prefix_median_diff_pct']:.1f}%)" if isinstance(rep, dict) else str(rep))
    if isinstance(rep, dict) and rep.get("rows_scaled") and isinstance(rep.get("as_measured"), dict):
        rep_text += (f" at one yardstick speed, the scale the predictions are scored at; "
                     f"{rep['as_measured']['prefix_within_10_pct']:.1f}% as measured")
    base = (f"; adapted from `{Path(t['base']).name}` (device {(t.get('base_device') or {}).get('device_id', '?')})"
            if t.get("base") else "")
    lines = [f"**{name}** (`{Path(t['table']).name}`, {t['n_configs_available']} configurations{base}; its own "
             f"repeatability: {rep_text})\n",
             "| new-device configs | " + " | ".join(f"{e}: prefixes ±10% / MAPE" for e in ests) + " |",
             "|---|" + "---|" * len(ests)]
    for size in sizes:
        cells = []
        for e in ests:
            if e not in t["results"][size]["estimators"]:  # the budget set exists below "all" only
                cells.append("")
                continue
            p = t["results"][size]["estimators"][e]["prefix"]
            cells.append(f"{p['within_10_pct']:.0f}% / {p['mape_pct']:.0f}%")
        lines.append(f"| {t['results'][size].get('n_configs', size) if size == 'all' else size} | "
                     + " | ".join(cells) + " |")
    if t.get("sizes_skipped"):
        lines.append(f"\nSizes {', '.join(map(str, t['sizes_skipped']))} skipped: the table holds "
                     f"{t['n_configs_available']} configurations.")
    return lines + [""]


def section_adaptation(r):
    dev = r.get("base_device") or {}
    targets = ", ".join(r.get("targets") or ["target"])
    lines = [f"### Adapting to a new device from few measurements: {targets}\n",
             f"*base unless a target names its own: `{Path(r['base']).name}` ({dev.get('runtime', 'torch')}, {dev.get('threads', 1)} thread(s), "
             f"device {dev.get('device_id', '?')}); {r['draws']} random draws per size, scored on the configurations "
             f"not used; `{r.get('command') or 'python benchmarks/bench_adaptation.py'}`*\n"]
    if r.get("run_note"):
        lines.append(r["run_note"] + "\n")
    for name, t in (r.get("targets") or {"target": r}).items():
        lines += _adaptation_target(name, t)
    plot = Path(r.get("plot") or "benchmarks/results/adaptation.png")
    if (ROOT / plot).is_file():
        lines.append(f"![adaptation]({plot.as_posix()})")
    return lines


def section_scaleout(r):
    c = r["search"]
    lines = ["### Scale-out: the same search on 1 vs 2 workers\n", _header(r),
             f"exhaustive `{c['mode']}` search, {', '.join(c['models'])}, {c['resolution_px']} px, "
             f"{c['limit_per_class']} images/class, {r['jobs']} jobs; 2 cores, so little speedup is expected.\n",
             "| run | wall s | training s | chosen TRN |", "|---|---|---|---|"]
    for run in r["runs"]:
        lines.append(f"| {run['run']} | {run['seconds']:.1f} | {run['training_seconds']:.1f} | {run['chosen']} |")
    return lines


def section_independent(r):
    lines = ["### The predictor against an independent measurement\n",
             f"*held-out families of the cross-validation above, {r['configs']} configurations, rows unflagged in both "
             f"passes; `{r['repeat']}` is a second profile pass of the same corpus, never trained on; `{r['command']}`*\n",
             "| comparison | prefixes ±10% | prefix median diff | whole networks ±10% | network median diff |",
             "|---|---|---|---|---|"]
    names = {"table_vs_repeat": "measurement vs measurement (two passes)", "ours_vs_table": "ours vs the table",
             "ours_vs_repeat": "ours vs the independent pass"}
    for key, label in names.items():
        p, n = r["prefix"][key], r["network"][key]
        lines.append(f"| {label} | {p['within_10_pct']:.1f}% | {p['median_rel_diff_pct']:.1f}% | "
                     f"{n['within_10_pct']:.1f}% | {n['median_rel_diff_pct']:.1f}% |")
    lines.append("\nMedian shift of the independent pass by family: " + ", ".join(
        f"{k} {v:+.1f}%" for k, v in r["repeat_shift_by_family_pct"].items())
        + " (configurations measured in a shuffled order; an earlier pass measured family after family and "
          "shifted whole families by up to +6.5%, `data/calibration/README.md`).")
    return lines


def section_folded(r):
    again = ", second pass" if "pass2" in r["truth"] else ""
    lines = [f"### Networks with their batch norms folded, as deployed ({r.get('runtime', 'torch')}{again})\n",
             f"*{r['date'][:10]}, {r['machine']}; {r['resolution_px']} px, truth `{r['truth']}`, scored "
             + ("at each predictor's yardstick speed" if r.get("runtime", "torch") == "torch"
                else "as measured (ONNX Runtime rows have no yardstick scale)")
             + f"; {r['note']}; `{r['command'].split(' --note')[0]}`*\n",
             "| predictor | network | unfolded: error | folded: error | folded prefixes ±10% | "
             "folded / unfolded measured | predicted |", "|---|---|---|---|---|---|---|"]
    for name, p in r["predictors"].items():
        for base, n in p["networks"].items():
            lines.append(f"| {name} | {base} | {n['unfolded']['error_pct']:+.1f}% | {n['folded']['error_pct']:+.1f}% | "
                         f"{n['folded']['prefix_within_10_pct']:.0f}% | {n['folded_over_unfolded']['measured']:.3f} | "
                         f"{n['folded_over_unfolded']['predicted']:.3f} |")
    return lines


def _unseen_scale(r) -> str:
    """How the truth was scaled for each predictor, from results that record it (2026-12-07 on)."""
    scales = {n: p["scale"] for n, p in r["predictors"].items() if "scale" in p}
    if not scales:
        return ""
    if len(set(scales.values())) == 1:
        return f"scored {next(iter(scales.values()))}"
    return "scored " + "; ".join(f"{n}: {s}" for n, s in scales.items())


def section_unseen(r):
    again = ", second pass" if "pass2" in r["truth"] else ""
    lines = [f"### Networks from outside the zoo and the corpus ({r.get('runtime', 'torch')}{again})\n",
             f"*{r['date'][:10]}, {r['machine']}; {r['resolution_px']} px, truth `{r['truth']}`, "
             + (_unseen_scale(r) or ("scored at each predictor's yardstick speed" if r.get("runtime", "torch") == "torch"
                                     else "scored as measured (its rows have no yardstick scale)"))
             + f"; {r['note']}; `{r['command'].split(' --note')[0]}`*\n"]
    names = list(r["predictors"])
    lines += ["| network | " + " | ".join(f"{n}: error (prefixes ±10%)" for n in names) + " |",
              "|---|" + "---|" * len(names)]
    for net in r["predictors"][names[0]]["networks"]:
        cells = []
        for n in names:
            v = r["predictors"][n]["networks"][net]
            cells.append(f"{v['error_pct']:+.1f}% ({v['prefix_within_10_pct']:.0f}%)" + (" *" if v["extrapolated"] else ""))
        lines.append(f"| {net.split(':')[-1]} | " + " | ".join(cells) + " |")
    lines.append("| **whole networks within ±10% / prefixes within ±10%** | " + " | ".join(
        f"**{r['predictors'][n]['summary']['networks_within_10_pct']:.0f}%** / "
        f"{r['predictors'][n]['summary']['prefixes_within_10_pct']:.0f}%" for n in names) + " |")
    lines.append("\n\\* the predictor said the network lies outside its training data (`extrapolated`).")
    return lines


def section_op_costs(r):
    fm = "x".join(str(v) for v in r["feature_map"][1:])
    lines = ["### What elementwise operators cost (why `flops_act_transcendental` and `flops_pad` exist)\n",
             f"*one {fm} feature map, 1 thread, first quartile over {r['rounds']} interleaved rounds; "
             "`python benchmarks/bench_op_costs.py`*\n",
             "| operator | ns per element | x ReLU |", "|---|---|---|"]
    for name, o in r["operators"].items():
        lines.append(f"| {name} | {o['ns_per_element']:.3f} | {o['x_relu']:.2f} |")
    return lines


def section_runtime(r):
    rat, p, rep = r["ratio_onnxruntime_over_torch"], r["predictor"], r.get("repeatability")
    q = rat["quantiles"]
    lines = [f"### Eager PyTorch vs ONNX Runtime {r['runtime_version']} (CPU, {r['machine'].rsplit(', ', 1)[-1]})\n",
             _header(r),
             f"ONNX Runtime / eager PyTorch latency of {rat['prefixes']} prefixes of {rat['configs']} held-out "
             f"configurations (unflagged in both tables): min {q['min']}, p10 {q['p10']}, median {q['median']}, "
             f"p90 {q['p90']}, max {q['max']}; whole networks median {rat['whole_networks_median']}.",
             "",
             "Median ratio by family: " + ", ".join(f"{k} {v}" for k, v in rat["median_by_family"].items()) + ".",
             "",
             "| ONNX Runtime predictor, leave-one-family-out | prefixes ±10% | prefix MAPE | whole networks ±10% | "
             "(TRN, deadline) pairs right | repeatability: median prefix difference between two passes |",
             "|---|---|---|---|---|---|"]
    pre, net = p["prefix"], p["network"]
    rep_text = (f"{_pct(rep['prefix_all']['median_rel_diff'])} ({rep['configs']} configurations, "
                f"{_pct(rep['prefix_all']['within_10pct'])} within ±10%)" if rep else "not measured")
    lines.append(f"| {len(p['held_out_families'])} families, {p['n_configs_held_out']} configurations | "
                 f"{pre['within_10_pct']:.1f}% (n={pre['n']}) | {pre['mape_pct']:.1f}% | "
                 f"{net['within_10_pct']:.1f}% (n={net['n']}) | {p['deadlines']['correct_pct']:.1f}% | {rep_text} |")
    fam = p.get("prefix_within_10_by_family") or {}
    if fam:
        lines += ["", "Held-out prefixes within ±10%, by family (each family left out in turn):", "",
                  "| " + " | ".join(fam) + " |", "|" + "---|" * len(fam),
                  "| " + " | ".join(_fam_cell(v) for v in fam.values()) + " |"]
    return lines


def section_host_noise(r):
    lines = ["### Where this machine's timing noise comes from: the process or the host\n", _header(r),
             f"{r['processes']} fresh processes (pinned, calibration settings, 1 thread), each running every network "
             f"at {r['resolution_px']} px in ONNX Runtime and eager PyTorch interleaved run by run for "
             f"{r['seconds']:g} s; one sample = first quartile of {r['window_runs']} runs.\n",
             "| network | within a process, max/min (ORT / torch) | between processes, max/min of medians "
             "(ORT / torch) | correlation of ORT and torch samples in a process (median) |", "|---|---|---|---|"]
    for name, m in r["models"].items():
        w, b = m["within_process_max_over_min"], m["between_process_medians_max_over_min"]
        lines.append(f"| {name} | {w['onnxruntime']:.2f} / {w['torch']:.2f} | {b['onnxruntime']:.2f} / "
                     f"{b['torch']:.2f} | {m['ort_torch_window_correlation_median']} |")
    return lines


_SCALING_LABELS = {"raw": "as measured", "yardstick_own": "each window scaled by its yardstick to the pass's fastest",
                   "yardstick_device": "each window scaled by its yardstick to one device reference"}


def section_repeatability(r):
    w = r["window"]
    thp = any("window-thp" in res for res in r["runtimes"].values())
    settle = any("window-unsettled" in res for res in r["runtimes"].values())
    rerun = any("window-no-rerun" in res for res in r["runtimes"].values())
    title = ("Transparent huge pages for the measured networks' memory: the window method with and without, "
             "alternating in one run" if thp else
             "Configurations measured in noise measured again, against written as first measured, alternating in "
             "one run" if rerun else
             "Settled bursts against one untimed pass a burst, alternating in one run" if settle else
             "Do two profile passes agree? Per-configuration rounds vs windows of warm bursts")
    settling = (f" Settling (`window`): after the untimed pass a burst runs more untimed passes while the quantity "
                f"still gets faster (until {w['settle_patience']} passes in a row were no more than {w['settle_pct']:g}% "
                f"faster than the burst's fastest, {w['settle_ms']:g} ms of them, or {w['max_untimed']} passes); "
                "`window-unsettled`: exactly one untimed pass, the method before 2026-12-05."
                if settle and "settle_ms" in w else "")
    lines = [f"### {title}\n", _header(r),
             f"{len(r['configs'])} configurations ({', '.join(r['configs'])}); each method's two passes ran in their "
             "own processes, the methods alternating. `round-model`: each configuration in its own child and rounds "
             f"(the old method); `window`: {w['window_configs']} configurations a window, round-robin, "
             f"{w['untimed']} untimed + {w['timed']} timed passes a burst, each configuration in "
             f"{w.get('placements', 1)} independent copies, the yardstick ({w.get('yardstick', 'a small GEMM')}) timed "
             "every round. Share of prefixes "
             f"(`prefix_ms`, what a TRN costs) and whole networks whose two passes agree; prefixes under "
             f"{r['tiny_ms']:g} ms apart." + settling + (f" {r['note']}." if r.get("note") else "") + "\n",
             "| runtime | method | prefixes within ±5% | within ±10% | median \\|Δ\\| | whole networks within ±5% / "
             "±10% | prefixes < 0.2 ms within ±10% | time of the two passes |", "|---|---|---|---|---|---|---|---|"]
    for runtime, res in r["runtimes"].items():
        rows = []
        for method in ("round-model", "window", "window-unsettled", "window-thp", "window-no-rerun",
                       "window_confirmation"):
            if method not in res:
                continue
            m = res[method]
            secs = sum(v for k, v in res["seconds"].items() if k.rsplit("-", 1)[0] == method)
            label = f"{method} ({m['statistic']})" if "statistic" in m else method
            if method == "round-model" and m.get("date"):
                label, secs = f"round-model, run of {m['date']}", sum(m.get("seconds", {}).values())
            if method == "window_confirmation":
                label = (f"window{', settled bursts' if settle else ''} ({m['statistic']}), a later independent run "
                         f"({m.get('date', '')})")
                secs = sum(m.get("seconds", {}).values())
            if method in ("window", "window-unsettled", "window-thp", "window-no-rerun") and m.get("scalings"):
                placements = r["window"].get("placements", 1)
                env = ", ".join(f"`{k}={v}`" for k, v in (m.get("child_env") or {}).items())
                name = (f"window + huge pages ({env})" if method == "window-thp" else
                        "window, settled bursts" if settle and method == "window" else
                        "window, noisy configurations measured again" if rerun and method == "window" else
                        "window, as first measured" if method == "window-no-rerun" else method)
                for scaling, sm in m["scalings"].items():
                    rows.append((f"{name} ({sm['statistic']}, {placements} placements), {_SCALING_LABELS[scaling]}",
                                 sm, secs))
                continue
            rows.append((label, m, secs))
        for label, m, secs in rows:
            if "prefix" not in m:
                continue
            p, n, t = m["prefix"], m["network"], m["prefix"].get("under_tiny_ms", {})
            tiny = f"{t['within_10_pct']:.0f}% (n={t['n']})" if t.get("n") else "none"
            lines.append(f"| {runtime} | {label} | **{p['within_5_pct']:.1f}%** (n={p['n']}) | {p['within_10_pct']:.1f}% "
                         f"| {p['median_abs_pct']:.2f}% | {n['within_5_pct']:.0f}% / {n['within_10_pct']:.0f}% "
                         f"(n={n['n']}) | {tiny} | {secs / 60:.1f} min |")
    drift = [(rt, d) for rt, res in r["runtimes"].items() for d in res.get("window", {}).get("window_drift") or ()
             if d.get("yardstick_ratio")]
    if drift:
        lines += ["", "Between the two `window` passes, window by window (pass 1 / pass 2): the yardstick, which the "
                  "device-reference row divides out, beside the median of the window's whole networks: "
                  + "; ".join(f"{rt} {d['window']} ({d['configs']} configurations): yardstick "
                              f"{d['yardstick_ratio']:.3f}, networks {d['network_ratio_median']:.3f}" for rt, d in drift)
                  + "."]
    spreads = [_spread_text(rt, key, v) for rt, res in r["runtimes"].items()
               for key, v in (res.get("window_spread") or {}).items()]
    if spreads:
        lines += ["", "How noisy the host was as each configuration was measured (its spread: the median prefix's "
                  "typical warm sample over its fastest; one over the limit is measured again after the others and "
                  "its least noisy run kept, `latmodel.measure.spread`), pass by pass: " + "; ".join(spreads) + "."]
    stats = {(f"{rt}, {m}" if settle else rt): res[m].get("statistics") for rt, res in r["runtimes"].items()
             for m in ("window", "window-unsettled", "window_confirmation") if m in res and (settle or m == "window")}
    if any(stats.values()):
        names = list(next(v for v in stats.values() if v))
        lines += ["", "The window's statistic, chosen on these samples: prefixes within ±5% / ±10% between the two "
                  "passes when each quantity is summarised by", "",
                  "| statistic | " + " | ".join(stats) + " |", "|---|" + "---|" * len(stats)]
        for name in names:
            cells = [f"{v[name]['within_5_pct']:.0f}% / {v[name]['within_10_pct']:.0f}%" if v else "" for v in stats.values()]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _spread_text(runtime: str, key: str, v: dict) -> str:
    """One pass's configurations in a few words: the range of their spreads, how many were measured again and how
    many are still over the limit."""
    import statistics

    spreads = [c["spread"] for c in v["configs"].values()]
    again = sum(c["runs"] > 1 for c in v["configs"].values())
    still = sum(sp > v["max_spread"] for sp in spreads)
    return (f"{runtime} {key}: x{min(spreads):.2f}-{max(spreads):.2f} (median x{statistics.median(spreads):.2f}); "
            f"{again} of {len(spreads)} measured again, {still} still over x{v['max_spread']:.2f}")


def section_cli_latency(r):
    g = r["goal_s"]
    odd = "first_not_shipped_s" in r["median"]
    lines = ["### How long `latmodel predict` takes from the shell\n", _header(r),
             f"Wall time of the whole command (fresh process, {r['resolution_px']} px, `--json`): with the feature "
             "caches off (every call builds and traces the network, as before them), the first call with the cache "
             "on (the registry's networks answer from the features shipped in `data/features/`), the same call again"
             + (f", and a first call at {r['resolution_px'] + 8} px, a resolution not shipped (builds, traces, stores)"
                if odd else "") + " (one run, nothing else on the machine)"
             + (f"; the very first call on a machine also detects the device once (imports torch): "
                f"{r['first_ever_s']:.1f} s" if "first_ever_s" in r else "") + ". "
             f"Goals: first ≤{g['first']:g} s, cached ≤{g['cached']:g} s. "
             f"All {len(r['rows'])} networks in one process (`--models`), cached: "
             f"{r['all_in_one_process_cached_s']:.1f} s.\n",
             "| network | caches off | first call | cached call |" + (" first call, not shipped |" if odd else ""),
             "|---|---|---|---|" + ("---|" if odd else "")]
    for row in r["rows"]:
        lines.append(f"| {row['model']} | {row['no_cache_s']:.1f} s | {row['first_s']:.1f} s | {row['cached_s']:.1f} s |"
                     + (f" {row['first_not_shipped_s']:.1f} s |" if odd else ""))
    m = r["median"]
    lines.append(f"| median | {m['no_cache_s']:.1f} s | **{m['first_s']:.1f} s** | **{m['cached_s']:.1f} s** |"
                 + (f" {m['first_not_shipped_s']:.1f} s |" if odd else ""))
    return lines


def section_tie_break(r):
    lines = ["### Ties: the most accurate, or the fastest of the indistinguishable?\n",
             f"*{r.get('date', '?')}; `{r.get('command', '?')}`*\n",
             f"At {r['deadlines']} deadlines per exhaustive search, the pick of each rule: the most accurate on "
             "validation, or the fastest of those within a band of it. Test accuracy lost against exact ties (points) "
             "and the pick's predicted latency relative to it. `trimmer` keeps exact ties and names the fastest "
             "candidate within the pairwise 95% band in report.json (`tie_break`).\n",
             "| data (validation images, candidates) | band | test points lost, mean | max | latency ratio, median |",
             "|---|---|---|---|---|"]
    for run in r["runs"]:
        name = Path(str(run["data"])).name
        for rule, v in run["rules"].items():
            lines.append(f"| {name} ({run['n_val']}, {run['candidates']}) | {rule} | {v['test_points_lost_mean']:+.2f} "
                         f"| {v['test_points_lost_max']:+.2f} | {v['latency_ratio_median']:.2f} |")
    return lines


def section_probe(r):
    lines = ["### The probe: its cost against its ranking\n", _header(r),
             "The probe (`trimmer.probe`, what `--propose ranked` scores candidates with) run on every chain of an "
             "exhaustive search, timed alone, and its ranking checked against that search's fine-tuned accuracies: "
             "Spearman correlation over all candidates, and at each deadline whether its first choice (what top-1 "
             "ranked fine-tunes) is the exhaustive pick among the candidates meeting the deadline, and the test "
             "points given up." + (f" {r['note']}" if r.get("note") else "") + "\n",
             "| search (mode; train / val images; candidates) | precision | images / class | seconds | Spearman val / test "
             "| same pick | test points given up, mean / max |",
             "|---|---|---|---|---|---|---|"]
    for run in r["runs"]:
        name = f"{Path(str(run['data_spec']['data'])).name} ({run['mode']}; {run['n_train']} / {run['n_val']}; " \
               f"{run['candidates']})"
        for v in run["results"]:
            lines.append(f"| {name} | {v['precision']} | {v['per_class']} ({v['n_train']} images) | {v['seconds']:.1f} "
                         f"({v['speedup_vs_first']:.2f}x) | {v['spearman_val']:.3f} / {v['spearman_test']:.3f} | "
                         f"{v['same_pick']}/{v['deadlines']} | {100 * v['test_given_up_mean']:.2f} / "
                         f"{100 * v['test_given_up_max']:.2f} |")
    return lines


def section_extrapolation(r):
    exps = [f"{e:g}" for e in r["exponents"]]
    lines = ["### Outside the calibrated range: how far the upper bound must widen\n", _header(r),
             f"Fitted on part of `{r['table']}`, predicting held-out configurations outside (and, as a control, "
             "inside) the fitted resolutions: the share of measured prefix latencies under the upper bound "
             "widened by distance^e (distance: `latmodel.predict.ranges.extrapolation_distance`, the largest ratio of a "
             "resolution or block size to its training range; e = 0 is the unwidened bound). Target: the "
             f"predictor's own {_pct(r['upper_quantile'], 0)}." + (f" {r['note']}." if r.get("note") else "") + "\n",
             "| scenario | configs (warned) | prefixes | distance median / max | measured / upper, median | "
             + " | ".join(f"e={e}" for e in exps) + " |",
             "|---|---|---|---|---|" + "---|" * len(exps)]
    for name, v in r["scenarios"].items():
        lines.append(f"| {name} | {v['configs']} ({v['configs_warned']}) | {v['prefixes']} | "
                     f"{v['distance_median']:.2f} / {v['distance_max']:.2f} | {v['measured_over_upper_median']:.2f} | "
                     + " | ".join(_pct(v["share_under_bound"][e], 0) for e in exps) + " |")
    chosen = r.get("smallest_exponent_meeting_upper_quantile")
    lines.append("\n" + (f"Smallest exponent holding {_pct(r['upper_quantile'], 0)} outside the range in every "
                         f"scenario: **{chosen:g}** (`latmodel.predict.ranges.WIDEN_EXPONENT`)." if chosen is not None else
                         "No exponent tried holds the target in every scenario: the rule used is stated in "
                         "`latmodel.predict.ranges.WIDEN_EXPONENT`."))
    return lines


def _fam_cell(v) -> str:
    if isinstance(v, dict):
        return f"{v.get('within_10_pct', float('nan')):.0f}% (n={v.get('n', '?')})"
    return f"{float(v):.0f}%"


def section_statistic(r):
    """Two whole passes compared under every statistic of their raw samples (scripts/calibration_stability.py --samples)."""
    rows = r["samples"]["statistics"]
    out = [f"### Which statistic repeats? Two whole passes, every statistic of their samples ({Path(r['table_a']).name})",
           "",
           f"`{r.get('command', '')}`: {r['configs_compared']} configurations of both passes, "
           f"{r['rows_compared']} prefixes; the table keeps one statistic, the raw samples give the others on the "
           "same passes (data/calibration/README.md says when and where they ran); difference |a / b - 1| as in "
           "bench_repeatability.",
           "", "| statistic | prefixes within ±5% | within ±10% | median \\|Δ\\| |", "|---|---|---|---|"]
    for name, v in rows.items():
        out.append(f"| {name} | {v['within_5_pct']:.1f}% | {v['within_10_pct']:.1f}% | {v['median_abs_pct']:.2f}% |")
    y = r.get("yardstick") or {}
    if y.get("prefix_within_10pct_scaled") is not None:
        out += ["", f"The table's own statistic with both passes' windows at one yardstick speed: "
                    f"{_pct(y['prefix_within_10pct_scaled'])} within ±10% (as measured "
                    f"{_pct(y['prefix_within_10pct_as_measured'])}; here the difference is |b - a| / a, which "
                    "counts a slower second pass harder)" + (
                        f"; scaled by the share of the yardstick's change the networks followed ({y['elasticity']:g}, "
                        f"fitted on the pair): {_pct(y['prefix_within_10pct_at_elasticity'])}."
                        if y.get("elasticity") is not None else ".")]
    return out


SECTIONS = [("repeatability", section_repeatability), ("repeatability_settle", section_repeatability),
            ("repeatability_thp", section_repeatability), ("repeatability_step1", section_repeatability),
            ("repeatability_m207", section_repeatability), ("repeatability_epyc_1207", section_repeatability),
            ("repeatability_epyc_1207_onnxruntime", section_repeatability),
            ("repeatability_epyc_1207b_onnxruntime", section_repeatability),
            ("repeatability_epyc_1207b", section_repeatability),
            ("repeatability_epyc_1207c", section_repeatability),
            ("repeatability_epyc_1207d", section_repeatability),
            ("repeatability_epyc_1207e_onnxruntime", section_repeatability),
            ("statistic_m207", section_statistic),
            ("predictor_accuracy", section_accuracy), ("predictor_accuracy_onnxruntime", section_accuracy), ("predictor_accuracy_m207", section_accuracy),
            ("predictor_accuracy_m207_onnxruntime", section_accuracy), ("independent_pass", section_independent), ("folded", section_folded),
            ("folded-pass2", section_folded), ("folded-onnxruntime", section_folded), ("unseen", section_unseen),
            ("unseen-pass2", section_unseen), ("unseen-epyc", section_unseen), ("unseen-epyc-pass2", section_unseen),
            ("unseen-epyc-onnxruntime", section_unseen), ("unseen-epyc-onnxruntime-pass2", section_unseen),
            ("unseen-m207", section_unseen), ("unseen-m207-pass2", section_unseen),
            ("unseen-m207-onnxruntime", section_unseen), ("unseen-m207-onnxruntime-pass2", section_unseen),
            ("op_costs", section_op_costs), ("runtime", section_runtime), ("host_noise", section_host_noise),
            ("extrapolation", section_extrapolation), ("query_speed", section_speed), ("query_speed_epyc", section_speed), ("cli_latency", section_cli_latency),
            ("cli_latency_epyc", section_cli_latency),
            ("adaptation", section_adaptation), ("adaptation_xeon_step1", section_adaptation), ("adaptation_ort_step1", section_adaptation),
            ("adaptation_ort_step1_epyc_ort_base", section_adaptation),
            ("adaptation_ort_step1_full", section_adaptation), ("adaptation_epyc_ort", section_adaptation), ("adaptation_m207", section_adaptation), ("adaptation_m207_2threads", section_adaptation), ("adaptation_m207_bf16", section_adaptation), ("exploration", section_exploration), ("exploration_epyc", section_exploration), ("probe", section_probe), ("probe_m207", section_probe), ("probe_m207_head", section_probe), ("pareto", section_pareto),
            ("tie_break", section_tie_break),
            ("scaleout", section_scaleout), ("costs", section_costs)]


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
    page = ROOT / "docs" / "RESULTS.md"
    text = page.read_text(encoding="utf-8")
    if START not in text or END not in text:
        print(f"{page.relative_to(ROOT)} lacks the markers {START} / {END}", file=sys.stderr)
        return 2
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    body = render().replace("](benchmarks/", "](../benchmarks/")  # the page lives in docs/
    page.write_text(head + START + "\n" + body + END + tail, encoding="utf-8")
    print(f"{page.relative_to(ROOT)} updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())

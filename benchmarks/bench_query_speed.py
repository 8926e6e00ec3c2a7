"""How fast the predictor answers the trimmer, and what fitting it costs.

    python benchmarks/bench_query_speed.py [--predictor data/predictors/cpu-1thread]
        [--table data/calibration/cpu-1thread.csv] [--out benchmarks/results/query_speed.json]

* **amortized query**: the trimmer predicts each base network once
  (:meth:`LatencyModel.predict_chain`, one XGBoost call per stage) and answers every
  cut k from ``prefix_latency_ms[k]``; we report the time per candidate
  (network prediction + all lookups, divided by the number of cuts), per network
  and for all zoo networks together, plus one batched :meth:`predict_table` over
  every network at once;
* **cold query**: a network never seen (features not cached): fx split + fvcore
  features + prediction, split into its parts;
* **bulk query**: every registry network at every shipped resolution (:mod:`latmodel.graph.feature_atlas`, a few
  thousand candidates) priced in one :meth:`LatencyModel.price_chains` call (arrays: every prefix's latency and
  upper bound, extrapolation checks; one booster call per stage), beside :meth:`LatencyModel.predict_feature_rows`
  (the same plus one record per network, the API the trimmer uses) and the boosters alone
  (:meth:`LatencyModel.predict_table`), the boosters on 1 and on 2 threads side by side (XGBoost's own ``nthread``,
  which ``OMP_NUM_THREADS`` does not cap; a loaded predictor uses its manifest's ``n_jobs``); the feature pass (reading the shipped
  features, stacking them into one array) is reported apart;
* **head query**: :meth:`LatencyModel.head_latency_ms`;
* **fit**: wall time and peak resident memory (``resource.getrusage`` of a child
  process) of fitting on the shipped table, without cross-validation.

Runs with ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1`` unless set otherwise: with
the default thread pools, while other work loads the second core, some networks'
queries took 12-16 ms instead of ~1.3 ms (a descheduled pool thread, not the
predictor; seen in two runs on the shared machine).  Medians (and minima) over repeats.  The CPU is shared with other work: timings are noisy.
"""
from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy / xgboost / torch load their thread pools

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ZOO_AT = [("mobilenet_v2", 224), ("resnet18", 224), ("resnet50", 224), ("efficientnet_b0", 224),
          ("mnasnet1_0", 224), ("shufflenet_v2_x1_0", 224), ("regnet_y_400mf", 224), ("densenet121", 224),
          ("googlenet", 224), ("squeezenet1_1", 224), ("mobilenet_v3_large", 224)]
COLD = [("random:1001", 160), ("mobilenet_v3_small", 192)]
#: Booster threads the bulk query is timed with, side by side (this machine has 2 cores).
BULK_THREADS = (1, 2)


def _timings_us(fn, repeats: int) -> tuple[float, float]:
    """(median, minimum) wall time of ``fn`` in microseconds; the minimum is the least disturbed run."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6, min(times) * 1e6


def _bulk_query(predictor, repeats: int) -> dict:
    """Every registry network at every shipped resolution in one call: microseconds per candidate (one row)."""
    import logging as _logging

    from latmodel.graph import feature_atlas, zoo
    from latmodel.predict.chains import Chains

    t = time.perf_counter()
    items = []
    for name in zoo.MODELS:
        for res in feature_atlas.atlas_resolutions(name):
            rows = feature_atlas.atlas_rows(name, res, 1.0, 1)
            if rows:
                items.append((name, res, 1.0, None, rows))
    features_s = time.perf_counter() - t
    if not items:
        return {"note": "no shipped features for this installation (make atlas)"}
    n = sum(len(r) for *_, r in items)
    chains = Chains.from_row_lists([r for *_, r in items])
    boosters = list(predictor.stage1_) + ([predictor.stage2_] if predictor.stage2_ is not None else [])
    out = {"configs": len(items), "candidates": n, "features_seconds": round(features_s, 3),
           "trees": sum(b.num_boosted_rounds() for b in boosters), "by_threads": {}}
    quiet = _logging.getLogger("latmodel.predict.model")
    level = quiet.level
    quiet.setLevel(_logging.ERROR)  # extrapolation warnings for the odd resolutions are not the point here
    configs = [{"resolution_px": res, "width": w, "batch_size": b} for _, res, w, b, _ in items]
    # the part of the call that only stacks the cached per-block feature dicts into one array (the rest is the
    # predictor: boosters, prefix sums, bounds, extrapolation checks, the records)
    stack_us, _ = _timings_us(lambda: Chains.from_row_lists([r for *_, r in items]), repeats)
    loaded_threads = int(predictor.n_jobs)  # what load_predictor gave the boosters (the manifest's n_jobs)
    try:
        for threads in BULK_THREADS:
            # The boosters' own thread count (XGBoost's nthread) sets how many cores a call uses; OMP_NUM_THREADS
            # does not cap it.  Set explicitly so that each row is labelled by what it ran on.
            for b in boosters:
                b.set_param({"nthread": threads})
            api_us, api_best = _timings_us(lambda: predictor.predict_feature_rows(items), repeats)
            price_us, price_best = _timings_us(lambda: predictor.price_chains(chains, configs), repeats)
            table_us, table_best = _timings_us(lambda: predictor.predict_table(chains), repeats)
            every_us, every_best = _timings_us(lambda: _price_every_row(predictor, chains, configs), repeats)
            out["by_threads"][str(threads)] = {
                "api_us_per_candidate": round(api_us / n, 2), "api_min_us_per_candidate": round(api_best / n, 2),
                "price_chains_us_per_candidate": round(price_us / n, 2),
                "price_chains_min_us_per_candidate": round(price_best / n, 2),
                "stack_features_us_per_candidate": round(stack_us / n, 2),
                "boosters_us_per_candidate": round(table_us / n, 2),
                "boosters_min_us_per_candidate": round(table_best / n, 2),
                # before/after in the same run: the trees asked about every row, repeated blocks included
                "price_chains_every_row_us_per_candidate": round(every_us / n, 2),
                "price_chains_every_row_min_us_per_candidate": round(every_best / n, 2)}
    finally:
        for b in boosters:
            b.set_param({"nthread": loaded_threads})
        quiet.setLevel(level)
    out["loaded_threads"] = loaded_threads
    from latmodel.predict.distinct_rows import distinct_rows

    grouped = distinct_rows(chains.X)  # as the predictor groups them (its float64 rows)
    out["distinct_rows"] = n if grouped is None else len(grouped[0])
    return out


def _price_every_row(predictor, chains, configs):
    """:meth:`price_chains` with every row through the trees (no grouping of repeated blocks): the "before" of
    :mod:`latmodel.predict.distinct_rows`, timed beside it.  The library has no switch for it (the grouping is
    exact, so no user needs one); the benchmark swaps the function for the call only."""
    from latmodel.predict import prediction

    kept = prediction.distinct_rows
    prediction.distinct_rows = lambda X: None
    try:
        return predictor.price_chains(chains, configs)
    finally:
        prediction.distinct_rows = kept


def _fit_child(table_path: str, queue) -> None:
    from latmodel.predict.model import LatencyModel
    from latmodel.measure.table import read_table

    t = time.perf_counter()
    table = read_table(table_path)
    LatencyModel(n_jobs=1).fit(table)
    queue.put(time.perf_counter() - t)


def _empirical_measurement(predicted_us_per_candidate: float) -> dict:
    """The empirical estimator: time measuring ONE TRN on this device, against one predicted query.

    The TRN is mobilenet_v2 cut after block 13 at 128 px (a typical kept candidate).
    What measuring it costs: a fresh child process with the calibration settings
    (``latmodel profile``'s worker does exactly this per configuration) = the process
    start with torch imported + building the prefix + 10 warm-up and 30 timed runs.
    """
    import subprocess
    import sys
    import time

    code = (
        "import time, torch; t=time.perf_counter(); torch.set_num_threads(1)\n"
        "from latmodel.graph.blocks import load_chain\n"
        "from latmodel.measure.timing import time_callable\n"
        "c=load_chain('mobilenet_v2',128); p=c.prefix(13); x=torch.randn(1,3,128,128)\n"
        "with torch.inference_mode(): s=time_callable(lambda: p(x), warmup=10, repeats=30)\n"
        "print(time.perf_counter()-t, s.median_ms)"
    )
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "4294967296",
           "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    total_s = time.perf_counter() - t0
    in_process_s, median_ms = (float(v) for v in proc.stdout.split())
    return {
        "trn": "mobilenet_v2@128px/cut13",
        "measure_one_trn_seconds": round(total_s, 3),
        "measure_one_trn_in_process_seconds": round(in_process_s, 3),
        "measured_median_ms": round(median_ms, 3),
        "predicted_query_us_per_candidate": round(predicted_us_per_candidate, 2),
        "ratio_measure_over_query": round(total_s * 1e6 / predicted_us_per_candidate),
        "ratio_in_process_over_query": round(in_process_s * 1e6 / predicted_us_per_candidate),
    }


def main(argv=None) -> int:
    import pandas as pd

    from latmodel.graph import netfeatures as F
    from latmodel.predict.predictor_io import load_predictor

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--predictor", default=str(ROOT / "data/predictors/cpu-1thread"))
    ap.add_argument("--table", default=str(ROOT / "data/calibration/cpu-1thread.csv"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/query_speed.json"))
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--no-fit", action="store_true", help="skip the fit timing")
    ap.add_argument("--note", default="", help="what to say about this run beside its table (rendered)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    predictor = load_predictor(args.predictor)
    per_network = []
    frames = []
    total_us = total_best = total_cuts = 0.0
    for name, res in ZOO_AT:
        feats = F.network_features(name, res)  # warm the feature cache: not part of the query
        n = len(feats)

        def query(feats=feats, name=name, res=res):
            pred = predictor.predict_chain(feats, model_name=name, resolution=res)
            return [(pred.prefix_latency_ms[k], pred.prefix_upper_ms[k]) for k in range(len(pred))]

        us, best = _timings_us(query, args.repeats)
        per_network.append({"model": name, "resolution_px": res, "n_cuts": n, "network_us": round(us, 1),
                            "network_min_us": round(best, 1), "amortized_us_per_candidate": round(us / n, 2),
                            "amortized_min_us_per_candidate": round(best / n, 2)})
        total_us += us
        total_best += best
        total_cuts += n
        df = pd.DataFrame(feats)
        df["config_id"] = f"{name}@{res}"
        frames.append(df)
    batch = pd.concat(frames, ignore_index=True)
    batched_us, batched_best = _timings_us(lambda: predictor.predict_table(batch), max(5, args.repeats // 5))
    head_us, head_best = _timings_us(lambda: predictor.head_latency_ms(1280, 7, 7, 1000), args.repeats)
    bulk = _bulk_query(predictor, max(5, args.repeats // 10))

    cold = []
    from latmodel.graph.feature_cache import OFF_ENV

    os.environ[OFF_ENV] = "off"  # cold: neither the shipped features nor the disk cache answer
    import torchvision.models  # noqa: F401  (imported once per process; not part of a network's features)
    for name, res in COLD:
        F.clear_cache()
        t = time.perf_counter()
        feats = F.network_features(name, res)
        t_feat = time.perf_counter() - t
        t = time.perf_counter()
        predictor.predict_chain(feats, model_name=name, resolution=res)
        t_pred = time.perf_counter() - t
        cold.append({"model": name, "resolution_px": res, "n_blocks": len(feats),
                     "features_seconds": round(t_feat, 3), "prediction_seconds": round(t_pred, 4),
                     "total_seconds": round(t_feat + t_pred, 3)})

    fit = None
    if not args.no_fit and Path(args.table).is_file():
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        p = ctx.Process(target=_fit_child, args=(args.table, q))
        p.start()
        seconds = q.get()
        p.join()
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        rows = sum(1 for _ in open(args.table, encoding="utf-8")) - 1
        fit = {"table": args.table, "rows": rows, "seconds": round(seconds, 2),
               "peak_rss_bytes": int(peak_kib) * 1024, "n_jobs": 1,
               "note": "includes the grouped out-of-fold stage-1 fits that stage 2 and the upper bound learn from"}

    empirical = _empirical_measurement(total_us / total_cuts)
    from datetime import datetime, timezone

    from benchmarks.results_io import machine_line

    now = datetime.now(timezone.utc).replace(microsecond=0)
    out = {
        "created_at": now.isoformat(), "date": now.date().isoformat(),
        "machine": machine_line(),
        "command": "python benchmarks/bench_query_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "predictor": args.predictor,
        "empirical_vs_predicted": empirical,
        "amortized_query": {
            "per_network": per_network,
            "all_networks_us_per_candidate": round(total_us / total_cuts, 2),
            "all_networks_min_us_per_candidate": round(total_best / total_cuts, 2),
            "candidates": int(total_cuts),
            "batched_predict_table_us_total": round(batched_us, 1),
            "batched_us_per_candidate": round(batched_us / total_cuts, 2),
            "batched_min_us_per_candidate": round(batched_best / total_cuts, 2),
        },
        "bulk_query": bulk,
        "head_latency_query_us": round(head_us, 1),
        "head_latency_query_min_us": round(head_best, 1),
        "cold_network": cold,
        "fit": fit,
        "thread_env": {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
        "note": "median (and minimum) over repeats, 1 thread (bulk: the boosters on each of BULK_THREADS), nothing else running",
        "run_note": args.note,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "amortized_query"}, indent=2))
    aq = out["amortized_query"]
    print("amortized us per candidate (median / min):", aq["all_networks_us_per_candidate"],
          aq["all_networks_min_us_per_candidate"], "batched:", aq["batched_us_per_candidate"],
          aq["batched_min_us_per_candidate"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Adapting the 1-thread CPU predictor to a new device from few measurements.

    python benchmarks/bench_adaptation.py [--base data/predictors/cpu-1thread]
        [--target cpu-2threads=data/calibration/cpu-2threads.csv ...] [--repeat NAME=SECOND_PASS.csv ...]
        [--base-of NAME=PREDICTOR ...]
        [--out benchmarks/results/adaptation.json]

A measurement is one configuration (a network at a resolution and width: one
child-process profile giving all its prefixes).  Per target table and n new-device
configurations (5, 10, 20, 50, all; sizes above what the table holds are skipped,
"all" = every configuration but the held-out ones): draw n configurations
(``--draws`` times, different seeds), adapt on them, score TRN prefixes and whole
networks of the remaining configurations.  Side by side:

* ``base, unadapted`` -- the 1-thread predictor as it is;
* ``scale`` -- one global latency factor (weighted median of log ratios);
* ``boost`` -- continue boosting the base trees on the new rows (``adapt_rounds`` more rounds);
* ``scale+boost`` -- both;
* ``correct`` -- the base's trees times a ridge log-linear per-device correction (:mod:`latmodel.predict.transfer`);
* ``boost, budget set`` -- what ``latmodel calibrate --budget n`` does by default: ``boost`` on the n
  configurations it would choose from the table (:func:`latmodel.predict.budget.choose_configs`; one
  deterministic split; before 2026-12-07 this column was ``correct`` on a D-optimal set);
* ``from scratch`` -- a new predictor fitted on the same few rows only.

"all": leave-one-configuration-out for tables of at most 20 configurations, else 5
folds of configurations.  Metrics are pooled over draws (``prefix``/``network``) and
given per draw as median / min / max (``draws``).  ``--repeat`` names a second pass
of a target: the share of its prefixes within +-10% of the first pass is the
measurement's own repeatability, written beside the target.
Writes JSON and a PNG (share of prefixes within +-10 % vs n, first target).
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.results_io import repo_relative, result_header, write_result  # noqa: E402

logger = logging.getLogger("bench_adaptation")
SIZES = (5, 10, 20, 50)
STRATEGIES = ("scale", "boost", "scale+boost", "correct")
BUDGET_METHOD = "boost, budget set"
BUDGET_STRATEGY = "boost"  # latmodel calibrate's default (the base's adapt_strategy, LatencyModel's default)
_LOCO_MAX_CONFIGS = 20


def _named(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=TABLE.csv, got {text!r}")
    return name, path


def _agreement(first, second) -> dict:
    import numpy as np

    key = ["model", "resolution_px", "width", "block_index"]
    a = first[first["flagged"] != 1]
    b = second[second["flagged"] != 1]
    m = a.merge(b[key + ["prefix_ms", "network_ms"]], on=key, suffixes=("", "_2"))
    rel = np.abs(m["prefix_ms"] / m["prefix_ms_2"] - 1.0)
    last = m["block_index"] == m.groupby(["model", "resolution_px", "width"])["block_index"].transform("max")
    net = np.abs(m.loc[last, "network_ms"] / m.loc[last, "network_ms_2"] - 1.0)
    return {"prefixes": int(len(m)), "prefix_within_10_pct": float(np.mean(rel <= 0.10) * 100),
            "prefix_median_diff_pct": float(np.median(rel) * 100), "networks": int(last.sum()),
            "network_within_10_pct": float(np.mean(net <= 0.10) * 100)}


def repeatability(first, second) -> dict:
    """How well two passes of a target agree, on the scale the adapted predictors are scored at: both passes'
    windows at one yardstick speed (the first pass's fastest window: :mod:`latmodel.measure.yardstick_scale`, the
    rule ``latmodel fit`` and ``evaluate`` apply), with the figures as measured beside them (``as_measured``).
    ``within_10_pct`` is the share of prefixes within 10%.  Tables without a yardstick are compared as
    measured (``rows_scaled`` 0)."""
    from latmodel.measure.yardstick_scale import reference_ms_of, scale_to_yardstick

    ref = reference_ms_of(first)
    if not math.isnan(ref):  # the first pass has windows with the current yardstick
        a, sa = scale_to_yardstick(first, ref)
        b, sb = scale_to_yardstick(second, ref)
        rows_scaled = sa.rows_scaled + sb.rows_scaled
    else:
        a, b, rows_scaled, ref = first, second, 0, None
    at_scale = _agreement(a, b)
    return {**at_scale, "within_10_pct": at_scale["prefix_within_10_pct"], "yardstick_reference_ms": ref,
            "rows_scaled": int(rows_scaled), "as_measured": _agreement(first, second)}


def main(argv=None) -> int:
    import numpy as np
    import pandas as pd

    from latmodel.predict.baselines import sort_blocks
    from latmodel.predict.budget import choose_configs
    from latmodel.predict.evaluation import at_predictor_scale, levels_for as _levels_for
    from latmodel.predict.model import LatencyModel
    from latmodel.predict.predictor_io import load_predictor
    from latmodel.measure.table import read_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default=str(ROOT / "data/predictors/cpu-1thread"))
    ap.add_argument("--target", type=_named, action="append", default=None,
                    help="NAME=TABLE.csv of a new device (repeatable; default cpu-2threads)")
    ap.add_argument("--repeat", type=_named, action="append", default=[],
                    help="NAME=TABLE.csv: a second pass of target NAME, for its repeatability")
    ap.add_argument("--base-of", type=_named, action="append", default=[],
                    help="NAME=PREDICTOR: adapt target NAME from this predictor instead of --base (e.g. another CPU's)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/adaptation.json"))
    ap.add_argument("--plot", default=str(ROOT / "benchmarks/results/adaptation.png"))
    ap.add_argument("--note", default="", help="a line about this run (machine, what ran beside it), kept in the JSON")
    ap.add_argument("--draws", type=int, default=5, help="random draws of the n configurations per size")
    ap.add_argument("--scratch-estimators", type=int, default=300, help="stage-1 rounds of the from-scratch fit")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    targets = args.target or [("cpu-2threads", str(ROOT / "data/calibration/cpu-2threads.csv"))]
    repeats = dict(args.repeat)
    base_of = dict(args.base_of)
    base_paths = {name: base_of.get(name, args.base) for name, _ in targets}
    bases = {path: load_predictor(path) for path in dict.fromkeys(base_paths.values())}

    def score(model, test):
        """(``test`` at the model's scale, its predicted prefix latencies), as ``latmodel evaluate`` scores."""
        scaled, _ = at_predictor_scale(model, sort_blocks(test))
        return scaled, model.predict_table(scaled)[1]

    def run_split(base, table, train_ids, test_ids, methods):
        train = table[table["config_id"].isin(train_ids)]
        test = table[table["config_id"].isin(test_ids)].reset_index(drop=True)
        scored = {}
        for name in methods:
            if name == "base, unadapted":
                model = base
            elif name == "from scratch":
                fams = train["family"].nunique()
                model = LatencyModel(n_estimators=args.scratch_estimators, inner_folds=max(2, min(4, fams))).fit(train)
            else:
                strat = BUDGET_STRATEGY if name == BUDGET_METHOD else name
                model = LatencyModel(**{**base.get_params(), "adapt_strategy": strat}).fit(train, init_model=base)
            scored[name] = score(model, test)
        return scored  # name -> (test at that model's scale, predictions)

    def pooled_levels(tests_by_name, pooled):
        res = {}
        for name, parts in pooled.items():
            tests = tests_by_name[name]
            test_all = pd.concat(tests, ignore_index=True)
            test_all["config_id"] = [f"{i}:{c}" for i, c in zip(np.repeat(range(len(tests)), [len(t) for t in tests]),
                                                                test_all["config_id"])]
            lv = _levels_for(test_all, np.concatenate(parts))
            # per draw (for "all": per held-out configuration; one with every row flagged scores nan)
            per = [_levels_for(t, p) for t, p in zip(tests, parts)]
            res[name] = {"prefix": lv["prefix"].to_dict(), "network": lv["network"].to_dict(),
                         "draws": {level: {"within_10_pct": {
                             "median": float(np.nanmedian([d[level].within_10_pct for d in per])),
                             "min": float(np.nanmin([d[level].within_10_pct for d in per])),
                             "max": float(np.nanmax([d[level].within_10_pct for d in per]))}}
                             for level in ("prefix", "network")}}
        return res

    all_methods = ["base, unadapted", *STRATEGIES, "from scratch"]
    out_targets = {}
    for tname, tpath in targets:
        table = LatencyModel.validate_table(read_table(tpath))
        configs = list(dict.fromkeys(table["config_id"]))
        n_all = len(configs)
        base = bases[base_paths[tname]]
        logger.info("%s: %d configurations, %d rows; base fitted on %s", tname, n_all, len(table), base.device_)
        sizes = [n for n in SIZES if n < n_all] + ["all"]
        results = {}
        for n in sizes:
            t0 = time.perf_counter()
            if n == "all":
                if n_all <= _LOCO_MAX_CONFIGS:
                    folds = [[c] for c in configs]
                else:
                    order = list(np.random.RandomState(0).permutation(configs))
                    folds = [order[i::5] for i in range(5)]
                splits = [([c for c in configs if c not in f], f) for f in folds]
            else:
                splits = []
                for d in range(args.draws):
                    chosen = list(np.random.RandomState(1000 + d).choice(configs, size=n, replace=False))
                    splits.append((chosen, [c for c in configs if c not in chosen]))
            pooled: dict[str, list] = {}
            tests: dict[str, list] = {}
            for train_ids, test_ids in splits:
                for name, (t, p) in run_split(base, table, train_ids, test_ids, all_methods).items():
                    tests.setdefault(name, []).append(t)
                    pooled.setdefault(name, []).append(p)
            res = pooled_levels(tests, pooled)
            if n != "all":
                chosen = choose_configs(table, n)
                t, p = run_split(base, table, chosen, [c for c in configs if c not in chosen], [BUDGET_METHOD])[BUDGET_METHOD]
                res.update(pooled_levels({BUDGET_METHOD: [t]}, {BUDGET_METHOD: [p]}))
                res[BUDGET_METHOD]["chosen"] = chosen
            results[str(n)] = {"n_configs": n_all - len(splits[0][1]) if n == "all" else n, "splits": len(splits),
                               "seconds": round(time.perf_counter() - t0, 1), "estimators": res}
            logger.info("%s n=%s: %s", tname, n, {k: round(v["prefix"]["within_10_pct"], 1) for k, v in res.items()})
        rep = None
        if tname in repeats:
            rep = repeatability(table, LatencyModel.validate_table(read_table(repeats[tname])))
        out_targets[tname] = {"table": tpath, "base": repo_relative(base_paths[tname]), "base_device": base.device_,
                              "n_configs_available": n_all,
                              "sizes_skipped": [n for n in SIZES if n >= n_all], "results": results,
                              "repeatability": rep or "not measured (needs a second pass: --repeat NAME=TABLE)"}

    first = out_targets[targets[0][0]]
    default_base = bases.get(args.base) or load_predictor(args.base)
    out = {**result_header("adaptation", argv), "base": repo_relative(args.base), "base_device": default_base.device_,
           "draws": args.draws,
           "measurement": "one configuration = one network at one resolution and width (all its prefixes)",
           "targets": out_targets,
           # the first target's numbers also at the top level (README renderer)
           "table": first["table"], "n_configs_available": first["n_configs_available"],
           "sizes_skipped": first["sizes_skipped"], "results": first["results"],
           "note": "metrics pooled over draws on the configurations not used for adaptation; flagged rows left out",
           "plot": repo_relative(args.plot), "run_note": args.note}
    write_result(args.out, out)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = first["results"]
    sizes = list(results)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    xs = [results[n]["n_configs"] for n in sizes]
    for name in all_methods:
        for ax, key, label in ((axes[0], "within_10_pct", "prefixes within ±10 % (%)"),
                               (axes[1], "mape_pct", "prefix MAPE (%)")):
            ax.plot(xs, [results[n]["estimators"][name]["prefix"][key] for n in sizes], "o-", label=name)
            ax.set_xlabel("new-device configurations used")
            ax.set_ylabel(label)
            ax.set_xscale("log")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"adapting the 1-thread predictor to {targets[0][0]}")
    fig.tight_layout()
    fig.savefig(args.plot, dpi=110)
    from tabulate import tabulate

    for tname, tres in out_targets.items():
        names = [*all_methods, BUDGET_METHOD]
        rows = []
        for n, r in tres["results"].items():
            cells = []
            for k in names:
                e = r["estimators"].get(k)
                if e is None:
                    cells.append("")
                    continue
                d = e["draws"]["prefix"]["within_10_pct"]
                cells.append(f"{e['prefix']['within_10_pct']:.0f} ({d['min']:.0f}-{d['max']:.0f})")
            rows.append([n, *cells])
        print(f"\n{tname}: prefixes within ±10 %, pooled (min-max over draws); repeatability: {tres['repeatability']}")
        print(tabulate(rows, headers=["configs", *names]))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

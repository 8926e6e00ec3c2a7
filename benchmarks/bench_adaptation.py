"""Adapting the 1-thread CPU predictor to a new device from few measurements.

    python benchmarks/bench_adaptation.py [--base data/predictors/cpu-1thread]
        [--table data/calibration/cpu-2threads.csv] [--out benchmarks/results/adaptation.json]

New device = the same CPU at 2 threads (``cpu-2threads.csv``).  For n new-device
configurations (5, 10, 20, 50, all -- configurations, not rows; sizes above what
the table holds are skipped, "all" = every configuration but the held-out ones):
draw n configurations (``--draws`` times, different seeds), train on them, and
score TRN prefixes and whole networks of the remaining configurations.  Side by side:

* ``base, unadapted`` -- the 1-thread predictor as it is;
* ``scale`` -- one global latency factor (weighted median of log ratios);
* ``boost`` -- continue boosting the base trees on the new rows (``adapt_rounds`` more
  rounds, the default strategy);
* ``scale+boost`` -- both;
* ``from scratch`` -- a new predictor fitted on the same few rows only.

For "all" the held-out set is each configuration in turn (leave-one-config-out).
Writes JSON and a PNG (share of prefixes within +-10 % vs n).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

logger = logging.getLogger("bench_adaptation")
SIZES = (5, 10, 20, 50)
STRATEGIES = ("scale", "boost", "scale+boost")


def main(argv=None) -> int:
    import numpy as np
    import pandas as pd

    from latmodel.baselines import sort_blocks
    from latmodel.evaluation import levels_for as _levels_for
    from latmodel.model import LatencyModel
    from latmodel.predictor_io import load_predictor
    from latmodel.table import read_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default=str(ROOT / "data/predictors/cpu-1thread"))
    ap.add_argument("--table", default=str(ROOT / "data/calibration/cpu-2threads.csv"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/adaptation.json"))
    ap.add_argument("--plot", default=str(ROOT / "benchmarks/results/adaptation.png"))
    ap.add_argument("--draws", type=int, default=5, help="random draws of the n configurations per size")
    ap.add_argument("--scratch-estimators", type=int, default=300, help="stage-1 rounds of the from-scratch fit")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    base = load_predictor(args.base)
    table = LatencyModel._validate_table(read_table(args.table))
    configs = list(dict.fromkeys(table["config_id"]))
    n_all = len(configs)
    logger.info("new device: %d configurations, %d rows; base fitted on %s", n_all, len(table), base.device_)

    def score(model, test):
        test = sort_blocks(test)
        _, prefix, _ = model.predict_table(test)
        lv = _levels_for(test, prefix)
        return lv, prefix

    def run_split(train_ids, test_ids):
        train = table[table["config_id"].isin(train_ids)]
        test = table[table["config_id"].isin(test_ids)].reset_index(drop=True)
        preds = {"base, unadapted": base}
        for strat in STRATEGIES:
            preds[strat] = LatencyModel(**{**base.get_params(), "adapt_strategy": strat}).fit(train, init_model=base)
        fams = train["family"].nunique()
        scratch_params = {"n_estimators": args.scratch_estimators, "inner_folds": max(2, min(4, fams))}
        preds["from scratch"] = LatencyModel(**scratch_params).fit(train)
        return test, {name: score(m, test)[1] for name, m in preds.items()}

    sizes = [n for n in SIZES if n < n_all] + ["all"]
    results = {}
    for n in sizes:
        t0 = time.perf_counter()
        pooled: dict[str, list] = {}
        tests = []
        if n == "all":
            splits = [([c for c in configs if c != held], [held]) for held in configs]
        else:
            splits = []
            for d in range(args.draws):
                rng = np.random.RandomState(1000 + d)
                chosen = list(rng.choice(configs, size=n, replace=False))
                splits.append((chosen, [c for c in configs if c not in chosen]))
        for train_ids, test_ids in splits:
            test, preds = run_split(train_ids, test_ids)
            tests.append(test)
            for name, p in preds.items():
                pooled.setdefault(name, []).append(p)
        test_all = pd.concat(tests, ignore_index=True)
        test_all["config_id"] = [f"{i}:{c}" for i, c in zip(np.repeat(range(len(tests)), [len(t) for t in tests]),
                                                            test_all["config_id"])]
        res = {}
        for name, parts in pooled.items():
            pred = np.concatenate(parts)
            lv = _levels_for(test_all, pred)
            res[name] = {"prefix": lv["prefix"].to_dict(), "network": lv["network"].to_dict()}
        results[str(n)] = {"n_configs": n_all - 1 if n == "all" else n, "splits": len(splits),
                           "seconds": round(time.perf_counter() - t0, 1), "estimators": res}
        logger.info("n=%s: %s", n, {k: round(v["prefix"]["within_10_pct"], 1) for k, v in res.items()})

    out = {"base": args.base, "base_device": base.device_, "table": args.table, "n_configs_available": n_all,
           "sizes_skipped": [n for n in SIZES if n >= n_all], "draws": args.draws, "results": results,
           "note": "metrics pooled over draws on the configurations not used for adaptation; flagged rows left out"}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    xs = [results[str(n)]["n_configs"] for n in sizes]
    for name in results[str(sizes[0])]["estimators"]:
        for ax, key, label in ((axes[0], "within_10_pct", "prefixes within ±10 % (%)"),
                               (axes[1], "mape_pct", "prefix MAPE (%)")):
            ax.plot(xs, [results[str(n)]["estimators"][name]["prefix"][key] for n in sizes], "o-", label=name)
            ax.set_xlabel("new-device configurations used")
            ax.set_ylabel(label)
            ax.set_xscale("log")
    axes[0].legend(fontsize=8)
    fig.suptitle("adapting the 1-thread predictor to 2 threads")
    fig.tight_layout()
    fig.savefig(args.plot, dpi=110)
    from tabulate import tabulate

    names = list(results[str(sizes[0])]["estimators"])
    print(tabulate([[n, *[results[str(n)]["estimators"][k]["prefix"]["within_10_pct"] for k in names]] for n in sizes],
                   headers=["configs", *names], floatfmt=".1f"))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

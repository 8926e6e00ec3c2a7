"""How much of two passes' disagreement is a whole window moving together (host drift), not single configurations.

    python scripts/pass_drift.py PASS_A.csv PASS_B.csv [--samples SAMPLES_A.json.gz ...] [--json OUT.json]

Two windowed passes of the same configurations (``latmodel profile``, the same corpus and window plan, e.g. the
``repeat`` corpus twice) are compared three ways, prefixes of at least 0.2 ms (bench_repeatability's ``TINY_MS``):

* **as measured**: the share of prefixes whose two latencies are within +-5% / +-10%;
* **by window**: for each window of pass A, the median ratio A / B of its configurations' whole networks and the
  ratio of its yardsticks (``yardstick_ms``): a window that moved as a whole reads a median away from 1, and a
  yardstick that tracks the host would read the same;
* **yardstick taken out**: each window's prefixes divided by its yardstick ratio (what scaling both passes to one
  yardstick reference does, latmodel.measure.yardstick_scale);
* **window drift taken out**: each configuration's prefixes divided by the median whole-network ratio of the *other*
  configurations of its window (leave-one-out, so a configuration never corrects itself).  This is what a yardstick
  that moved exactly like the window's networks would give; the gap to "as measured" is what such a yardstick could
  win, the rest is each configuration's own noise.

``--samples``: raw samples of a pass (``latmodel profile --samples-out``, plain or gzipped) and, round by round in
each window, how the host's phase shows in the networks and in the yardstick: each round's fastest sample of every
configuration's whole network and of the yardstick (logs, centred per configuration), the median of half the
configurations against the median of the other half, and the yardstick against the median of all (Pearson
correlations over the rounds), with the spread of the rounds' medians.  Timed passes a visit are read from the
table's ``samples`` / (``rounds`` x ``placements``).

Windows are told apart by their ``yardstick_ms`` in pass A (every window times its own yardstick; tables keep no
window number), so both passes must be windowed tables with a yardstick.  Why a script of its own: it reads two
tables already measured (nothing is timed), which neither bench_repeatability (it measures) nor
scripts/placement_spread.py (one process's placements) does.  Measured on the AMD EPYC, data/calibration/README.md
("What keeps torch's passes apart here").
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NEED = ("config_id", "block_index", "prefix_ms", "network_ms", "yardstick_ms")


def _within(a, b) -> dict:
    """Shares of ``a / b`` within +-5% / +-10% (bench_repeatability's measure of agreement; tiny prefixes are
    already left out)."""
    from benchmarks.bench_repeatability import agreement

    got = agreement(a, b, tiny_ms=0.0)
    return {"within_5_pct": got["within_5_pct"], "within_10_pct": got["within_10_pct"]}


def drift(table_a, table_b) -> dict:
    """The three comparisons of the module docstring for two pass tables (paths or DataFrames)."""
    import numpy as np
    import pandas as pd

    from benchmarks.bench_repeatability import TINY_MS
    from latmodel.errors import TableError
    from latmodel.measure.table import read_table

    a, b = (t if isinstance(t, pd.DataFrame) else read_table(t, required=NEED) for t in (table_a, table_b))
    m = a[list(NEED)].merge(b[list(NEED)], on=["config_id", "block_index"], suffixes=("_a", "_b"))
    if m.empty:
        raise TableError("the two tables share no (config_id, block_index): give two passes of the same corpus")
    if m["yardstick_ms_a"].isna().any():
        raise TableError("pass A has rows without a yardstick (round-model rows?): windows cannot be told apart; "
                         "compare two windowed passes")
    m = m.copy()
    m["window"] = m.groupby("yardstick_ms_a", sort=True).ngroup()
    if (m.groupby("window")["yardstick_ms_b"].nunique() > 1).any() or \
            m.groupby("yardstick_ms_b")["window"].nunique().gt(1).any():
        raise TableError("the two passes grouped their configurations into different windows (not one window plan): "
                         "compare two passes of the same corpus, measured with the same --window-configs")
    m = m[(m["prefix_ms_a"] + m["prefix_ms_b"]) / 2.0 >= TINY_MS]
    nets = m.groupby("config_id").agg(window=("window", "first"), a=("network_ms_a", "first"),
                                      b=("network_ms_b", "first"), ya=("yardstick_ms_a", "first"),
                                      yb=("yardstick_ms_b", "first"))
    nets["ratio"] = nets["a"] / nets["b"]
    windows, loo = [], {}
    for w, part in nets.groupby("window"):
        windows.append({"window": int(w), "configs": int(len(part)),
                        "network_ratio_median": round(float(part["ratio"].median()), 4),
                        "yardstick_ratio": round(float(part["ya"].iloc[0] / part["yb"].iloc[0]), 4)})
        for cid in part.index:
            others = part["ratio"].drop(cid)
            loo[cid] = float(others.median()) if len(others) else 1.0
    pa, pb = m["prefix_ms_a"].to_numpy(), m["prefix_ms_b"].to_numpy()
    return {"prefixes": int(len(m)), "configs": int(len(nets)),
            "as_measured": {**_within(pa, pb), "median_ratio": round(float(np.median(pa / pb)), 4)},
            "windows": windows,
            "yardstick_out": _within(pa / (m["yardstick_ms_a"] / m["yardstick_ms_b"]).to_numpy(), pb),
            "window_drift_out": _within(pa / m["config_id"].map(loo).to_numpy(), pb)}


def round_phases(samples: dict, timed: int, placements: int) -> list[dict]:
    """Per window of a raw samples file (:func:`latmodel.measure.samples_file.read_samples`): how the rounds' phase
    shows in half the networks against the other half and in the yardstick (see the module docstring)."""
    import numpy as np

    out = []
    for name, window in samples.items():
        yard = np.asarray(window.get("yardstick") or [], float)
        nets = [np.asarray(q["network"], float) for cid, q in window.items() if cid != "yardstick"]
        if len(nets) < 4:  # too few to split in halves
            continue
        rounds = nets[0].size // (placements * timed)
        # a configuration's samples: copy after copy, each round by round (latmodel.measure.bursts.merge_placements)
        rows = np.array([np.log(v[: placements * rounds * timed].reshape(placements, rounds, timed).min(axis=(0, 2)))
                         for v in nets])
        rows -= rows.mean(axis=1, keepdims=True)
        every = np.median(rows, axis=0)
        rec = {"window": name, "configs": len(nets), "rounds": int(rounds),
               "halves_corr": round(float(np.corrcoef(np.median(rows[::2], axis=0),
                                                      np.median(rows[1::2], axis=0))[0, 1]), 2),
               "rounds_spread_pct": round(float(np.expm1(every.max() - every.min()) * 100.0), 1)}
        if yard.size >= rounds * placements * timed:
            # the yardstick: each round, every copy's timed passes one after the other (latmodel.measure.bursts)
            y = np.log(yard[: rounds * placements * timed].reshape(rounds, placements * timed).min(axis=1))
            rec["yardstick_corr"] = round(float(np.corrcoef(y, every)[0, 1]), 2)
            rec["yardstick_spread_pct"] = round(float(np.expm1(y.max() - y.min()) * 100.0), 1)
        out.append(rec)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pass_a")
    ap.add_argument("pass_b")
    ap.add_argument("--samples", nargs="*", default=[], help="raw samples files of the passes (--samples-out): the "
                                                               "rounds' phases in the networks and the yardstick")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    from latmodel.errors import NetcutError

    from benchmarks.bench_repeatability import TINY_MS
    from latmodel.measure.table import read_table

    try:
        table_a = read_table(args.pass_a, required=NEED)
        res = drift(table_a, read_table(args.pass_b, required=NEED))
        if args.samples:
            from latmodel.measure.samples_file import read_samples

            t = table_a.iloc[0]
            placements = int(t["placements"])
            timed = int(t["samples"]) // (int(t["rounds"]) * placements)
            res["round_phases"] = {p: round_phases(read_samples(p), timed, placements) for p in args.samples}
    except NetcutError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: cannot read {e.filename!r}: {e.strerror}", file=sys.stderr)
        return 2
    am, out = res["as_measured"], res["window_drift_out"]
    print(f"{res['prefixes']} prefixes of {res['configs']} configurations (>= {TINY_MS} ms)")
    print(f"as measured:            {am['within_5_pct']:5.1f}% / {am['within_10_pct']:5.1f}% within +-5% / +-10% "
          f"(median ratio A/B {am['median_ratio']:.3f})")
    for w in res["windows"]:
        print(f"  window {w['window']}: {w['configs']:2d} configurations, whole networks A/B median "
              f"{w['network_ratio_median']:.3f}, yardstick A/B {w['yardstick_ratio']:.3f}")
    ys = res["yardstick_out"]
    print(f"yardstick taken out:    {ys['within_5_pct']:5.1f}% / {ys['within_10_pct']:5.1f}% within +-5% / +-10%")
    print(f"window drift taken out: {out['within_5_pct']:5.1f}% / {out['within_10_pct']:5.1f}% within +-5% / +-10%")
    for path, windows in res.get("round_phases", {}).items():
        for w in windows:
            print(f"{Path(path).name} {w['window']}: {w['rounds']} rounds, half the networks against the other half "
                  f"{w['halves_corr']:+.2f}, the yardstick against the networks {w.get('yardstick_corr', float('nan')):+.2f} "
                  f"(rounds' spread: networks {w['rounds_spread_pct']:.1f}%, yardstick "
                  f"{w.get('yardstick_spread_pct', float('nan')):.1f}%)")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

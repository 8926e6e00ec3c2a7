"""How stable is a calibration? Compare two tables of the same corpus measured twice.

    python scripts/calibration_stability.py A.csv B.csv [--json OUT]

For every (configuration, block) present in both: the relative difference
|b - a| / a of the reference latencies (``incontext_ms``, ``prefix_ms``,
``network_ms``; docs/TABLE.md) and, where both tables have them, of the medians
over rounds (``*_median_ms``).  Prints the median and 90th percentile of each and
the share within 5% and 10%, overall and for rows flagged in neither table; and
(``yardstick``) the prefixes within 10% as measured and with both tables' windows at
one yardstick speed (:mod:`latmodel.measure.yardstick_scale`).

``--mark-yardstick``: fit how much of the yardstick's change the networks followed between
the two passes (``elasticity``) and, when scaling by that share (or not scaling) brings them
closer than scaling fully, write it as ``yardstick_tracks`` into both tables' scalable rows
(0: used as measured), which ``fit``, ``evaluate`` and the benchmarks then scale by.

``--samples A.json B.json``: the raw samples the two passes wrote (``latmodel profile --samples-out``):
also compare the prefixes under every statistic of the samples (minimum, percentiles, ...) side by side,
as benchmarks/bench_repeatability.py does for its short passes, so the statistic a host's tables should keep
can be chosen from two whole passes.

``--merge-a A2.csv --merge-b B2.csv``: further passes of A's and of B's configurations (repeatable): each side's
passes are put on one yardstick scale (each row at its own ``yardstick_tracks``) and merged, each latency the
minimum over them (:mod:`latmodel.measure.passes`, what ``latmodel fit`` does with several passes), and the merged
sides are compared (``merged``): whether a second pass makes a table repeat better.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def compare(a_path, b_path) -> dict:
    import numpy as np

    from latmodel.measure.table import read_table

    key = ["config_id", "block_index"]
    need = ("config_id", "block_index", "incontext_ms", "prefix_ms", "network_ms")
    ta, tb = read_table(a_path, required=need), read_table(b_path, required=need)
    quantities = ["incontext_ms", "prefix_ms", "network_ms"]
    quantities += [f"{c[:-3]}_median_ms" for c in quantities
                   if f"{c[:-3]}_median_ms" in ta.columns and f"{c[:-3]}_median_ms" in tb.columns]
    cols = quantities + ["flagged"]
    a = ta[key + cols]
    b = tb[key + cols]
    j = a.merge(b, on=key, suffixes=("_a", "_b"))
    out = {"table_a": str(a_path), "table_b": str(b_path), "rows_compared": int(len(j)),
           "configs_compared": int(j["config_id"].nunique())}
    quiet = (j["flagged_a"] == 0) & (j["flagged_b"] == 0)
    for subset, mask in (("all", np.ones(len(j), bool)), ("unflagged_in_both", quiet.to_numpy())):
        part = j[mask]
        res = {"rows": int(len(part))}
        for col in quantities:
            frame = part.drop_duplicates("config_id") if col.startswith("network_") else part
            rel = (frame[f"{col}_b"] - frame[f"{col}_a"]).abs() / frame[f"{col}_a"]
            res[col] = {"median_rel_diff": float(rel.median()) if len(rel) else None,
                        "p90_rel_diff": float(rel.quantile(0.9)) if len(rel) else None,
                        "within_5pct": float((rel <= 0.05).mean()) if len(rel) else None,
                        "within_10pct": float((rel <= 0.10).mean()) if len(rel) else None}
        out[subset] = res
    out["yardstick"] = yardstick_effect(ta, tb)
    return out


def _prefix_rel(a, b):
    """|b / a - 1| of the prefixes in both tables."""
    j = a[["config_id", "block_index", "prefix_ms"]].merge(b[["config_id", "block_index", "prefix_ms"]],
                                                            on=["config_id", "block_index"], suffixes=("_a", "_b"))
    return (j["prefix_ms_b"].astype(float) / j["prefix_ms_a"].astype(float) - 1.0).abs()


def _prefix_within_10(a, b) -> float:
    return float((_prefix_rel(a, b) <= 0.10).mean())


def yardstick_effect(ta, tb) -> dict:
    """Prefixes within 10% of each other as measured, at one yardstick speed (the first table's fastest window), and
    with the yardstick's share of the change fitted on the two passes (``elasticity``: the slope through the origin of
    each configuration's median log prefix ratio on its log yardstick ratio, in [0, 1]); ``tracks``: the exponent that
    put the most prefixes within 10% (0, the fitted share, or 1), what ``--mark-yardstick`` writes.  Whatever the tables
    carry in ``yardstick_tracks`` is ignored here: this is what measures it."""
    import math

    import numpy as np

    from latmodel.measure.yardstick_scale import TRACKS_COLUMN, reference_ms_of, scale_to_yardstick, yardstick_rows

    def at_share(t, e: float):  # every row with the yardstick marked with share e, whatever its runtime
        rows = yardstick_rows(t)
        t = t.drop(columns=[TRACKS_COLUMN], errors="ignore")
        return t if rows is None else t.assign(**{TRACKS_COLUMN: rows.map({True: e, False: math.nan})})

    ref = reference_ms_of(at_share(ta, 1.0))
    raw = _prefix_within_10(ta, tb)
    if not math.isfinite(ref):
        return {"prefix_within_10pct_as_measured": raw, "prefix_within_10pct_scaled": None, "elasticity": None,
                "prefix_within_10pct_at_elasticity": None, "tracks": None}

    def scaled_at(e: float) -> float:
        return _prefix_within_10(scale_to_yardstick(at_share(ta, e), ref)[0], scale_to_yardstick(at_share(tb, e), ref)[0])

    key = ["config_id", "block_index"]
    j = ta[key + ["prefix_ms", "yardstick_ms"]].merge(tb[key + ["prefix_ms", "yardstick_ms"]], on=key,
                                                      suffixes=("_a", "_b"))
    j = j.assign(lr=np.log(j["prefix_ms_b"].astype(float) / j["prefix_ms_a"].astype(float)),
                 ly=np.log(j["yardstick_ms_b"].astype(float) / j["yardstick_ms_a"].astype(float)))
    c = j[np.isfinite(j["ly"])].groupby("config_id")[["lr", "ly"]].median()
    denom = float((c["ly"] ** 2).sum())
    e = round(float(np.clip((c["lr"] * c["ly"]).sum() / denom, 0.0, 1.0)), 2) if denom > 0 else 1.0
    full, partial = scaled_at(1.0), scaled_at(e)
    tracks = max(((raw, 0.0), (partial, e), (full, 1.0)), key=lambda t: (t[0], t[1] == 1.0))[1]
    return {"prefix_within_10pct_as_measured": raw, "prefix_within_10pct_scaled": full, "elasticity": e,
            "prefix_within_10pct_at_elasticity": partial, "tracks": tracks}


def mark_tracking(path, tracks: float, *, other_runtimes_only: bool = False) -> int:
    """Write ``yardstick_tracks`` = ``tracks`` into the table's rows that have a yardstick (``other_runtimes_only``:
    only those of a runtime other than the yardstick's, which are scaled only where marked); the rows marked."""
    from latmodel.fileio import atomic_write_text
    from latmodel.measure.table import read_table
    from latmodel.measure.yardstick_scale import TRACKS_COLUMN, own_runtime_rows, yardstick_rows

    import pandas as pd

    # every cell as the text it is (a device id such as 51e6073349 must not be read as a number and written back)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    table = read_table(path, required=("config_id",))
    ok = yardstick_rows(table)  # any runtime: a share above 0 makes them scale
    if other_runtimes_only:
        ok &= ~own_runtime_rows(table)
    if not ok.any():
        return 0
    if TRACKS_COLUMN not in raw.columns:
        raw[TRACKS_COLUMN] = ""
    raw.loc[ok.to_numpy(), TRACKS_COLUMN] = f"{tracks:g}"
    atomic_write_text(Path(path), raw.to_csv(index=False))
    return int(ok.sum())


def compare_samples(a_json, b_json) -> dict:
    """Prefix agreement of two passes' raw samples under each statistic (as measured), and under the table's
    default statistic with the windows at one yardstick speed too (bench_repeatability's comparisons)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_repeatability import SCALINGS, compare_raw, compare_statistics

    from latmodel.measure.bursts import BurstPolicy
    from latmodel.measure.samples_file import read_samples  # plain or gzipped

    raws = [read_samples(p) for p in (a_json, b_json)]
    per_visit = BurstPolicy().timed
    return {"statistics": compare_statistics(*raws, per_visit=per_visit),
            "scalings": {name: {sc: compare_raw(*raws, name, per_visit, scaling=sc) for sc in SCALINGS}
                         for name in ("min", "p25")}}


def merged_pair(a_paths, b_paths) -> dict:
    """Prefixes of A's passes merged against B's passes merged, both at the fastest window's yardstick of all."""
    import numpy as np
    import pandas as pd

    from latmodel.measure.passes import merge_passes
    from latmodel.measure.table import read_table
    from latmodel.measure.yardstick_scale import reference_ms_of, scale_to_yardstick

    need = ("config_id", "block_index", "prefix_ms")
    ta, tb = (pd.concat([read_table(p, required=need) for p in side], ignore_index=True) for side in (a_paths, b_paths))
    refs = [r for r in (reference_ms_of(ta), reference_ms_of(tb)) if np.isfinite(r)]
    ref = min(refs) if refs else None
    a, ma = merge_passes(scale_to_yardstick(ta, ref)[0])
    b, mb = merge_passes(scale_to_yardstick(tb, ref)[0])
    rel = _prefix_rel(a, b)
    return {"tables_a": [str(p) for p in a_paths], "tables_b": [str(p) for p in b_paths], "reference_ms": ref,
            "passes_a": ma.max_passes, "passes_b": mb.max_passes, "prefixes_compared": int(len(rel)),
            "prefix_within_5pct": float((rel <= 0.05).mean()), "prefix_within_10pct": float((rel <= 0.10).mean()),
            "prefix_median_rel_diff": float(rel.median())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--mark-yardstick", action="store_true",
                    help="when the yardstick takes the two passes further apart, mark both tables' rows as not scaled")
    ap.add_argument("--samples", nargs=2, metavar=("A_JSON", "B_JSON"), default=None,
                    help="the two passes' raw samples (latmodel profile --samples-out): compare every statistic")
    ap.add_argument("--merge-a", action="append", default=[], metavar="TABLE",
                    help="another pass of A's configurations, merged into A (each latency the minimum); repeatable")
    ap.add_argument("--merge-b", action="append", default=[], metavar="TABLE",
                    help="another pass of B's configurations, merged into B; repeatable")
    args = ap.parse_args(argv)
    if args.mark_yardstick and (args.merge_a or args.merge_b):
        ap.error("--mark-yardstick fits the share of one pair of passes: give it without --merge-a / --merge-b")
    result = compare(args.a, args.b)
    if args.merge_a or args.merge_b:
        result["merged"] = merged_pair([args.a, *args.merge_a], [args.b, *args.merge_b])
    if args.samples:
        result["samples"] = compare_samples(*args.samples)
    result["command"] = "python scripts/calibration_stability.py " + " ".join(
        [Path(args.a).name, Path(args.b).name] + (["--json", args.json] if args.json else [])
        + (["--mark-yardstick"] if args.mark_yardstick else [])
        + (["--samples"] + [Path(p).name for p in args.samples] if args.samples else [])
        + [f"--merge-a {Path(p).name}" for p in args.merge_a] + [f"--merge-b {Path(p).name}" for p in args.merge_b])
    text = json.dumps(result, indent=2)
    print(text)
    if args.mark_yardstick:
        y = result["yardstick"]
        if y["tracks"] is None:
            print("the tables have no yardstick: nothing marked")
        elif y["tracks"] == 1.0:  # both tables marked (a list, not any(): that would stop at the first)
            other = sum([mark_tracking(p, 1.0, other_runtimes_only=True) for p in (args.a, args.b)])
            print("the yardstick tracks this host between these passes: " + (
                f"{other} rows of another runtime marked yardstick_tracks=1 (they are scaled only where marked)"
                if other else "nothing marked (rows scaled fully)"))
        else:
            marked = [mark_tracking(p, y["tracks"]) for p in (args.a, args.b)]
            print(f"the networks followed {y['tracks']:g} of the yardstick's change between these passes (prefixes "
                  f"within 10%: as measured {y['prefix_within_10pct_as_measured']:.1%}, fully scaled "
                  f"{y['prefix_within_10pct_scaled']:.1%}, at {y['elasticity']:g} "
                  f"{y['prefix_within_10pct_at_elasticity']:.1%}): {marked[0]} + {marked[1]} rows marked "
                  f"yardstick_tracks={y['tracks']:g}")
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How stable is a calibration? Compare two tables of the same corpus measured twice.

    python scripts/calibration_stability.py A.csv B.csv [--json OUT]

For every (configuration, block) present in both: the relative difference
|b - a| / a of the reference latencies (``incontext_ms``, ``prefix_ms``,
``network_ms``; docs/TABLE.md) and, where both tables have them, of the medians
over rounds (``*_median_ms``).  Prints the median and 90th percentile of each and
the share within 5% and 10%, overall and for rows flagged in neither table.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


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
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args(argv)
    result = compare(args.a, args.b)
    result["command"] = "python scripts/calibration_stability.py " + " ".join(
        [Path(args.a).name, Path(args.b).name] + (["--json", args.json] if args.json else []))
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

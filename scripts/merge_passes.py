"""Merge passes of the same corpus: per configuration, keep the pass that ran fastest.

    python scripts/merge_passes.py PASS1.csv PASS2.csv [...] --out MERGED.csv
        [--agree-pct 8 --remeasure-into PASS3.csv --pin-cpu 1]

Each configuration's rows come whole from one pass (so its blocks, prefixes and
whole chain stay mutually consistent): the pass with the lowest ``network_ms``.
Why the fastest: interference from other work (other tenants of a VM, a test
suite on the neighbouring core) only ever adds time, and a slowdown that lasts a
configuration's whole run is beyond what its round model can see
(docs/TABLE.md, "Which statistic").  Configurations found in only one pass are
kept as they are.  Prints how many configurations each pass contributed and how
far the passes were apart.

``--remeasure-into``: before merging, measure once more (``latmodel profile``, into
that table, which then joins the merge) every configuration seen in only one pass
or whose passes' whole-chain latencies differ by more than ``--agree-pct``: the
repeatability protocol the shipped calibration was made with.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def disagreeing(paths, agree_pct: float) -> list:
    """Configurations seen once, or whose fastest two passes differ by more than ``agree_pct``."""
    from latmodel.measure.table import read_table

    seen: dict[str, list[float]] = {}
    spec: dict[str, tuple] = {}
    for p in paths:
        t = read_table(p, required=("config_id", "block_index", "network_ms"))
        first = t.groupby("config_id", sort=False).first()
        for cid, row in first.iterrows():
            seen.setdefault(cid, []).append(float(row["network_ms"]))
            spec[cid] = (str(row["model"]), int(row["resolution_px"]), float(row["width"]))
    todo = []
    for cid, values in seen.items():
        v = sorted(values)
        if len(v) < 2 or v[1] / v[0] - 1.0 > agree_pct / 100.0:
            todo.append(spec[cid])
    return todo


def merge(paths, out) -> dict:
    import pandas as pd

    from latmodel.measure.table import read_table, write_table

    tables = [read_table(p, required=("config_id", "block_index", "network_ms")) for p in paths]
    columns = list(tables[0].columns)
    best: dict[str, tuple[float, int]] = {}
    seen: dict[str, list[float]] = {}
    for i, t in enumerate(tables):
        for cid, ms in t.groupby("config_id", sort=False)["network_ms"].first().items():
            seen.setdefault(cid, []).append(float(ms))
            if cid not in best or ms < best[cid][0]:
                best[cid] = (float(ms), i)
    parts = []
    for i, t in enumerate(tables):
        keep = [cid for cid, (_, j) in best.items() if j == i]
        parts.append(t[t["config_id"].isin(keep)].reindex(columns=columns))
    merged = pd.concat(parts, ignore_index=True)
    order = {cid: k for k, cid in enumerate(best)}
    merged = merged.sort_values(["config_id", "block_index"], key=lambda s: s.map(order) if s.name == "config_id"
                                else s, kind="stable")
    write_table(out, merged)
    spreads = [max(v) / min(v) - 1.0 for v in seen.values() if len(v) > 1]
    return {
        "configs": len(best),
        "from_pass": [sum(1 for _, j in best.values() if j == i) for i in range(len(tables))],
        "in_several_passes": len(spreads),
        "median_spread_pct": 100 * float(pd.Series(spreads).median()) if spreads else None,
        "max_spread_pct": 100 * max(spreads) if spreads else None,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tables", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--agree-pct", type=float, default=8.0)
    ap.add_argument("--remeasure-into", help="measure disagreeing / single-pass configurations into this table first")
    ap.add_argument("--pin-cpu", type=int, default=None)
    args = ap.parse_args(argv)
    tables = list(args.tables)
    if args.remeasure_into:
        from latmodel.measure.corpus import ProfileConfig
        from latmodel.measure.profiling import profile

        todo = [ProfileConfig(m, r, w) for m, r, w in disagreeing(tables, args.agree_pct)]
        print(f"re-measuring {len(todo)} configuration(s) into {args.remeasure_into}", flush=True)
        if todo:
            summary = profile(None, args.remeasure_into, corpus=todo, pin_cpu=args.pin_cpu)
            print(summary.to_text().splitlines()[0], flush=True)
        tables.append(args.remeasure_into)
    print(merge(tables, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Rebuild a table's reference columns under another statistic from the raw samples its pass kept.

    python scripts/table_statistic.py TABLE.csv SAMPLES.json[.gz] --statistic min --out OTHER.csv

``latmodel profile --samples-out`` keeps every warm sample of a pass; this writes the same table with
``prefix_ms``, ``incontext_ms``, ``alone_ms``, ``network_ms`` and ``yardstick_ms`` taken as ``--statistic``
(:data:`latmodel.measure.bursts.STATISTICS`) of those samples, and ``method`` naming it, every other cell
unchanged (as text: a device id such as 51e6073349 stays one).  So which statistic fits best on a host can be
judged on one pass (``latmodel fit`` each rebuilt table) instead of one pass per statistic.  Rebuilt under the
statistic it was measured with, a table comes back cell for cell.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rebuild(table, samples: dict, statistic: str):
    """``table`` (a DataFrame of text cells) with its reference columns recomputed from ``samples``."""
    from latmodel.measure.bursts import STATISTICS, statistic_of_method, warm_quantile_ms
    from latmodel.errors import NetcutError

    if statistic not in STATISTICS:
        raise NetcutError(f"--statistic must be one of {', '.join(STATISTICS)}, got {statistic!r}")
    q = STATISTICS[statistic]
    by_config = {cid: v for window in samples.values() for cid, v in window.items() if cid != "yardstick"}
    yardstick = {cid: warm_quantile_ms(window["yardstick"], q) for window in samples.values()
                 for cid in window if cid != "yardstick" and window.get("yardstick")}
    missing = sorted(set(table["config_id"]) - set(by_config))
    if missing:
        raise NetcutError(f"the samples hold no configuration {missing[0]!r} (and {len(missing) - 1} more) of the "
                          "table: give the samples file its own pass wrote")
    out = table.copy()

    def cell(values) -> str:
        return f"{warm_quantile_ms(values, q):.6g}"

    for i, row in out.iterrows():
        s, k = by_config[row["config_id"]], int(row["block_index"])
        out.at[i, "prefix_ms"] = cell(s["prefix"][k])
        out.at[i, "network_ms"] = cell(s["network"])
        for col in ("incontext", "alone"):  # graph-only units (ONNX Runtime's node profile) time neither
            if s.get(col) and s[col][k]:
                out.at[i, f"{col}_ms"] = cell(s[col][k])
        if row["config_id"] in yardstick:
            out.at[i, "yardstick_ms"] = f"{yardstick[row['config_id']]:.6g}"
        method = str(row["method"])
        out.at[i, "method"] = method[: len(method) - len(statistic_of_method(method))] + statistic
    return out


def main(argv=None) -> int:
    import pandas as pd

    from latmodel.fileio import atomic_write_text

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("table")
    ap.add_argument("samples")
    ap.add_argument("--statistic", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    table = pd.read_csv(args.table, dtype=str, keep_default_na=False)
    from latmodel.measure.samples_file import read_samples

    out = rebuild(table, read_samples(args.samples), args.statistic)
    atomic_write_text(Path(args.out), out.to_csv(index=False))
    print(f"wrote {args.out}: {len(out)} rows, statistic {args.statistic}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

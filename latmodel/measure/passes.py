"""Several passes of one configuration among the tables given together: one row per block, each latency the
minimum over the passes.

A table's statistic is the warm latency in the machine's fast state: the minimum of a window's warm samples
(:mod:`latmodel.measure.bursts`).  On a shared host a whole window can sit in a slow phase, and the yardstick
(:mod:`latmodel.measure.yardstick_scale`) takes only part of it out.  A second pass of the same configurations an
hour later gives each one a second window; the minimum over both, after each is put on one yardstick scale, is the
same statistic over more of the host's time.  Measured on the Xeon 6/207/2 (2026-12-06, GenuineIntel 6/207/2, torch,
1 thread, two passes of the default corpus and two of the ``repeat`` corpus, all kept as the minimum): the merged
default passes and the merged repeat passes agree on 94.8% of prefixes within +-10% (the best single pair 93.8%);
the default passes alone agree on only 67.0% (data/calibration/README.md).

Rows are one pass's rows of a configuration when they share ``config_id`` and ``block_index`` (the id names the
device, resolution, width, batch and threads).  They merge only when measured with one ``method`` (one statistic)
and split into the same blocks; otherwise :class:`~latmodel.errors.TableError` says which.  A pass whose row is
flagged (measured under load) counts only when every pass of that row is.  Without merging, two passes would
enter a fit as one chain of twice the blocks: the prefix sums would be wrong, silently.
"""
from __future__ import annotations

import dataclasses

from ..errors import TableError
from ..records import Record
from .yardstick_scale import SCALED_COLUMNS

__all__ = ["PASS_KEY", "PassMerge", "merge_passes", "require_one_pass"]

#: What makes two rows the same quantity measured in two passes.
PASS_KEY: tuple[str, ...] = ("config_id", "block_index")


@dataclasses.dataclass(frozen=True)
class PassMerge(Record):
    """What :func:`merge_passes` did: configurations measured in more than one pass, rows folded away, most passes."""

    configs_merged: int = 0
    rows_folded: int = 0
    max_passes: int = 1


def _check_same(part, column: str, what: str, fix: str) -> None:
    counts = part.groupby("config_id")[column].nunique(dropna=False)
    bad = counts[counts > 1]
    if len(bad):
        first = str(bad.index[0])
        values = sorted(str(v) for v in set(part.loc[part["config_id"] == first, column]))
        raise TableError(f"configuration {first!r}{f' (and {len(bad) - 1} more)' if len(bad) > 1 else ''} is in the "
                         f"tables more than once with different {what} ({', '.join(values[:4])}); passes merge only "
                         f"when they agree: {fix}")


def merge_passes(df):
    """``(df with one row per (config_id, block_index), PassMerge)``; ``df`` itself when no row repeats.

    Put the passes on one yardstick scale first (``scale_to_yardstick``): the minimum compares latencies, and
    windows measured at other speeds are not comparable until then.
    """
    import numpy as np
    import pandas as pd

    key = list(PASS_KEY)
    if df.empty or any(k not in df.columns for k in key):
        return df, PassMerge()
    repeated = df.duplicated(key, keep=False).to_numpy()
    if not repeated.any():
        return df, PassMerge()
    part = df[repeated]
    if "method" in df.columns:
        _check_same(part, "method", "measuring methods",
                    "rebuild one under the other's statistic (scripts/table_statistic.py) or give only one")
    if "block_name" in df.columns:
        names = part.groupby(key)["block_name"].nunique(dropna=False)
        if (names > 1).any():
            first = str(names[names > 1].index[0][0])
            raise TableError(f"configuration {first!r} is in the tables more than once, split into different blocks "
                             "(tables of another netcut version?); profile it again or give only one table")
    flag = (pd.to_numeric(df["flagged"], errors="coerce").fillna(0).astype(int).to_numpy()
            if "flagged" in df.columns else np.zeros(len(df), dtype=int))
    groups = [df[k].to_numpy() for k in key]
    all_flagged = pd.Series(flag).groupby(groups).transform("min").to_numpy() == 1
    counted = (flag == 0) | all_flagged  # a flagged pass counts only where no pass of the row is unflagged
    cols = [c for c in SCALED_COLUMNS if c in df.columns]
    values = df[cols].apply(pd.to_numeric, errors="coerce")
    values = values.where(np.broadcast_to(counted[:, None], values.shape))
    minima = values.groupby(groups).min()
    order = np.lexsort((np.arange(len(df)), ~counted))  # the first counted pass of a row speaks for its other cells
    out = df.iloc[order].drop_duplicates(key, keep="first").sort_index()
    index = pd.MultiIndex.from_arrays([out[k].to_numpy() for k in key])
    for c in cols:
        out[c] = minima[c].reindex(index).to_numpy()
    passes = part.groupby(key).size()
    record = PassMerge(configs_merged=int(part["config_id"].nunique()), rows_folded=int(len(df) - len(out)),
                       max_passes=int(passes.max()))
    return out.reset_index(drop=True), record


def require_one_pass(df) -> None:
    """Raise :class:`~latmodel.errors.TableError` when a block of a configuration is in ``df`` more than once (what a fit
    needs: one chain per configuration)."""
    repeated = df.duplicated(list(PASS_KEY))
    if repeated.any():
        first = df.loc[repeated, list(PASS_KEY)].iloc[0]
        raise TableError(f"configuration {first['config_id']!r} has block {first['block_index']} more than once "
                         f"({int(repeated.sum())} repeated rows: two passes of it?); merge the passes first with "
                         "latmodel.measure.passes.merge_passes after scale_to_yardstick (latmodel fit and evaluate do)")

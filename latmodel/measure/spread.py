"""How noisy the host was while a window measured a configuration, from its own rows, and the rule that measures
such a configuration again.

A configuration's **spread** is the median, over its prefix rows, of ``prefix_median_ms / prefix_ms``: how far the
typical warm sample of a quantity sat above its fastest one in the window that measured it.  While the host is
quiet, the samples bunch near their minimum; in a slow phase most of them run late and the minimum comes from the
few fast moments the phase left, so it can read high.  The spread needs no second pass to see that: both columns
are in every row.

Measured (AMD EPYC 25/17/1, 2026-12-07; five pairs of passes ``benchmarks/bench_repeatability.py`` kept, 14
configurations each, data/calibration/README.md "Noisy configurations measured again"): the configurations at most
1.20 in both passes agreed on 91.7% / 99.3% of their prefixes within ±5% / ±10%; those over 1.20 in either pass on
62.4% / 83.1%, and in the pairs that broke agreement the pass over 1.20 was the slow one.  The shipped tables: 0-3%
of this EPYC's configurations over 1.20, 16-39% of the Xeon 6/207/2's default-corpus passes, 75-94% of the Xeon
6/167/8's (whose two passes agreed on 39% of prefixes within ±10%).
"""
from __future__ import annotations

import math
import statistics
from typing import Iterable, Mapping

__all__ = ["MAX_WINDOW_SPREAD", "WINDOW_RERUNS", "window_spread", "check_spread_rule"]

#: A configuration whose spread exceeds this is measured again after the others (``latmodel profile --max-spread``).
MAX_WINDOW_SPREAD = 1.20
#: How many more times a noisy configuration is measured (``--reruns``); its run with the least spread is kept.
WINDOW_RERUNS = 1


def window_spread(rows: Iterable[Mapping]) -> float:
    """The spread of ``rows`` (table rows as dictionaries: ``prefix_ms`` and ``prefix_median_ms``; one
    configuration's, or a whole window's); NaN when no row has both (a table without medians)."""
    ratios = []
    for row in rows:
        low, mid = row.get("prefix_ms"), row.get("prefix_median_ms")
        try:
            low, mid = float(low), float(mid)
        except (TypeError, ValueError):
            continue
        if math.isfinite(low) and math.isfinite(mid) and low > 0 and mid > 0:
            ratios.append(mid / low)
    return statistics.median(ratios) if ratios else math.nan


def check_spread_rule(max_spread, reruns) -> None:
    """``NetcutError`` unless ``max_spread`` is a number >= 1 and ``reruns`` an integer >= 0."""
    from ..errors import NetcutError

    if isinstance(max_spread, bool) or not isinstance(max_spread, (int, float)) or not max_spread >= 1.0:
        raise NetcutError(f"--max-spread must be a number >= 1 (a configuration's typical warm sample over its fastest; "
                          f"default {MAX_WINDOW_SPREAD}), got {max_spread!r}")
    if isinstance(reruns, bool) or not isinstance(reruns, int) or reruns < 0:
        raise NetcutError(f"--reruns must be an integer >= 0 (0: never measure a noisy configuration again; default "
                          f"{WINDOW_RERUNS}), got {reruns!r}")
